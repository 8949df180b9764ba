package log

import (
	"encoding/binary"
	"errors"
	"fmt"
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

// readAround reads every record from the start as a consumer that seeks
// past damage does: a read that fails with a *DamagedError continues after
// the range. It returns the records and the ranges skipped.
func readAround(t testing.TB, l *Log) ([]record, []DamagedRange) {
	t.Helper()
	var out []record
	var skipped []DamagedRange
	for off := l.StartOffset(); off < l.EndOffset(); {
		c, err := l.Read(off, 1<<20)
		var derr *DamagedError
		if errors.As(err, &derr) {
			skipped = append(skipped, derr.Range)
			off = derr.Range.LastOffset + 1
			continue
		}
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		buf := make([]byte, c.Size)
		c.R.ReadAt(buf, c.Pos)
		c.Release()
		recs := decodeRecords(t, buf)
		for _, r := range recs {
			if r.offset >= off {
				out = append(out, r)
			}
		}
		off = recs[len(recs)-1].offset + 1
	}
	return out, skipped
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
		c.Release()
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
	var derr *DamagedError
	if !errors.Is(err, ErrCorruptMessage) || !errors.As(err, &derr) {
		t.Fatalf("read of the damaged batch: %v, want a damaged-range error", err)
	}
	c, err := l2.Read(int64(rel)-1, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, c.Size)
	c.R.ReadAt(buf, c.Pos)
	c.Release()
	if r := decodeRecords(t, buf); r[0].offset != int64(rel)-1 {
		t.Fatalf("read %d before the damage gave %d", rel-1, r[0].offset)
	}
}

// checkAround reads l as a consumer that seeks past damage and checks that
// every record read holds its own value and that the records and the
// skipped offsets account for every offset below the end exactly once.
func checkAround(t *testing.T, l *Log, want []string) (got []record, skipped []DamagedRange) {
	t.Helper()
	got, skipped = readAround(t, l)
	lost := int64(0)
	for _, r := range skipped {
		lost += r.Offsets()
	}
	for i, r := range got {
		if r.value != want[r.offset] || i > 0 && r.offset <= got[i-1].offset {
			t.Fatalf("record %d: offset %d holds %q, want %q", i, r.offset, r.value, want[r.offset])
		}
	}
	if int64(len(got))+lost != l.EndOffset()-l.StartOffset() {
		t.Fatalf("read %d records and skipped %d damaged offsets of %d", len(got), lost, l.EndOffset()-l.StartOffset())
	}
	return got, skipped
}

// TestDamagedMiddleSegmentKeepsTheRest cuts a middle segment short (the
// issue's case: recovery used to delete the four intact segments after it
// and hand their offsets out again). The later segments stay whole and
// readable, the cut is one damaged range whose offsets answer
// ErrCorruptMessage, the end offset does not move, the range is logged
// once and survives a restart, and the next append continues at the old end.
func TestDamagedMiddleSegmentKeepsTheRest(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			e := newEnv(t)
			cfg := damageConfig()
			l := e.open(cfg)
			want := fill(t, l, 3000)
			if err := l.Flush(); err != nil { // the recovery point covers every segment
				t.Fatal(err)
			}
			segs := l.Segments()
			if len(segs) < 6 {
				t.Fatalf("%d segments, want 6 or more", len(segs))
			}
			end := l.EndOffset()
			if clean {
				l.Close()
			} else {
				e.fs = e.fs.Clone() // a crash: no clean-shutdown marker
			}
			mid := segs[1]
			p := fileName(e.dir, mid.BaseOffset, logSuffix)
			b, _ := e.fs.ReadFile(p)
			e.fs.WriteFile(p, b[:len(b)/2+13]) // cut inside a batch
			l2 := e.open(cfg)
			if n := len(l2.Segments()); n < len(segs) {
				t.Fatalf("%d segments after recovery, had %d: intact segments were deleted\n%s", n, len(segs), e.logs)
			}
			if l2.EndOffset() != end {
				t.Fatalf("end offset %d after recovery, was %d", l2.EndOffset(), end)
			}
			_, skipped := checkAround(t, l2, want)
			if len(skipped) != 1 || skipped[0].Segment != mid.BaseOffset || skipped[0].LastOffset != segs[2].BaseOffset-1 {
				t.Fatalf("damaged ranges %+v, want one at the end of segment %d", skipped, mid.BaseOffset)
			}
			r := skipped[0]
			if _, err := l2.Read(r.FirstOffset, 1); !errors.Is(err, ErrCorruptMessage) {
				t.Fatalf("read in the damaged range: %v", err)
			}
			if n := strings.Count(e.logs.String(), "damaged bytes in a sealed segment"); n != 1 || strings.Contains(e.logs.String(), "deleting segment") {
				t.Fatalf("want one line about the damage and none about deleting:\n%s", e.logs)
			}
			if res := mustAppend(t, l2, makeBatch(t, spec("after"))); res.BaseOffset != end {
				t.Fatalf("append after recovery got offset %d, want %d (an offset was reused)", res.BaseOffset, end)
			}
			l2.Close()
			l3 := e.open(cfg)
			if got := l3.Damage(); len(got) != 1 || got[0].Start != r.Start || got[0].FirstOffset != r.FirstOffset {
				t.Fatalf("after a restart the damage is %+v, want %+v", got, r)
			}
			checkAround(t, l3, append(want, "after"))
		})
	}
}

