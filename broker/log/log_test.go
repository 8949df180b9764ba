package log

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 2000
	cfg.IndexIntervalBytes = 200
	return cfg
}

func TestAppendAssignsOffsetsAndReads(t *testing.T) {
	e := newEnv(t)
	l := e.open(DefaultConfig())
	if l.StartOffset() != 0 || l.EndOffset() != 0 {
		t.Fatalf("new log [%d, %d), want [0, 0)", l.StartOffset(), l.EndOffset())
	}
	var want []string
	for i := 0; i < 10; i++ {
		vs := []string{val(3 * i), val(3*i + 1), val(3*i + 2)}
		want = append(want, vs...)
		res := mustAppend(t, l, makeBatch(t, spec(vs...)))
		if res.BaseOffset != int64(3*i) || res.LastOffset != int64(3*i+2) || res.LogAppendTime != -1 || res.LogStartOffset != 0 {
			t.Fatalf("append %d: %+v", i, res)
		}
	}
	if got := values(readAll(t, l, 1<<20)); !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	// Every offset starts a chunk at the batch that holds it.
	for off := int64(0); off < 30; off++ {
		c, err := l.Read(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, c.Size)
		c.R.ReadAt(buf, c.Pos)
		c.Release()
		recs := decodeRecords(t, buf)
		if len(recs) != 3 || recs[0].offset != off/3*3 {
			t.Fatalf("read(%d, 1): records %v, want the one batch from %d", off, recs, off/3*3)
		}
	}
	if err := l.SetLeaderEpoch(7); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, makeBatch(t, spec("e7")))
	for off, want := range map[int64]int32{0: 0, 30: 7} {
		c, _ := l.Read(off, 1)
		buf := make([]byte, batchHeaderLen)
		c.R.ReadAt(buf, c.Pos)
		c.Release()
		if h, _ := ParseBatchHeader(buf); h.PartitionLeaderEpoch != want {
			t.Fatalf("batch at %d has leader epoch %d, want %d", off, h.PartitionLeaderEpoch, want)
		}
	}
	if c, err := l.Read(31, 1000); err != nil || c.Size != 0 {
		t.Fatalf("read at end: %+v %v, want empty", c, err)
	}
	if _, err := l.Read(32, 1000); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v, want ErrOffsetOutOfRange", err)
	}
	if _, err := l.Read(-1, 1000); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read -1: %v, want ErrOffsetOutOfRange", err)
	}
}

