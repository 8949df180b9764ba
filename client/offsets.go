package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
)

// OffsetReset is a planned move of a group's committed offsets on one
// topic, made by PlanOffsetReset and carried out by CommitOffsetReset.
type OffsetReset struct {
	Group, Topic string
	Partitions   []PartitionReset // in the order planned
}

// PartitionReset is one partition's move.
type PartitionReset struct {
	Partition int32
	Old       int64 // the committed offset; -1 when none is
	New       int64
}

// PlanOffsetReset plans moving group's committed offsets on topic (all its
// partitions, sorted, or those given, in that order) to the position to:
// Earliest and Latest are each partition's start and end; an offset, or N
// before the end, is clamped to the partition's range; a time moves to the
// first record at or after it, or to the end if there is none. As in
// Kafka, a group with members is refused: its consumers must stop first.
func (a *Admin) PlanOffsetReset(ctx context.Context, group, topic string, partitions []int32, to Position) (*OffsetReset, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	described, err := a.adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, a.cluster.requestErr("describe group", err)
	}
	if g, ok := described[group]; ok && g.Err == nil && g.State != "Empty" && g.State != "Dead" {
		return nil, fmt.Errorf("group %q is %s with %d members: stop its consumers before resetting offsets", group, g.State, len(g.Members))
	}
	starts, err := a.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, a.cluster.requestErr("list offsets", err)
	}
	ends, err := a.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, a.cluster.requestErr("list offsets", err)
	}
	if err := ends.Error(); err != nil {
		if isUnknownTopic(err) {
			return nil, topicErr(topic, err, "")
		}
		return nil, fmt.Errorf("topic %q: %w", topic, err)
	}
	var byTime kadm.ListedOffsets
	if to.Kind == AtTime {
		if byTime, err = a.adm.ListOffsetsAfterMilli(ctx, to.N, topic); err != nil {
			return nil, a.cluster.requestErr("list offsets by time", err)
		}
	}
	current, err := a.adm.FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		return nil, a.cluster.requestErr("fetch offsets", err)
	}
	all := make([]int32, 0, len(ends[topic]))
	for p := range ends[topic] {
		all = append(all, p)
	}
	slices.Sort(all)
	if len(partitions) == 0 {
		partitions = all
	}
	plan := &OffsetReset{Group: group, Topic: topic}
	for _, p := range partitions {
		if !slices.Contains(all, p) {
			return nil, &UnknownPartitionError{Topic: topic, Partition: p, Partitions: len(all)}
		}
		atTime := int64(-1)
		if o, ok := byTime.Lookup(topic, p); ok && o.Err == nil {
			atTime = o.Offset
		}
		old := int64(-1)
		if c, ok := current.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
			old = c.At
		}
		plan.Partitions = append(plan.Partitions, PartitionReset{
			Partition: p,
			Old:       old,
			New:       to.in(starts[topic][p].Offset, ends[topic][p].Offset, atTime),
		})
	}
	return plan, nil
}

// CommitOffsetReset commits a planned reset; the error names each partition
// whose commit failed.
func (a *Admin) CommitOffsetReset(ctx context.Context, plan *OffsetReset) error {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	next := kadm.Offsets{}
	for _, p := range plan.Partitions {
		next.AddOffset(plan.Topic, p.Partition, p.New, -1)
	}
	resps, err := a.adm.CommitOffsets(ctx, plan.Group, next)
	if err != nil {
		return a.cluster.requestErr("commit offsets", err)
	}
	var errs []error
	resps.Each(func(r kadm.OffsetResponse) {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("group %q topic %q partition %d: %w", plan.Group, r.Topic, r.Partition, r.Err))
		}
	})
	return errors.Join(errs...)
}
