package log

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
)

func faultConfig(flushMessages int64) Config {
	cfg := smallConfig()
	cfg.FlushMessages = flushMessages
	cfg.RetentionMs = -1 // test batches carry 1970 timestamps
	return cfg
}

// workload appends n single-record batches with unique values until the
// first error, calling Maintain every 7 appends (rolls get fsynced and the
// recovery checkpoint advances). It returns the acknowledged values and the
// value of the failed attempt ("" if none failed).
func workload(t *testing.T, l *Log, e *env, n int) (acked []string, failed string, err error) {
	t.Helper()
	for i := 0; i < n; i++ {
		v := val(i)
		if _, err := l.Append(makeBatch(t, spec(v))); err != nil {
			return acked, v, err
		}
		acked = append(acked, v)
		if i%7 == 6 {
			if err := l.Maintain(e.clock.Now()); err != nil {
				return acked, "", err
			}
		}
	}
	return acked, "", nil
}

// checkRecovered asserts that got holds every acknowledged value once and in
// order, plus at most the one failed value at the end.
func checkRecovered(t *testing.T, got, acked []string, failed string) {
	t.Helper()
	if len(got) < len(acked) || !slices.Equal(got[:len(acked)], acked) {
		t.Fatalf("recovered %d records, acknowledged %d: not a prefix match (got %v…)", len(got), len(acked), got[:min(len(got), 5)])
	}
	if extra := got[len(acked):]; len(extra) > 1 || len(extra) == 1 && extra[0] != failed {
		t.Fatalf("recovered unexpected records after the acknowledged ones: %v (failed attempt %q)", extra, failed)
	}
}

// fault is one injected failure of a workload run.
type fault struct {
	name  string
	apply func(fs *errorfs.FS)
}

// everyFault counts the writes and syncs of a clean workload run of n
// appends and returns a fault at each of them (half the writes torn).
func everyFault(t *testing.T, n int) []fault {
	t.Helper()
	base := newEnv(t)
	bl := base.open(faultConfig(4))
	if _, _, err := workload(t, bl, base, n); err != nil {
		t.Fatal(err)
	}
	writes, syncs := base.fs.Counts()
	if writes < 60 || syncs < 10 {
		t.Fatalf("baseline did %d writes, %d syncs; want many of both", writes, syncs)
	}
	var faults []fault
	for i := 1; i <= writes; i++ {
		faults = append(faults, fault{fmt.Sprintf("write%d", i), func(fs *errorfs.FS) { fs.FailWriteAt(i, i%2 == 0) }})
	}
	for i := 1; i <= syncs; i++ {
		faults = append(faults, fault{fmt.Sprintf("sync%d", i), func(fs *errorfs.FS) { fs.FailSyncAt(i) }})
	}
	return faults
}

func TestErrorAtEveryWriteAndSync(t *testing.T) {
	const n = 60
	for _, f := range everyFault(t, n) {
		for _, osCrash := range []bool{false, true} {
			e := newEnv(t)
			f.apply(e.fs)
			cfg := faultConfig(4)
			if osCrash {
				cfg.FlushMessages = 1 // every acknowledged append is fsynced
			}
			l, err := Open(e.dir, cfg, e.options())
			if err != nil {
				// The fault hit Open itself; nothing was acknowledged.
				continue
			}
			acked, failed, werr := workload(t, l, e, n)
			if werr == nil {
				l.Close()
				continue // the fault hit a file the workload never wrote again
			}
			if !errors.Is(werr, errorfs.ErrInjected) {
				t.Fatalf("%s: error %v, want the injected one", f.name, werr)
			}
			// Sticky: every later append and flush fails with that error.
			if _, err := l.Append(makeBatch(t, spec("after"))); !errors.Is(err, errorfs.ErrInjected) {
				t.Fatalf("%s: append after failure: %v", f.name, err)
			}
			if err := l.Flush(); !errors.Is(err, errorfs.ErrInjected) {
				t.Fatalf("%s: flush after failure: %v", f.name, err)
			}
			if err := l.Close(); err != nil && !errors.Is(err, errorfs.ErrInjected) {
				t.Fatalf("%s: close: %v", f.name, err)
			}
			if e.fs.Counts(); true {
				if names, _ := e.fs.List(e.dir); slices.Contains(names, cleanShutdownFile) {
					t.Fatalf("%s: failed log left a clean shutdown marker", f.name)
				}
			}
			if osCrash {
				e.fs = e.fs.Crash()
			} else {
				e.fs = e.fs.Clone()
			}
			l2, err := Open(e.dir, cfg, e.options())
			if err != nil {
				t.Fatalf("%s (os crash %v): reopen: %v\n%s", f.name, osCrash, err, e.logs)
			}
			checkRecovered(t, values(readAll(t, l2, 1<<20)), acked, failed)
			if _, err := l2.Append(makeBatch(t, spec("after recovery"))); err != nil {
				t.Fatalf("%s: append after recovery: %v", f.name, err)
			}
			l2.Close()
		}
	}
}

