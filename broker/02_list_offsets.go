package broker

// ListOffsets, key 2: versions 1-9.
//
// Timestamp -1 is the latest offset (log end = high watermark on one node),
// -2 the earliest (log start), -3 the record with the largest timestamp
// (KIP-734), -4 the earliest local offset (KIP-1005; all data is local, so
// the log start), -5 the latest tiered offset (none: -1); any other value finds the first offset whose timestamp is
// at or after it, or -1 if there is none. A partition named more than once
// is answered once with INVALID_REQUEST, as Kafka does.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
)

func handleListOffsets(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	counts := mention.CountNested(r.Topics,
		func(t *kmsg.ListOffsetsRequestTopic) []kmsg.ListOffsetsRequestTopicPartition { return t.Partitions },
		func(t *kmsg.ListOffsetsRequestTopic, p *kmsg.ListOffsetsRequestTopicPartition) topicPartition {
			return topicPartition{topic: t.Topic, partition: p.Partition}
		})
	topics := map[string]int{}
	for _, rt := range r.Topics {
		ti := mention.Entry(topics, &resp.Topics, rt.Topic, func() kmsg.ListOffsetsResponseTopic {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			return st
		})
		st := &resp.Topics[ti]
		for _, rp := range rt.Partitions {
			k := topicPartition{topic: rt.Topic, partition: rp.Partition}
			n := counts.Take(k)
			if n == 0 {
				continue // a duplicate, answered already
			}
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, 0
			if n > 1 {
				sp.ErrorCode = errDuplicate.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, perr := c.s.leaderPartition(rt.Topic, rp.Partition)
			if perr != nil {
				sp.ErrorCode = perr.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			l := p.log
			switch rp.Timestamp {
			case -1:
				sp.Offset = l.EndOffset()
			case -2, -4:
				sp.Offset = l.StartOffset()
			case -5:
				// KIP-1005 latest tiered offset: nothing is tiered.
				sp.Offset = -1
			case -3:
				sp.Timestamp, sp.Offset = l.MaxTimestamp()
			default:
				if rp.Timestamp < 0 {
					sp.ErrorCode = kerr.InvalidRequest.Code
					break
				}
				off, ts, err := l.OffsetForTimestamp(rp.Timestamp)
				if err != nil {
					c.s.logger.Error("list offsets by time failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
					sp.ErrorCode = kerr.KafkaStorageError.Code
					break
				}
				sp.Offset, sp.Timestamp = off, ts
			}
			st.Partitions = append(st.Partitions, sp)
		}
	}
	return resp
}
