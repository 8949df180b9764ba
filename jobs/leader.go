package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/batchcodec/bounded"
)

// DefaultGroup is the consumer group through which schedulers elect a
// leader.
const DefaultGroup = "_sluice_scheduler"

// leadership elects one scheduler among those sharing a history topic,
// through the Kafka group protocol: each joins one consumer group
// subscribed to the one-partition history topic, and the member assigned
// its partition leads. When the leader stops heartbeating, the group
// coordinator hands the partition to another member after the session
// timeout; a leader that shuts down leaves the group, handing over at once.
type leadership struct {
	cl      *kgo.Client
	dec     *bounded.Decompressor // the member fetches the history it ignores
	topic   string
	leading atomic.Bool
	changed chan struct{}
	log     *slog.Logger
}

func newLeadership(brokers []string, group, topic string, session time.Duration, log *slog.Logger) (*leadership, error) {
	l := &leadership{changed: make(chan struct{}, 1), log: log, topic: topic, dec: bounded.NewBudgeted(0)}
	set := func(v bool, why string) {
		if l.leading.Swap(v) != v {
			log.Info("scheduler leadership", "leading", v, "why", why)
			select {
			case l.changed <- struct{}{}:
			default:
			}
		}
	}
	holds := func(m map[string][]int32) bool {
		for _, p := range m[topic] {
			if p == 0 {
				return true
			}
		}
		return false
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.DisableAutoCommit(),
		kgo.WithDecompressor(l.dec),
		kgo.SessionTimeout(session),
		kgo.HeartbeatInterval(max(session/5, 200*time.Millisecond)),
		// Cooperative: a scheduler joining or leaving must not take the
		// partition from the leader (an eager assignor revokes it on every
		// rebalance, cancelling the leader's runs).
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				set(true, "assigned the history topic's partition")
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				set(false, "partition revoked")
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				set(false, "partition lost (session expired)")
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("scheduler group %s: %w", group, err)
	}
	l.cl = cl
	return l, nil
}

// run keeps the member polling (which drives joins and rebalances) until
// ctx ends.
func (l *leadership) run(ctx context.Context) {
	for ctx.Err() == nil {
		fs := l.cl.PollFetches(ctx)
		l.dec.Polled()
		if fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() != nil || errors.Is(err, bounded.ErrBudget) {
				return
			}
			if tooLarge, ok := l.dec.TooLarge(err); ok {
				err = tooLarge
			}
			l.log.Warn("scheduler group", "group_topic", t, "err", err)
		})
	}
}

// fence confirms that this member still belongs to the group's current
// generation, by committing offset (how far it has read the history)
// under it: a member whose session expired while it was paused, and that
// has not noticed yet, is refused (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION).
// A leader calls it before acting, so a paused old leader cannot start or
// record a tick the new leader owns.
func (l *leadership) fence(ctx context.Context, offset int64) error {
	var ferr error
	l.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{l.topic: {0: {Epoch: -1, Offset: offset}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				ferr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
						ferr = e
					}
				}
			}
		})
	return ferr
}

// close leaves the group, handing leadership over at once.
func (l *leadership) close() {
	l.cl.Close()
	l.leading.Store(false)
}