func TestOSCrashDropsOnlyUnsyncedData(t *testing.T) {
	for _, flushEvery := range []int64{1, 3, 10, 1 << 40} {
		e := newEnv(t)
		cfg := faultConfig(flushEvery)
		l, err := Open(e.dir, cfg, e.options())
		if err != nil {
			t.Fatal(err)
		}
		acked, _, err := workload(t, l, e, 100)
		if err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		synced := int(l.mu.recoveryPoint) // everything below was fsynced
		l.mu.Unlock()
		if flushEvery == 1 && synced != 100 {
			t.Fatalf("flush.messages=1: recovery point %d after 100 appends", synced)
		}
		e.fs = e.fs.Crash()
		l2 := e.open(cfg)
		got := values(readAll(t, l2, 1<<20))
		if len(got) < synced || !slices.Equal(got, acked[:len(got)]) {
			t.Fatalf("flush every %d: recovered %d records (want a prefix of at least %d)", flushEvery, len(got), synced)
		}
		if res := mustAppend(t, l2, makeBatch(t, spec("more"))); res.BaseOffset != int64(len(got)) {
			t.Fatalf("flush every %d: append after crash at %d, want %d", flushEvery, res.BaseOffset, len(got))
		}
		l.Close()
	}
}

// lastSegment returns the path of the newest .log file.
func lastSegment(t *testing.T, e *env) string {
	t.Helper()
	names, _ := e.fs.List(e.dir)
	var last string
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			last = n
		}
	}
	return filepath.Join(e.dir, last)
}

func TestCorruptTailIsTruncated(t *testing.T) {
	batchLen := len(makeBatch(t, spec(val(0))))
	type damage struct {
		name string
		do   func(b []byte) []byte
		keep int // records of the last segment's 10 that survive
	}
	var cases []damage
	for _, cut := range []int{1, 5, batchLen - 1, batchLen, batchLen + 1, 3*batchLen + 7} {
		cases = append(cases, damage{fmt.Sprintf("chop %d", cut), func(b []byte) []byte { return b[:len(b)-cut] }, 10 - (cut+batchLen-1)/batchLen})
	}
	for _, at := range []int{0, 8, 11, 16, 17, 21, 30, 57, batchLen - 1} {
		// Flip a byte of the 8th batch (index 7) of the last segment.
		cases = append(cases, damage{fmt.Sprintf("flip byte %d of batch 7", at), func(b []byte) []byte { b[7*batchLen+at] ^= 0x10; return b }, 7})
	}
	cases = append(cases, damage{"zeros appended", func(b []byte) []byte { return append(b, make([]byte, 100)...) }, 10})
	for _, tc := range cases {
		for _, clean := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s clean=%v", tc.name, clean), func(t *testing.T) {
				e := newEnv(t)
				cfg := DefaultConfig()
				cfg.SegmentBytes = int64(10 * batchLen)
				cfg.IndexIntervalBytes = 1 << 20 // no index entries: the whole tail is verified
				l, err := Open(e.dir, cfg, e.options())
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for i := 0; i < 30; i++ {
					want = append(want, val(i))
					mustAppend(t, l, makeBatch(t, spec(val(i))))
				}
				if clean {
					l.Close()
				}
				if got := len(l.Segments()); got != 3 {
					t.Fatalf("%d segments, want 3 full ones", got)
				}
				e.fs = e.fs.Clone()
				path := lastSegment(t, e)
				b, _ := e.fs.ReadFile(path)
				e.fs.WriteFile(path, tc.do(b))
				l2 := e.open(cfg)
				reported := strings.HasPrefix(tc.name, "flip") || tc.name == "zeros appended" ||
					(len(b)-len(tc.do(slices.Clone(b))))%batchLen != 0 // a torn batch
				if clean {
					// Everything was fsynced: the damage is kept and
					// reported, the batches after it stay, and no offset
					// below the old end is handed out again.
					got, skipped := readAround(t, l2)
					lost := 0
					for _, r := range skipped {
						lost += int(r.Offsets())
					}
					for _, r := range got {
						if r.value != want[r.offset] {
							t.Fatalf("offset %d holds %q, want %q", r.offset, r.value, want[r.offset])
						}
					}
					if len(got) < 20+min(tc.keep, 7) || len(got)+lost != 30 {
						t.Fatalf("read %d records around %d damaged offsets, want 30 in all: %v", len(got), lost, skipped)
					}
					if tc.name != "zeros appended" && len(l2.Damage()) == 0 {
						t.Fatal("no damaged range reported")
					}
					line := "damaged bytes in a sealed segment"
					if tc.name == "zeros appended" {
						line = "truncating log at corrupt or torn batch" // past the end offset: not data
					}
					if reported && !e.logs.contains(line) {
						t.Fatalf("no log line naming the damage:\n%s", e.logs)
					}
					if res := mustAppend(t, l2, makeBatch(t, spec("new"))); res.BaseOffset != 30 {
						t.Fatalf("next offset %d, want 30: an offset below the damage was reused", res.BaseOffset)
					}
					return
				}
				got := values(readAll(t, l2, 1<<20))
				if !slices.Equal(got, want[:20+tc.keep]) {
					t.Fatalf("recovered %d records, want %d", len(got), 20+tc.keep)
				}
				if reported {
					if !e.logs.contains("truncating log at corrupt or torn batch") || !e.logs.contains(filepath.Base(path)) {
						t.Fatalf("no log line naming the cut:\n%s", e.logs)
					}
				}
				if res := mustAppend(t, l2, makeBatch(t, spec("new"))); res.BaseOffset != int64(20+tc.keep) {
					t.Fatalf("next offset %d", res.BaseOffset)
				}
				if !clean {
					l.Close()
				}
			})
		}
	}
}