func TestReadReturnsWholeBatchesWithinMaxBytes(t *testing.T) {
	e := newEnv(t)
	l := e.open(DefaultConfig())
	b := makeBatch(t, spec(val(0), val(1)))
	size := len(b)
	for i := 0; i < 20; i++ {
		mustAppend(t, l, makeBatch(t, spec(val(2*i), val(2*i+1))))
	}
	for _, tc := range []struct{ maxBytes, wantBatches int }{
		{0, 1}, {1, 1}, {size, 1}, {size + 1, 1}, {2*size - 1, 1}, {2 * size, 2}, {5*size + 3, 5}, {1 << 20, 20},
	} {
		c, err := l.Read(0, tc.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		if c.Size != int64(tc.wantBatches*size) {
			t.Errorf("maxBytes %d: %d bytes, want %d batches of %d", tc.maxBytes, c.Size, tc.wantBatches, size)
		}
	}
}

func TestRollAndSparseIndexLookup(t *testing.T) {
	e := newEnv(t)
	l := e.open(smallConfig())
	var want []string
	for i := 0; i < 300; i++ {
		want = append(want, val(i))
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	segs := l.Segments()
	if len(segs) < 10 {
		t.Fatalf("%d segments, want many with segment.bytes=2000", len(segs))
	}
	for i, s := range segs {
		if s.Size > 2000 {
			t.Errorf("segment %d is %d bytes, above segment.bytes", s.BaseOffset, s.Size)
		}
		if s.Active != (i == len(segs)-1) {
			t.Errorf("segment %d active=%v", s.BaseOffset, s.Active)
		}
	}
	for off := int64(0); off < 300; off++ {
		c, err := l.Read(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, c.Size)
		c.R.ReadAt(buf, c.Pos)
		c.Release()
		if recs := decodeRecords(t, buf); len(recs) != 1 || recs[0].offset != off || recs[0].value != val(int(off)) {
			t.Fatalf("read(%d): %v", off, recs)
		}
	}
	if got := values(readAll(t, l, 700)); !slices.Equal(got, want) {
		t.Fatalf("readAll mismatch: got %d records", len(got))
	}
	// The same answers after a clean restart (indexes read from files)…
	l.Close()
	l = e.open(smallConfig())
	if got := values(readAll(t, l, 700)); !slices.Equal(got, want) {
		t.Fatalf("after restart: got %d records", len(got))
	}
	if len(l.Segments()) != len(segs) {
		t.Fatalf("%d segments after restart, want %d", len(l.Segments()), len(segs))
	}
	// …and appends continue where they left off.
	if res := mustAppend(t, l, makeBatch(t, spec("next"))); res.BaseOffset != 300 {
		t.Fatalf("append after restart at %d, want 300", res.BaseOffset)
	}
}

func TestRestartAfterProcessCrashKeepsEverything(t *testing.T) {
	e := newEnv(t)
	l, err := Open(e.dir, smallConfig(), e.options())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 100; i++ {
		want = append(want, val(i))
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	// No Close: the process died, the page cache (all written bytes) survives.
	e.fs = e.fs.Clone()
	l2 := e.open(smallConfig())
	if got := values(readAll(t, l2, 1<<20)); !slices.Equal(got, want) {
		t.Fatalf("after crash: %d records, want %d", len(got), len(want))
	}
	if l2.EndOffset() != 100 {
		t.Fatalf("end %d, want 100", l2.EndOffset())
	}
	l.Close()
}

func TestValidation(t *testing.T) {
	good := func() []byte { return makeBatch(t, spec("a", "b")) }
	for _, tc := range []struct {
		name   string
		mutate func([]byte) []byte
		cfg    func(*Config)
		want   error
	}{
		{"short", func(b []byte) []byte { return b[:40] }, nil, ErrCorruptMessage},
		{"empty", func(b []byte) []byte { return nil }, nil, ErrInvalidRecord},
		{"bad crc", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, nil, ErrCorruptMessage},
		{"magic 1", func(b []byte) []byte { b[16] = 1; return b }, nil, ErrCorruptMessage},
		{"length past end", func(b []byte) []byte { b[11]++; return b }, nil, ErrCorruptMessage},
		{"length too small", func(b []byte) []byte { b[8], b[9], b[10], b[11] = 0, 0, 0, 3; return b }, nil, ErrCorruptMessage},
		{"trailing garbage", func(b []byte) []byte { return append(b, 1, 2, 3) }, nil, ErrCorruptMessage},
		{"too large", func(b []byte) []byte { return b }, func(c *Config) { c.MaxMessageBytes = 70 }, ErrMessageTooLarge},
		{"count mismatch", func(b []byte) []byte {
			b[60] = 5 // numRecords 5 with lastOffsetDelta 1
			return resign(b)
		}, nil, ErrInvalidRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			l := e.open(cfg)
			_, err := l.Append(tc.mutate(good()))
			if !errors.Is(err, tc.want) {
				t.Fatalf("append: %v, want %v", err, tc.want)
			}
			if l.EndOffset() != 0 {
				t.Fatalf("end offset %d after a rejected append", l.EndOffset())
			}
		})
	}
	// Several batches: one bad batch rejects all of them.
	e := newEnv(t)
	l := e.open(DefaultConfig())
	bad := good()
	bad[30] ^= 1
	if _, err := l.Append(append(good(), bad...)); !errors.Is(err, ErrCorruptMessage) || !strings.Contains(err.Error(), "batch 1") {
		t.Fatalf("append good+bad: %v, want corrupt batch 1", err)
	}
	if l.EndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("partial write: end %d size %d", l.EndOffset(), l.Size())
	}
	res := mustAppend(t, l, append(good(), good()...))
	if res.BaseOffset != 0 || res.LastOffset != 3 {
		t.Fatalf("two batches: %+v", res)
	}
}

func resign(b []byte) []byte {
	h, _ := ParseBatchHeader(b)
	stampCRC(b, h.TotalSize())
	return b
}

func TestLogAppendTime(t *testing.T) {
	e := newEnv(t)
	cfg := DefaultConfig()
	cfg.LogAppendTime = true
	l := e.open(cfg)
	res := mustAppend(t, l, makeBatch(t, spec("a", "b")))
	now := e.clock.Now().UnixMilli()
	if res.LogAppendTime != now {
		t.Fatalf("LogAppendTime %d, want %d", res.LogAppendTime, now)
	}
	recs := readAll(t, l, 1<<20)
	for _, r := range recs {
		if r.ts != now {
			t.Fatalf("record %d timestamp %d, want %d", r.offset, r.ts, now)
		}
	}
	if off, ts, err := l.OffsetForTimestamp(now); err != nil || off != 0 || ts != now {
		t.Fatalf("OffsetForTimestamp: %d %d %v", off, ts, err)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	for _, codec := range []int{0, 1, 2, 3, 4, 5, 12, 13} {
		e := newEnv(t)
		l := e.open(smallConfig())
		// Batch i holds records with timestamps 1000+10i, +1, +2 (one out of order).
		for i := 0; i < 100; i++ {
			s := spec(val(3*i), val(3*i+1), val(3*i+2))
			s.firstTs = 1000 + 10*int64(i)
			s.tsDeltas = []int64{0, 2, 1}
			s.codec = codec
			mustAppend(t, l, makeBatch(t, s))
		}
		for _, tc := range []struct{ ts, off, gotTs int64 }{
			{0, 0, 1000}, {1000, 0, 1000}, {1001, 1, 1002}, {1002, 1, 1002}, {1003, 3, 1010},
			{1500, 150, 1500}, {1501, 151, 1502}, {1992, 298, 1992}, {1993, -1, -1},
		} {
			off, ts, err := l.OffsetForTimestamp(tc.ts)
			if err != nil || off != tc.off || ts != tc.gotTs {
				t.Errorf("codec %d: OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", codec, tc.ts, off, ts, err, tc.off, tc.gotTs)
			}
		}
		if ts, off := l.MaxTimestamp(); ts != 1992 || off != 298 {
			t.Errorf("codec %d: MaxTimestamp = %d at %d, want 1992 at 298", codec, ts, off)
		}
		l.Close()
		l = e.open(smallConfig())
		if off, _, _ := l.OffsetForTimestamp(1501); off != 151 {
			t.Errorf("codec %d: after restart OffsetForTimestamp(1501) = %d", codec, off)
		}
		if ts, off := l.MaxTimestamp(); ts != 1992 || off != 298 {
			t.Errorf("codec %d: after restart MaxTimestamp = %d at %d", codec, ts, off)
		}
	}
	e := newEnv(t)
	l := e.open(DefaultConfig())
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Errorf("empty log MaxTimestamp = %d, %d", ts, off)
	}
	if off, ts, err := l.OffsetForTimestamp(0); off != -1 || ts != -1 || err != nil {
		t.Errorf("empty log OffsetForTimestamp = %d, %d, %v", off, ts, err)
	}
}

func TestRollByTimeAndRetentionByTime(t *testing.T) {
	e := newEnv(t)
	cfg := DefaultConfig()
	cfg.SegmentMs = time.Hour
	cfg.RetentionMs = 24 * time.Hour
	l := e.open(cfg)
	for i := 0; i < 5; i++ {
		s := spec(val(i))
		s.firstTs = e.clock.Now().UnixMilli()
		mustAppend(t, l, makeBatch(t, s))
		e.clock.Advance(time.Hour)
		if err := l.Maintain(e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.Segments()); n != 6 {
		t.Fatalf("%d segments after 5 hourly rolls, want 6 (5 + empty active)", n)
	}
	// Appends also roll by time when Maintain has not run yet.
	for _, v := range []string{"x", "y"} {
		s := spec(v)
		s.firstTs = e.clock.Now().UnixMilli()
		mustAppend(t, l, makeBatch(t, s))
		e.clock.Advance(2 * time.Hour)
	}
	if n := len(l.Segments()); n != 7 {
		t.Fatalf("%d segments, want 7", n)
	}
	// Now at start+9h: 15h later only the first segment (ts = start) is
	// past retention.
	e.clock.Advance(15*time.Hour + time.Millisecond)
	if err := l.Maintain(e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 1 {
		t.Fatalf("start %d after retention, want 1", l.StartOffset())
	}
	if _, err := l.Read(0, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read deleted offset: %v", err)
	}
	e.clock.Advance(100 * time.Hour)
	if err := l.Maintain(e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) != 1 || !segs[0].Active {
		t.Fatalf("segments %+v, want only the active one (never deleted)", segs)
	}
	if l.StartOffset() != segs[0].BaseOffset {
		t.Fatalf("start %d, want %d", l.StartOffset(), segs[0].BaseOffset)
	}
	// The start survives a restart.
	start := l.StartOffset()
	l.Close()
	l = e.open(cfg)
	if l.StartOffset() != start {
		t.Fatalf("start %d after restart, want %d", l.StartOffset(), start)
	}
}

func TestRetentionByBytes(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.RetentionBytes = 5000
	cfg.RetentionMs = -1
	l := e.open(cfg)
	for i := 0; i < 300; i++ {
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	before := l.Size()
	if err := l.Maintain(e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// Kafka's rule: delete the oldest segment while the log stays at or
	// above retention.bytes without it.
	if l.Size() < 5000 || l.Size() >= 5000+2000 {
		t.Fatalf("size %d (was %d), want within one segment above retention.bytes 5000", l.Size(), before)
	}
	recs := readAll(t, l, 1<<20)
	if recs[0].offset != l.StartOffset() || recs[len(recs)-1].offset != 299 {
		t.Fatalf("records %d..%d, start %d", recs[0].offset, recs[len(recs)-1].offset, l.StartOffset())
	}
	names, _ := e.fs.List(e.dir)
	for _, n := range names {
		if strings.HasSuffix(n, ".log") && n < filepath.Base(fileName(e.dir, l.StartOffset(), ".log")) {
			t.Errorf("file %s of a deleted segment remains", n)
		}
	}
}

func TestChunkOfDeletedSegmentStaysReadable(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	l := e.open(cfg)
	for i := 0; i < 100; i++ {
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	c, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteRecordsBefore(90); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, c.Size)
	if _, err := c.R.ReadAt(buf, c.Pos); err != nil && err != io.EOF {
		t.Fatalf("chunk of deleted segment: %v", err)
	}
	if recs := decodeRecords(t, buf); recs[0].value != val(0) {
		t.Fatalf("chunk content %v", recs[0])
	}
	c.Release()
	if _, err := c.R.ReadAt(buf, c.Pos); err == nil {
		t.Fatalf("chunk still readable after Release; the deleted segment's file was not closed")
	}
	c.Release() // a second Release does nothing
}

func TestDeleteRecordsBefore(t *testing.T) {
	e := newEnv(t)
	l := e.open(smallConfig())
	for i := 0; i < 100; i++ {
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	if _, err := l.DeleteRecordsBefore(101); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete beyond end: %v", err)
	}
	n, err := l.DeleteRecordsBefore(57)
	if err != nil || n != 57 {
		t.Fatalf("DeleteRecordsBefore(57) = %d, %v", n, err)
	}
	if n, _ := l.DeleteRecordsBefore(10); n != 57 {
		t.Fatalf("moving the start back: %d, want 57 kept", n)
	}
	if _, err := l.Read(56, 10); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read 56: %v", err)
	}
	recs := readAll(t, l, 1<<20)
	if recs[0].offset != 57 || len(recs) != 43 {
		t.Fatalf("records from %d (%d), want 43 from 57", recs[0].offset, len(recs))
	}
	if segs := l.Segments(); segs[0].BaseOffset > 57 || len(segs) > 1 && segs[1].BaseOffset <= 57 {
		t.Fatalf("segments below the start not deleted: %+v", segs[:2])
	}
	// Survives a crash (checkpoint file), not only a clean close.
	e.fs = e.fs.Clone()
	l2 := e.open(smallConfig())
	if l2.StartOffset() != 57 {
		t.Fatalf("start %d after crash, want 57", l2.StartOffset())
	}
	if res := mustAppend(t, l2, makeBatch(t, spec("x"))); res.LogStartOffset != 57 || res.BaseOffset != 100 {
		t.Fatalf("append after restart: %+v", res)
	}
	// Delete everything.
	if n, err := l2.DeleteRecordsBefore(101); err != nil || n != 101 {
		t.Fatalf("delete all: %d %v", n, err)
	}
	if c, err := l2.Read(101, 10); err != nil || c.Size != 0 {
		t.Fatalf("read at end of emptied log: %v %v", c, err)
	}
	l.Close()
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key string
		mut func(*Config)
	}{
		{"segment.bytes", func(c *Config) { c.SegmentBytes = 10 }},
		{"segment.ms", func(c *Config) { c.SegmentMs = 0 }},
		{"index.interval.bytes", func(c *Config) { c.IndexIntervalBytes = -1 }},
		{"segment.index.bytes", func(c *Config) { c.SegmentIndexBytes = 4 }},
		{"flush.messages", func(c *Config) { c.FlushMessages = 0 }},
		{"flush.ms", func(c *Config) { c.FlushMs = -1 }},
		{"max.message.bytes", func(c *Config) { c.MaxMessageBytes = 1 }},
	} {
		c := DefaultConfig()
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v", tc.key, err)
		}
	}
	e := newEnv(t)
	l := e.open(DefaultConfig())
	bad := DefaultConfig()
	bad.SegmentBytes = 1
	if err := l.SetConfig(bad); err == nil {
		t.Fatal("SetConfig accepted segment.bytes=1")
	}
	c := DefaultConfig()
	c.MaxMessageBytes = 100
	if err := l.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(makeBatch(t, spec(strings.Repeat("x", 100)))); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("after SetConfig: %v", err)
	}
}

func TestUnparseableFileNamesAreReported(t *testing.T) {
	e := newEnv(t)
	l := e.open(DefaultConfig())
	mustAppend(t, l, makeBatch(t, spec("a")))
	l.Close()
	e.fs.WriteFile(filepath.Join(e.dir, "123.log"), []byte("x"))
	_, err := Open(e.dir, DefaultConfig(), e.options())
	if err == nil || !strings.Contains(err.Error(), `"123.log"`) {
		t.Fatalf("open with 123.log: %v, want an error naming the file", err)
	}
	e.fs.Remove(filepath.Join(e.dir, "123.log"))
	e.fs.WriteFile(filepath.Join(e.dir, "notes.txt"), []byte("x"))
	l = e.open(DefaultConfig())
	if !e.logs.contains("notes.txt") {
		t.Fatalf("unknown file not reported:\n%s", e.logs)
	}
	if got := values(readAll(t, l, 100)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("got %v", got)
	}
}

func TestClosedAndDeleted(t *testing.T) {
	e := newEnv(t)
	l := e.open(DefaultConfig())
	mustAppend(t, l, makeBatch(t, spec("a")))
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(makeBatch(t, spec("b"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after delete: %v", err)
	}
	if _, err := l.Read(0, 100); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after delete: %v", err)
	}
	if err := l.Maintain(e.clock.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("maintain after delete: %v", err)
	}
	if names, err := e.fs.List(e.dir); err == nil {
		t.Fatalf("folder still there: %v", names)
	}
}

func TestOSFileSystem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	l, err := Open(dir, smallConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 50; i++ {
		want = append(want, val(i))
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	c, err := l.Read(10, 100)
	if err != nil || c.File == nil || c.Size == 0 {
		t.Fatalf("read on OS FS: %+v %v, want File set", c, err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, smallConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := values(readAll(t, l, 1000)); !slices.Equal(got, want) {
		t.Fatalf("after reopen: %v", got)
	}
}

// TestLookupBelowSegmentBase: a read that falls into a gap at the end of
// one segment (left by compaction) continues in the next segment, whose
// index must then answer "from the start", not wrap the negative relative
// offset around to its last entry and skip records.
func TestLookupBelowSegmentBase(t *testing.T) {
	e := newEnv(t)
	l := e.open(smallConfig())
	for i := 0; i < 60; i++ {
		if _, err := l.Append(makeBatch(t, spec(val(i), val(i+1)))); err != nil {
			t.Fatal(err)
		}
	}
	segs := *l.segs.Load()
	if len(segs) < 3 {
		t.Fatalf("%d segments, want at least 3", len(segs))
	}
	s := segs[1]
	if s.offIdx.count() == 0 {
		t.Fatalf("segment %d has no index entries; the test needs some", s.base)
	}
	pos, _, err := s.lookup(s.base - 1)
	if err != nil || pos != 0 {
		t.Fatalf("lookup(base-1) = %d, %v; want 0", pos, err)
	}
}
