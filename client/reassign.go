package client

import (
	"context"
	"errors"
	"fmt"

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
