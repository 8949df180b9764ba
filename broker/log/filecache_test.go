package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"testing"
)

// openLogs opens the logs /data/t-<from> to /data/t-<from+n-1> under e.fs,
// sharing e.files.
func openLogs(t *testing.T, e *env, from, n int, cfg Config) []*Log {
	t.Helper()
	logs := make([]*Log, n)
	for i := range logs {
		l, err := Open(path.Join("/data", fmt.Sprintf("t-%d", from+i)), cfg, e.options())
		if err != nil {
			t.Fatalf("open log %d: %v\n%s", i, err, e.logs)
		}
		logs[i] = l
	}
	return logs
}

func closeLogs(t *testing.T, logs []*Log) {
	t.Helper()
	for i, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatalf("close log %d: %v", i, err)
		}
	}
}

// TestFileCacheBoundsOpenFiles writes to, rolls, reads and reopens 40 logs
// of several segments each through a cache of 8 files: the file system
// never sees more than the cache's 8 plus the one small file (checkpoint,
// snapshot) being written at a time, where keeping every segment open
// would hold over 400.
func TestFileCacheBoundsOpenFiles(t *testing.T) {
	const nlogs, capacity = 40, 8
	e := newEnv(t)
	e.files = NewFileCache(capacity)
	cfg := smallConfig()
	cfg.SegmentBytes = 600
	cfg.RetentionMs = -1
	for round := 0; round < 2; round++ {
		logs := openLogs(t, e, 0, nlogs, cfg)
		for i := 0; i < 30; i++ {
			for _, l := range logs {
				mustAppend(t, l, makeBatch(t, spec(val(i), val(i+1))))
			}
		}
		for i, l := range logs {
			if n := len(l.Segments()); n < 4 {
				t.Fatalf("log %d has %d segments; the test needs several", i, n)
			}
			if err := l.Maintain(e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, l, 300)
			if want := 60 * (round + 1); len(got) != want {
				t.Fatalf("round %d log %d: %d records, want %d", round, i, len(got), want)
			}
			for j, r := range got {
				if want := val(j/2%30 + j%2); r.value != want {
					t.Fatalf("round %d log %d record %d = %q, want %q", round, i, j, r.value, want)
				}
			}
			if _, _, err := l.OffsetForTimestamp(1000); err != nil {
				t.Fatal(err)
			}
		}
		closeLogs(t, logs)
	}
	now, most := e.fs.OpenFiles()
	st := e.files.Stats()
	t.Logf("most files open at once %d; cache: %+v", most, st)
	if most > capacity+1 {
		t.Errorf("%d files open at once, want at most %d", most, capacity+1)
	}
	if now != 0 || st.Open != 0 {
		t.Errorf("after closing every log: %d files open, cache counts %d", now, st.Open)
	}
	if st.Evictions == 0 {
		t.Error("nothing was evicted")
	}
}

// dirtyLog opens a log with five unsynced records under a cache of one
// file, so that the next file opened closes the written one.
func dirtyLog(t *testing.T) (*env, *Log) {
	e := newEnv(t)
	e.files = NewFileCache(1)
	a := openLogs(t, e, 0, 1, DefaultConfig())[0]
	for i := 0; i < 5; i++ {
		mustAppend(t, a, makeBatch(t, spec(val(i))))
	}
	return e, a
}

