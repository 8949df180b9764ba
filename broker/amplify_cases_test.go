package broker_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBoundedAnswers sends every served API a request that names one
// resource many times, or many cheap resources: the answer stays within a
// small factor of the request (plus 64 KiB), duplicates are answered once,
// and the distinct resources are answered as a single mention would be.
func TestBoundedAnswers(t *testing.T) {
	f := newAmpFixture(t)
	runAmpCases(t, f, produceFetchCases)
	runAmpCases(t, f, metadataCases)
	runAmpCases(t, f, groupCases)
	runAmpCases(t, f, adminCases)
	runAmpCases(t, f, configCases)
}

var produceFetchCases = []ampCase{
	{
		name: "Produce/duplicate partition",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.SetVersion(9)
			r.Acks, r.TimeoutMillis = -1, 1000
			r.Topics = []kmsg.ProduceRequestTopic{{Topic: "amp", Partitions: repeat(kmsg.ProduceRequestTopicPartition{Partition: 0}, 20000)}}
			return r
		},
		check: answeredOnce(kerr.InvalidRequest),
	},
	{
		name: "Produce/duplicate internal partition",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.SetVersion(9)
			r.Acks, r.TimeoutMillis = -1, 1000
			r.Topics = []kmsg.ProduceRequestTopic{{Topic: "__consumer_offsets", Partitions: repeat(kmsg.ProduceRequestTopicPartition{Partition: 0}, 20000)}}
			return r
		},
		check: answeredOnce(kerr.InvalidRequest),
	},
	{
		// Each distinct partition of an unknown topic needs its own
		// 33-byte answer to a 6-byte mention: the protocol's own 5.5x.
		name:   "Produce/distinct unknown partitions",
		factor: 6,
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.SetVersion(9)
			r.Acks, r.TimeoutMillis = -1, 1000
			t := kmsg.ProduceRequestTopic{Topic: "nope"}
			for p := int32(0); p < 20000; p++ {
				t.Partitions = append(t.Partitions, kmsg.ProduceRequestTopicPartition{Partition: p})
			}
			r.Topics = []kmsg.ProduceRequestTopic{t}
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.ProduceResponse)
			if wantLen(t, "topics", len(r.Topics), 1) && wantLen(t, "partitions", len(r.Topics[0].Partitions), 20000) {
				wantCode(t, "unknown topic", r.Topics[0].Partitions[19999].ErrorCode, kerr.UnknownTopicOrPartition)
			}
		},
	},
	{
		name: "Fetch/duplicate partition by name",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := fetchRequest(12)
			r.Topics = []kmsg.FetchRequestTopic{{Topic: "amp", Partitions: repeat(fetchPartition(0), 2000)}}
			return r
		},
		check: checkOneFetched,
	},
	{
		name: "Fetch/duplicate partition by id",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := fetchRequest(13)
			r.Topics = []kmsg.FetchRequestTopic{{TopicID: f.ampID, Partitions: repeat(fetchPartition(0), 2000)}}
			return r
		},
		check: checkOneFetched,
	},
	{
		name: "Fetch/duplicate topic",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := fetchRequest(12)
			r.Topics = repeat(kmsg.FetchRequestTopic{Topic: "amp", Partitions: []kmsg.FetchRequestTopicPartition{fetchPartition(0)}}, 2000)
			return r
		},
		check: checkOneFetched,
	},
	{
		name: "ListOffsets/duplicate partition",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			r.SetVersion(7)
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Partition, p.Timestamp = 0, -1
			r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "amp", Partitions: repeat(p, 20000)}}
			return r
		},
		check: answeredOnce(kerr.InvalidRequest),
	},
	{
		name: "OffsetForLeaderEpoch/duplicate partition",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.SetVersion(4)
			r.ReplicaID = -1
			p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = 0, -1, 0
			r.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "amp", Partitions: repeat(p, 20000)}}
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.OffsetForLeaderEpochResponse)
			if wantLen(t, "topics", len(r.Topics), 1) && wantLen(t, "partitions", len(r.Topics[0].Partitions), 1) {
				if p := r.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.EndOffset != 1 {
					t.Errorf("partition 0: error %v end offset %d, want end offset 1", kerr.ErrorForCode(p.ErrorCode), p.EndOffset)
				}
			}
		},
	},
	{
		name: "DeleteRecords/duplicate partition",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			r.SetVersion(2)
			r.TimeoutMillis = 1000
			r.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "amp", Partitions: repeat(kmsg.DeleteRecordsRequestTopicPartition{Partition: 1, Offset: 0}, 20000)}}
			return r
		},
		check: answeredOnce(kerr.InvalidRequest),
	},
}

