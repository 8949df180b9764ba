package log

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentAppendReadMaintain runs appenders, readers, Flush and
// Maintain (rolling, retention by bytes) at once; run it with -race. Every
// chunk a reader gets must hold valid batches starting at or before the
// offset it asked for. With a cache of two open files, every read and
// append reopens files that the others just closed.
func TestConcurrentAppendReadMaintain(t *testing.T) {
	for _, files := range []int{0, 2} {
		t.Run(fmt.Sprintf("open.files=%d", files), func(t *testing.T) {
			e := newEnv(t)
			if files > 0 {
				e.files = NewFileCache(files)
			}
			concurrentAppendReadMaintain(t, e)
		})
	}
}

func concurrentAppendReadMaintain(t *testing.T, e *env) {
	cfg := smallConfig()
	cfg.RetentionBytes = 20000
	cfg.RetentionMs = -1
	cfg.FlushMessages = 50
	l := e.open(cfg)
	var done atomic.Bool
	var wg sync.WaitGroup
	const appenders, perAppender = 3, 300
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perAppender; i++ {
				if _, err := l.Append(makeBatch(t, spec(val(i), val(i+1)))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !done.Load() {
				start, end := l.StartOffset(), l.EndOffset()
				if end == start {
					continue
				}
				off := start + rng.Int64N(end-start)
				c, err := l.Read(off, 500)
				if err != nil {
					continue // retention may have moved the start: ErrOffsetOutOfRange
				}
				buf := make([]byte, c.Size)
				if _, err := c.R.ReadAt(buf, c.Pos); err != nil && err != io.EOF {
					t.Errorf("read chunk at %d: %v", off, err)
					return
				}
				c.Release()
				hs, err := ValidateBatches(buf, 0)
				if err != nil {
					t.Errorf("chunk for %d: %v", off, err)
					return
				}
				if hs[0].BaseOffset > off || hs[0].LastOffset() < off {
					t.Errorf("chunk for %d starts with batch %d..%d", off, hs[0].BaseOffset, hs[0].LastOffset())
					return
				}
				l.OffsetForTimestamp(1000)
				l.MaxTimestamp()
			}
		}()
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for !done.Load() {
			// A deleted segment's file stays open for a reader that holds
			// a Chunk of it until the reader releases it.
			e.clock.Advance(time.Millisecond)
			if err := l.Maintain(e.clock.Now()); err != nil {
				t.Error(err)
				return
			}
			if err := l.Flush(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	done.Store(true)
	readers.Wait()
	if l.EndOffset() != 2*appenders*perAppender {
		t.Fatalf("end %d, want %d", l.EndOffset(), 2*appenders*perAppender)
	}
	if got := readAll(t, l, 1<<20); int64(len(got)) != l.EndOffset()-l.StartOffset() {
		t.Fatalf("%d records readable in [%d, %d)", len(got), l.StartOffset(), l.EndOffset())
	}
}
