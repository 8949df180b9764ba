package loader

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/formats"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/loader/fs"
)

// activityEvent renders a 10-field JSON activity event, like
// e2e/loader/gen.
func activityEvent(i int, base int64) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"user_id":`...)
	b = strconv.AppendInt(b, int64(i%100003), 10)
	b = fmt.Appendf(b, `,"session_id":"s-%s","event":"%s","page":"/products/%d","referrer":"https://example.com/r/%d","country":"%s","duration_ms":%d,"amount":%.2f,"mobile":%t,"event_time":%d}`,
		strconv.FormatInt(int64(i/37), 36), []string{"view", "click", "scroll", "purchase", "signup", "logout"}[i%6],
		i%997, i%13, []string{"DE", "FR", "US", "BR", "JP", "IN", "NG", "GB"}[i%8], i*7%30000, float64(i%10000)/100, i%3 == 0, base+int64(i)*10)
	return b
}

var activitySchema = []formats.FieldSpec{
	{Name: "user_id", Type: "int64", Required: true},
	{Name: "session_id", Type: "string"},
	{Name: "event", Type: "string"},
	{Name: "page", Type: "string"},
	{Name: "referrer", Type: "string"},
	{Name: "country", Type: "string"},
	{Name: "duration_ms", Type: "int64"},
	{Name: "amount", Type: "double"},
	{Name: "mobile", Type: "boolean"},
	{Name: "event_time", Type: "timestamp", Format: "epoch_ms"},
}

// BenchmarkWorkerJSON measures one partition worker end to end from
// fetched records (JSON activity events) to published Parquet files on
// the local disk: decode, time routing, Parquet (snappy), the commit
// protocol. It runs on one goroutine, so records/s is per core. The
// broker fetch is measured by e2e/loader/bench.sh.
func BenchmarkWorkerJSON(b *testing.B) {
	const n = 200_000
	tp := TopicPartition{"events", 0}
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	src := &memSource{records: map[TopicPartition][]*kgo.Record{}, logStart: map[TopicPartition]int64{}, chunk: 5000}
	var size int64
	for i := range n {
		v := activityEvent(i, base.UnixMilli())
		size += int64(len(v))
		src.records[tp] = append(src.records[tp], &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: int64(i), Value: v, Timestamp: base})
	}
	fcfg := formats.Config{Type: formats.TypeJSON, JSON: formats.JSONConfig{Schema: activitySchema}}
	wopts := formats.WriterOptions{Codec: formats.CodecSnappy, MetaColumns: formats.DefaultMetaColumns()}
	b.ReportAllocs()
	cpu0 := testutil.CPUTime()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		cfg := testConfig(b, fs.NewLocal(), b.TempDir(), src)
		cfg.newFormat = newParquetFactory(mustCompile(b, fcfg), wopts, "event_time", time.Now, nil, formats.DecoderOptions{})
		cfg.roll = DefaultRollPolicy()
		cfg.codec = "snappy"
		b.StartTimer()
		w := newWorker(cfg, tp)
		if err := w.run(context.Background(), n); err != nil {
			b.Fatal(err)
		}
		if w.stats.Records != n {
			b.Fatalf("%d records landed", w.stats.Records)
		}
	}
	cpu := (testutil.CPUTime() - cpu0).Seconds()
	sec := b.Elapsed().Seconds()
	// On a shared machine wall time understates a core's rate; CPU time
	// used by the process (GC included) gives records per core-second.
	b.ReportMetric(float64(n)*float64(b.N)/cpu, "records/cpu-s")
	b.ReportMetric(float64(n)*float64(b.N)/sec, "records/s")
	b.ReportMetric(float64(size)*float64(b.N)/sec/1e6, "MB/s")
}
