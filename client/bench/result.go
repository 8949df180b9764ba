package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// ErrInterrupted is returned, with the result so far, when the context of a
// run ends before the run does.
var ErrInterrupted = errors.New("bench: interrupted")

// mebibyte is the MB of mb_per_s, as Kafka's perf tools count.
const mebibyte = 1 << 20

// Result is what one run measured. Its JSON form is the one object that
// `sluice bench -o json` prints.
type Result struct {
	Mode          string  `json:"mode"` // produce, consume or latency
	Topic         string  `json:"topic"`
	Records       int64   `json:"records"` // records acknowledged, read, or (latency) received
	Bytes         int64   `json:"bytes"`   // their key and value bytes
	Seconds       float64 `json:"seconds"`
	RecordsPerS   float64 `json:"records_per_s"`
	MBPerS        float64 `json:"mb_per_s"` // MB = 2^20 bytes
	*LatencyStats         // latency runs only
}

// LatencyStats are the end-to-end latencies of a latency run, in
// milliseconds, exact: taken from all samples sorted (nearest rank).
type LatencyStats struct {
	Rate float64 `json:"rate"` // the records/s the schedule asked for
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

// newResult fills the rates of a result from its counts and elapsed time.
func newResult(mode, topic string, records, bytes int64, elapsed time.Duration) Result {
	r := Result{Mode: mode, Topic: topic, Records: records, Bytes: bytes, Seconds: elapsed.Seconds()}
	if r.Seconds > 0 {
		r.RecordsPerS = float64(records) / r.Seconds
		r.MBPerS = float64(bytes) / mebibyte / r.Seconds
	}
	return r
}

// latencyStats sorts samples and takes their percentiles by nearest rank:
// the p-th percentile is the smallest sample with at least p% of the
// samples at or below it.
func latencyStats(rate float64, samples []time.Duration) *LatencyStats {
	s := &LatencyStats{Rate: rate}
	if len(samples) == 0 {
		return s
	}
	slices.Sort(samples)
	// at is the sample at permille pm, by nearest rank: ceil(pm × n / 1000),
	// in integers (99.9/100 in floating point rounds 999 of 1000 up to 1000).
	n := len(samples)
	at := func(pm int) float64 { return ms(samples[max((pm*n+999)/1000-1, 0)]) }
	s.P50, s.P90, s.P99, s.P999 = at(500), at(900), at(990), at(999)
	s.Max = ms(samples[len(samples)-1])
	return s
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// WriteSummary writes the result as a few lines for a person to read.
func (r Result) WriteSummary(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s %q: %d records, %.1f MB in %.2f s: %.0f records/s, %.2f MB/s (MB = 2^20 bytes)\n",
		r.Mode, r.Topic, r.Records, float64(r.Bytes)/mebibyte, r.Seconds, r.RecordsPerS, r.MBPerS)
	if err != nil || r.LatencyStats == nil {
		return err
	}
	l := r.LatencyStats
	_, err = fmt.Fprintf(w, "end-to-end latency at %g records/s, %d samples: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n",
		l.Rate, r.Records, l.P50, l.P90, l.P99, l.P999, l.Max)
	return err
}

// ConfigError is a config field whose value cannot work. Field is the Go
// name of the field (RecordSize, ...), for a caller to map to its flag.
type ConfigError struct {
	Field string
	Value any
	Want  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("bench: %s %v: want %s", e.Field, e.Value, e.Want)
}
