package broker

// Follower fetchers: one per leader broker this node follows partitions
// of, as Kafka's ReplicaFetcherThread. A partition that starts following
// (or sees a new leader epoch) first asks the leader where its own last
// epoch ends (OffsetForLeaderEpoch, KIP-101/279) and cuts its log there,
// so a divergent tail written under an old leader never survives; then it
// fetches from its log end with its replica id, appends the leader's
// batches as they are (offsets and epochs kept) and takes the leader's
// high watermark, capped at its own log end.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/meta"
)

const (
	replicaFetchWait      = 500 * time.Millisecond
	replicaFetchMaxBytes  = 16 << 20
	replicaPartitionBytes = 1 << 20
	replicaBackoff        = 100 * time.Millisecond
)

// fetchers holds the running fetchers by leader.
type fetchers struct {
	s  *Server
	mu sync.Mutex
	// ctx is the server's run context (set by start); nil before Serve,
	// when fetchers are only recorded.
	ctx      context.Context
	byLeader map[int32]*fetcher
	// following is the leader each partition follows.
	following map[*partition]int32
	wg        sync.WaitGroup
}

// fetchState is one followed partition's progress.
type fetchState struct {
	epoch    int32 // the leader epoch it follows
	truncate bool  // it must ask the leader where to cut before fetching
}

// fetcher fetches every followed partition of one leader.
type fetcher struct {
	leader int32
	wake   chan struct{}
	cancel context.CancelFunc
	mu     sync.Mutex
	parts  map[*partition]*fetchState
}

// update makes p follow r's leader, or stop following if this node leads
// it or it has no leader.
func (f *fetchers) update(p *partition, r *partitionRole) {
	if f.s.cluster == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byLeader == nil {
		f.byLeader = map[int32]*fetcher{}
		f.following = map[*partition]int32{}
	}
	old, had := f.following[p]
	if had && (r.leader || r.Leader == meta.NoLeader || old != r.Leader) {
		if ft := f.byLeader[old]; ft != nil {
			ft.mu.Lock()
			delete(ft.parts, p)
			ft.mu.Unlock()
		}
		delete(f.following, p)
	}
	if r.leader || r.Leader == meta.NoLeader {
		return
	}
	ft := f.byLeader[r.Leader]
	if ft == nil {
		ft = &fetcher{leader: r.Leader, wake: make(chan struct{}, 1), parts: map[*partition]*fetchState{}}
		f.byLeader[r.Leader] = ft
		if f.ctx != nil {
			f.startLocked(ft)
		}
	}
	ft.mu.Lock()
	if st := ft.parts[p]; st == nil || st.epoch != r.LeaderEpoch {
		ft.parts[p] = &fetchState{epoch: r.LeaderEpoch, truncate: true}
	}
	ft.mu.Unlock()
	f.following[p] = r.Leader
	select {
	case ft.wake <- struct{}{}:
	default:
	}
}

// forget stops following p (its topic was deleted).
func (f *fetchers) forget(p *partition) { f.update(p, &partitionRole{leader: true}) }

// start runs the fetchers recorded so far and every later one until ctx
// ends; wait returns once they have stopped.
func (f *fetchers) start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctx = ctx
	for _, ft := range f.byLeader {
		f.startLocked(ft)
	}
}

func (f *fetchers) startLocked(ft *fetcher) {
	ctx, cancel := context.WithCancel(f.ctx)
	ft.cancel = cancel
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.s.runFetcher(ctx, ft)
	}()
}

// wait waits for every fetcher to stop (after the context given to start
// ended).
func (f *fetchers) wait() { f.wg.Wait() }

