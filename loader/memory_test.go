package loader

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/formats"
	"github.com/sluicehq/sluice/loader/fs"
)

// produceEvents produces n lz4-compressed JSON activity events (batches of
// up to 1 MiB, as gen and most producers write them) to partition 0 of a
// new topic "mem" on a real broker and returns the broker's address.
func produceEvents(tb testing.TB, n int) string {
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
	return b.Addr()
}

// fetchHeld produces n events (produceEvents), reads one fetch through
// the loader's consumer (kafkaSource) and returns the records it returned
// and the heap that fetch keeps in use (measured after forced collections,
// so it does not depend on timing: the fetch franz-go buffers meanwhile is
// included, or not yet there).
func fetchHeld(tb testing.TB, n int) (records int, held int64) {
	tb.Helper()
	addr := produceEvents(tb, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, err := newKafkaSource([]string{addr}, "", DefaultMaxDecompressedBatchBytes, slog.New(slog.DiscardHandler))
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

// BenchmarkWorkerMemory runs one partition worker end to end against a
// real broker (200,000 lz4-compressed JSON events, 64 MiB row groups,
// snappy, the default roll) and reports the most heap it had in use
// beyond what was in use before it started (sampled every 5 ms, garbage
// not yet collected included), next to the 128 MiB a worker is meant to
// stay within (twice the row group: MemoryBudget). No speed is asserted.
func BenchmarkWorkerMemory(b *testing.B) {
	const n = 200_000
	addr := produceEvents(b, n)
	fcfg := formats.Config{Type: formats.TypeJSON, JSON: formats.JSONConfig{Schema: activitySchema}}
	wopts := formats.WriterOptions{Codec: formats.CodecSnappy, RowGroupBytes: 64 << 20, MetaColumns: formats.DefaultMetaColumns()}
	var peak int64
	for range b.N {
		src, err := newKafkaSource([]string{addr}, "", DefaultMaxDecompressedBatchBytes, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		cfg := testConfig(b, fs.NewLocal(), b.TempDir(), src)
		cfg.newFormat = newParquetFactory(mustCompile(b, fcfg), wopts, "event_time", time.Now, nil, formats.DecoderOptions{})
		cfg.roll = DefaultRollPolicy()
		cfg.codec = "snappy"
		runtime.GC() // the produced records are garbage: not part of the base
		base := heapObjects()
		stop := samplePeak(base)
		w := newWorker(cfg, TopicPartition{"mem", 0})
		err = w.run(context.Background(), n)
		peak = max(peak, stop())
		src.close()
		if err != nil {
			b.Fatal(err)
		}
		if w.stats.Records != n {
			b.Fatalf("%d records landed", w.stats.Records)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB/worker")
	b.ReportMetric(float64(peak)/n, "peak-heap-B/record")
}

// heapObjects is the bytes of heap objects, live or not yet collected.
func heapObjects() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// samplePeak samples heapObjects every 5 ms until stop, which returns the
// highest sample minus base.
func samplePeak(base int64) (stop func() int64) {
	done, result := make(chan struct{}), make(chan int64)
	go func() {
		peak := heapObjects()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				result <- max(peak, heapObjects()) - base
				return
			case <-t.C:
				peak = max(peak, heapObjects())
			}
		}
	}()
	return func() int64 { close(done); return <-result }
}
