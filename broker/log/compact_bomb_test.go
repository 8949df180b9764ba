package log

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/batchcodec/batchtest"
)

// heapDuring runs fn and returns the bytes it allocated in all and the
// largest heap in use seen while it ran (sampled every few milliseconds).
func heapDuring(fn func()) (allocated, peak uint64) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, peak
}

// peakRSS is the process's peak resident set (VmHWM), for the test log.
func peakRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// openCompacted opens a compacted log on the OS file system (so that the
// heap measures the cleaner, not an in-memory file system).
func openCompacted(t *testing.T) (*Log, Config) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Compact = true
	cfg.RetentionMs = -1
	l, err := Open(t.TempDir(), cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, cfg
}

// writeRaw appends b to the active segment's file behind the log's back
// (no validation), as a data dir written by an older version could hold
// it, and reopens the log so that recovery takes it in.
func writeRaw(t *testing.T, l *Log, cfg Config, b []byte) *Log {
	t.Helper()
	dir := l.Dir()
	base := l.Segments()[len(l.Segments())-1].BaseOffset
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(fileName(dir, base, logSuffix), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Remove(filepath.Join(dir, cleanShutdownFile)) // recover the tail
	l, err = Open(dir, cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestCleanerKeepsBombAsIs: a compacted segment that already holds a zstd
// bomb (200 MiB of zeros in 45 KB, from before Append refused them) and a
// batch whose data does not decompress is cleaned in bounded memory: the
// cleaner streams records instead of decompressing batches whole, and
// keeps what it cannot read exactly as it is, reporting each batch once,
// instead of failing the whole log on every round.
func TestCleanerKeepsBombAsIs(t *testing.T) {
	l, cfg := openCompacted(t)
	ts := time.Now().UnixMilli()
	appendKeyed(t, l, ts, keyed{"a", "old-a"}, keyed{"b", "old-b"})
	bomb := batchtest.ZstdBomb(l.EndOffset(), 200, 1<<20)
	l = writeRaw(t, l, cfg, bomb)
	garbage := batchtest.Batch(l.EndOffset(), codecGzip, []byte("this is not gzip data"), 1)
	l = writeRaw(t, l, cfg, garbage)
	appendKeyed(t, l, ts, keyed{"a", "new-a"}, keyed{"c", "c"})
	roll(t, l)
	appendKeyed(t, l, ts, keyed{"b", "new-b"})

	c := NewCleaner()
	var res CompactResult
	var err error
	alloc, peak := heapDuring(func() {
		res, err = c.Compact(context.Background(), l, time.Now(), DefaultCompactConfig())
	})
	t.Logf("cleaning a segment holding a %d-byte batch of 200 MiB: allocated %d MiB, heap in use at most %d MiB; process peak RSS %s",
		len(bomb), alloc>>20, peak>>20, peakRSS())
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	if res.Segments != 1 || res.RecordsRemoved != 1 {
		t.Errorf("compact %+v: want 1 segment rewritten, 1 record (old-a) removed", res)
	}
	// Streaming, not decompressing 200 MiB (nor the 64 MiB limit) whole.
	if alloc > 48<<20 {
		t.Errorf("cleaning allocated %d MiB", alloc>>20)
	}
	if len(res.Uncleanable) != 2 {
		t.Fatalf("uncleanable batches %+v, want the bomb and the garbage", res.Uncleanable)
	}
	for i, want := range []struct {
		offset int64
		reason string
	}{{2, "more than 67109632 bytes"}, {202, "gzip"}} {
		u := res.Uncleanable[i]
		if u.Offset != want.offset || !strings.Contains(u.Err.Error(), want.reason) {
			t.Errorf("uncleanable batch %d: %+v, want offset %d and %q", i, u, want.offset, want.reason)
		}
	}
	// Both batches are kept byte for byte, the rest is compacted.
	seg := l.Segments()[0]
	data := make([]byte, seg.Size)
	if _, err := (*l.segs.Load())[0].log.ReadAt(data, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Contains(data, bomb[12:]) || !bytes.Contains(data, garbage[12:]) {
		t.Error("the bomb or the garbage batch was not kept as it was")
	}
	if bytes.Contains(data, []byte("old-a")) || !bytes.Contains(data, []byte("old-b")) {
		t.Error("want old-a removed and old-b kept (b's update is not cleanable yet)")
	}
	// A later round reports nothing again.
	appendKeyed(t, l, ts, keyed{"c", "c2"})
	roll(t, l)
	if res, err = c.Compact(context.Background(), l, time.Now(), CompactConfig{}); err != nil || len(res.Uncleanable) != 0 {
		t.Errorf("second round: %+v, %v; want no new uncleanable batch", res, err)
	}
}

// roll closes the active segment.
func roll(t *testing.T, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.rollLocked(); err != nil {
		t.Fatal(err)
	}
}

// TestCleanerSkipsDamagedSegment: a closed segment with a batch whose CRC
// no longer matches (bit rot) is left as it is and reported once, and the
// other segments are still cleaned; before, every round failed the whole
// log with the CRC error.
func TestCleanerSkipsDamagedSegment(t *testing.T) {
	l, _ := openCompacted(t)
	ts := time.Now().UnixMilli()
	appendKeyed(t, l, ts, keyed{"a", "a0"}, keyed{"b", "b0"})
	appendKeyed(t, l, ts, keyed{"a", "a1"}, keyed{"b", "b1"})
	roll(t, l)
	appendKeyed(t, l, ts, keyed{"c", "c0"}, keyed{"d", "d0"})
	appendKeyed(t, l, ts, keyed{"c", "c1"}, keyed{"d", "d1"})
	roll(t, l)
	appendKeyed(t, l, ts, keyed{"e", "e0"})
	// Flip a byte of the first segment's second batch.
	f, err := os.OpenFile(fileName(l.Dir(), 0, logSuffix), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := (*l.segs.Load())[0]
	if _, err := f.WriteAt([]byte("X"), first.size.Load()-3); err != nil {
		t.Fatal(err)
	}
	f.Close()

	c := NewCleaner()
	for round := range 2 {
		res, err := c.Compact(context.Background(), l, time.Now(), CompactConfig{})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if round == 0 && (res.Segments != 1 || res.RecordsRemoved != 2 || len(res.Uncleanable) != 1 ||
			!errors.Is(res.Uncleanable[0].Err, ErrCorruptMessage) || res.Uncleanable[0].Offset != 2) {
			t.Fatalf("round 0: %+v; want the second segment cleaned (c0 and d0 removed) and the damaged batch at offset 2 reported", res)
		}
		if round == 1 && len(res.Uncleanable) != 0 {
			t.Errorf("round 1 reported %+v again", res.Uncleanable)
		}
	}
	if got := l.Segments()[0].Size; got != first.size.Load() {
		t.Errorf("damaged segment changed size to %d", got)
	}
}