// runFetcher is one leader's fetch loop.
func (s *Server) runFetcher(ctx context.Context, ft *fetcher) {
	var cl *kgo.Client
	var addr string
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for ctx.Err() == nil {
		ft.mu.Lock()
		parts := make(map[*partition]*fetchState, len(ft.parts))
		for p, st := range ft.parts {
			c := *st
			parts[p] = &c
		}
		ft.mu.Unlock()
		if len(parts) == 0 {
			select {
			case <-ctx.Done():
			case <-ft.wake:
			}
			continue
		}
		b, ok := s.meta.Image().Broker(ft.leader)
		if !ok {
			sleepCtx(ctx, replicaBackoff)
			continue
		}
		if a := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))); a != addr || cl == nil {
			if cl != nil {
				cl.Close()
			}
			var err error
			cl, err = kgo.NewClient(kgo.SeedBrokers(a), kgo.DialTimeout(2*time.Second), kgo.RequestRetries(0),
				kgo.RequestTimeoutOverhead(5*time.Second), kgo.ClientID(fmt.Sprintf("sluice-replica-%d", s.cfg.NodeID)))
			if err != nil {
				s.logger.Error("replica fetcher: client", "leader", ft.leader, "err", err)
				sleepCtx(ctx, replicaBackoff)
				continue
			}
			addr = a
		}
		seed := cl.SeedBrokers()[0]
		if err := s.truncateFollowers(ctx, seed, ft, parts); err != nil {
			s.logger.Debug("replica fetcher: truncation", "leader", ft.leader, "err", err)
			sleepCtx(ctx, replicaBackoff)
			continue
		}
		if err := s.fetchFromLeader(ctx, seed, ft, parts); err != nil {
			if ctx.Err() == nil {
				s.logger.Debug("replica fetcher: fetch", "leader", ft.leader, "err", err)
			}
			sleepCtx(ctx, replicaBackoff)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// truncateFollowers cuts, for every partition that needs it, the log
// where the leader says its last epoch ends (KIP-279: the leader answers
// the largest epoch it has up to ours and where it ends; a smaller epoch
// than ours means our tail from there on is not the leader's).
func (s *Server) truncateFollowers(ctx context.Context, b *kgo.Broker, ft *fetcher, parts map[*partition]*fetchState) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = s.cfg.NodeID
	byTopic := map[string]int{}
	var asked []*partition
	for p, st := range parts {
		if !st.truncate {
			continue
		}
		i, ok := byTopic[p.topic]
		if !ok {
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = p.topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[p.topic] = i
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.index, st.epoch, p.log.LeaderEpoch()
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked = append(asked, p)
	}
	if len(asked) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := b.Request(rctx, req)
	if err != nil {
		return err
	}
	resp := raw.(*kmsg.OffsetForLeaderEpochResponse)
	var errs []error
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			p := findPartition(asked, rt.Topic, rp.Partition)
			if p == nil {
				continue
			}
			if rp.ErrorCode != 0 {
				errs = append(errs, fmt.Errorf("%s-%d: %w", p.topic, p.index, kerr.ErrorForCode(rp.ErrorCode)))
				continue
			}
			cut := rp.EndOffset
			if rp.LeaderEpoch < 0 || cut < 0 {
				cut = p.highWatermark() // the leader knows no epoch of ours: keep only what was committed
			} else if rp.LeaderEpoch < p.log.LeaderEpoch() {
				_, ours := p.log.EndOffsetForEpoch(rp.LeaderEpoch)
				if ours >= 0 {
					cut = min(cut, ours)
				}
			}
			if cut < p.log.EndOffset() {
				s.logger.Info("follower truncating its divergent tail", "topic", p.topic, "partition", p.index,
					"from", p.log.EndOffset(), "to", cut, "leader", ft.leader, "leader_epoch", rp.LeaderEpoch)
				if err := p.log.TruncateTo(cut); err != nil {
					errs = append(errs, fmt.Errorf("%s-%d: truncate to %d: %w", p.topic, p.index, cut, err))
					continue
				}
			}
			ft.mu.Lock()
			if st := ft.parts[p]; st != nil && st.epoch == parts[p].epoch {
				st.truncate = false
			}
			ft.mu.Unlock()
			parts[p].truncate = false
		}
	}
	return errors.Join(errs...)
}

