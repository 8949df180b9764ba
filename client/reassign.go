package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Reassign moves partitions' replicas to the brokers given (Kafka's
// AlterPartitionReassignments; kafka-reassign-partitions --execute): one
// target per partition, or nil to cancel a reassignment in progress. Each
// failure names its partition.
func (a *Admin) Reassign(ctx context.Context, topic string, targets map[int32][]int32) error {
	ctx, cancel := context.WithTimeout(ctx, a.cluster.Timeout)
	defer cancel()
	req := kadm.AlterPartitionAssignmentsReq{}
	for p, brokers := range targets {
		req.Assign(topic, p, brokers)
	}
	resp, err := a.adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return fmt.Errorf("reassign %s: %w", topic, err)
	}
	var errs []error
	resp.Each(func(r kadm.AlterPartitionAssignmentsResponse) {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w", r.Topic, r.Partition, describeKafkaError(r.Err, r.ErrMessage)))
		}
	})
	return errors.Join(errs...)
}

// Reassignments lists the reassignments in progress of the topics given
// (ListPartitionReassignments; kafka-reassign-partitions --verify).
func (a *Admin) Reassignments(ctx context.Context, topics ...string) ([]kadm.ListPartitionReassignmentsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cluster.Timeout)
	defer cancel()
	md, err := a.adm.Metadata(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("metadata from %s: %w", a.cluster.brokers(), err)
	}
	set := kadm.TopicsSet{}
	for _, name := range topics {
		td, ok := md.Topics[name]
		if !ok || td.Err != nil {
			return nil, fmt.Errorf("topic %q: not found", name)
		}
		for _, p := range td.Partitions {
			set.Add(name, p.Partition)
		}
	}
	resp, err := a.adm.ListPartitionReassignments(ctx, set)
	if err != nil {
		return nil, fmt.Errorf("list reassignments: %w", err)
	}
	return resp.Sorted(), nil
}

func describeKafkaError(err error, msg string) error {
	if msg != "" {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

// DrainPlan is what Drain moves: each partition with a replica on the
// broker drained, and the replicas it moves to.
type DrainPlan map[string]map[int32][]int32

// Drain moves every replica off broker (decommissioning it): each
// partition holding one gets, in its place, the registered broker with
// the fewest replicas that does not hold the partition yet, and the moves
// start as reassignments. It returns the plan; Drained says when they are
// done. A partition that cannot move (no other broker left) is an error
// naming it.
func (a *Admin) Drain(ctx context.Context, broker int32) (DrainPlan, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cluster.Timeout)
	defer cancel()
	md, err := a.adm.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("metadata from %s: %w", a.cluster.brokers(), err)
	}
	load := map[int32]int{}
	for _, b := range md.Brokers {
		if b.NodeID != broker {
			load[b.NodeID] = 0
		}
	}
	for _, td := range md.Topics {
		for _, p := range td.Partitions {
			for _, r := range p.Replicas {
				if _, ok := load[r]; ok {
					load[r]++
				}
			}
		}
	}
	plan := DrainPlan{}
	var errs []error
	for _, name := range md.Topics.Names() {
		for _, p := range md.Topics[name].Partitions.Sorted() {
			i := slices.Index(p.Replicas, broker)
			if i < 0 {
				continue
			}
			best := int32(-1)
			for id, n := range load {
				if !slices.Contains(p.Replicas, id) && (best < 0 || n < load[best] || n == load[best] && id < best) {
					best = id
				}
			}
			if best < 0 {
				errs = append(errs, fmt.Errorf("%s-%d: no broker left to move its replica on %d to", name, p.Partition, broker))
				continue
			}
			target := slices.Clone(p.Replicas)
			target[i] = best
			load[best]++
			if plan[name] == nil {
				plan[name] = map[int32][]int32{}
			}
			plan[name][p.Partition] = target
		}
	}
	for _, name := range slices.Sorted(maps.Keys(plan)) {
		if err := a.Reassign(ctx, name, plan[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return plan, errors.Join(errs...)
}

// Drained reports how many partitions still have a replica on broker.
func (a *Admin) Drained(ctx context.Context, broker int32) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cluster.Timeout)
	defer cancel()
	md, err := a.adm.Metadata(ctx)
	if err != nil {
		return 0, fmt.Errorf("metadata from %s: %w", a.cluster.brokers(), err)
	}
	n := 0
	for _, td := range md.Topics {
		for _, p := range td.Partitions {
			if slices.Contains(p.Replicas, broker) {
				n++
			}
		}
	}
	return n, nil
}
