package broker

// CreateTopics, key 19: versions 2-7.
//
// NumPartitions and ReplicationFactor of -1 take num.partitions and
// default.replication.factor. One node can only hold one replica, so a
// replication factor above 1 is INVALID_REPLICATION_FACTOR. Manual replica
// assignments must name only this node. ValidateOnly checks without
// creating; the configs a topic would have are returned for the first 16
// topics of such a request only, the others carry ConfigErrorCode
// POLICY_VIOLATION (each topic's configs are over a kilobyte, for a topic
// that does not exist). A topic named more than once is answered once with
// INVALID_REQUEST and not created, as Kafka does.

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/meta"
)

// maxValidatedConfigs is how many topics of a validate-only request are
// answered with their configs.
const maxValidatedConfigs = 16

func handleCreateTopics(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.CreateTopicsRequest)
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	s := c.s
	counts := mention.Count(r.Topics, func(rt *kmsg.CreateTopicsRequestTopic) string { return rt.Topic })
	validated := 0 // validate-only topics answered with their configs
	for _, rt := range r.Topics {
		n := counts.Take(rt.Topic)
		if n == 0 {
			continue // a duplicate, answered already
		}
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		fail := func(code *kerr.Error, err error) {
			st.ErrorCode = code.Code
			st.ErrorMessage = errMessage(err)
			resp.Topics = append(resp.Topics, st)
		}
		if isInternalTopic(rt.Topic) {
			fail(kerr.InvalidRequest, fmt.Errorf("topic %s is internal: the broker creates it", rt.Topic))
			continue
		}
		if n > 1 {
			st.ErrorCode, st.ErrorMessage = errDuplicate.Code, duplicateMessage("topic")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		rec := &meta.CreateTopic{
			Name:              rt.Topic,
			ID:                meta.NewTopicID(),
			Partitions:        rt.NumPartitions,
			ReplicationFactor: rt.ReplicationFactor,
			Configs:           map[string]string{},
		}
		if len(rt.ReplicaAssignment) > 0 {
			if rec.Partitions != -1 || rec.ReplicationFactor != -1 {
				fail(kerr.InvalidRequest, fmt.Errorf("topic %q: give either a replica assignment or partitions and replication factor", rt.Topic))
				continue
			}
			rec.Partitions = int32(len(rt.ReplicaAssignment))
			rec.ReplicationFactor = int16(len(rt.ReplicaAssignment[0].Replicas))
			bad := false
			for _, a := range rt.ReplicaAssignment {
				for _, id := range a.Replicas {
					bad = bad || id != s.cfg.NodeID
				}
				if s.cluster != nil {
					rec.Parts = append(rec.Parts, meta.PartitionState{Replicas: a.Replicas, ISR: slices.Clone(a.Replicas), Leader: a.Replicas[0]})
				}
			}
			if bad && s.cluster == nil {
				fail(kerr.InvalidReplicaAssignment, fmt.Errorf("topic %q: replicas must be on broker %d, the only broker", rt.Topic, s.cfg.NodeID))
				continue
			}
		}
		if rec.Partitions == -1 {
			rec.Partitions = s.settings.NumPartitions
		}
		if rec.ReplicationFactor == -1 {
			rec.ReplicationFactor = int16(s.settings.DefaultReplicationFactor)
		}
		if rec.ReplicationFactor > 1 && s.cluster == nil {
			fail(kerr.InvalidReplicationFactor, fmt.Errorf("topic %q: replication factor %d is larger than the number of brokers (1)", rt.Topic, rec.ReplicationFactor))
			continue
		}
		for _, cfg := range rt.Configs {
			if cfg.Value == nil {
				continue
			}
			rec.Configs[cfg.Name] = *cfg.Value
		}
		err := s.checkLogConfigs(rec)
		if err == nil && rec.Parts == nil {
			rec.Parts, err = s.placeParts(s.meta.Image(), int(rec.Partitions), int(rec.ReplicationFactor), -1)
		}
		switch {
		case err != nil:
		case r.ValidateOnly:
			err = s.meta.Validate(rec)
		default:
			err = s.meta.Apply(ctx, rec)
		}
		if err != nil {
			fail(metaErrorCode(err), err)
			continue
		}
		st.TopicID = rec.ID
		st.NumPartitions, st.ReplicationFactor = rec.Partitions, rec.ReplicationFactor
		if r.ValidateOnly {
			if validated++; validated > maxValidatedConfigs {
				// Configs of topics that do not exist would make a
				// small request a huge answer.
				st.ConfigErrorCode = kerr.PolicyViolation.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
		}
		eff := meta.ResolveTopicConfig(s.meta.Image(), rec.Configs, s.settings)
		for _, v := range eff.All() {
			d := describeConfig(v, false, false)
			cc := kmsg.NewCreateTopicsResponseTopicConfig()
			cc.Name, cc.Value, cc.ReadOnly, cc.Source, cc.IsSensitive = d.Name, d.Value, d.ReadOnly, int8(d.Source), d.IsSensitive
			st.Configs = append(st.Configs, cc)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
