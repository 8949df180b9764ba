package log

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
)

// keyed is one record to append: a key and a value ("" = tombstone).
type keyed struct{ key, value string }

func appendKeyed(t testing.TB, l *Log, ts int64, recs ...keyed) AppendResult {
	t.Helper()
	var rs []Record
	for i, r := range recs {
		rec := Record{Offset: int64(i), Timestamp: ts, Key: []byte(r.key)}
		if r.value != "" {
			rec.Value = []byte(r.value)
		}
		rs = append(rs, rec)
	}
	return mustAppend(t, l, EncodeBatch(NewBatchHeader(), rs))
}

// readKeyed reads every record from the start, decoding keys.
func readKeyed(t testing.TB, l *Log) []Record {
	t.Helper()
	var out []Record
	for off := l.StartOffset(); off < l.EndOffset(); {
		c, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if c.Size == 0 {
			break
		}
		buf := make([]byte, c.Size)
		if _, err := c.R.ReadAt(buf, c.Pos); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		c.Release()
		for len(buf) > 0 {
			h, recs, err := DecodeBatch(buf)
			if err != nil {
				t.Fatalf("decode at offset %d: %v", off, err)
			}
			for _, r := range recs {
				if r.Offset >= off {
					out = append(out, r)
				}
			}
			off = h.LastOffset() + 1
			buf = buf[h.TotalSize():]
		}
	}
	return out
}

func compactConfig() Config {
	cfg := DefaultConfig()
	cfg.Compact = true
	cfg.SegmentBytes = 1024
	cfg.IndexIntervalBytes = 128
	return cfg
}

// fillKeyed writes `updates` rounds over `keys` keys, one batch per record,
// then deletes every fifth key, and returns the latest record per key.
func fillKeyed(t testing.TB, l *Log, keys, updates int, ts int64) map[string]Record {
	latest := map[string]Record{}
	for u := 0; u < updates; u++ {
		for k := 0; k < keys; k++ {
			key, value := fmt.Sprintf("key-%02d", k), fmt.Sprintf("v%d-of-key-%02d", u, k)
			res := appendKeyed(t, l, ts, keyed{key, value})
			latest[key] = Record{Offset: res.BaseOffset, Key: []byte(key), Value: []byte(value)}
		}
	}
	for k := 0; k < keys; k += 5 {
		key := fmt.Sprintf("key-%02d", k)
		res := appendKeyed(t, l, ts, keyed{key, ""})
		latest[key] = Record{Offset: res.BaseOffset, Key: []byte(key)}
	}
	return latest
}

