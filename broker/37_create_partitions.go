package broker

// CreatePartitions, key 37: versions 0-3.
//
// Grows a topic to Count partitions (never shrinks: INVALID_PARTITIONS).
// Manual assignments may only name this node. A topic named more than once
// is answered once with INVALID_REQUEST and not grown, as Kafka does.

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/meta"
)

func handleCreatePartitions(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.CreatePartitionsRequest)
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	s := c.s
	counts := mention.Count(r.Topics, func(rt *kmsg.CreatePartitionsRequestTopic) string { return rt.Topic })
	for _, rt := range r.Topics {
		n := counts.Take(rt.Topic)
		if n == 0 {
			continue // a duplicate, answered already
		}
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if n > 1 {
			st.ErrorCode, st.ErrorMessage = errDuplicate.Code, duplicateMessage("topic")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t, ok := s.meta.Image().Topic(rt.Topic)
		if !ok {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		for _, a := range rt.Assignment {
			for _, id := range a.Replicas {
				if id != s.cfg.NodeID && st.ErrorCode == 0 && s.cluster == nil {
					st.ErrorCode = kerr.InvalidReplicaAssignment.Code
					st.ErrorMessage = errMessage(fmt.Errorf("replicas must be on broker %d, the only broker", s.cfg.NodeID))
				}
			}
		}
		if st.ErrorCode == 0 {
			rec := &meta.CreatePartitions{ID: t.ID, Count: rt.Count}
			var err error
			if s.cluster != nil && rt.Count > t.Partitions {
				for _, a := range rt.Assignment {
					rec.Parts = append(rec.Parts, meta.PartitionState{Replicas: a.Replicas, ISR: slices.Clone(a.Replicas), Leader: a.Replicas[0]})
				}
				if rec.Parts == nil {
					rec.Parts, err = s.placeParts(s.meta.Image(), int(rt.Count-t.Partitions), int(t.ReplicationFactor), int(t.Partitions))
				}
			}
			switch {
			case err != nil:
			case r.ValidateOnly:
				err = s.meta.Validate(rec)
			default:
				err = s.meta.Apply(ctx, rec)
			}
			if err != nil {
				st.ErrorCode = metaErrorCode(err).Code
				st.ErrorMessage = errMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
