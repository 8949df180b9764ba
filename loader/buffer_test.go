package loader

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/loader/fs"
)

// heldFormat is lineFormat whose files hold every row in memory until
// flush or close, as a Parquet writer holds a row group, and count what
// all of them hold together.
type heldFormat struct {
	lineFormat
	held *heldBytes
}

type heldBytes struct{ now, peak, flushes int64 }

func (f heldFormat) newFile(w io.Writer, first any) (rowWriter, error) {
	lw, err := f.lineFormat.newFile(w, first)
	if err != nil {
		return nil, err
	}
	return &heldWriter{lw: lw.(*lineWriter), held: f.held}, nil
}

type heldWriter struct {
	lw      *lineWriter
	pending []lineRow
	size    int64
	held    *heldBytes
}

func (h *heldWriter) write(row any) error {
	r := row.(lineRow)
	h.pending = append(h.pending, r)
	h.size += int64(len(r.value))
	h.held.now += int64(len(r.value))
	h.held.peak = max(h.held.peak, h.held.now)
	return nil
}

func (h *heldWriter) flush() error {
	for _, r := range h.pending {
		if err := h.lw.write(r); err != nil {
			return err
		}
	}
	h.held.now -= h.size
	h.held.flushes++
	h.pending, h.size = h.pending[:0], 0
	return h.lw.flush()
}

func (h *heldWriter) close() error {
	if err := h.flush(); err != nil {
		return err
	}
	return h.lw.close()
}

func (h *heldWriter) rows() int64     { return h.lw.n + int64(len(h.pending)) }
func (h *heldWriter) bytes() int64    { return h.lw.bytes() + h.size }
func (h *heldWriter) buffered() int64 { return h.size }

// TestBufferedBoundAcrossOpenFiles: a backlog whose records interleave six
// hours keeps six files open at once; what they hold in memory together
// stays within the worker's buffer bound (cfg.bufferBytes), the
// largest writing early, and every offset still lands once. Without the
// bound each file held all its rows until the batch was published.
func TestBufferedBoundAcrossOpenFiles(t *testing.T) {
	ctx := context.Background()
	const n, size, bound = 6000, 100, 20_000
	tp := TopicPartition{"held", 0}
	base := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	value := string(make([]byte, size))
	src := newMemSource([]TopicPartition{tp}, n,
		func(TopicPartition, int64) string { return value },
		func(off int64) time.Time { return base.Add(time.Duration(off%6) * time.Hour) })
	held := &heldBytes{}
	root := t.TempDir()
	cfg := testConfig(t, fs.NewLocal(), root, src)
	cfg.newFormat = func([]*kgo.Record) (rowFormat, error) { return heldFormat{held: held}, nil }
	cfg.roll = RollPolicy{Records: n * 2, MaxOpen: 8}
	cfg.bufferBytes = bound
	if err := newWorker(cfg, tp).run(ctx, n); err != nil {
		t.Fatal(err)
	}
	// The check runs every boundBufferedEvery rows: it may be over by that many.
	if limit := int64(bound + boundBufferedEvery*size); held.peak > limit {
		t.Errorf("open files held %d bytes together, want at most %d (bound %d)", held.peak, limit, bound)
	}
	if held.flushes <= 6 {
		t.Errorf("%d flushes: the files were never written early", held.flushes)
	}
	for off, c := range sinkContents(t, fs.NewLocal(), root)[tp] {
		if c != 1 {
			t.Errorf("offset %d landed %d times", off, c)
		}
	}
	if got := len(sinkContents(t, fs.NewLocal(), root)[tp]); got != n {
		t.Errorf("%d offsets landed, want %d", got, n)
	}
}
