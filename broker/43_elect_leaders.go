package broker

// ElectLeaders, key 43: versions 0-2, for kafka-leader-election and kadm.
// A preferred election (type 0) moves a partition's leadership to its
// first replica when that replica is live and in the ISR; an unclean one
// (type 1) elects a live replica even if it is out of the ISR, only for a
// partition with no leader (KIP-460), and may lose acknowledged records.
// Each election is a partition change proposed to the metadata quorum.
// Errors are Kafka's: ELECTION_NOT_NEEDED when the leader is already the
// one the election would pick (and always on a single node, which leads
// everything), PREFERRED_LEADER_NOT_AVAILABLE or
// ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica can take it,
// UNKNOWN_TOPIC_OR_PARTITION. No topics means every partition, and then
// only the ones that changed or failed are listed, as Kafka answers.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/controller"
	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/meta"
)

func handleElectLeaders(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.ElectLeadersRequest)
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	s := c.s
	if r.ElectionType != 0 && r.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	election := controller.ElectPreferred
	if r.ElectionType == 1 {
		election = controller.ElectUnclean
	}
	timeout := time.Duration(max(r.TimeoutMillis, 1000)) * time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	img := s.meta.Image()
	all := r.Topics == nil
	topics := r.Topics
	if all {
		for _, t := range img.Topics() {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic = t.Name
			for i := range t.Partitions {
				rt.Partitions = append(rt.Partitions, i)
			}
			topics = append(topics, rt)
		}
	}
	seen := mention.Seen[topicPartition]{}
	index := map[string]int{}
	for _, rt := range topics {
		ti := mention.Entry(index, &resp.Topics, rt.Topic, func() kmsg.ElectLeadersResponseTopic {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = rt.Topic
			return st
		})
		for _, p := range rt.Partitions {
			if !seen.First(topicPartition{topic: rt.Topic, partition: p}) {
				continue
			}
			code, err := s.electLeader(ctx, img, rt.Topic, p, election)
			if all && code == kerr.ElectionNotNeeded {
				continue
			}
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			if code != nil {
				sp.ErrorCode = code.Code
				if err != nil {
					sp.ErrorMessage = errMessage(err)
				}
			}
			resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, sp)
		}
	}
	if all { // drop topics left with nothing to say
		kept := resp.Topics[:0]
		for _, st := range resp.Topics {
			if len(st.Partitions) > 0 {
				kept = append(kept, st)
			}
		}
		resp.Topics = kept
	}
	return resp
}

// electLeader runs one election and answers its Kafka error (nil: the
// leadership moved).
func (s *Server) electLeader(ctx context.Context, img *meta.Image, topic string, index int32, election controller.Election) (*kerr.Error, error) {
	t, ok := img.Topic(topic)
	if !ok || index < 0 || index >= t.Partitions {
		return kerr.UnknownTopicOrPartition, nil
	}
	if int(index) >= len(t.Parts) {
		return kerr.ElectionNotNeeded, nil // a single node leads every partition
	}
	cur := t.Parts[index]
	live := func(id int32) bool {
		b, ok := img.Broker(id)
		return ok && !b.Fenced && !b.ShuttingDown
	}
	if election == controller.ElectUnclean && cur.Leader != meta.NoLeader && live(cur.Leader) {
		return kerr.ElectionNotNeeded, nil
	}
	next, o := controller.Change(controller.FromState(cur), nil, election, controller.Cluster{Live: live, MinISR: s.minISR(t)})
	switch {
	case election == controller.ElectPreferred && len(cur.Replicas) > 0 && cur.Leader == cur.Replicas[0]:
		return kerr.ElectionNotNeeded, nil
	case election == controller.ElectPreferred && (len(next.Replicas) == 0 || next.Leader != next.Replicas[0]):
		return kerr.PreferredLeaderNotAvailable, fmt.Errorf("%s-%d: preferred replica %d is not live and in the ISR %v", topic, index, cur.Replicas[0], cur.ISR)
	case o == controller.Unchanged || next.Leader == meta.NoLeader:
		return kerr.EligibleLeadersNotAvailable, fmt.Errorf("%s-%d: no live replica of %v can lead", topic, index, cur.Replicas)
	}
	if err := s.meta.Apply(ctx, meta.PartitionChange{ID: t.ID, Partition: index, State: controller.ToState(next)}); err != nil {
		return metaErrorCode(err), err
	}
	s.logger.Info("leader elected", "topic", topic, "partition", index, "election", election, "leader", next.Leader, "leader_epoch", next.LeaderEpoch)
	return nil, nil
}
