package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one Kafka API this broker serves: its key, the versions it
// advertises in ApiVersions, and its handler. A handler returns the response
// to send, or nil to send none (acks=0 produce).
type api struct {
	key      kmsg.Key
	name     string
	min, max int16
	handle   func(ctx context.Context, c *conn, req *request) kmsg.Response
}

// apis lists every served API. Version ranges follow Apache Kafka 4.0
// (KIP-896 minimums) capped by what kmsg encodes; there are no gaps inside a
// range, since clients such as kafka-python infer the broker version from
// them. Each handler lives in a file named by its key.
var apis = []api{
	{key: kmsg.Produce, min: 0, max: 12, handle: handleProduce},
	{key: kmsg.Fetch, min: 4, max: 17, handle: handleFetch},
	{key: kmsg.ListOffsets, min: 1, max: 9, handle: handleListOffsets},
	{key: kmsg.Metadata, min: 0, max: 12, handle: handleMetadata},
	{key: kmsg.ApiVersions, min: 0, max: 4}, // handler set in apiIndex: it lists apis
	{key: kmsg.CreateTopics, min: 2, max: 7, handle: handleCreateTopics},
	{key: kmsg.DeleteTopics, min: 1, max: 6, handle: handleDeleteTopics},
	{key: kmsg.DeleteRecords, min: 0, max: 2, handle: handleDeleteRecords},
	{key: kmsg.InitProducerID, min: 0, max: 5, handle: handleInitProducerID},
	{key: kmsg.OffsetForLeaderEpoch, min: 2, max: 4, handle: handleOffsetForLeaderEpoch},
	{key: kmsg.DescribeConfigs, min: 1, max: 4, handle: handleDescribeConfigs},
	{key: kmsg.AlterConfigs, min: 0, max: 2, handle: handleAlterConfigs},
	{key: kmsg.DescribeLogDirs, min: 1, max: 4, handle: handleDescribeLogDirs},
	{key: kmsg.CreatePartitions, min: 0, max: 3, handle: handleCreatePartitions},
	{key: kmsg.ElectLeaders, min: 0, max: 2, handle: handleElectLeaders},
	{key: kmsg.IncrementalAlterConfigs, min: 0, max: 1, handle: handleIncrementalAlterConfigs},
	{key: kmsg.AlterPartitionAssignments, min: 0, max: 1, handle: handleAlterPartitionReassignments},
	{key: kmsg.ListPartitionReassignments, min: 0, max: 0, handle: handleListPartitionReassignments},
	{key: kmsg.DescribeQuorum, min: 0, max: 1, handle: handleDescribeQuorum},
	{key: kmsg.DescribeCluster, min: 0, max: 1, handle: handleDescribeCluster},
	// Group APIs (groups.go).
	{key: kmsg.OffsetCommit, min: 2, max: 9, handle: handleOffsetCommit},
	{key: kmsg.OffsetFetch, min: 1, max: 9, handle: handleOffsetFetch},
	{key: kmsg.FindCoordinator, min: 0, max: 6, handle: handleFindCoordinator},
	{key: kmsg.JoinGroup, min: 2, max: 9, handle: handleJoinGroup},
	{key: kmsg.Heartbeat, min: 0, max: 4, handle: handleHeartbeat},
	{key: kmsg.LeaveGroup, min: 0, max: 5, handle: handleLeaveGroup},
	{key: kmsg.SyncGroup, min: 0, max: 5, handle: handleSyncGroup},
	{key: kmsg.DescribeGroups, min: 0, max: 6, handle: handleDescribeGroups},
	{key: kmsg.ListGroups, min: 0, max: 5, handle: handleListGroups},
	{key: kmsg.DeleteGroups, min: 0, max: 2, handle: handleDeleteGroups},
	{key: kmsg.OffsetDelete, min: 0, max: 0, handle: handleOffsetDelete},
	{key: kmsg.ConsumerGroupHeartbeat, min: 0, max: 1, handle: handleConsumerGroupHeartbeat},
	{key: kmsg.ConsumerGroupDescribe, min: 0, max: 1, handle: handleConsumerGroupDescribe},
}

var apiIndex = func() map[int16]*api {
	m := make(map[int16]*api, len(apis))
	for i := range apis {
		a := &apis[i]
		if a.key == kmsg.ApiVersions {
			a.handle = handleAPIVersions
		}
		a.name = kmsg.NameForKey(int16(a.key))
		m[int16(a.key)] = a
	}
	return m
}()

func apiByKey(key int16) (*api, bool) {
	a, ok := apiIndex[key]
	return a, ok
}
