package broker

// The scrubber: a background pass over every partition's sealed segments
// at log.scrub.bytes.per.sec (broker/log Scrub checks each batch's CRC32C
// and offsets). Damage it finds becomes a damaged range like any other
// (damage.go). A pass that finds nothing to read waits
// log.retention.check.interval.ms before the next.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/broker/log"
)

type scrubMetrics struct {
	bytes, passes prometheus.Counter
}

func newScrubMetrics(reg prometheus.Registerer) scrubMetrics {
	m := scrubMetrics{
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_scrub_bytes_total", Help: "Bytes of sealed segments the scrubber re-read and checked (log.scrub.bytes.per.sec).",
		}),
		passes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_scrub_passes_total", Help: "Scrubber passes completed over every partition's sealed segments.",
		}),
	}
	reg.MustRegister(m.bytes, m.passes)
	return m
}

// runScrubber scrubs until ctx ends; it does nothing when the rate is 0.
func (s *Server) runScrubber(ctx context.Context) {
	rate := s.settings.LogScrubBytesPerSec
	if rate <= 0 {
		return
	}
	idle := time.Duration(s.settings.LogRetentionCheckIntervalMs) * time.Millisecond
	p := newPacer(rate)
	for ctx.Err() == nil {
		if n := s.scrubPass(ctx, p); n > 0 {
			continue
		}
		if !p.sleep(ctx, idle) {
			return
		}
	}
}

// scrubPass scrubs every sealed segment once and returns the bytes read.
func (s *Server) scrubPass(ctx context.Context, p *pacer) int64 {
	var total int64
	for _, part := range s.sortedPartitions() {
		for from := int64(0); ctx.Err() == nil; {
			res, err := part.log.Scrub(ctx, from, func(n int64) error { return p.wait(ctx, n) })
			s.metrics.scrub.bytes.Add(float64(res.Bytes))
			total += res.Bytes
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, log.ErrClosed) {
					s.logger.Warn("scrub failed", "topic", part.topic, "partition", part.index, "err", err)
				}
				break
			}
			if res.Segment < 0 {
				break
			}
			from = res.Segment + 1
		}
	}
	if ctx.Err() == nil {
		s.metrics.scrub.passes.Inc()
	}
	return total
}

// sortedPartitions is allPartitions by topic and index.
func (s *Server) sortedPartitions() []*partition {
	parts := s.allPartitions()
	slices.SortFunc(parts, func(a, b *partition) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.index - b.index)
	})
	return parts
}

// pacer spreads reads to a rate in bytes per second; debts shorter than
// pacerSlack are carried rather than slept, so small reads do not each
// pay for a timer. now and sleep are the clock (tests drive them).
type pacer struct {
	rate  float64
	debt  time.Duration
	last  time.Time
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) bool
}

const pacerSlack = 10 * time.Millisecond

func newPacer(rate int64) *pacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pacer{rate: float64(rate), last: time.Now(), now: time.Now, sleep: func(ctx context.Context, d time.Duration) bool {
		t.Reset(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
			return true
		}
	}}
}

// wait blocks until n more bytes fit the rate, or ctx ends.
func (p *pacer) wait(ctx context.Context, n int64) error {
	now := p.now()
	p.debt -= now.Sub(p.last) // time passed pays the debt, up to none
	p.last = now
	p.debt = max(p.debt, -pacerSlack) + time.Duration(float64(n)/p.rate*float64(time.Second))
	if p.debt < pacerSlack {
		return nil
	}
	if !p.sleep(ctx, p.debt) {
		return ctx.Err()
	}
	return nil
}
