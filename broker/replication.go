package broker

// Replication as Kafka does it: followers fetch from the leader on the
// Fetch API with their replica id (fetcher.go); the leader tracks each
// follower's log end (broker/replica), derives the high watermark from
// the ISR, answers acks=all once the watermark passes a batch, proposes
// ISR changes to the metadata (Kafka's AlterPartition; the partition
// epoch in PartitionChange refuses stale ones), and serves consumers only
// what is below the watermark. A single node, and a topic without
// replication state, has the log end as its watermark.

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/controller"
	"github.com/sluicehq/sluice/broker/meta"
	"github.com/sluicehq/sluice/broker/replica"
)

// replication is a partition's replication state on this node.
type replication struct {
	mu sync.Mutex
	// tracker is the leader's view of its followers; nil unless this
	// node leads the partition in a cluster.
	tracker *replica.Tracker
	// epoch and replicas are the leader epoch and assignment the tracker
	// was made for (a reassignment adds replicas to track).
	epoch    int32
	replicas []int32
	// proposed is the ISR last proposed, so a pending change is not
	// proposed again every round.
	proposed []int32
	// changed is closed and replaced whenever the watermark or the role
	// changes, for acks=all waiters.
	changed chan struct{}
}

// highWatermark is the offset below which records are committed: what
// consumers may read. A single node's is the log end.
func (p *partition) highWatermark() int64 {
	end := p.log.EndOffset()
	if p.state.Load() == nil {
		return end
	}
	return min(p.hw.Load(), end)
}

// setHighWatermark publishes a new watermark (it only grows while the
// role stays) and wakes whoever waits on it.
func (p *partition) setHighWatermark(hw int64) {
	if hw == p.hw.Load() {
		return
	}
	p.hw.Store(hw)
	p.signal()
	p.notify()
}

// signal wakes acks=all waiters; p.repl.mu need not be held.
func (p *partition) signal() {
	p.repl.mu.Lock()
	if p.repl.changed != nil {
		close(p.repl.changed)
	}
	p.repl.changed = make(chan struct{})
	p.repl.mu.Unlock()
}

// waitChan returns a channel closed at the next watermark or role change.
func (p *partition) waitChan() <-chan struct{} {
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	if p.repl.changed == nil {
		p.repl.changed = make(chan struct{})
	}
	return p.repl.changed
}

// lead brings the leader's tracking in line with the partition's state:
// a new tracker for a new leader epoch (every follower counted as caught
// up now, as Kafka does), the ISR the metadata committed otherwise.
func (s *Server) lead(p *partition, t *meta.Topic, st meta.PartitionState) {
	p.repl.mu.Lock()
	if p.repl.tracker == nil || p.repl.epoch != st.LeaderEpoch || !slices.Equal(p.repl.replicas, st.Replicas) {
		cfg := replica.Config{Leader: s.cfg.NodeID, Replicas: st.Replicas, MinISR: s.minISR(t),
			LagMax: time.Duration(s.settings.ReplicaLagTimeMaxMs) * time.Millisecond, EpochStart: p.log.EndOffset()}
		hw := p.hw.Load()
		if p.repl.tracker != nil && p.repl.epoch == st.LeaderEpoch {
			hw = max(hw, p.repl.tracker.HighWatermark())
		}
		p.repl.tracker = replica.New(cfg, st.ISR, p.log.EndOffset(), hw, s.now())
		p.repl.epoch, p.repl.replicas = st.LeaderEpoch, slices.Clone(st.Replicas)
	} else {
		p.repl.tracker.SetISR(st.ISR)
	}
	p.repl.proposed = nil
	hw := p.repl.tracker.HighWatermark()
	p.repl.mu.Unlock()
	p.setHighWatermark(hw)
	p.signal()
}

// follow drops the leader's tracking: another broker leads.
func (p *partition) follow() {
	p.repl.mu.Lock()
	p.repl.tracker = nil
	p.repl.proposed = nil
	p.repl.mu.Unlock()
	p.signal()
}

// minISR is a topic's min.insync.replicas.
func (s *Server) minISR(t *meta.Topic) int {
	return int(s.meta.Image().TopicConfig(t, s.settings).Int64("min.insync.replicas"))
}

// appended tells the leader's tracker the log grew.
func (p *partition) appended() {
	if p.state.Load() == nil {
		return // a single node: no tracker, the log end is the watermark
	}
	p.repl.mu.Lock()
	tr := p.repl.tracker
	var hw int64
	if tr != nil {
		tr.Appended(p.log.EndOffset())
		hw = tr.HighWatermark()
	}
	p.repl.mu.Unlock()
	if tr != nil {
		p.setHighWatermark(hw)
	}
}

