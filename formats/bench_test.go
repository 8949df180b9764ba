package formats

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// activitySchema is the 10-field activity event of the speed goal.
var activitySpecs = []FieldSpec{
	{Name: "event_id", Type: "string", Required: true},
	{Name: "user_id", Type: "int64", Required: true},
	{Name: "session_id", Type: "string"},
	{Name: "event_type", Type: "string"},
	{Name: "page", Type: "string"},
	{Name: "referrer", Type: "string"},
	{Name: "duration_ms", Type: "int32"},
	{Name: "price", Type: "decimal(10,2)"},
	{Name: "is_mobile", Type: "boolean"},
	{Name: "event_time", Type: "timestamp"},
}

// activityEvents returns n JSON activity events (about 330 bytes each).
func activityEvents(n int) []Message {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"view", "click", "purchase", "scroll", "signup"}
	pages := []string{"/", "/home", "/search", "/product/123", "/cart", "/checkout"}
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	out := make([]Message, n)
	for i := range out {
		ref := `null`
		if r.IntN(3) > 0 {
			ref = fmt.Sprintf(`"https://ref%d.example/landing?utm=%d"`, r.IntN(50), r.IntN(10))
		}
		ts := base.Add(time.Duration(i) * time.Millisecond)
		out[i] = Message{
			Topic: "activity", Partition: 0, Offset: int64(i), Timestamp: ts,
			Value: fmt.Appendf(nil, `{"event_id":"%016x%016x","user_id":%d,"session_id":"s-%d","event_type":"%s","page":"%s","referrer":%s,"duration_ms":%d,"price":%d.%02d,"is_mobile":%t,"event_time":"%s"}`,
				r.Uint64(), r.Uint64(), r.IntN(1_000_000), r.IntN(100_000), types[r.IntN(len(types))], pages[r.IntN(len(pages))], ref,
				r.IntN(60_000), r.IntN(1000), r.IntN(100), r.IntN(2) == 0, ts.Format(time.RFC3339Nano)),
		}
	}
	return out
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// BenchmarkJSONToParquet is the end-to-end speed goal: JSON message bytes
// in, snappy Parquet out (with the default metadata columns), one core.
func BenchmarkJSONToParquet(b *testing.B) {
	msgs := activityEvents(100_000)
	var inBytes int64
	for i := range msgs {
		inBytes += int64(len(msgs[i].Value))
	}
	dec, err := NewDecoder(Config{Type: TypeJSON, JSON: JSONConfig{Schema: activitySpecs}}, DecoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var out countWriter
	w, err := NewWriter(&out, dec.Schema(), WriterOptions{MetaColumns: DefaultMetaColumns})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		row, err := dec.Decode(ctx, &msgs[i%len(msgs)])
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Write(row); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu := (cpuTime() - cpu0).Seconds()
	secs := b.Elapsed().Seconds()
	// On a shared machine wall time undercounts: records per CPU-second of
	// this process (GC included) is the one-core figure.
	b.ReportMetric(float64(b.N)/cpu, "records/cpu-s")
	b.ReportMetric(float64(b.N)/secs, "records/s")
	b.ReportMetric(float64(inBytes)/float64(len(msgs))*float64(b.N)/secs/1e6, "MB/s")
	b.ReportMetric(float64(out.n)/float64(b.N), "parquet-B/record")
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