func TestCorruptionInEarlierSegmentDropsLaterOnes(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	l, err := Open(e.dir, cfg, e.options())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	segs := l.Segments()
	e.fs = e.fs.Clone() // unclean, recovery point 0: everything is scanned
	p := fileName(e.dir, segs[1].BaseOffset, logSuffix)
	b, _ := e.fs.ReadFile(p)
	b[100] ^= 1
	e.fs.WriteFile(p, b)
	l2 := e.open(cfg)
	got := readAll(t, l2, 1<<20)
	if len(got) == 0 || got[len(got)-1].offset >= segs[2].BaseOffset || l2.EndOffset() > segs[2].BaseOffset {
		t.Fatalf("recovered up to %d, want a cut inside segment %d", l2.EndOffset(), segs[1].BaseOffset)
	}
	if len(l2.Segments()) != 2 {
		t.Fatalf("%d segments after the cut, want 2", len(l2.Segments()))
	}
	var cerr *CorruptionError
	_ = cerr
	if !e.logs.contains("deleting segment after truncation point") {
		t.Fatalf("later segments dropped silently:\n%s", e.logs)
	}
	l.Close()
}

func TestDamagedIndexIsRebuilt(t *testing.T) {
	for _, damage := range []struct {
		name string
		do   func([]byte) []byte
	}{
		{"partial entry", func(b []byte) []byte { return b[:len(b)-3] }},
		{"position beyond segment", func(b []byte) []byte { b[4] = 0x7f; return b }},
		{"garbage", func(b []byte) []byte {
			for i := range b {
				b[i] = 0xff
			}
			return b
		}},
	} {
		t.Run(damage.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.open(smallConfig())
			var want []string
			for i := 0; i < 100; i++ {
				want = append(want, val(i))
				mustAppend(t, l, makeBatch(t, spec(val(i))))
			}
			l.Close()
			p := fileName(e.dir, 0, indexSuffix)
			b, _ := e.fs.ReadFile(p)
			if len(b) < 16 {
				t.Fatalf("index of segment 0 has %d bytes", len(b))
			}
			e.fs.WriteFile(p, damage.do(b))
			l2 := e.open(smallConfig())
			if !e.logs.contains("rebuilding segment indexes") {
				t.Fatalf("damage not reported:\n%s", e.logs)
			}
			for off := int64(0); off < 100; off += 7 {
				c, err := l2.Read(off, 1)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, c.Size)
				c.R.ReadAt(buf, c.Pos)
				c.Release()
				if r := decodeRecords(t, buf); r[0].offset != off {
					t.Fatalf("read %d gave %d", off, r[0].offset)
				}
			}
			if got := values(readAll(t, l2, 1<<20)); !slices.Equal(got, want) {
				t.Fatal("content changed")
			}
		})
	}
}