// TestEvictionFsyncsFirst: a file closed to make room is fsynced first, so
// an OS crash afterwards keeps what was appended to it.
func TestEvictionFsyncsFirst(t *testing.T) {
	e, a := dirtyLog(t)
	_, syncs := e.fs.Counts()
	// A second log needs the room: a's written file is closed, and
	// fsynced first.
	b := openLogs(t, e, 1, 1, DefaultConfig())[0]
	defer b.Close()
	if st := e.files.Stats(); st.EvictionSyncs == 0 {
		t.Fatalf("no eviction fsynced: %+v", st)
	}
	_, syncs2 := e.fs.Counts()
	if syncs2 == syncs {
		t.Fatal("no fsync before the eviction")
	}
	crashed := e.fs.Crash()
	o := e.options()
	o.FS, o.Files = crashed, nil
	l, err := Open(a.Dir(), DefaultConfig(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, l, 1<<20); len(got) != 5 {
		t.Fatalf("after a crash %d records of the evicted log survive, want 5", len(got))
	}
	l.Close()
	a.Close()
}

// TestFailedEvictionFsyncFailsTheLog: when the fsync before closing a
// file fails, the log that owns it refuses every later append, as after
// any failed fsync, and recovers when reopened.
func TestFailedEvictionFsyncFailsTheLog(t *testing.T) {
	e, a := dirtyLog(t)
	e.fs.FailSyncAt(1)
	b := openLogs(t, e, 1, 1, DefaultConfig())[0]
	mustAppend(t, b, makeBatch(t, spec("b"))) // b is not affected
	if _, err := a.Append(makeBatch(t, spec("late"))); err == nil {
		t.Fatal("append after a failed eviction fsync succeeded")
	}
	if err := a.Flush(); err == nil {
		t.Fatal("flush after a failed eviction fsync succeeded")
	}
	if got := readAll(t, a, 1<<20); len(got) != 5 {
		t.Fatalf("reads of the failed log: %d records, want 5", len(got))
	}
	a.Close()
	b.Close()
	l := openLogs(t, e, 0, 1, DefaultConfig())[0]
	defer l.Close()
	mustAppend(t, l, makeBatch(t, spec("after reopen")))
	if got := readAll(t, l, 1<<20); len(got) != 6 {
		t.Fatalf("after reopen %d records, want 6", len(got))
	}
}

// TestChunkHeldAcrossEviction: the file of an unreleased Chunk is never
// closed to make room (the cache goes over its capacity instead), and is
// closable once released.
func TestChunkHeldAcrossEviction(t *testing.T) {
	e := newEnv(t)
	e.files = NewFileCache(1)
	a := openLogs(t, e, 0, 1, DefaultConfig())[0]
	defer a.Close()
	mustAppend(t, a, makeBatch(t, spec("held")))
	c, err := a.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	others := openLogs(t, e, 1, 3, DefaultConfig())
	defer closeLogs(t, others)
	for _, l := range others {
		mustAppend(t, l, makeBatch(t, spec("other")))
	}
	buf := make([]byte, c.Size)
	if _, err := c.R.ReadAt(buf, c.Pos); err != nil && err != io.EOF {
		t.Fatalf("held chunk: %v", err)
	}
	if recs := decodeRecords(t, buf); recs[0].value != "held" {
		t.Fatalf("held chunk reads %q", recs[0].value)
	}
	if st := e.files.Stats(); st.Overflows == 0 {
		t.Fatalf("cache never went over its capacity of 1: %+v", st)
	}
	c.Release()
	mustAppend(t, others[0], makeBatch(t, spec("more")))
	if _, err := c.R.ReadAt(buf, c.Pos); err == nil {
		t.Fatal("released chunk's file still open after the cache needed room")
	}
}

// TestReadAcrossCompactionSwap: a reader that loaded the segment list
// before the cleaner replaced a segment keeps reading the old file through
// a Chunk it holds; a stale segment whose file is closed answers
// ErrSegmentGone, and Read then uses the new list.
func TestReadAcrossCompactionSwap(t *testing.T) {
	e := newEnv(t)
	e.files = NewFileCache(2)
	l := e.open(compactConfig())
	now := e.clock.Now()
	latest := fillKeyed(t, l, 10, 6, now.UnixMilli())
	stale := *l.segs.Load()
	held, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	old := make([]byte, held.Size)
	if _, err := held.R.ReadAt(old, held.Pos); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	res, err := NewCleaner().Compact(context.Background(), l, now, DefaultCompactConfig())
	if err != nil || res.Segments == 0 {
		t.Fatalf("compact: %+v, %v", res, err)
	}
	again := make([]byte, held.Size)
	if _, err := held.R.ReadAt(again, held.Pos); err != nil && err != io.EOF {
		t.Fatalf("held chunk after the swap: %v", err)
	}
	if string(again) != string(old) {
		t.Fatal("held chunk changed content across the swap")
	}
	held.Release()
	if _, _, err := l.readSegment(stale[0], 0, 1<<20, stale[1].base); !errors.Is(err, ErrSegmentGone) {
		t.Fatalf("stale segment after the swap: %v, want ErrSegmentGone", err)
	}
	got := map[string]Record{}
	for _, r := range readKeyed(t, l) {
		got[string(r.Key)] = r
	}
	for k, want := range latest {
		if got[k].Offset != want.Offset {
			t.Errorf("key %s latest at %d, want %d", k, got[k].Offset, want.Offset)
		}
	}
}

// TestCrashedDataSyncedByFlushNotByEviction: after a process crash, what
// the dead process wrote past the recovery point is not fsynced when the
// cache closes its files during Open (there is no write of this process to
// protect, and doing it for every partition made a restart take minutes),
// but the next Flush fsyncs it, reopening the file, before it moves the
// recovery point past it.
func TestCrashedDataSyncedByFlushNotByEviction(t *testing.T) {
	e := newEnv(t)
	a := openLogs(t, e, 0, 1, DefaultConfig())[0]
	for i := 0; i < 5; i++ {
		mustAppend(t, a, makeBatch(t, spec(val(i))))
	}
	e.fs = e.fs.Clone() // the process dies; the page cache survives
	a.Close()
	e.files = NewFileCache(1)
	logs := openLogs(t, e, 0, 3, DefaultConfig())
	defer closeLogs(t, logs)
	if st := e.files.Stats(); st.Evictions == 0 || st.EvictionSyncs != 0 {
		t.Fatalf("opening after a crash: %+v, want evictions without fsyncs", st)
	}
	if err := logs[0].Flush(); err != nil {
		t.Fatal(err)
	}
	o := e.options()
	o.FS, o.Files = e.fs.Crash(), nil
	l, err := Open(logs[0].Dir(), DefaultConfig(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := readAll(t, l, 1<<20); len(got) != 5 {
		t.Fatalf("after Flush and an OS crash %d records survive, want 5", len(got))
	}
}
