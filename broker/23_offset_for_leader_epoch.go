package broker

// OffsetForLeaderEpoch, key 23: versions 2-4.
//
// The answer comes from the log's leader-epoch checkpoint (broker/log's
// EndOffsetForEpoch, Kafka's LeaderEpochFileCache): the current epoch ends
// at the log end, an older one where the next epoch the log has starts,
// and one newer than every epoch gets -1/-1. A CurrentLeaderEpoch newer
// than the partition's is UNKNOWN_LEADER_EPOCH (the client's metadata is
// ahead of us), an older one FENCED_LEADER_EPOCH. A partition named more
// than once is answered once.

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
			p, perr := c.s.leaderPartition(rt.Topic, rp.Partition)
			switch {
			case perr != nil:
				sp.ErrorCode = perr.Code
			case rp.CurrentLeaderEpoch > p.log.LeaderEpoch():
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < p.log.LeaderEpoch():
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			default:
				sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
	}
	return resp
}