func fetchRequest(version int16) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.SetVersion(version)
	r.ReplicaID, r.MaxWaitMillis, r.MinBytes, r.MaxBytes = -1, 0, 0, 100<<20
	return r
}

func fetchPartition(p int32) kmsg.FetchRequestTopicPartition {
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p, 0, 1<<20
	return fp
}

// checkOneFetched wants amp's partition 0 once, with its 4 KiB record.
func checkOneFetched(t *testing.T, f *ampFixture, resp kmsg.Response) {
	r := resp.(*kmsg.FetchResponse)
	n := 0
	for _, rt := range r.Topics {
		for _, p := range rt.Partitions {
			n++
			if n == 1 && (p.ErrorCode != 0 || p.Partition != 0 || len(p.RecordBatches) < 4096) {
				t.Errorf("partition %d: error %v, %d record bytes; want partition 0 with its 4 KiB record", p.Partition, kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
			}
		}
	}
	wantLen(t, "partitions answered", n, 1)
}

var metadataCases = []ampCase{
	{
		name: "Metadata/duplicate topic by name",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.SetVersion(12)
			r.Topics = repeat(kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr("amp")}, 20000)
			return r
		},
		check: checkOneAmpTopic,
	},
	{
		name: "Metadata/duplicate topic by id",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.SetVersion(12)
			r.Topics = repeat(kmsg.MetadataRequestTopic{TopicID: f.ampID}, 20000)
			return r
		},
		check: checkOneAmpTopic,
	},
	{
		name: "Metadata/duplicate unknown topic",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.SetVersion(8)
			r.Topics = repeat(kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr("nope")}, 20000)
			return r
		},
		check: answeredOnce(kerr.UnknownTopicOrPartition),
	},
	{
		name: "FindCoordinator/duplicate key",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.SetVersion(4)
			r.CoordinatorKeys = repeat("cg", 50000)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.FindCoordinatorResponse)
			if wantLen(t, "coordinators", len(r.Coordinators), 1) {
				if c := r.Coordinators[0]; c.Key != "cg" || c.ErrorCode != 0 || c.NodeID < 0 {
					t.Errorf("coordinator of cg: %+v", c)
				}
			}
		},
	},
	{
		// Each error answer carries a 150-byte message; one per key
		// would make this 28x its request.
		name: "FindCoordinator/distinct transactional ids",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.SetVersion(4)
			r.CoordinatorType = 1
			r.CoordinatorKeys = topicNames(50000, "t")
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.FindCoordinatorResponse)
			if wantLen(t, "coordinators", len(r.Coordinators), 50000) {
				wantCode(t, "transactional id", r.Coordinators[49999].ErrorCode, kerr.TransactionalIDAuthorizationFailed)
			}
		},
	},
	{
		name: "DescribeCluster",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrDescribeClusterRequest()
			r.SetVersion(1)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			wantLen(t, "brokers", len(resp.(*kmsg.DescribeClusterResponse).Brokers), 1)
		},
	},
}

// checkOneAmpTopic wants amp once, with all its partitions.
func checkOneAmpTopic(t *testing.T, f *ampFixture, resp kmsg.Response) {
	r := resp.(*kmsg.MetadataResponse)
	if wantLen(t, "topics", len(r.Topics), 1) {
		if tp := r.Topics[0]; tp.ErrorCode != 0 || tp.TopicID != f.ampID || len(tp.Partitions) != ampPartitions {
			t.Errorf("amp: error %v, id %x, %d partitions", kerr.ErrorForCode(tp.ErrorCode), tp.TopicID, len(tp.Partitions))
		}
	}
}