// checkCompacted asserts that every record read back below the active
// segment is the latest of its key, at its original offset, and that every
// key's latest record is present.
func checkCompacted(t *testing.T, l *Log, latest map[string]Record, tombstones bool) {
	t.Helper()
	got := readKeyed(t, l)
	segs := l.Segments()
	active := segs[len(segs)-1].BaseOffset
	segmentLast := map[int64]bool{} // the last offset of each closed segment
	for i := 1; i < len(segs); i++ {
		segmentLast[segs[i].BaseOffset-1] = true
	}
	seen := map[string]bool{}
	var prev int64 = -1
	for _, r := range got {
		if r.Offset <= prev {
			t.Fatalf("offset %d after %d", r.Offset, prev)
		}
		prev = r.Offset
		want := latest[string(r.Key)]
		// A superseded record may stay only if what supersedes it is not
		// cleanable yet (active segment) or it ends its segment.
		if r.Offset < active && r.Offset != want.Offset && want.Offset < active && !segmentLast[r.Offset] {
			t.Errorf("key %s: stale record at offset %d kept (latest is %d)", r.Key, r.Offset, want.Offset)
		}
		if r.Offset == want.Offset {
			if string(r.Value) != string(want.Value) || (r.Value == nil) != (want.Value == nil) {
				t.Errorf("key %s at %d: value %q, want %q", r.Key, r.Offset, r.Value, want.Value)
			}
			seen[string(r.Key)] = true
		}
	}
	for k, r := range latest {
		if !seen[k] && (r.Value != nil || tombstones) {
			t.Errorf("key %s: latest record (offset %d) missing", k, r.Offset)
		}
	}
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	e := newEnv(t)
	l := e.open(compactConfig())
	now := e.clock.Now()
	latest := fillKeyed(t, l, 20, 10, now.UnixMilli())
	segsBefore, endBefore := len(l.Segments()), l.EndOffset()

	c := NewCleaner()
	cc := DefaultCompactConfig()
	res, err := c.Compact(context.Background(), l, now, cc)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cleaned || res.Segments == 0 || res.BytesAfter >= res.BytesBefore || res.RecordsRemoved == 0 {
		t.Fatalf("compact did nothing: %+v", res)
	}
	t.Logf("compacted %d segments: %d -> %d bytes, %d records removed", res.Segments, res.BytesBefore, res.BytesAfter, res.RecordsRemoved)
	if len(l.Segments()) != segsBefore || l.EndOffset() != endBefore {
		t.Fatalf("segments %d -> %d, end %d -> %d: compaction must not move offsets", segsBefore, len(l.Segments()), endBefore, l.EndOffset())
	}
	checkCompacted(t, l, latest, true)

	// Nothing new: the next call has no dirty data.
	if res, err := c.Compact(context.Background(), l, now, cc); err != nil || res.Cleaned {
		t.Fatalf("second compact: %+v %v", res, err)
	}

	// New updates land after the cleaned part; the log also survives a
	// restart with its offset gaps.
	for k := 0; k < 20; k++ {
		key := fmt.Sprintf("key-%02d", k)
		res := appendKeyed(t, l, now.UnixMilli(), keyed{key, "final-" + key})
		latest[key] = Record{Offset: res.BaseOffset, Key: []byte(key), Value: []byte("final-" + key)}
	}
	appendKeyed(t, l, now.UnixMilli(), keyed{"filler", string(make([]byte, 1100))}) // roll
	cc.MinCleanableDirtyRatio = 0.1
	if res, err := c.Compact(context.Background(), l, now, cc); err != nil || !res.Cleaned {
		t.Fatalf("compact after updates: %+v %v (segments %v)", res, err, l.Segments())
	}
	latest["filler"] = Record{Offset: l.EndOffset() - 1, Key: []byte("filler"), Value: make([]byte, 1100)}
	checkCompacted(t, l, latest, true)
	l.Close()
	l2 := e.open(compactConfig())
	checkCompacted(t, l2, latest, true)

	// After delete.retention.ms the tombstones go too.
	later := now.Add(48 * time.Hour)
	for k := 0; k < 20; k += 5 {
		key := fmt.Sprintf("key-%02d", k)
		res := appendKeyed(t, l2, later.UnixMilli(), keyed{key, ""})
		latest[key] = Record{Offset: res.BaseOffset, Key: []byte(key)}
	}
	appendKeyed(t, l2, later.UnixMilli(), keyed{"filler", string(make([]byte, 1100))})
	latest["filler"] = Record{Offset: l2.EndOffset() - 1, Key: []byte("filler"), Value: make([]byte, 1100)}
	if _, err := NewCleaner().Compact(context.Background(), l2, later.Add(25*time.Hour), cc); err != nil {
		t.Fatal(err)
	}
	segs := l2.Segments()
	ends := map[int64]bool{}
	for i := 1; i < len(segs); i++ {
		ends[segs[i].BaseOffset-1] = true
	}
	for _, r := range readKeyed(t, l2) {
		if r.Value == nil && r.Offset < segs[len(segs)-1].BaseOffset && !ends[r.Offset] {
			t.Errorf("tombstone of %s at %d kept past delete.retention.ms", r.Key, r.Offset)
		}
	}
}

// TestCompactInsideBatches compacts batches of several keys each, so that
// kept records are not contiguous within a batch, and reopens the log.
func TestCompactInsideBatches(t *testing.T) {
	e := newEnv(t)
	l := e.open(compactConfig())
	now := e.clock.Now()
	latest := map[string]Record{}
	for round := 0; round < 30; round++ {
		var batch []keyed
		for k := 0; k < 6; k++ {
			if k%2 == 0 || round%3 == 0 { // odd keys change less often
				batch = append(batch, keyed{fmt.Sprintf("k%d", k), fmt.Sprintf("r%d-k%d", round, k)})
			}
		}
		res := appendKeyed(t, l, now.UnixMilli(), batch...)
		for i, r := range batch {
			latest[r.key] = Record{Offset: res.BaseOffset + int64(i), Key: []byte(r.key), Value: []byte(r.value)}
		}
	}
	appendKeyed(t, l, now.UnixMilli(), keyed{"filler", string(make([]byte, 1100))})
	latest["filler"] = Record{Offset: l.EndOffset() - 1, Key: []byte("filler"), Value: make([]byte, 1100)}
	res, err := NewCleaner().Compact(context.Background(), l, now, DefaultCompactConfig())
	if err != nil || res.RecordsRemoved == 0 {
		t.Fatalf("compact: %+v %v", res, err)
	}
	checkCompacted(t, l, latest, true)
	l.Close()
	checkCompacted(t, e.open(compactConfig()), latest, true)
}

func TestCompactRespectsRatioAndLag(t *testing.T) {
	e := newEnv(t)
	l := e.open(compactConfig())
	now := e.clock.Now()
	fillKeyed(t, l, 10, 5, now.UnixMilli())
	cc := DefaultCompactConfig()
	cc.MinCompactionLag = time.Hour
	if res, err := NewCleaner().Compact(context.Background(), l, now, cc); err != nil || res.Cleaned {
		t.Fatalf("compacted records younger than min.compaction.lag.ms: %+v %v", res, err)
	}
	cc.MinCompactionLag = 0
	cc.MinCleanableDirtyRatio = 1.01
	if res, err := NewCleaner().Compact(context.Background(), l, now, cc); err != nil || res.Cleaned {
		t.Fatalf("compacted below min.cleanable.dirty.ratio: %+v %v", res, err)
	}
	cfg := compactConfig()
	cfg.Compact = false
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCleaner().Compact(context.Background(), l, now, DefaultCompactConfig()); err != ErrNotCompacted {
		t.Fatalf("compacting a delete-policy log: %v, want ErrNotCompacted", err)
	}
}