// TestReadFindsDamage zeroes a batch header in the middle of a closed
// segment that open trusted (a clean shutdown checks no closed segment's
// data). The first read that walks into it records the damaged range;
// reads before and after it work, and the offsets it held fail.
func TestReadFindsDamage(t *testing.T) {
	e := newEnv(t)
	cfg := damageConfig()
	cfg.IndexIntervalBytes = 1 << 20 // no index entries: reads walk the headers
	l := e.open(cfg)
	want := fill(t, l, 1000)
	l.Close()
	p := fileName(e.dir, 0, logSuffix)
	b, _ := e.fs.ReadFile(p)
	batchLen := len(makeBatch(t, spec(val(0))))
	for i := 100 * batchLen; i < 100*batchLen+batchHeaderLen; i++ {
		b[i] = 0
	}
	e.fs.WriteFile(p, b)
	l2 := e.open(cfg)
	if len(l2.Damage()) != 0 {
		t.Fatalf("damage found at open: %+v", l2.Damage())
	}
	_, err := l2.Read(150, 1)
	var derr *DamagedError
	if err != nil || len(l2.Damage()) != 1 {
		t.Fatalf("read after the damage: %v; damage %+v", err, l2.Damage())
	}
	if _, err := l2.Read(100, 1); !errors.As(err, &derr) || derr.Range.FirstOffset != 100 || derr.Range.LastOffset != 100 {
		t.Fatalf("read of the zeroed batch: %v", err)
	}
	checkAround(t, l2, want)
	if !e.logs.contains("found_by=read") {
		t.Fatalf("damage not logged:\n%s", e.logs)
	}
}

// scrubAll runs one scrub pass over l and returns the bytes paced.
func scrubAll(t *testing.T, l *Log) (paced int64, found []DamagedRange) {
	t.Helper()
	for from := int64(0); ; {
		res, err := l.Scrub(t.Context(), from, func(n int64) error { paced += n; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if res.Segment < 0 {
			return paced, found
		}
		found = append(found, res.Damage...)
		from = res.Segment + 1
	}
}

// TestScrubFindsFlippedBit flips one bit inside the records of a batch in
// a closed segment after a clean stop: nothing notices on open (the header
// is intact), a scrub pass finds exactly that batch, reads of its offset
// fail while the batches around it stay readable, and the range survives a
// restart.
func TestScrubFindsFlippedBit(t *testing.T) {
	e := newEnv(t)
	cfg := damageConfig()
	l := e.open(cfg)
	want := fill(t, l, 1500)
	segs := l.Segments()
	l.Close()
	batchLen := int64(len(makeBatch(t, spec(val(0)))))
	victim := segs[1].BaseOffset + 17
	p := fileName(e.dir, segs[1].BaseOffset, logSuffix)
	b, _ := e.fs.ReadFile(p)
	at := 17*batchLen + batchLen - 3
	b[at] ^= 0x04
	e.fs.WriteFile(p, b)

	l2 := e.open(cfg)
	if len(l2.Damage()) != 0 {
		t.Fatalf("damage found on open: %+v", l2.Damage())
	}
	paced, found := scrubAll(t, l2)
	var closed int64
	for _, s := range segs[:len(segs)-1] {
		closed += s.Size
	}
	if paced < closed {
		t.Fatalf("scrub paced %d bytes, the closed segments hold %d", paced, closed)
	}
	wantRange := DamagedRange{Segment: segs[1].BaseOffset, Start: 17 * batchLen, End: 18 * batchLen, FirstOffset: victim, LastOffset: victim}
	if len(found) != 1 || found[0].Segment != wantRange.Segment || found[0].Start != wantRange.Start || found[0].End != wantRange.End ||
		found[0].FirstOffset != victim || found[0].LastOffset != victim || found[0].FoundBy != "scrub" {
		t.Fatalf("scrub found %+v, want %+v", found, wantRange)
	}
	if _, err := l2.Read(victim, 1); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("read of the rotten batch: %v", err)
	}
	for _, off := range []int64{victim - 1, victim + 1} {
		c, err := l2.Read(off, 1)
		if err != nil {
			t.Fatalf("read %d next to the rotten batch: %v", off, err)
		}
		c.Release()
	}
	checkAround(t, l2, want)
	if !e.logs.contains("found_by=scrub") {
		t.Fatalf("scrub damage not logged:\n%s", e.logs)
	}
	if _, again := scrubAll(t, l2); len(again) != 0 {
		t.Fatalf("a second pass reported %+v again", again)
	}
	l2.Close()
	if l3 := e.open(cfg); len(l3.Damage()) != 1 {
		t.Fatalf("after a restart: %+v", l3.Damage())
	}
}
