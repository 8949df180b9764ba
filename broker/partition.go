package broker

import (
	"sync"

	"github.com/sluicehq/sluice/broker/log"
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

	mu struct {
		sync.Mutex
		waiters map[chan<- struct{}]struct{}
	}
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
