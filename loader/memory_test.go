package loader

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchHeld produces n lz4-compressed JSON activity events to a real
// broker, reads one fetch through the loader's consumer (kafkaSource) and
// returns the records it returned and the heap that fetch keeps in use
// (measured after forced collections, so it does not depend on timing:
// the fetch franz-go buffers meanwhile is included, or not yet there).
func fetchHeld(tb testing.TB, n int) (records int, held int64) {
	tb.Helper()
	b, _ := startBrokerWithTopics(tb, map[string]int{"mem": 1})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixMilli()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "mem", Value: activityEvent(i, base)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatal(err)
	}
	recs = nil
	src, err := newKafkaSource([]string{b.Addr()}, "", DefaultMaxDecompressedBatchBytes, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	defer src.close()
	before := heapInUse()
	rs, err := src.open(ctx, TopicPartition{"mem", 0}, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer rs.close()
	got, err := rs.fetch(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	held = heapInUse() - before
	runtime.KeepAlive(got)
	return len(got), held
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// TestFetchHoldsLittleAgainstARowGroup: a worker's fetches are small
// beside its row group. 400,000 events (80 MB of JSON, about 12 MB in
// lz4) are waiting; one fetch plus the one franz-go buffers must keep
// under the 64 MiB row group in use (measured: 26-30 MiB, most of it the
// client and its lz4 decoders). Before fetches were bounded to
// 1 MiB they held 8 MiB compressed each, decompressed into buffers of up
// to twice their size, with a kgo.Record per record: 150-250 MiB.
func TestFetchHoldsLittleAgainstARowGroup(t *testing.T) {
	n, held := fetchHeld(t, 400_000)
	t.Logf("one fetch: %d records, %.1f MiB of heap held", n, float64(held)/(1<<20))
	if n == 0 {
		t.Fatal("the fetch returned no records")
	}
	if max := int64(64 << 20); held > max {
		t.Fatalf("a fetch of %d records holds %d MiB of heap, over %d MiB (fetches must stay small beside a row group)", n, held>>20, max>>20)
	}
}

// BenchmarkFetchHeld reports the heap one worker's fetches keep in use
// (see TestFetchHoldsLittleAgainstARowGroup), tracked beside the row group
// a worker's memory is meant to stay within twice of.
func BenchmarkFetchHeld(b *testing.B) {
	var n int
	var held int64
	for range b.N {
		n, held = fetchHeld(b, 400_000)
	}
	b.ReportMetric(float64(held)/(1<<20), "heap-MiB/worker-fetch")
	b.ReportMetric(float64(n), "records/fetch")
}
