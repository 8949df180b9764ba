package broker

// DeleteRecords, key 21: versions 0-2.
//
// Advances a partition's log start offset to Offset (-1: the high
// watermark). Whole segments below it are deleted; reads below it get
// OFFSET_OUT_OF_RANGE. An offset past the high watermark is
// OFFSET_OUT_OF_RANGE. A partition named more than once is answered once
// with INVALID_REQUEST and left as it is (Kafka would act on its last
// mention).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
)

func handleDeleteRecords(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	counts := mention.CountNested(r.Topics,
		func(t *kmsg.DeleteRecordsRequestTopic) []kmsg.DeleteRecordsRequestTopicPartition { return t.Partitions },
		func(t *kmsg.DeleteRecordsRequestTopic, p *kmsg.DeleteRecordsRequestTopicPartition) topicPartition {
			return topicPartition{topic: t.Topic, partition: p.Partition}
		})
	topics := map[string]int{}
	for _, rt := range r.Topics {
		ti := mention.Entry(topics, &resp.Topics, rt.Topic, func() kmsg.DeleteRecordsResponseTopic {
			st := kmsg.NewDeleteRecordsResponseTopic()
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
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
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
			off := rp.Offset
			if off == -1 {
				off = p.log.EndOffset()
			}
			if off < 0 || off > p.log.EndOffset() {
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			low, err := p.log.DeleteRecordsBefore(off)
			if err != nil {
				code := logErrorCode(err)
				if code == kerr.KafkaStorageError {
					c.s.logger.Error("delete records failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				}
				sp.ErrorCode = code.Code
			} else {
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
	}
	return resp
}
