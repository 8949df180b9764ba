package loader

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Progress hears a run's progress. Methods are called from the partition
// workers' goroutines.
type Progress interface {
	// Start is called when a worker knows its range: from the resume
	// offset up to end (exclusive; -1 when following).
	Start(tp TopicPartition, from, end int64)
	// Advance reports the next offset to read.
	Advance(tp TopicPartition, next int64)
	// Published reports a committed file.
	Published(tp TopicPartition, path string, rows, bytes int64)
	// Done is called when a worker stops (err nil on success).
	Done(tp TopicPartition, err error)
	// Close stops the display.
	Close()
}

// NewLogProgress logs one line per committed file (for non-terminals).
func NewLogProgress(log *slog.Logger) Progress { return logProgress{log} }

type logProgress struct{ log *slog.Logger }

func (p logProgress) Start(tp TopicPartition, from, end int64) {
	p.log.Debug("partition started", "topic", tp.Topic, "partition", tp.Partition, "from", from, "end", end)
}
func (logProgress) Advance(TopicPartition, int64) {}
func (p logProgress) Published(tp TopicPartition, path string, rows, bytes int64) {
	p.log.Info("published", "topic", tp.Topic, "partition", tp.Partition, "file", path, "rows", rows, "bytes", bytes)
}
func (p logProgress) Done(tp TopicPartition, err error) {
	if err != nil {
		p.log.Error("partition failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
	}
}
func (logProgress) Close() {}

// NewBarProgress draws one mpb bar per partition worker on w (a
// terminal).
func NewBarProgress(w io.Writer) Progress {
	return &barProgress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.ForceTTY()), bars: map[TopicPartition]*bar{}}
}

type bar struct {
	b    *mpb.Bar
	from int64
}

type barProgress struct {
	p    *mpb.Progress
	mu   sync.Mutex
	bars map[TopicPartition]*bar
}

func (p *barProgress) Start(tp TopicPartition, from, end int64) {
	total := end - from
	if end < 0 {
		total = 0
	}
	b := p.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-24s", tp.String())), decor.CountersNoUnit("%d / %d")),
		mpb.AppendDecorators(decor.Percentage()),
	)
	p.mu.Lock()
	if old := p.bars[tp]; old != nil {
		old.b.Abort(true)
	}
	p.bars[tp] = &bar{b: b, from: from}
	p.mu.Unlock()
}

func (p *barProgress) get(tp TopicPartition) *bar {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bars[tp]
}

func (p *barProgress) Advance(tp TopicPartition, next int64) {
	if b := p.get(tp); b != nil {
		b.b.SetCurrent(next - b.from)
	}
}

func (p *barProgress) Published(TopicPartition, string, int64, int64) {}

func (p *barProgress) Done(tp TopicPartition, err error) {
	if b := p.get(tp); b != nil {
		if err != nil {
			b.b.Abort(false)
		} else {
			b.b.SetTotal(-1, true)
		}
	}
}

func (p *barProgress) Close() {
	p.mu.Lock()
	for _, b := range p.bars {
		if !b.b.Completed() {
			b.b.Abort(false)
		}
	}
	p.mu.Unlock()
	p.p.Wait()
}
