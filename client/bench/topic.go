package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/client"
)

// ensureTopic creates topic with partitions partitions (1 if partitions is
// 0) unless it exists, and waits until every partition has a leader. A
// topic that exists must have partitions partitions, unless partitions is 0.
// It returns the topic's partition count.
func ensureTopic(ctx context.Context, c client.Cluster, topic string, partitions int32) (int32, error) {
	cl, err := c.NewClient()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(c.Timeout / time.Millisecond))
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()

	// kadm returns the topic's error as err too; an existing topic is fine.
	resp, err := adm.CreateTopic(ctx, max(partitions, 1), -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && resp.ErrMessage != "" {
		err = fmt.Errorf("%w (%s)", err, resp.ErrMessage)
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("topic %q: create: %w", topic, err)
	}
	// A new topic reaches every broker's metadata a little later.
	for {
		n, err := leaders(ctx, adm, topic)
		if err == nil {
			if partitions > 0 && n != partitions {
				return n, &ConfigError{Field: "Partitions", Value: partitions,
					Want: fmt.Sprintf("the %d partition(s) topic %q already has (or a new topic)", n, topic)}
			}
			return n, nil
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return 0, fmt.Errorf("topic %q: no leader for every partition within %s: %w", topic, c.Timeout, err)
			}
			return 0, ErrInterrupted
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leaders returns the topic's partition count once every partition has a
// leader, or an error saying what is missing.
func leaders(ctx context.Context, adm *kadm.Client, topic string) (int32, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return 0, err
	}
	td, ok := md.Topics[topic]
	switch {
	case !ok:
		return 0, errors.New("not in the metadata yet")
	case td.Err != nil:
		return 0, td.Err
	case len(td.Partitions) == 0:
		return 0, errors.New("no partitions in the metadata yet")
	}
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return 0, fmt.Errorf("partition %d: no leader yet (%v)", p.Partition, p.Err)
		}
	}
	return int32(len(td.Partitions)), nil
}

// offsets lists the start and end offsets of every partition of topic.
func offsets(ctx context.Context, c client.Cluster, topic string) (start, end map[int32]int64, err error) {
	cl, err := c.NewClient()
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	list := func(what string, f func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
		l, err := f(ctx, topic)
		if err == nil {
			err = l.Error()
		}
		if err != nil {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("topic %q: does not exist", topic)
			}
			return nil, fmt.Errorf("topic %q: list %s offsets: %w", topic, what, err)
		}
		out := map[int32]int64{}
		l.Each(func(o kadm.ListedOffset) {
			if o.Topic == topic {
				out[o.Partition] = o.Offset
			}
		})
		if len(out) == 0 {
			return nil, fmt.Errorf("topic %q: does not exist", topic)
		}
		return out, nil
	}
	if start, err = list("start", adm.ListStartOffsets); err != nil {
		return nil, nil, err
	}
	end, err = list("end", adm.ListEndOffsets)
	return start, end, err
}

// fetchErr is the first error of fs that is not the end of a poll's
// context.
func fetchErr(fs kgo.Fetches) error {
	var first error
	fs.EachError(func(t string, p int32, err error) {
		if first == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			first = fmt.Errorf("topic %q partition %d: fetch: %w", t, p, err)
		}
	})
	return first
}

// acksOpts are the franz-go options of an acks setting and idempotence.
func acksOpts(acks client.Acks, idempotent bool) []kgo.Opt {
	var opts []kgo.Opt
	switch acks {
	case client.AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case client.AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts
}

// checkAcks rejects idempotence without acks=all, which Kafka requires.
func checkAcks(acks client.Acks, idempotent bool) error {
	if idempotent && acks != client.AcksAll {
		return &ConfigError{Field: "Idempotent", Value: true, Want: "false with acks 1 or 0 (an idempotent producer needs acks=all)"}
	}
	return nil
}

// failures counts the failed records of a run and keeps the first error.
// Promises call add from franz-go's goroutines.
type failures struct {
	n     atomic.Int64
	first atomic.Pointer[error]
}

func (f *failures) add(err error) {
	if f.n.Add(1) == 1 {
		f.first.Store(&err)
	}
}

// any reports whether a record failed.
func (f *failures) any() bool { return f.n.Load() > 0 }

// err says how many records of topic failed and the first error, or is nil.
func (f *failures) err(topic string) error {
	n := f.n.Load()
	if n == 0 {
		return nil
	}
	first := errors.New("(not recorded yet)")
	if p := f.first.Load(); p != nil {
		first = *p
	}
	return fmt.Errorf("topic %q: %d record(s) failed, the first: %w", topic, n, first)
}
