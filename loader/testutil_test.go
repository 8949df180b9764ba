package loader

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/formats"
	"github.com/sluicehq/sluice/loader/fs"
	"github.com/sluicehq/sluice/pipelines"
)

// lineFormat is a test stand-in for package formats: a row is the record
// value, a file holds "offset<TAB>value" lines, a value "bad" fails to
// decode. It lets the commit-protocol tests read back exactly which offsets
// each file holds.
type lineFormat struct{}

type lineRow struct {
	offset int64
	value  []byte
}

func (lineFormat) decode(_ context.Context, rec *kgo.Record) (any, time.Time, error) {
	if string(rec.Value) == "bad" {
		return nil, time.Time{}, &recordError{fmt.Errorf("value %q is bad", rec.Value)}
	}
	return lineRow{rec.Offset, rec.Value}, rec.Timestamp, nil
}

func (lineFormat) newFile(w io.Writer, _ any) (rowWriter, error) {
	return &lineWriter{w: bufio.NewWriter(w)}, nil
}

func (lineFormat) newDeadLetters(w io.Writer) (deadLetterWriter, error) {
	return deadAdapter{&lineWriter{w: bufio.NewWriter(w)}}, nil
}

type lineWriter struct {
	w *bufio.Writer
	n int64
}

func (l *lineWriter) write(row any) error {
	r := row.(lineRow)
	l.n++
	_, err := fmt.Fprintf(l.w, "%d\t%s\n", r.offset, r.value)
	if err == nil && l.n%16 == 0 {
		err = l.w.Flush() // several writes per file, for fault injection
	}
	return err
}

func (l *lineWriter) close() error { return l.w.Flush() }
func (l *lineWriter) bytes() int64 { return int64(l.w.Buffered()) }
func (l *lineWriter) rows() int64  { return l.n }

func (l *lineWriter) writeDead(rec *kgo.Record, cause error) error {
	return l.write(lineRow{rec.Offset, []byte("ERR " + cause.Error())})
}

type deadAdapter struct{ *lineWriter }

func (d deadAdapter) write(rec *kgo.Record, cause error) error { return d.writeDead(rec, cause) }

// hourLayout is dt=YYYY-MM-DD/hr=HH.
type hourLayout struct{}

func (hourLayout) Format(t time.Time) string      { return t.Format("dt=2006-01-02/hr=15") }
func (hourLayout) Truncate(t time.Time) time.Time { return t.Truncate(time.Hour) }
func (hourLayout) End(s time.Time) time.Time      { return s.Add(time.Hour) }

// memSource serves records from memory in chunks, as a broker would.
type memSource struct {
	mu       sync.Mutex
	records  map[TopicPartition][]*kgo.Record // index == offset
	logStart map[TopicPartition]int64
	group    map[TopicPartition]int64 // committed offsets
	chunk    int
}

func newMemSource(tps []TopicPartition, n int, value func(tp TopicPartition, off int64) string, ts func(off int64) time.Time) *memSource {
	m := &memSource{records: map[TopicPartition][]*kgo.Record{}, logStart: map[TopicPartition]int64{}, chunk: 37}
	for _, tp := range tps {
		for off := int64(0); off < int64(n); off++ {
			m.records[tp] = append(m.records[tp], &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: off, Value: []byte(value(tp, off)), Timestamp: ts(off)})
		}
	}
	return m
}

func (m *memSource) offsets(_ context.Context, tp TopicPartition) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logStart[tp], int64(len(m.records[tp])), nil
}

func (m *memSource) committed(_ context.Context, tp TopicPartition) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	off, ok := m.group[tp]
	return off, ok, nil
}

func (m *memSource) commit(_ context.Context, tp TopicPartition, next int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.group == nil {
		m.group = map[TopicPartition]int64{}
	}
	m.group[tp] = next
	return nil
}

func (m *memSource) open(_ context.Context, tp TopicPartition, from int64) (recordSource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if from < m.logStart[tp] {
		return nil, fmt.Errorf("offset %d out of range", from)
	}
	return &memReader{m: m, tp: tp, pos: from}, nil
}