var groupCases = []ampCase{
	{
		name: "OffsetCommit/duplicate partition",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.SetVersion(8)
			r.Group, r.Generation = "solo", -1
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset = 0, 5
			r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "amp", Partitions: repeat(p, 20000)}}
			return r
		},
		check: answeredOnce(kerr.InvalidRequest),
	},
	{
		name: "OffsetFetch/duplicate partition",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.SetVersion(7)
			r.Group = "cg"
			r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "amp", Partitions: repeat(int32(0), 50000)}}
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.OffsetFetchResponse)
			if wantLen(t, "topics", len(r.Topics), 1) && wantLen(t, "partitions", len(r.Topics[0].Partitions), 1) {
				if p := r.Topics[0].Partitions[0]; p.Offset != 100 {
					t.Errorf("committed offset of amp-0: %d, want 100", p.Offset)
				}
			}
		},
	},
	{
		name: "OffsetFetch/duplicate group",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.SetVersion(8)
			r.Groups = repeat(kmsg.OffsetFetchRequestGroup{Group: "cg"}, 5000)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.OffsetFetchResponse)
			if wantLen(t, "groups", len(r.Groups), 1) && wantLen(t, "topics", len(r.Groups[0].Topics), 1) {
				wantLen(t, "partitions of amp", len(r.Groups[0].Topics[0].Partitions), ampPartitions)
			}
		},
	},
	{
		name: "JoinGroup/duplicate protocol",
		req: func(t *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrJoinGroupRequest()
			r.SetVersion(9)
			r.Group, r.ProtocolType = "jg", "consumer"
			r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 10000
			r.Protocols = repeat(kmsg.JoinGroupRequestProtocol{Name: "range", Metadata: bytes.Repeat([]byte("m"), 1024)}, 200)
			first, err := r.RequestWith(testCtx(t), f.cl)
			if err != nil {
				t.Fatal(err)
			}
			r.MemberID = first.MemberID
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.JoinGroupResponse)
			wantOK(t, "join", r.ErrorCode)
			if wantLen(t, "members told to the leader", len(r.Members), 1) && len(r.Members[0].ProtocolMetadata) != 1024 {
				t.Errorf("leader sees %d bytes of metadata, want 1024", len(r.Members[0].ProtocolMetadata))
			}
		},
	},
	{
		name: "SyncGroup/duplicate assignment",
		req: func(t *testing.T, f *ampFixture) kmsg.Request {
			j := kmsg.NewPtrJoinGroupRequest()
			j.Group, j.ProtocolType = "sg", "consumer"
			j.SessionTimeoutMillis, j.RebalanceTimeoutMillis = 10000, 10000
			j.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
			first, err := j.RequestWith(testCtx(t), f.cl)
			if err != nil {
				t.Fatal(err)
			}
			j.MemberID = first.MemberID
			joined, err := j.RequestWith(testCtx(t), f.cl)
			if err != nil || joined.ErrorCode != 0 {
				t.Fatalf("join sg: %v %v", err, joined)
			}
			r := kmsg.NewPtrSyncGroupRequest()
			r.SetVersion(5)
			r.Group, r.Generation, r.MemberID = "sg", joined.Generation, joined.MemberID
			r.ProtocolType, r.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
			r.GroupAssignment = repeat(kmsg.SyncGroupRequestGroupAssignment{MemberID: joined.MemberID, MemberAssignment: bytes.Repeat([]byte("a"), 1024)}, 200)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.SyncGroupResponse)
			wantOK(t, "sync", r.ErrorCode)
			if len(r.MemberAssignment) != 1024 {
				t.Errorf("assignment of %d bytes, want 1024", len(r.MemberAssignment))
			}
		},
	},
	{
		name: "LeaveGroup/duplicate member",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.SetVersion(5)
			r.Group = "cg"
			r.Members = repeat(kmsg.LeaveGroupRequestMember{MemberID: "nobody"}, 20000)
			return r
		},
		check: answeredOnce(kerr.UnknownMemberID),
	},
	{
		name: "DescribeGroups/duplicate group",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.SetVersion(5)
			r.Groups = repeat("cg", 10000)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.DescribeGroupsResponse)
			if wantLen(t, "groups", len(r.Groups), 1) {
				if g := r.Groups[0]; g.State != "Stable" || len(g.Members) != 1 || len(g.Members[0].MemberAssignment) != 1024 {
					t.Errorf("cg: state %s, %d members", g.State, len(g.Members))
				}
			}
		},
	},
	{
		name: "ListGroups/duplicate filters",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrListGroupsRequest()
			r.SetVersion(5)
			r.StatesFilter = repeat("Stable", 50000)
			r.TypesFilter = repeat("classic", 50000)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.ListGroupsResponse)
			for _, g := range r.Groups {
				if g.Group == "cg" {
					return
				}
			}
			t.Errorf("cg not listed: %+v", r.Groups)
		},
	},
	{
		name: "DeleteGroups/duplicate group",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.SetVersion(2)
			r.Groups = repeat("cg", 20000)
			return r
		},
		check: answeredOnce(kerr.NonEmptyGroup),
	},
	{
		name: "OffsetDelete/duplicate partition",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Group = "cg"
			r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "amp", Partitions: repeat(kmsg.OffsetDeleteRequestTopicPartition{Partition: ampPartitions - 1}, 50000)}}
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.OffsetDeleteResponse)
			if wantLen(t, "topics", len(r.Topics), 1) {
				wantLen(t, "partitions", len(r.Topics[0].Partitions), 1)
			}
		},
	},
	{
		name: "ConsumerGroupHeartbeat/duplicate subscription",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.SetVersion(1)
			r.Group, r.MemberID, r.MemberEpoch, r.RebalanceTimeoutMillis = "kg2", "kg2-member-0001", 0, 60000
			r.SubscribedTopicNames = repeat("amp", 50000)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.ConsumerGroupHeartbeatResponse)
			wantOK(t, "heartbeat", r.ErrorCode)
			if r.Assignment == nil || !wantLen(t, "assigned topics", len(r.Assignment.Topics), 1) {
				return
			}
			wantLen(t, "assigned partitions", len(r.Assignment.Topics[0].Partitions), ampPartitions)
		},
	},
	{
		// kg2's member subscribed to amp 50000 times (the case above).
		name: "ConsumerGroupDescribe/duplicate subscription",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrConsumerGroupDescribeRequest()
			r.SetVersion(1)
			r.Groups = []string{"kg2"}
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.ConsumerGroupDescribeResponse)
			if wantLen(t, "groups", len(r.Groups), 1) && wantLen(t, "members", len(r.Groups[0].Members), 1) {
				wantLen(t, "subscribed topics", len(r.Groups[0].Members[0].SubscribedTopics), 1)
			}
		},
	},
	{
		name: "ConsumerGroupDescribe/duplicate group",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrConsumerGroupDescribeRequest()
			r.SetVersion(1)
			r.Groups = repeat("kg", 10000)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.ConsumerGroupDescribeResponse)
			if wantLen(t, "groups", len(r.Groups), 1) {
				if g := r.Groups[0]; g.ErrorCode != 0 || len(g.Members) != 1 {
					t.Errorf("kg: error %v, %d members", kerr.ErrorForCode(g.ErrorCode), len(g.Members))
				}
			}
		},
	},
}

