package broker

// AlterPartitionReassignments, key 45: versions 0-1, and
// ListPartitionReassignments, key 46: version 0 (kafka-reassign-partitions,
// kadm, sluice topic reassign). A reassignment moves a partition's
// replicas to a target Kafka's way: the target replicas are added (they
// fetch from the leader like any follower), and once every one is in the
// ISR the active controller drops the replicas leaving (Reconcile), a
// leader leaving handing over to an in-sync target replica; the brokers
// left out delete their copy. Null replicas cancel a reassignment in
// progress (NO_REASSIGNMENT_IN_PROGRESS if there is none). A target must
// name distinct registered brokers (INVALID_REPLICA_ASSIGNMENT), keep the
// replication factor unless AllowReplicationFactorChange (v1) says
// otherwise (INVALID_REPLICATION_FACTOR), and a single node has nothing to
// reassign (INVALID_REPLICA_ASSIGNMENT). The copying is not throttled
// (leader.replication.throttled.rate is not supported yet).

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/controller"
	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/meta"
)

func handleAlterPartitionReassignments(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	s := c.s
	seen := mention.Seen[topicPartition]{}
	index := map[string]int{}
	for _, rt := range r.Topics {
		ti := mention.Entry(index, &resp.Topics, rt.Topic, func() kmsg.AlterPartitionAssignmentsResponseTopic {
			st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			st.Topic = rt.Topic
			return st
		})
		for _, rp := range rt.Partitions {
			if !seen.First(topicPartition{topic: rt.Topic, partition: rp.Partition}) {
				continue
			}
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			if code, err := s.reassign(ctx, rt.Topic, rp.Partition, rp.Replicas, r.Version < 1 || !r.AllowReplicationFactorChange); code != nil {
				sp.ErrorCode = code.Code
				if err != nil {
					sp.ErrorMessage = errMessage(err)
				}
			}
			resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, sp)
		}
	}
	return resp
}

// reassign starts (or, with nil target, cancels) one partition's
// reassignment.
func (s *Server) reassign(ctx context.Context, topic string, index int32, target []int32, keepRF bool) (*kerr.Error, error) {
	img := s.meta.Image()
	t, ok := img.Topic(topic)
	switch {
	case !ok || index < 0 || index >= t.Partitions:
		return kerr.UnknownTopicOrPartition, nil
	case int(index) >= len(t.Parts):
		return kerr.InvalidReplicaAssignment, fmt.Errorf("%s-%d: a single node has no replicas to move", topic, index)
	}
	cur := t.Parts[index]
	if target == nil {
		if len(cur.Adding) == 0 && len(cur.Removing) == 0 {
			return kerr.NoReassignmentInProgress, nil
		}
		target = slices.DeleteFunc(slices.Clone(cur.Replicas), func(r int32) bool { return slices.Contains(cur.Adding, r) })
	} else {
		if len(target) == 0 {
			return kerr.InvalidReplicaAssignment, fmt.Errorf("%s-%d: no replicas given", topic, index)
		}
		for i, r := range target {
			if _, ok := img.Broker(r); !ok {
				return kerr.InvalidReplicaAssignment, fmt.Errorf("%s-%d: replica %d is not a registered broker", topic, index, r)
			}
			if slices.Contains(target[:i], r) {
				return kerr.InvalidReplicaAssignment, fmt.Errorf("%s-%d: replica %d is listed twice", topic, index, r)
			}
		}
		if keepRF && len(target) != int(t.ReplicationFactor) {
			return kerr.InvalidReplicationFactor, fmt.Errorf("%s-%d: %d replicas for replication factor %d", topic, index, len(target), t.ReplicationFactor)
		}
	}
	next, changed := controller.Reassign(cur, target)
	if !changed {
		return nil, nil
	}
	if err := s.meta.Apply(ctx, meta.PartitionChange{ID: t.ID, Partition: index, State: next}); err != nil {
		return metaErrorCode(err), err
	}
	s.logger.Info("partition reassignment", "topic", topic, "partition", index, "target", target, "adding", next.Adding, "removing", next.Removing)
	return nil, nil
}

func handleListPartitionReassignments(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	img := c.s.meta.Image()
	add := func(t *meta.Topic, p int32) {
		if int(p) >= len(t.Parts) || p < 0 {
			return
		}
		ps := t.Parts[p]
		if len(ps.Adding) == 0 && len(ps.Removing) == 0 {
			return
		}
		if len(resp.Topics) == 0 || resp.Topics[len(resp.Topics)-1].Topic != t.Name {
			st := kmsg.NewListPartitionReassignmentsResponseTopic()
			st.Topic = t.Name
			resp.Topics = append(resp.Topics, st)
		}
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition, sp.Replicas, sp.AddingReplicas, sp.RemovingReplicas = p, ps.Replicas, ps.Adding, ps.Removing
		st := &resp.Topics[len(resp.Topics)-1]
		st.Partitions = append(st.Partitions, sp)
	}
	if r.Topics == nil {
		for _, t := range img.Topics() {
			for p := range t.Partitions {
				add(t, p)
			}
		}
		return resp
	}
	seen := mention.Seen[topicPartition]{}
	for _, rt := range r.Topics {
		t, ok := img.Topic(rt.Topic)
		if !ok {
			continue
		}
		for _, p := range rt.Partitions {
			if seen.First(topicPartition{topic: rt.Topic, partition: p}) {
				add(t, p)
			}
		}
	}
	return resp
}
