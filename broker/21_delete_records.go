package broker

// DeleteRecords, key 21: versions 0-2.
//
// Advances a partition's log start offset to Offset (-1: the high
// watermark). Whole segments below it are deleted; reads below it get
// OFFSET_OUT_OF_RANGE. An offset past the high watermark is
// OFFSET_OUT_OF_RANGE.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/log"
)

func handleDeleteRecords(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			p, perr := c.s.partition(rt.Topic, rp.Partition)
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
			switch {
			case err == nil:
				sp.LowWatermark = low
			case errors.Is(err, log.ErrOffsetOutOfRange):
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				c.s.log.Error("delete records failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				sp.ErrorCode = kerr.KafkaStorageError.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