var adminCases = []ampCase{
	{
		name: "CreateTopics/duplicate topic",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.SetVersion(7)
			r.TimeoutMillis = 1000
			r.Topics = repeat(kmsg.CreateTopicsRequestTopic{Topic: "dup", NumPartitions: 1, ReplicationFactor: 1}, 20000)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			answeredOnce(kerr.InvalidRequest)(t, f, resp)
			wantTopicExists(t, f, "dup", false)
		},
	},
	{
		name: "CreateTopics/validate only, distinct topics",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.SetVersion(7)
			r.TimeoutMillis, r.ValidateOnly = 1000, true
			for _, name := range topicNames(2000, "v") {
				r.Topics = append(r.Topics, kmsg.CreateTopicsRequestTopic{Topic: name, NumPartitions: 1, ReplicationFactor: 1})
			}
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.CreateTopicsResponse)
			if !wantLen(t, "topics", len(r.Topics), 2000) {
				return
			}
			for _, rt := range r.Topics {
				wantOK(t, "validate "+rt.Topic, rt.ErrorCode)
			}
			if len(r.Topics[0].Configs) == 0 {
				t.Errorf("the first validated topic has no configs")
			}
			wantTopicExists(t, f, "v0", false)
		},
	},
	{
		name: "DeleteTopics/duplicate topic",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.SetVersion(6)
			r.TimeoutMillis = 1000
			r.Topics = repeat(kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr("keep")}, 20000)
			return r
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			answeredOnce(kerr.InvalidRequest)(t, f, resp)
			wantTopicExists(t, f, "keep", true)
		},
	},
	{
		name: "CreatePartitions/duplicate topic",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			r.SetVersion(3)
			r.TimeoutMillis = 1000
			r.Topics = repeat(kmsg.CreatePartitionsRequestTopic{Topic: "amp", Count: ampPartitions}, 20000)
			return r
		},
		check: answeredOnce(kerr.InvalidRequest),
	},
	{
		name: "DescribeLogDirs/duplicate partition",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			return describeLogDirs([]kmsg.DescribeLogDirsRequestTopic{{Topic: "amp", Partitions: repeat(int32(0), 20000)}})
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			checkLogDirPartitions(t, resp, 1)
		},
	},
	{
		name: "DescribeLogDirs/duplicate topic",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			all := make([]int32, ampPartitions)
			for p := range all {
				all[p] = int32(p)
			}
			return describeLogDirs(repeat(kmsg.DescribeLogDirsRequestTopic{Topic: "amp", Partitions: all}, 2000))
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			checkLogDirPartitions(t, resp, ampPartitions)
		},
	},
	{
		name: "DescribeLogDirs/distinct unknown topics",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			var ts []kmsg.DescribeLogDirsRequestTopic
			for _, name := range topicNames(20000, "n") {
				ts = append(ts, kmsg.DescribeLogDirsRequestTopic{Topic: name, Partitions: []int32{0}})
			}
			return describeLogDirs(ts)
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			// Kafka leaves unknown topics out of the answer.
			r := resp.(*kmsg.DescribeLogDirsResponse)
			if wantLen(t, "dirs", len(r.Dirs), 1) {
				wantLen(t, "topics", len(r.Dirs[0].Topics), 0)
			}
		},
	},
}

