package broker

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/meta"
)

// partition is one topic partition served by this node: its log plus the
// fetch requests waiting for new data (long poll).
type partition struct {
	topic string
	index int32
	log   *log.Log
	// probe schedules Recover while the log is read-only; only the
	// storage prober uses it (storage.go).
	probe probeSchedule
	// cleanFailing is set while compaction of this log keeps failing
	// (logged once); only the cleaner goroutine uses it.
	cleanFailing bool

	// state is the partition's replication state as the metadata says
	// (setRole); nil on a single node, which leads every partition.
	state atomic.Pointer[partitionRole]
	// hw is the high watermark in a cluster (replication.go): the
	// leader's from its tracker, a follower's from the leader's fetch
	// answers.
	hw   atomic.Int64
	repl replication

	mu struct {
		sync.Mutex
		waiters map[chan<- struct{}]struct{}
	}
}

// partitionRole is what this node is for one partition.
type partitionRole struct {
	leader bool
	meta.PartitionState
}

// singleNode is the role of every partition of a single node.
var singleNode = &partitionRole{leader: true}

// role is the partition's replication state here.
func (p *partition) role() *partitionRole {
	if r := p.state.Load(); r != nil {
		return r
	}
	return singleNode
}

// setRole brings a partition's role in line with its topic's metadata:
// leading it starts the new leader epoch in the log (Kafka's leader
// epoch cache), before any batch of that epoch is appended.
func (s *Server) setRole(p *partition, t *meta.Topic) error {
	if int(p.index) >= len(t.Parts) {
		return nil
	}
	st := t.Parts[p.index]
	r := &partitionRole{leader: st.Leader == s.cfg.NodeID, PartitionState: st}
	if r.leader && st.LeaderEpoch > p.log.LeaderEpoch() {
		if err := p.log.SetLeaderEpoch(st.LeaderEpoch); err != nil {
			return fmt.Errorf("topic %s partition %d: start leader epoch %d: %w", t.Name, p.index, st.LeaderEpoch, err)
		}
	}
	old := p.state.Swap(r)
	if r.leader {
		s.lead(p, t, st)
	} else {
		p.follow()
	}
	if old != nil && old.leader && !r.leader {
		p.notify() // fetches waiting here answer NOT_LEADER_OR_FOLLOWER
	}
	s.fetchers.update(p, r)
	return nil
}

// wait registers ch to be signalled (non-blocking) on the next append; the
// caller must call unwait when it stops waiting.
func (p *partition) wait(ch chan<- struct{}) {
	p.mu.Lock()
	if p.mu.waiters == nil {
		p.mu.waiters = make(map[chan<- struct{}]struct{})
	}
	p.mu.waiters[ch] = struct{}{}
	p.mu.Unlock()
}

func (p *partition) unwait(ch chan<- struct{}) {
	p.mu.Lock()
	delete(p.mu.waiters, ch)
	p.mu.Unlock()
}

// notify wakes every fetch waiting on this partition.
func (p *partition) notify() {
	p.mu.Lock()
	for ch := range p.mu.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}
