package loader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// follower runs partition workers for the partitions the consumer group
// assigns to this process. The group client only holds membership (its
// fetching is paused); each worker reads its partition with its own
// client from the position the sink gives, so a handed-over partition
// resumes exactly where its previous owner's last commit ended.
type follower struct {
	r      *run
	ctx    context.Context
	fail   context.CancelCauseFunc
	mu     sync.Mutex
	active map[TopicPartition]*followWorker
}

type followWorker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// followSessionTimeout is the consumer-group session timeout of a
// follower: how long a crashed loader holds its partitions.
const followSessionTimeout = 10 * time.Second

// follow loads continuously until ctx ends or a worker fails for good.
func (r *run) follow(ctx context.Context) error {
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	f := &follower{r: r, ctx: ctx, fail: fail, active: map[TopicPartition]*followWorker{}}
	all, err := r.src.partitions(ctx, r.spec.Source.Topics)
	if err != nil {
		return err // unreachable cluster or missing topic: say so now
	}
	// _SUCCESS needs every partition's watermark: only a follower that
	// holds all partitions can tell (others leave it to a batch run).
	r.afterPublish = func(ctx context.Context) {
		f.mu.Lock()
		owned := len(f.active)
		f.mu.Unlock()
		if owned >= len(all) {
			if err := r.success.flush(ctx); err != nil {
				r.log.Warn("could not write _SUCCESS", "err", err)
			}
		}
	}
	if err := r.hive.load(ctx); err != nil {
		return err
	}
	balancer := r.cfg.Balancer
	if balancer == nil {
		balancer = kgo.CooperativeStickyBalancer()
	}
	opts := append(append([]kgo.Opt(nil), r.src.opts...),
		kgo.ConsumerGroup(r.spec.Source.Group),
		kgo.ConsumeTopics(r.spec.Source.Topics...),
		kgo.DisableAutoCommit(),
		kgo.Balancers(balancer),
		// A killed loader's partitions move to the others after this.
		kgo.SessionTimeout(followSessionTimeout),
		kgo.HeartbeatInterval(followSessionTimeout/10),
		kgo.OnPartitionsAssigned(f.assigned),
		kgo.OnPartitionsRevoked(f.revoked),
		kgo.OnPartitionsLost(f.revoked),
	)
	gcl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("consumer group %q: %w", r.spec.Source.Group, err)
	}
	gcl.PauseFetchTopics(r.spec.Source.Topics...)
	// Group offsets are for lag monitoring: commit asynchronously (a
	// rebalance may cancel a commit; the next one catches up).
	r.commitFn = func(ctx context.Context, tp TopicPartition, next int64) error {
		gcl.CommitOffsets(ctx, map[string]map[int32]kgo.EpochOffset{tp.Topic: {tp.Partition: {Epoch: -1, Offset: next}}},
			func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
				if err != nil && !errors.Is(err, context.Canceled) {
					r.log.Debug("group offset commit", "topic", tp.Topic, "partition", tp.Partition, "err", err)
				}
			})
		return nil
	}
	r.log.Info("following", "group", r.spec.Source.Group, "topics", r.spec.Source.Topics)
	for ctx.Err() == nil {
		fetches := gcl.PollFetches(ctx)
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Warn("consumer group", "topic", t, "partition", p, "err", err)
			}
		})
	}
	// Stop our workers before leaving, so no commit races the next owner.
	f.stopAll()
	gcl.Close()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// ParseBalancer maps a balancer name to franz-go's: cooperative-sticky
// (also for ""; incremental hand-overs) or an eager one, sticky, range or
// roundrobin (every rebalance revokes everything first).
func ParseBalancer(name string) (kgo.GroupBalancer, error) {
	switch name {
	case "", "cooperative-sticky":
		return kgo.CooperativeStickyBalancer(), nil
	case "sticky":
		return kgo.StickyBalancer(), nil
	case "range":
		return kgo.RangeBalancer(), nil
	case "roundrobin":
		return kgo.RoundRobinBalancer(), nil
	}
	return nil, fmt.Errorf("balancer %q: want cooperative-sticky, sticky, range or roundrobin", name)
}

func (f *follower) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var fresh []TopicPartition
	for topic, ps := range parts {
		for _, p := range ps {
			if tp := (TopicPartition{topic, p}); f.active[tp] == nil {
				fresh = append(fresh, tp)
			}
		}
	}
	if len(fresh) == 0 {
		return
	}
	// One scan of the sink for all new partitions (not one per worker);
	// a worker whose scan failed recovers on its own.
	var (
		pos   map[TopicPartition]Position
		perr  error
		ready = make(chan struct{})
	)
	go func() {
		defer close(ready)
		pos, perr = f.r.sink.Recover(f.ctx, fresh, nil)
	}()
	for _, tp := range fresh {
		wctx, cancel := context.WithCancel(f.ctx)
		fw := &followWorker{cancel: cancel, done: make(chan struct{})}
		f.active[tp] = fw
		f.r.log.Info("partition assigned", "topic", tp.Topic, "partition", tp.Partition)
		go func() {
			defer close(fw.done)
			select {
			case <-ready:
			case <-wctx.Done():
				return
			}
			w := newWorker(f.r.wcfg, tp)
			if perr == nil {
				p := pos[tp]
				w.initial = &p
			}
			err := w.run(wctx, -1)
			f.r.addStats(w.stats)
			if err != nil && wctx.Err() == nil {
				f.r.progress.Done(tp, err)
				f.fail(err)
			}
		}()
	}
}

// revoked stops the workers of partitions leaving this process; their open
// temporary files are abandoned, the next owner resumes from the sink.
func (f *follower) revoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	var wait []*followWorker
	f.mu.Lock()
	for topic, ps := range parts {
		for _, p := range ps {
			tp := TopicPartition{topic, p}
			if fw := f.active[tp]; fw != nil {
				fw.cancel()
				wait = append(wait, fw)
				delete(f.active, tp)
				f.r.success.untrack(tp)
				f.r.log.Info("partition revoked", "topic", topic, "partition", p)
			}
		}
	}
	f.mu.Unlock()
	for _, fw := range wait {
		<-fw.done
	}
}

func (f *follower) stopAll() {
	f.mu.Lock()
	parts := map[string][]int32{}
	for tp := range f.active {
		parts[tp.Topic] = append(parts[tp.Topic], tp.Partition)
	}
	f.mu.Unlock()
	f.revoked(context.Background(), nil, parts)
}