// followerFetched records a follower's fetch from offset and returns the
// watermark to send it; ok is false if this node does not track it (not
// the leader, or not a replica).
func (s *Server) followerFetched(p *partition, replicaID int32, offset int64) (int64, bool) {
	p.repl.mu.Lock()
	tr := p.repl.tracker
	if tr == nil || !slices.Contains(p.role().Replicas, replicaID) {
		p.repl.mu.Unlock()
		return 0, false
	}
	hw := tr.Fetched(replicaID, offset, s.now())
	p.repl.mu.Unlock()
	p.setHighWatermark(hw)
	return hw, true
}

// canAppendAcksAll reports whether an acks=all produce may be appended:
// NOT_ENOUGH_REPLICAS with fewer in-sync replicas than
// min.insync.replicas.
func (p *partition) canAppendAcksAll() bool {
	if p.state.Load() == nil {
		return true
	}
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	return p.repl.tracker == nil || p.repl.tracker.CanAppendAcksAll()
}

// awaitCommitted waits until the watermark reaches end (every ISR member
// has the records below it) for an acks=all produce in leader epoch
// epoch, or until ctx ends. It answers the Kafka error for the produce:
// none, REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER if leadership moved, or
// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR fell below
// min.insync.replicas (the watermark cannot pass it then).
func (p *partition) awaitCommitted(ctx context.Context, end int64, epoch int32) *kerr.Error {
	for {
		ch := p.waitChan()
		r := p.role()
		switch {
		case !r.leader || r.LeaderEpoch != epoch:
			return kerr.NotLeaderForPartition
		case p.highWatermark() >= end:
			return nil
		case !p.canAppendAcksAll():
			return kerr.NotEnoughReplicasAfterAppend
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return kerr.RequestTimedOut
		}
	}
}

// maintainISR is the leaders' round: each led partition proposes to drop
// followers that lag past replica.lag.time.max.ms and to take back those
// that caught up, as Kafka's leader sends AlterPartition.
func (s *Server) maintainISR(ctx context.Context) {
	img := s.meta.Image()
	now := s.now()
	for _, p := range s.allPartitions() {
		r := p.role()
		if !r.leader || len(r.Replicas) < 2 {
			continue
		}
		t, ok := img.Topic(p.topic)
		if !ok || int(p.index) >= len(t.Parts) {
			continue
		}
		cur := t.Parts[p.index]
		if cur.Leader != s.cfg.NodeID {
			continue
		}
		p.repl.mu.Lock()
		tr := p.repl.tracker
		if tr == nil || p.repl.epoch != cur.LeaderEpoch {
			p.repl.mu.Unlock()
			continue
		}
		isr := slices.Clone(cur.ISR)
		out := tr.OutOfSync(now)
		isr = slices.DeleteFunc(isr, func(id int32) bool { return slices.Contains(out, id) })
		for _, id := range tr.CaughtUp() {
			if b, ok := img.Broker(id); ok && !b.Fenced && !b.ShuttingDown && !slices.Contains(isr, id) {
				isr = append(isr, id)
			}
		}
		if slices.Equal(isr, cur.ISR) || slices.Equal(isr, p.repl.proposed) {
			p.repl.mu.Unlock()
			continue
		}
		p.repl.proposed = slices.Clone(isr)
		p.repl.mu.Unlock()
		live := func(id int32) bool {
			b, ok := img.Broker(id)
			return ok && !b.Fenced && !b.ShuttingDown
		}
		next, o := controller.Change(controller.FromState(cur), isr, controller.ElectOnline, controller.Cluster{Live: live, MinISR: s.minISR(t)})
		if o == controller.Unchanged || next.Leader != s.cfg.NodeID {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.meta.Apply(pctx, meta.PartitionChange{ID: t.ID, Partition: p.index, State: controller.ToState(next)})
		cancel()
		if err != nil {
			s.logger.Debug("ISR change refused", "topic", p.topic, "partition", p.index, "isr", isr, "err", err)
			p.repl.mu.Lock()
			p.repl.proposed = nil
			p.repl.mu.Unlock()
		} else {
			s.logger.Info("ISR changed", "topic", p.topic, "partition", p.index, "from", cur.ISR, "to", next.ISR)
		}
	}
}
