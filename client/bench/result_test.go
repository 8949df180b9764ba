package bench

import (
	"testing"
	"time"
)

// Percentiles are exact, by nearest rank, from all samples in any order.
func TestLatencyStatsNearestRank(t *testing.T) {
	samples := make([]time.Duration, 1000)
	for i := range samples {
		samples[i] = time.Duration(1000-i) * time.Millisecond // 1000 ms .. 1 ms, reversed
	}
	s := latencyStats(50, samples)
	if s.Rate != 50 || s.P50 != 500 || s.P90 != 900 || s.P99 != 990 || s.P999 != 999 || s.Max != 1000 {
		t.Errorf("stats of 1..1000 ms = %+v, want rate 50, p50 500, p90 900, p99 990, p99.9 999, max 1000", *s)
	}
	if s := latencyStats(1, []time.Duration{1500 * time.Microsecond}); s.P50 != 1.5 || s.P999 != 1.5 || s.Max != 1.5 {
		t.Errorf("stats of one 1.5 ms sample = %+v, want 1.5 everywhere", *s)
	}
	if s := latencyStats(1, nil); s.Max != 0 {
		t.Errorf("stats of no samples = %+v, want zeros", *s)
	}
}

// The rates follow from the counts; MB is 2^20 bytes.
func TestNewResultRates(t *testing.T) {
	r := newResult("produce", "t", 1000, 2<<20, 2*time.Second)
	if r.RecordsPerS != 500 || r.MBPerS != 1 || r.Seconds != 2 {
		t.Errorf("newResult = %+v, want 500 records/s, 1 MB/s, 2 s", r)
	}
	if r := newResult("consume", "t", 0, 0, 0); r.RecordsPerS != 0 || r.MBPerS != 0 {
		t.Errorf("newResult of nothing = %+v, want zero rates", r)
	}
}
