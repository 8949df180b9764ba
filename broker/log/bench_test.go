package log

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchBatch builds a ~16 KB batch of records with recordSize-byte values.
func benchBatch(b *testing.B, recordSize int) (batch []byte, records int) {
	n := max(16<<10/(recordSize+8), 1)
	vs := make([]string, n)
	for i := range vs {
		vs[i] = strings.Repeat(strconv.Itoa(i%10), recordSize)
	}
	return makeBatch(b, spec(vs...)), n
}

func openBench(b *testing.B, dir string) *Log {
	b.Helper()
	cfg := DefaultConfig()
	cfg.RetentionMs = -1
	l, err := Open(dir, cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func appendLoop(b *testing.B, l *Log, batch []byte, records int) {
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*records)/secs, "records/s")
	b.ReportMetric(float64(b.N*len(batch))/secs/1e6, "MB/s")
}

// BenchmarkAppend measures Append of 16 KB batches to the OS file system
// (page cache; flush.messages at its default, never).
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			l := openBench(b, b.TempDir())
			defer l.Close()
			batch, n := benchBatch(b, size)
			appendLoop(b, l, batch, n)
		})
	}
}

// BenchmarkAppendStored measures Append after filling the log: 100 MB by
// default, SLUICE_BENCH_LARGE_GB gigabytes if set (needs that much disk).
// Compare with BenchmarkAppend: the cost must not grow with the data held.
func BenchmarkAppendStored(b *testing.B) {
	stored := int64(100 << 20)
	if gb, err := strconv.Atoi(os.Getenv("SLUICE_BENCH_LARGE_GB")); err == nil && gb > 0 {
		stored = int64(gb) << 30
	}
	l := openBench(b, b.TempDir())
	defer l.Close()
	batch, n := benchBatch(b, 1000)
	for l.Size() < stored {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	// Let writeback finish so that both sizes measure the same thing: the
	// append path into the page cache, not the disk's backlog.
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	b.Run(strconv.FormatInt(l.Size()>>20, 10)+"MB", func(b *testing.B) { appendLoop(b, l, batch, n) })
}

// BenchmarkRead measures Read (index lookup, whole-batch boundaries) plus
// copying the chunk with pread, 1 MB per call from page cache, at random
// offsets of a 256 MB log.
func BenchmarkRead(b *testing.B) {
	l := openBench(b, b.TempDir())
	defer l.Close()
	batch, _ := benchBatch(b, 1000)
	for l.Size() < 256<<20 {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("1MB", func(b *testing.B) {
		buf := make([]byte, 1<<20+len(batch))
		rng := rand.New(rand.NewPCG(1, 2))
		end := l.EndOffset()
		var bytes int64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c, err := l.Read(rng.Int64N(end), 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.R.ReadAt(buf[:c.Size], c.Pos); err != nil {
				b.Fatal(err)
			}
			c.Release()
			bytes += c.Size
		}
		b.StopTimer()
		b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/1e6, "MB/s")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	})
}

// BenchmarkReadLookup measures Read alone (no copy): the cost of finding
// a chunk, which the broker then sends with sendfile.
func BenchmarkReadLookup(b *testing.B) {
	l := openBench(b, b.TempDir())
	defer l.Close()
	batch, _ := benchBatch(b, 100)
	for l.Size() < 64<<20 {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("random", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		end := l.EndOffset()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := l.Read(rng.Int64N(end), 1<<20); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	})
}

// BenchmarkOpen measures Open of a partition with many closed segments
// (1 MiB each, 16 KB batches, an index entry every 4 KB) on the OS file
// system, after a clean shutdown and after a crash (recovery point at the
// last flush, so only the active segment is rescanned).
func BenchmarkOpen(b *testing.B) {
	for _, segments := range []int{10, 100, 1000} {
		for _, clean := range []bool{true, false} {
			b.Run(fmt.Sprintf("segments=%d/clean=%v", segments, clean), func(b *testing.B) {
				dir := b.TempDir()
				cfg := DefaultConfig()
				cfg.RetentionMs = -1
				cfg.SegmentBytes = 1 << 20
				opts := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
				l, err := Open(dir, cfg, opts)
				if err != nil {
					b.Fatal(err)
				}
				batch, _ := benchBatch(b, 100)
				for len(l.Segments()) <= segments {
					if _, err := l.Append(batch); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Flush(); err != nil {
					b.Fatal(err)
				}
				l.Close()
				marker, _ := os.ReadFile(filepath.Join(dir, cleanShutdownFile))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if !clean {
						os.Remove(filepath.Join(dir, cleanShutdownFile))
					} else {
						os.WriteFile(filepath.Join(dir, cleanShutdownFile), marker, 0o644)
					}
					l, err := Open(dir, cfg, opts)
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					l.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(segments), "us/segment")
			})
		}
	}
}

// benchEvents returns n JSON-like values of about 200 bytes that compress
// about as well as real event data (3-6x), not as well as repeated digits.
func benchEvents(n int) []string {
	rng := rand.New(rand.NewPCG(7, 9))
	words := []string{"click", "view", "purchase", "signup", "logout", "search", "share"}
	vs := make([]string, n)
	for i := range vs {
		vs[i] = `{"user_id":` + strconv.Itoa(rng.IntN(1e6)) + `,"event":"` + words[rng.IntN(len(words))] +
			`","ts":` + strconv.FormatInt(1_700_000_000_000+int64(i)*37, 10) + `,"session":"` +
			strconv.FormatUint(rng.Uint64(), 36) + strconv.FormatUint(rng.Uint64(), 36) +
			`","page":"/p/` + strconv.Itoa(rng.IntN(5000)) + `","ua":"Mozilla/5.0 (X11; Linux x86_64)","ok":true}`
	}
	return vs
}

// BenchmarkAppendCompressed measures Append of batches of 200-byte event
// records, compressed with each codec Kafka defines, at 64 KiB and 1 MiB
// uncompressed (a small and a large producer batch). MB/s counts the
// uncompressed record bytes; wire-MB/s the compressed batch.
func BenchmarkAppendCompressed(b *testing.B) {
	codecs := []struct {
		name  string
		codec int
	}{{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}}
	for _, size := range []int{64 << 10, 1 << 20} {
		vs := benchEvents(size / 200)
		raw := 0
		for _, v := range vs {
			raw += len(v)
		}
		for _, c := range codecs {
			b.Run(c.name+"/"+strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.RetentionMs, cfg.MaxMessageBytes = -1, 2<<20
				l, err := Open(b.TempDir(), cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				s := spec(vs...)
				s.codec = c.codec
				batch := makeBatch(b, s)
				b.SetBytes(int64(raw))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := l.Append(batch); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				secs := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.N*len(batch))/secs/1e6, "wire-MB/s")
				b.ReportMetric(float64(b.N*len(vs))/secs, "records/s")
			})
		}
	}
}

// BenchmarkCheckRecords measures the record check of Append alone (no
// write): streaming through a batch's records, decompressing as needed,
// for the batches of BenchmarkAppendCompressed. MB/s counts uncompressed
// record bytes.
func BenchmarkCheckRecords(b *testing.B) {
	lim := DefaultConfig().recordLimits()
	for _, size := range []int{64 << 10, 1 << 20} {
		vs := benchEvents(size / 200)
		raw := 0
		for _, v := range vs {
			raw += len(v)
		}
		for _, c := range []struct {
			name  string
			codec int
		}{{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}} {
			b.Run(c.name+"/"+strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
				s := spec(vs...)
				s.codec = c.codec
				batch := makeBatch(b, s)
				h, err := validateBatch(batch, 0)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(raw))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := checkRecords(batch, h, lim); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(vs))/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