func describeLogDirs(ts []kmsg.DescribeLogDirsRequestTopic) *kmsg.DescribeLogDirsRequest {
	r := kmsg.NewPtrDescribeLogDirsRequest()
	r.SetVersion(4)
	r.Topics = ts
	return r
}

// checkLogDirPartitions wants the one log dir to answer topic amp alone,
// with partitions 0 to n-1 once each, partition 0 holding the fixture's
// record.
func checkLogDirPartitions(t *testing.T, resp kmsg.Response, n int) {
	t.Helper()
	r := resp.(*kmsg.DescribeLogDirsResponse)
	wantOK(t, "describe log dirs", r.ErrorCode)
	if !wantLen(t, "dirs", len(r.Dirs), 1) || !wantLen(t, "topics", len(r.Dirs[0].Topics), 1) {
		return
	}
	rt := r.Dirs[0].Topics[0]
	if rt.Topic != "amp" || !wantLen(t, "partitions", len(rt.Partitions), n) {
		return
	}
	for i, p := range rt.Partitions {
		if p.Partition != int32(i) {
			t.Errorf("partition %d answered at place %d", p.Partition, i)
		}
	}
	if rt.Partitions[0].Size < 4096 {
		t.Errorf("partition 0 has %d bytes, want the 4 KiB record", rt.Partitions[0].Size)
	}
}