func findPartition(ps []*partition, topic string, index int32) *partition {
	for _, p := range ps {
		if p.topic == topic && p.index == index {
			return p
		}
	}
	return nil
}

// fetchFromLeader sends one replica fetch for the partitions that need
// no truncation and appends what comes back.
func (s *Server) fetchFromLeader(ctx context.Context, b *kgo.Broker, ft *fetcher, parts map[*partition]*fetchState) error {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = s.cfg.NodeID
	req.ReplicaState.ID, req.ReplicaState.Epoch = s.cfg.NodeID, -1
	req.MaxWaitMillis = int32(replicaFetchWait / time.Millisecond)
	req.MinBytes, req.MaxBytes = 1, replicaFetchMaxBytes
	req.SessionEpoch = -1
	img := s.meta.Image()
	byTopic := map[string]int{}
	var asked []*partition
	for p, st := range parts {
		if st.truncate {
			continue
		}
		t, ok := img.Topic(p.topic)
		if !ok {
			continue
		}
		i, ok := byTopic[p.topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = p.topic, t.ID
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[p.topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch = p.index, st.epoch
		rp.FetchOffset, rp.LogStartOffset, rp.PartitionMaxBytes = p.log.EndOffset(), p.log.StartOffset(), replicaPartitionBytes
		rp.LastFetchedEpoch = -1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked = append(asked, p)
	}
	if len(asked) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, replicaFetchWait+10*time.Second)
	defer cancel()
	raw, err := b.Request(rctx, req)
	if err != nil {
		return err
	}
	resp := raw.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	var errs []error
	for _, rt := range resp.Topics {
		name := rt.Topic
		if name == "" {
			if t, ok := img.TopicByID(meta.TopicID(rt.TopicID)); ok {
				name = t.Name
			}
		}
		for _, rp := range rt.Partitions {
			p := findPartition(asked, name, rp.Partition)
			if p == nil {
				continue
			}
			if err := s.appendFetched(p, ft, &rp); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", p.topic, p.index, err))
			}
		}
	}
	return errors.Join(errs...)
}

// appendFetched appends one partition's fetched batches and takes the
// leader's watermark.
func (s *Server) appendFetched(p *partition, ft *fetcher, rp *kmsg.FetchResponseTopicPartition) error {
	switch rp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		// Our end is past the leader's (a tail to cut) or before its
		// start: ask where to cut again.
		ft.markTruncate(p)
		return kerr.ErrorForCode(rp.ErrorCode)
	default:
		return kerr.ErrorForCode(rp.ErrorCode)
	}
	if batches := wholeBatches(rp.RecordBatches); len(batches) > 0 {
		if _, err := p.log.AppendReplicated(batches); err != nil {
			if errors.Is(err, log.ErrOffsetMismatch) {
				ft.markTruncate(p)
			}
			return err
		}
		p.notify()
	}
	if rp.HighWatermark >= 0 {
		p.setHighWatermark(min(rp.HighWatermark, p.log.EndOffset()))
	}
	return nil
}

func (ft *fetcher) markTruncate(p *partition) {
	ft.mu.Lock()
	if st := ft.parts[p]; st != nil {
		st.truncate = true
	}
	ft.mu.Unlock()
}

// wholeBatches drops a partial batch at the end of fetched bytes (a
// leader may cut the last one at the byte limit).
func wholeBatches(b []byte) []byte {
	n := 0
	for len(b)-n >= 12 {
		size := int(int32(uint32(b[n+8])<<24 | uint32(b[n+9])<<16 | uint32(b[n+10])<<8 | uint32(b[n+11])))
		if size <= 0 || n+12+size > len(b) {
			break
		}
		n += 12 + size
	}
	return b[:n]
}
