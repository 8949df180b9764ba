package log

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// shiftIndex adds by to every position of an offset-index file, as a
// plausible but wrong index (positions still increasing, within the file).
func shiftIndex(t *testing.T, e *env, base int64, by uint32) {
	t.Helper()
	p := fileName(e.dir, base, indexSuffix)
	b, err := e.fs.ReadFile(p)
	if err != nil || len(b) < 2*offsetIndexEntryLen {
		t.Fatalf("index %s: %d bytes, %v", p, len(b), err)
	}
	for i := 0; i+offsetIndexEntryLen <= len(b); i += offsetIndexEntryLen {
		binary.BigEndian.PutUint32(b[i+4:], binary.BigEndian.Uint32(b[i+4:])+by)
	}
	e.fs.WriteFile(p, b)
}

// damageConfig makes 32 KiB segments with an index entry every 256 bytes.
func damageConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 32 << 10
	cfg.IndexIntervalBytes = 256
	return cfg
}

// fill appends n one-record batches val(0).. and returns the values.
func fill(t *testing.T, l *Log, n int) []string {
	t.Helper()
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, val(i))
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	return want
}

// readEach reads every offset on its own (Read(off, 1)) and checks the
// first record of the chunk is that offset with the expected value.
func readEach(t *testing.T, l *Log, want []string) {
	t.Helper()
	for off := l.StartOffset(); off < l.EndOffset(); off++ {
		c, err := l.Read(off, 1)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		buf := make([]byte, c.Size)
		c.R.ReadAt(buf, c.Pos)
		if _, err := ValidateBatches(buf, 0); err != nil {
			t.Fatalf("read %d served bytes that are not batches: %v", off, err)
		}
		if r := decodeRecords(t, buf); r[0].offset != off || r[0].value != want[off] {
			t.Fatalf("read %d gave offset %d %q", off, r[0].offset, r[0].value)
		}
	}
}

// TestShiftedIndexIsRebuilt shifts every position of a segment's offset
// index by 7 bytes after a clean stop: the index still passes the sanity
// check on open (whole entries, increasing, within the segment), so only
// checking entries against the batches they name catches it. Every record
// stays readable, the index is rebuilt once with a log line, and the
// rebuilt file is what the log itself wrote.
func TestShiftedIndexIsRebuilt(t *testing.T) {
	for _, which := range []string{"closed", "active"} {
		t.Run(which, func(t *testing.T) {
			e := newEnv(t)
			cfg := damageConfig()
			l := e.open(cfg)
			want := fill(t, l, 1500)
			segs := l.Segments()
			if len(segs) < 3 {
				t.Fatalf("%d segments, want 3 or more", len(segs))
			}
			l.Close()
			base := segs[1].BaseOffset
			if which == "active" {
				base = segs[len(segs)-1].BaseOffset
			}
			orig, _ := e.fs.ReadFile(fileName(e.dir, base, indexSuffix))
			shiftIndex(t, e, base, 7)
			l2 := e.open(cfg)
			readEach(t, l2, want)
			if got := values(readAll(t, l2, 1<<20)); !slices.Equal(got, want) {
				t.Fatalf("read %d records, want %d", len(got), len(want))
			}
			if which == "closed" {
				if n := strings.Count(e.logs.String(), "offset index disagrees"); n != 1 {
					t.Fatalf("%d log lines about the rebuild, want 1:\n%s", n, e.logs)
				}
				if b, _ := e.fs.ReadFile(fileName(e.dir, base, indexSuffix)); !slices.Equal(b, orig) {
					t.Fatalf("rebuilt index file differs from the one the log wrote (%d vs %d bytes)", len(b), len(orig))
				}
			} else if !e.logs.contains("rebuilding segment indexes") && !e.logs.contains("offset index disagrees") {
				t.Fatalf("shifted active index not reported:\n%s", e.logs)
			}
			if off, _, err := l2.OffsetForTimestamp(1000); err != nil || off != 0 {
				t.Fatalf("offset for timestamp: %d, %v", off, err)
			}
		})
	}
}

// TestReadNeverServesNonBatchBytes damages the data (not the index) of a
// closed segment: the magic byte of the batch an index entry points at
// becomes 1, its length still plausible. A read that lands there fails with ErrCorruptMessage instead of returning
// the bytes; the reads before it still work.
func TestReadNeverServesNonBatchBytes(t *testing.T) {
	e := newEnv(t)
	cfg := damageConfig()
	l := e.open(cfg)
	fill(t, l, 300)
	l.Close()
	idx, _ := e.fs.ReadFile(fileName(e.dir, 0, indexSuffix))
	rel, pos := parseOffsetEntry(idx[3*offsetIndexEntryLen:])
	p := fileName(e.dir, 0, logSuffix)
	b, _ := e.fs.ReadFile(p)
	b[pos+16] = 1 // magic 1: a length that fits, but not a v2 batch
	e.fs.WriteFile(p, b)
	l2 := e.open(cfg)
	_, err := l2.Read(int64(rel), 1)
	var cerr *CorruptionError
	if !errors.Is(err, ErrCorruptMessage) || !errors.As(err, &cerr) {
		t.Fatalf("read of the damaged batch: %v, want a corruption error", err)
	}
	c, err := l2.Read(int64(rel)-1, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, c.Size)
	c.R.ReadAt(buf, c.Pos)
	if r := decodeRecords(t, buf); r[0].offset != int64(rel)-1 {
		t.Fatalf("read %d before the damage gave %d", rel-1, r[0].offset)
	}
}