// snapshotFS records the crash image of the file system after every
// rename and remove, to reopen the log as if the OS had crashed there.
type snapshotFS struct {
	*errorfs.FS
	snaps []*errorfs.FS
}

func (s *snapshotFS) Remove(name string) error {
	err := s.FS.Remove(name)
	s.snaps = append(s.snaps, s.FS.Crash())
	return err
}

func (s *snapshotFS) Rename(o, n string) error {
	err := s.FS.Rename(o, n)
	s.snaps = append(s.snaps, s.FS.Crash())
	return err
}

var _ vfs.FS = (*snapshotFS)(nil)

// TestCompactCrashSafe crashes the OS after every file operation of a
// compaction (and fails each of its writes and syncs): reopening always
// finds a complete log whose latest value per key is unchanged.
func TestCompactCrashSafe(t *testing.T) {
	e := newEnv(t)
	sfs := &snapshotFS{FS: e.fs}
	opts := e.options()
	opts.FS = sfs
	l, err := Open(e.dir, compactConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	latest := fillKeyed(t, l, 10, 6, now.UnixMilli())
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	sfs.snaps = nil
	writes, syncs := e.fs.Counts()
	if _, err := NewCleaner().Compact(context.Background(), l, now, DefaultCompactConfig()); err != nil {
		t.Fatal(err)
	}
	w2, s2 := e.fs.Counts()
	l.Close()
	if len(sfs.snaps) == 0 {
		t.Fatal("compaction renamed nothing")
	}
	check := func(name string, fs *errorfs.FS) {
		o := e.options()
		o.FS = fs
		l, err := Open(e.dir, compactConfig(), o)
		if err != nil {
			t.Fatalf("%s: reopen: %v", name, err)
		}
		defer l.Close()
		last := map[string]Record{}
		for _, r := range readKeyed(t, l) {
			last[string(r.Key)] = r
		}
		for k, want := range latest {
			if got := last[k]; got.Offset != want.Offset || string(got.Value) != string(want.Value) {
				t.Errorf("%s: key %s latest at %d %q, want %d %q", name, k, got.Offset, got.Value, want.Offset, want.Value)
			}
		}
	}
	for i, snap := range sfs.snaps {
		check(fmt.Sprintf("crash after file op %d", i+1), snap)
	}
	t.Logf("checked %d crash points, %d writes, %d syncs", len(sfs.snaps), w2-writes, s2-syncs)

	// Injected write and sync failures: the compaction fails, the log stays.
	for n := 1; n <= w2-writes; n++ {
		for _, kind := range []string{"write", "sync"} {
			if kind == "sync" && n > s2-syncs {
				continue
			}
			fs := errorfs.New()
			o := e.options()
			o.FS = fs
			l, err := Open(e.dir, compactConfig(), o)
			if err != nil {
				t.Fatal(err)
			}
			latest := fillKeyed(t, l, 10, 6, now.UnixMilli())
			if kind == "write" {
				fs.FailWriteAt(n, true)
			} else {
				fs.FailSyncAt(n)
			}
			if _, err := NewCleaner().Compact(context.Background(), l, now, DefaultCompactConfig()); err == nil {
				t.Errorf("%s %d failed but compaction reported success", kind, n)
			}
			fs.Reset() // disarm the rule if the compaction failed before it fired
			got := map[string]Record{}
			for _, r := range readKeyed(t, l) {
				got[string(r.Key)] = r
			}
			for k, want := range latest {
				if got[k].Offset != want.Offset {
					t.Errorf("after failed %s %d: key %s latest at %d, want %d", kind, n, k, got[k].Offset, want.Offset)
				}
			}
			l.Close()
		}
	}
}

// BenchmarkCompact cleans ~8 MB of 1 KB updates over 1000 keys (batches of
// 20 records) and reports the cleaned bytes per second.
func BenchmarkCompact(b *testing.B) {
	value := string(make([]byte, 1000))
	var bytes int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		cfg := compactConfig()
		cfg.SegmentBytes = 1 << 20
		l := e.open(cfg)
		now := e.clock.Now()
		for r := 0; r < 400; r++ {
			batch := make([]keyed, 20)
			for k := range batch {
				batch[k] = keyed{fmt.Sprintf("key-%04d", (r*20+k)%1000), value}
			}
			appendKeyed(b, l, now.UnixMilli(), batch...)
		}
		b.StartTimer()
		res, err := NewCleaner().Compact(context.Background(), l, now, DefaultCompactConfig())
		if err != nil || !res.Cleaned {
			b.Fatalf("%+v %v", res, err)
		}
		bytes += res.BytesBefore
	}
	b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/1e6, "MB/s")
}
