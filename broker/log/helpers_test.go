package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/batchcodec/batchtest"
	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir) // never returns: killed by the parent
	}
	goleak.VerifyTestMain(m)
}

// batchSpec describes a record batch to build.
type batchSpec struct {
	values   []string
	firstTs  int64
	tsDeltas []int64 // per record; nil means 0
	pid      int64   // -1 for none
	epoch    int16
	seq      int32
	codec    int // 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd, 5 xerial-framed snappy,
	// 12 and 13 franz-go's snappy and lz4
}

func (s batchSpec) withProducer(pid int64, epoch int16, seq int32) batchSpec {
	s.pid, s.epoch, s.seq = pid, epoch, seq
	return s
}

func spec(values ...string) batchSpec {
	return batchSpec{values: values, firstTs: 1000, pid: -1, seq: -1}
}

// makeBatch builds a v2 record batch with kmsg, CRC32C included.
func makeBatch(t testing.TB, s batchSpec) []byte {
	t.Helper()
	var recs []byte
	maxTs := s.firstTs
	for i, v := range s.values {
		var d int64
		if s.tsDeltas != nil {
			d = s.tsDeltas[i]
		}
		maxTs = max(maxTs, s.firstTs+d)
		r := kmsg.Record{TimestampDelta64: d, OffsetDelta: int32(i), Value: []byte(v)}
		body := r.AppendTo(nil)[1:] // Length 0 encodes as one byte
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	recs, s.codec = compressRecords(t, s.codec, recs)
	return wrapRecords(s, recs, int32(len(s.values)), int32(len(s.values)-1), maxTs)
}

// compressRecords compresses record bytes as batchSpec.codec says and
// returns them with the codec id to put in the attributes.
func compressRecords(t testing.TB, codec int, recs []byte) ([]byte, int) {
	t.Helper()
	switch codec {
	case 1, 2, 3, 4:
		recs = batchtest.Compress(codec, recs)
	case 5: // snappy with the xerial framing of Kafka's Java client, 2 blocks
		recs, codec = batchtest.XerialSnappy(recs, 2), 2
	case 12, 13: // franz-go's own snappy and lz4 compressors
		kc := kgo.SnappyCompression()
		if codec == 13 {
			kc = kgo.Lz4Compression()
		}
		c, err := kgo.DefaultCompressor(kc)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		out, typ := c.Compress(&buf, recs)
		if typ == 0 {
			t.Fatal("franz-go did not compress")
		}
		recs, codec = bytes.Clone(out), int(typ)
	}
	return recs, codec
}

// wrapRecords puts record bytes (already compressed with s.codec) into a
// batch declaring n records and lastOffsetDelta last, CRC included.
func wrapRecords(s batchSpec, recs []byte, n, last int32, maxTs int64) []byte {
	b := kmsg.RecordBatch{
		Length:          int32(batchHeaderLen - batchLengthOverhead + len(recs)),
		Magic:           2,
		Attributes:      int16(s.codec),
		LastOffsetDelta: last,
		FirstTimestamp:  s.firstTs,
		MaxTimestamp:    maxTs,
		ProducerID:      s.pid,
		ProducerEpoch:   s.epoch,
		FirstSequence:   s.seq,
		NumRecords:      n,
		Records:         recs,
	}
	if s.pid < 0 {
		b.ProducerEpoch, b.FirstSequence = -1, -1
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[batchCRCStart:], castagnoli))
	return out
}

type record struct {
	offset int64
	ts     int64
	value  string
}

// decodeRecords parses uncompressed batches into records (test only).
func decodeRecords(t testing.TB, b []byte) []record {
	t.Helper()
	var out []record
	for len(b) > 0 {
		h, err := validateBatch(b, 0)
		if err != nil {
			t.Fatalf("decode batch: %v", err)
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:h.TotalSize()]); err != nil {
			t.Fatal(err)
		}
		recs := rb.Records
		for i := int32(0); i < h.NumRecords; i++ {
			n, k := binary.Varint(recs)
			var r kmsg.Record
			if err := r.ReadFrom(recs[:k+int(n)]); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			ts := h.FirstTimestamp + r.TimestampDelta64
			if h.IsLogAppendTime() {
				ts = h.MaxTimestamp
			}
			out = append(out, record{offset: h.BaseOffset + int64(r.OffsetDelta), ts: ts, value: string(r.Value)})
			recs = recs[k+int(n):]
		}
		b = b[h.TotalSize():]
	}
	return out
}

// readAll reads every record from the start, maxBytes at a time.
func readAll(t testing.TB, l *Log, maxBytes int) []record {
	t.Helper()
	var out []record
	for off := l.StartOffset(); off < l.EndOffset(); {
		c, err := l.Read(off, maxBytes)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if c.Size == 0 {
			t.Fatalf("read %d: empty chunk below end %d", off, l.EndOffset())
		}
		buf := make([]byte, c.Size)
		if _, err := c.R.ReadAt(buf, c.Pos); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		c.Release()
		recs := decodeRecords(t, buf)
		for _, r := range recs {
			if r.offset >= off {
				out = append(out, r)
			}
		}
		off = recs[len(recs)-1].offset + 1
	}
	return out
}

func values(rs []record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.value)
	}
	return out
}

// clock is a manual time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(1_700_000_000_000)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// logBuffer collects slog output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) contains(s string) bool { return strings.Contains(b.String(), s) }

type env struct {
	t     testing.TB
	fs    *errorfs.FS
	dir   string
	clock *clock
	logs  *logBuffer
	files *FileCache // nil: each log its own, unbounded
}

func newEnv(t testing.TB) *env {
	e := &env{t: t, fs: errorfs.New(), dir: "/data/topic-0", clock: newClock(), logs: &logBuffer{}}
	// SLUICE_TEST_OPEN_FILES=N runs every test with a shared cache of N
	// open files (1 closes a file at almost every step), to check by hand
	// that nothing depends on files staying open; the filecache tests
	// cover it in make test.
	if n, err := strconv.Atoi(os.Getenv("SLUICE_TEST_OPEN_FILES")); err == nil {
		e.files = NewFileCache(n)
	}
	return e
}

func (e *env) options() Options {
	return Options{FS: e.fs, Now: e.clock.Now, Files: e.files, Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

func (e *env) open(cfg Config) *Log {
	e.t.Helper()
	l, err := Open(e.dir, cfg, e.options())
	if err != nil {
		e.t.Fatalf("open: %v\nlogs:\n%s", err, e.logs)
	}
	e.t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

func val(i int) string { return fmt.Sprintf("value-%06d", i) }