type memReader struct {
	m   *memSource
	tp  TopicPartition
	pos int64
}

func (r *memReader) fetch(ctx context.Context) ([]*kgo.Record, error) {
	r.m.mu.Lock()
	recs := r.m.records[r.tp]
	r.m.mu.Unlock()
	if r.pos >= int64(len(recs)) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	end := min(r.pos+int64(r.m.chunk), int64(len(recs)))
	out := recs[r.pos:end]
	r.pos = end
	return out, nil
}

func (r *memReader) close() {}

// testConfig returns a worker config over fsys rooted at root.
func testConfig(t testing.TB, fsys fs.FS, root string, src offsetSource) *workerConfig {
	t.Helper()
	return &workerConfig{
		sink:         NewSink(fsys, root),
		source:       src,
		newFormat:    func([]*kgo.Record) (rowFormat, error) { return lineFormat{}, nil },
		layout:       hourLayout{},
		loc:          time.UTC,
		roll:         RollPolicy{Records: 100, MaxOpen: 8},
		codec:        "none",
		start:        "earliest",
		onError:      pipelines.ErrorDeadLetter,
		onGap:        pipelines.GapFail,
		retryBackoff: time.Millisecond,
		log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:          time.Now,
	}
}

// sinkContents reads every published file under root and returns, per
// partition, how many times each offset was landed (data or dead letter).
// It fails the test on leftovers: temporaries or unfinished intents.
func sinkContents(t *testing.T, fsys fs.FS, root string) map[TopicPartition]map[int64]int {
	t.Helper()
	ctx := context.Background()
	got := map[TopicPartition]map[int64]int{}
	err := fsys.Walk(ctx, root, func(e fs.Entry) error {
		rel := strings.TrimPrefix(e.Path, root+"/")
		if e.IsDir {
			return nil
		}
		if strings.HasPrefix(rel, intentsDir+"/") {
			if !strings.HasSuffix(rel, ".done") && !strings.HasSuffix(rel, ".owner") {
				return fmt.Errorf("unfinished intent left: %s", rel)
			}
			return nil
		}
		if strings.HasPrefix(rel, tmpDir+"/") {
			return fmt.Errorf("temporary file left: %s", rel)
		}
		n, ok := ParseFileName(path.Base(rel))
		if !ok {
			return nil
		}
		r, err := fsys.Open(ctx, e.Path)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return err
		}
		if got[n.TopicPartition] == nil {
			got[n.TopicPartition] = map[int64]int{}
		}
		first, last := int64(-1), int64(-1)
		for line := range bytes.Lines(data) {
			off, err := strconv.ParseInt(string(line[:bytes.IndexByte(line, '\t')]), 10, 64)
			if err != nil {
				return fmt.Errorf("%s: bad line %q", rel, line)
			}
			if first < 0 {
				first = off
			}
			last = off
			got[n.TopicPartition][off]++
		}
		if first != n.First || last != n.Last {
			return fmt.Errorf("%s holds offsets %d..%d, its name says %d..%d", rel, first, last, n.First, n.Last)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading the sink: %v", err)
	}
	return got
}

// assertExactlyOnce fails unless every offset below n of every partition
// landed exactly once.
func assertExactlyOnce(t *testing.T, got map[TopicPartition]map[int64]int, tps []TopicPartition, n int64) {
	t.Helper()
	for _, tp := range tps {
		for off := int64(0); off < n; off++ {
			if c := got[tp][off]; c != 1 {
				t.Fatalf("%s offset %d landed %d times", tp, off, c)
			}
		}
		if len(got[tp]) != int(n) {
			t.Fatalf("%s: %d distinct offsets landed, want %d", tp, len(got[tp]), n)
		}
	}
}

// mustCompile compiles a format configuration as pipelines.Load would.
func mustCompile(tb testing.TB, cfg formats.Config) *formats.Compiled {
	tb.Helper()
	c, err := cfg.Compile()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (l *lineWriter) buffered() int64 { return int64(l.w.Buffered()) }
func (l *lineWriter) flush() error    { return l.w.Flush() }
