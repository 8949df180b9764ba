package broker

// OffsetForLeaderEpoch, key 23: versions 2-4.
//
// A single node has had one leader epoch, 0, for every partition, so the end
// offset of any epoch at or below the current one is the log end offset. A
// CurrentLeaderEpoch newer than ours is UNKNOWN_LEADER_EPOCH (the client's
// metadata is ahead of us); an older one cannot exist. A partition named
// more than once is answered once.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
)

func handleOffsetForLeaderEpoch(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	seen := mention.Seen[topicPartition]{}
	topics := map[string]int{}
	for _, rt := range r.Topics {
		ti := mention.Entry(topics, &resp.Topics, rt.Topic, func() kmsg.OffsetForLeaderEpochResponseTopic {
			st := kmsg.NewOffsetForLeaderEpochResponseTopic()
			st.Topic = rt.Topic
			return st
		})
		st := &resp.Topics[ti]
		for _, rp := range rt.Partitions {
			if !seen.First(topicPartition{topic: rt.Topic, partition: rp.Partition}) {
				continue // answered once, for its first mention
			}
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p, perr := c.s.partition(rt.Topic, rp.Partition)
			switch {
			case perr != nil:
				sp.ErrorCode = perr.Code
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch > 0:
				// An epoch we never had: Kafka answers with undefined epoch and offset.
			default:
				sp.LeaderEpoch, sp.EndOffset = 0, p.log.EndOffset()
			}
			st.Partitions = append(st.Partitions, sp)
		}
	}
	return resp
}
