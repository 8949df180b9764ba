package broker

// Answering each resource of a request once. A request may name a topic,
// partition, group or config resource any number of times; answering every
// mention would let a small request build a huge answer (a 1.3 MB
// DescribeConfigs naming one topic a million times built 143 MB). So every
// handler answers a resource once:
//
//   - reads (Fetch, Metadata, OffsetForLeaderEpoch, FindCoordinator, and in
//     broker/group OffsetFetch, DescribeGroups, ConsumerGroupDescribe)
//     answer the first mention and drop the rest, as Kafka's maps do;
//   - requests that change something, and ListOffsets and DescribeConfigs,
//     answer a resource named more than once with one INVALID_REQUEST and
//     act on none of its mentions, as Kafka does for CreateTopics,
//     DeleteTopics, CreatePartitions, AlterConfigs, IncrementalAlterConfigs
//     and ListOffsets. (For Produce, DeleteRecords and OffsetCommit Kafka
//     keeps the last mention and silently drops the others; Sluice refuses
//     instead, so nothing a client sent is dropped without an answer.)
//
// Answers to one topic are gathered under one topic entry even when the
// request spreads its partitions over several.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicPartition names a partition in a request, by topic name or ID.
type topicPartition struct {
	topic     string
	id        [16]byte
	partition int32
}

// duplicateMessage is the ErrorMessage of an answer to a resource named
// more than once.
func duplicateMessage(what string) *string {
	m := fmt.Sprintf("%s appears more than once in the request", what)
	return &m
}

// errDuplicate is the code answered for a resource named more than once.
var errDuplicate = kerr.InvalidRequest

// configResource names a config resource in a request.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}