func wantTopicExists(t *testing.T, f *ampFixture, topic string, want bool) {
	t.Helper()
	md, err := kadm.NewClient(f.cl).Metadata(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := md.Topics[topic].Err == nil; got != want {
		t.Errorf("topic %s exists: %v, want %v", topic, got, want)
	}
}

var configCases = []ampCase{
	{
		name: "DescribeConfigs/duplicate topic",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			return describeConfigs(repeat(kmsg.DescribeConfigsRequestResource{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "amp"}, 5000))
		},
		check: checkOneDuplicateResource,
	},
	{
		name: "DescribeConfigs/duplicate broker",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			return describeConfigs(repeat(kmsg.DescribeConfigsRequestResource{ResourceType: kmsg.ConfigResourceTypeBroker}, 5000))
		},
		check: checkOneDuplicateResource,
	},
	{
		name: "DescribeConfigs/duplicate config name",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			return describeConfigs([]kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "amp", ConfigNames: repeat("retention.ms", 100000)}})
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.DescribeConfigsResponse)
			if wantLen(t, "resources", len(r.Resources), 1) && wantLen(t, "configs", len(r.Resources[0].Configs), 1) {
				if c := r.Resources[0].Configs[0]; c.Name != "retention.ms" {
					t.Errorf("config %s, want retention.ms", c.Name)
				}
			}
		},
	},
	{
		name: "DescribeConfigs/distinct unknown topics",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			var rs []kmsg.DescribeConfigsRequestResource
			for _, name := range topicNames(20000, "n") {
				rs = append(rs, kmsg.DescribeConfigsRequestResource{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: name})
			}
			return describeConfigs(rs)
		},
		check: func(t *testing.T, f *ampFixture, resp kmsg.Response) {
			r := resp.(*kmsg.DescribeConfigsResponse)
			if wantLen(t, "resources", len(r.Resources), 20000) {
				wantCode(t, "unknown topic", r.Resources[0].ErrorCode, kerr.UnknownTopicOrPartition)
			}
		},
	},
	{
		name: "AlterConfigs/duplicate topic",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			r.SetVersion(2)
			r.ValidateOnly = true
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "amp"
			rr.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: "no.such.key", Value: kmsg.StringPtr("1")}}
			r.Resources = repeat(rr, 20000)
			return r
		},
		check: answeredOnce(kerr.InvalidRequest),
	},
	{
		name: "IncrementalAlterConfigs/duplicate topic",
		req: func(_ *testing.T, f *ampFixture) kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			r.SetVersion(1)
			r.ValidateOnly = true
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "amp"
			rr.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "no.such.key", Value: kmsg.StringPtr("1")}}
			r.Resources = repeat(rr, 20000)
			return r
		},
		check: answeredOnce(kerr.InvalidRequest),
	},
}

func describeConfigs(rs []kmsg.DescribeConfigsRequestResource) *kmsg.DescribeConfigsRequest {
	r := kmsg.NewPtrDescribeConfigsRequest()
	r.SetVersion(4)
	r.IncludeSynonyms, r.IncludeDocumentation = true, true
	r.Resources = rs
	return r
}

// answeredOnce wants a single entry, answered with want.
func answeredOnce(want *kerr.Error) func(*testing.T, *ampFixture, kmsg.Response) {
	return func(t *testing.T, _ *ampFixture, resp kmsg.Response) {
		t.Helper()
		codes := entryCodes(reflect.ValueOf(resp).Elem())
		if wantLen(t, "entries answered", len(codes), 1) {
			wantCode(t, "the one entry", codes[0], want)
		}
	}
}

// checkOneDuplicateResource wants one INVALID_REQUEST answer, without
// configs, for a resource named more than once.
func checkOneDuplicateResource(t *testing.T, f *ampFixture, resp kmsg.Response) {
	answeredOnce(kerr.InvalidRequest)(t, f, resp)
	if r := resp.(*kmsg.DescribeConfigsResponse); len(r.Resources) == 1 && len(r.Resources[0].Configs) != 0 {
		t.Errorf("a duplicate resource answered %d configs", len(r.Resources[0].Configs))
	}
}
