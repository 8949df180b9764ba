package log

import (
	"errors"
	"fmt"
	"io"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// truncConfig makes segments of about a dozen source batches with an index
// entry every two or three.
func truncConfig() Config {
	cfg := smallConfig()
	cfg.SegmentBytes = 1200
	cfg.RetentionMs = -1 // the batches carry 1970 timestamps
	return cfg
}

// sourceBatch is batch i of the truncation tests' log: 1 to 3 records
// (i%3+1), timestamps growing, every third from idempotent producer 9.
func sourceBatch(t testing.TB, i int) []byte {
	s := spec()
	for k := 0; k <= i%3; k++ {
		s.values = append(s.values, fmt.Sprintf("b%03d-%d", i, k))
		s.tsDeltas = append(s.tsDeltas, int64(k))
	}
	s.firstTs = 1000 + 10*int64(i)
	if i%3 == 0 {
		s = s.withProducer(9, 0, int32(i/3))
	}
	return makeBatch(t, s)
}

// sourceEpoch is the leader epoch batch i is appended in.
func sourceEpoch(i int) int32 {
	switch {
	case i >= 40:
		return 4
	case i >= 20:
		return 2
	}
	return 0
}

// appendSource appends source batches [from, to) one at a time, in their
// epochs, and returns their base offsets.
func appendSource(t testing.TB, l *Log, from, to int) []int64 {
	t.Helper()
	var bases []int64
	for i := from; i < to; i++ {
		if ep := sourceEpoch(i); ep != l.LeaderEpoch() {
			if err := l.SetLeaderEpoch(ep); err != nil {
				t.Fatal(err)
			}
		}
		bases = append(bases, mustAppend(t, l, sourceBatch(t, i)).BaseOffset)
	}
	return bases
}

// checkReadable reads every offset of l on its own: the chunk's first
// batch holds it (the indexes agree with the log).
func checkReadable(t testing.TB, l *Log) {
	t.Helper()
	for off := l.StartOffset(); off < l.EndOffset(); off++ {
		h, err := ParseBatchHeader(readChunk(t, l, off, 1))
		if err != nil || h.BaseOffset > off || h.LastOffset() < off {
			t.Fatalf("read %d: batch %d..%d, %v", off, h.BaseOffset, h.LastOffset(), err)
		}
	}
	if c, err := l.Read(l.EndOffset(), 1); err != nil || c.Size != 0 {
		t.Fatalf("read at the end %d: %+v %v", l.EndOffset(), c, err)
	}
	if _, err := l.Read(l.EndOffset()+1, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past the end: %v", err)
	}
}

// checkIndexes checks that every index entry of every segment of l points
// into it: at a batch of the segment (offset index) or at an offset below
// its end (time index), and that the active segment's are in memory.
func checkIndexes(t testing.TB, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	segs := *l.segs.Load()
	for i, s := range segs {
		if i == len(segs)-1 && (!s.offIdx.inMem || !s.timeIdx.inMem) {
			t.Fatalf("active segment %s: indexes not in memory", s.name())
		}
		buf := make([]byte, batchHeaderLen)
		for k := 0; k < s.offIdx.count(); k++ {
			e, err := s.offIdx.entry(k, make([]byte, offsetIndexEntryLen))
			if err != nil {
				t.Fatal(err)
			}
			rel, pos := parseOffsetEntry(e)
			s.log.ReadAt(buf, int64(pos))
			if h, _ := ParseBatchHeader(buf); int64(pos) >= s.size.Load() || h.BaseOffset != s.base+int64(rel) {
				t.Fatalf("%s: offset index entry %d (+%d at %d) does not point at its batch (size %d)", s.name(), k, rel, pos, s.size.Load())
			}
		}
		for k := 0; k < s.timeIdx.count(); k++ {
			e, err := s.timeIdx.entry(k, make([]byte, timeIndexEntryLen))
			if err != nil {
				t.Fatal(err)
			}
			if _, rel := parseTimeEntry(e); s.base+int64(rel) >= s.nextOffset {
				t.Fatalf("%s: time index entry %d at +%d is past the segment's end %d", s.name(), k, rel, s.nextOffset)
			}
		}
	}
}

// indexEntries returns the offset and time index entries of every segment.
func indexEntries(l *Log) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]byte
	for _, s := range *l.segs.Load() {
		for _, x := range []*sparseIndex{s.offIdx, s.timeIdx} {
			var b []byte
			for k := 0; k < x.count(); k++ {
				e, _ := x.entry(k, make([]byte, x.entryLen))
				b = append(b, e...)
			}
			out = append(out, b)
		}
	}
	return out
}

// TestTruncateTo cuts a log of 60 batches in five segments at several
// points; the result is the log that appending only the batches before
// the cut gives (records, segments and their bytes, epochs, producers, max
// timestamp), before and after more appends and after a clean and an
// unclean reopen.
func TestTruncateTo(t *testing.T) {
	cfg := truncConfig()
	for _, tc := range []struct {
		name string
		// at returns the offset to truncate to and how many batches stay.
		at func(bases []int64, segs []SegmentInfo, end int64) (int64, int)
	}{
		{"in the active segment", func(b []int64, _ []SegmentInfo, _ int64) (int64, int) { return b[57], 57 }},
		{"inside a batch", func(b []int64, _ []SegmentInfo, _ int64) (int64, int) { return b[56] + 1, 56 }},
		{"at a segment boundary", func(b []int64, s []SegmentInfo, _ int64) (int64, int) {
			return s[2].BaseOffset, slices.Index(b, s[2].BaseOffset)
		}},
		{"in the middle of a closed segment", func(b []int64, s []SegmentInfo, _ int64) (int64, int) {
			i := slices.Index(b, s[1].BaseOffset) + 2
			for i%3 != 2 { // a batch of 3 records, cut at its last
				i++
			}
			return b[i] + 2, i
		}},
		{"to the start", func([]int64, []SegmentInfo, int64) (int64, int) { return 0, 0 }},
		{"at the end", func(_ []int64, _ []SegmentInfo, end int64) (int64, int) { return end, 60 }},
		{"past the end", func(_ []int64, _ []SegmentInfo, end int64) (int64, int) { return end + 7, 60 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.open(cfg)
			bases := appendSource(t, l, 0, 60)
			segs := l.Segments()
			if len(segs) < 5 {
				t.Fatalf("%d segments, want at least 5", len(segs))
			}
			offset, keep := tc.at(bases, segs, l.EndOffset())
			if tc.name == "in the middle of a closed segment" && (sourceBatch(t, keep)[60] != 3 || bases[keep] >= segs[2].BaseOffset) {
				t.Fatalf("batch %d is not a 3-record batch inside segment 1", keep)
			}
			if err := l.TruncateTo(offset); err != nil {
				t.Fatalf("truncate to %d: %v", offset, err)
			}
			re := newEnv(t)
			ref := re.open(cfg)
			appendSource(t, ref, 0, keep)
			want := stateOf(t, re.fs, ref)
			sameState(t, "truncated", stateOf(t, e.fs, l), want)
			if keep < 60 && l.EndOffset() != bases[keep] {
				t.Fatalf("end offset %d, want %d", l.EndOffset(), bases[keep])
			}
			checkIndexes(t, l)
			checkReadable(t, l)
			names, _ := e.fs.List(e.dir)
			for _, n := range names {
				if b, sfx, ok, _ := parseBaseName(n); ok && (b > l.Segments()[len(l.Segments())-1].BaseOffset ||
					sfx == snapshotSuffix && keep < 60 && b >= l.EndOffset()) {
					t.Fatalf("%s left after truncating to %d: %v", n, l.EndOffset(), names)
				}
				if n == truncationFile {
					t.Fatalf("truncation marker left: %v", names)
				}
			}
			for _, ts := range []int64{1000 + 10*int64(keep) - 10, 1000 + 10*int64(keep)} {
				o1, t1, err1 := l.OffsetForTimestamp(ts)
				o2, t2, err2 := ref.OffsetForTimestamp(ts)
				if o1 != o2 || t1 != t2 || err1 != nil || err2 != nil {
					t.Fatalf("offset for timestamp %d: %d %d %v, want %d %d %v", ts, o1, t1, err1, o2, t2, err2)
				}
			}

			// Appends continue at the cut, and a restart keeps it all.
			appendSource(t, l, keep, keep+8)
			appendSource(t, ref, keep, keep+8)
			want = stateOf(t, re.fs, ref)
			sameState(t, "appended after the truncation", stateOf(t, e.fs, l), want)
			checkIndexes(t, l)
			if tc.name != "at a segment boundary" { // there the closed segment's sealing time entry stays
				if a, b := indexEntries(l), indexEntries(ref); !slices.EqualFunc(a, b, slices.Equal) {
					t.Fatalf("index entries %x, want %x", a, b)
				}
			}
			if e.logs.contains("rebuilt both indexes") {
				t.Fatalf("a read found the indexes wrong:\n%s", e.logs)
			}
			crashed := e.fs.Clone()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = e.open(cfg)
			sameState(t, "reopened", stateOf(t, e.fs, l), want)
			checkReadable(t, l)
			e.fs = crashed
			l = e.open(cfg)
			sameState(t, "reopened after a crash", stateOf(t, e.fs, l), want)
			checkReadable(t, l)
		})
	}
}

// TestTruncateToStart: truncating below the log start is refused; to an
// offset inside the batch holding the start empties the log, which then
// starts at that batch's base offset.
func TestTruncateToStart(t *testing.T) {
	e := newEnv(t)
	l := e.open(truncConfig())
	bases := appendSource(t, l, 0, 30)
	start := bases[14] + 1 // batch 14 holds 3 records
	if _, err := l.DeleteRecordsBefore(start); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(start - 1); !errors.Is(err, ErrOffsetOutOfRange) || !strings.Contains(err.Error(), "below the log start") {
		t.Fatalf("truncate below the start: %v", err)
	}
	if err := l.TruncateTo(start + 1); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != bases[14] || l.EndOffset() != bases[14] || len(readAll(t, l, 1<<20)) != 0 {
		t.Fatalf("log [%d, %d), want empty at %d", l.StartOffset(), l.EndOffset(), bases[14])
	}
	if _, err := l.AppendReplicated(withBase(sourceBatch(t, 14), bases[14])); err != nil {
		t.Fatal(err)
	}
	l.Close()
	e.fs = e.fs.Clone()
	l = e.open(truncConfig())
	if got := readAll(t, l, 1<<20); l.StartOffset() != bases[14] || len(got) != 3 || got[0].offset != bases[14] {
		t.Fatalf("after a restart: [%d, %d) holding %v", l.StartOffset(), l.EndOffset(), got)
	}
}

// TestTruncateToEpochs: the leader-epoch checkpoint loses the epochs that
// started at or after the cut, OffsetForLeaderEpoch answers as Kafka's
// LeaderEpochFileCache would for the shorter log, and LeaderEpoch is the
// latest epoch left.
func TestTruncateToEpochs(t *testing.T) {
	e := newEnv(t)
	l := e.open(truncConfig())
	for i := range 30 {
		if i == 10 || i == 20 {
			if err := l.SetLeaderEpoch(int32(i / 10 * 2)); err != nil { // 2 at 10, 4 at 20
				t.Fatal(err)
			}
		}
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	type answer struct {
		epoch int32
		end   int64
	}
	for _, step := range []struct {
		cut     int64
		epochs  []EpochStart
		leader  int32
		answers map[int32]answer
	}{
		{25, []EpochStart{{0, 0}, {2, 10}, {4, 20}}, 4, map[int32]answer{4: {4, 25}, 2: {2, 20}, 3: {2, 20}, 5: {-1, -1}}},
		{15, []EpochStart{{0, 0}, {2, 10}}, 2, map[int32]answer{4: {-1, -1}, 3: {-1, -1}, 2: {2, 15}, 1: {0, 10}, 0: {0, 10}}},
		{10, []EpochStart{{0, 0}}, 0, map[int32]answer{2: {-1, -1}, 0: {0, 10}}},
	} {
		if err := l.TruncateTo(step.cut); err != nil {
			t.Fatal(err)
		}
		for _, ll := range []*Log{l, func() *Log { // and as a restart reads the checkpoint
			c := newEnv(t)
			c.fs = e.fs.Clone()
			return c.open(truncConfig())
		}()} {
			if got := ll.LeaderEpochs(); !slices.Equal(got, step.epochs) || ll.LeaderEpoch() != step.leader {
				t.Fatalf("cut at %d: epochs %v, leader epoch %d; want %v, %d", step.cut, got, ll.LeaderEpoch(), step.epochs, step.leader)
			}
			for ask, want := range step.answers {
				if ep, end := ll.EndOffsetForEpoch(ask); ep != want.epoch || end != want.end {
					t.Fatalf("cut at %d: end of epoch %d is (%d, %d), want (%d, %d)", step.cut, ask, ep, end, want.epoch, want.end)
				}
			}
		}
	}
	b, err := vfs.ReadFile(e.fs, filepath.Join(e.dir, LeaderEpochFile))
	if err != nil || string(b) != "0\n1\n0 0\n" {
		t.Fatalf("checkpoint %q %v", b, err)
	}
	// A new leader's batches in epoch 7 start it where they land.
	if _, err := l.AppendReplicated(withBase(setEpoch(makeBatch(t, spec("n")), 7), 10)); err != nil {
		t.Fatal(err)
	}
	if got, w := l.LeaderEpochs(), []EpochStart{{0, 0}, {7, 10}}; !slices.Equal(got, w) || l.LeaderEpoch() != 7 {
		t.Fatalf("after the new leader's batch: %v, leader epoch %d", got, l.LeaderEpoch())
	}
}

func setEpoch(b []byte, epoch int32) []byte {
	setLeaderEpoch(b, epoch)
	return b
}

// TestTruncateToProducerState: the producer state is the one the batches
// before the cut give, rebuilt from an older snapshot (the ones at or after
// the cut are removed): a retry of a batch kept is a duplicate, one of a
// batch cut is new.
func TestTruncateToProducerState(t *testing.T) {
	e := newEnv(t)
	cfg := truncConfig()
	l := e.open(cfg)
	bases := appendSource(t, l, 0, 60) // producer 9: batch 3k has sequence k
	segs := l.Segments()
	cut := segs[len(segs)-1].BaseOffset // where the last roll wrote a snapshot
	k := slices.Index(bases, cut)
	j := k - 1 - (k-1)%3 // producer 9's last batch before the cut
	before, _ := l.listSnapshots()
	if !slices.Contains(before, cut) || !slices.ContainsFunc(before, func(o int64) bool { return o < cut }) {
		t.Fatalf("snapshots %v: want one at %d and an older one", before, cut)
	}
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	snaps, _ := l.listSnapshots()
	if len(snaps) == 0 || slices.ContainsFunc(snaps, func(o int64) bool { return o >= cut }) {
		t.Fatalf("snapshots after truncating to %d: %v (before: %v)", cut, snaps, before)
	}
	check := func(l *Log) {
		t.Helper()
		res, err := l.Append(sourceBatch(t, j)) // kept
		if !errors.Is(err, ErrDuplicateSequence) || res.BaseOffset != bases[j] {
			t.Fatalf("retry of sequence %d: %+v %v, want a duplicate at %d", j/3, res, err, bases[j])
		}
		if _, err := l.Append(sourceBatch(t, j+6)); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("sequence %d after %d: %v", j/3+2, j/3, err)
		}
	}
	check(l)
	crashed := e.fs.Clone()
	if res := mustAppend(t, l, sourceBatch(t, j+3)); res.BaseOffset != cut { // cut: new again
		t.Fatalf("sequence %d at %d, want %d", j/3+1, res.BaseOffset, cut)
	}
	e.fs = crashed
	check(e.open(cfg))
}

// TestTruncateToReadsInFlight: chunks read before the truncation from the
// segments it deletes stay readable until released; reads racing
// truncations and appends succeed or fail with ErrOffsetOutOfRange or a
// short read, never with damage or a crash.
func TestTruncateToReadsInFlight(t *testing.T) {
	e := newEnv(t)
	l := e.open(truncConfig())
	bases := appendSource(t, l, 0, 60)
	type held struct {
		c    Chunk
		want []byte
		base int64
	}
	var hs []held
	for _, s := range l.Segments() {
		c, err := l.Read(s.BaseOffset, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, c.Size)
		c.R.ReadAt(buf, c.Pos)
		hs = append(hs, held{c, buf, s.BaseOffset})
	}
	if err := l.TruncateTo(bases[25]); err != nil {
		t.Fatal(err)
	}
	cutSeg := l.Segments()[len(l.Segments())-1].BaseOffset
	for _, h := range hs {
		buf := make([]byte, h.c.Size)
		n, err := h.c.R.ReadAt(buf, h.c.Pos)
		if h.base == cutSeg {
			// Its tail was cut: what is still there is what was.
			if !slices.Equal(buf[:n], h.want[:n]) || err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("chunk of the cut segment %d: %d bytes, %v", h.base, n, err)
			}
		} else if err != nil || !slices.Equal(buf, h.want) {
			t.Fatalf("chunk of segment %d: %d bytes, %v", h.base, n, err)
		}
		h.c.Release()
	}
	appendSource(t, l, 25, 60)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(int64(r)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				off := rnd.Int63n(bases[59] + 2)
				c, err := l.Read(off, 300)
				if err == nil && c.Size > 0 {
					buf := make([]byte, c.Size)
					_, err = c.R.ReadAt(buf, c.Pos)
					c.Release()
				}
				if err != nil && !errors.Is(err, ErrOffsetOutOfRange) && !errors.Is(err, io.EOF) && !errors.Is(err, ErrSegmentGone) {
					errs <- fmt.Errorf("read %d: %w", off, err)
					return
				}
			}
		}()
	}
	for round := range 12 {
		i := []int{50, 30, 10, 55, 0, 40}[round%6]
		if err := l.TruncateTo(bases[i]); err != nil {
			t.Fatal(err)
		}
		appendSource(t, l, i, 60)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if d := l.Damage(); len(d) != 0 {
		t.Fatalf("damage recorded by racing reads: %v", d)
	}
	re := newEnv(t)
	ref := re.open(truncConfig())
	appendSource(t, ref, 0, 60)
	got, want := stateOf(t, e.fs, l), stateOf(t, re.fs, ref)
	got.Segments, got.Logs = want.Segments, want.Logs // rolls of a re-activated segment differ
	sameState(t, "after the rounds", got, want)
}

// TestTruncateToDamage: a damaged range (a batch whose CRC a scrub found
// wrong) stays when the cut is after it, and the log rolls so that appends
// never follow it; a cut inside it, or at the batch right after it, cuts
// before it, so the log never ends in damaged bytes; a cut before its
// segment drops it with the segment.
func TestTruncateToDamage(t *testing.T) {
	cfg := truncConfig()
	for _, tc := range []struct {
		name string
		at   func(bases []int64, d int) int64 // d: the damaged batch
		end  func(bases []int64, d int) int64
		kept bool // the range stays
	}{
		{"after the damage", func(b []int64, d int) int64 { return b[d+2] }, func(b []int64, d int) int64 { return b[d+2] }, true},
		{"inside the damage", func(b []int64, d int) int64 { return b[d] + 1 }, func(b []int64, d int) int64 { return b[d] }, false},
		{"right after the damage", func(b []int64, d int) int64 { return b[d+1] }, func(b []int64, d int) int64 { return b[d] }, false},
		{"before its segment", func(b []int64, d int) int64 { return b[d-8] }, func(b []int64, d int) int64 { return b[d-8] }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.open(cfg)
			bases := appendSource(t, l, 0, 60)
			seg := l.Segments()[2].BaseOffset
			d := slices.Index(bases, seg) + 4
			for d%3 != 2 { // three records, so that a cut can fall inside
				d++
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			path := fileName(e.dir, seg, logSuffix)
			b, _ := e.fs.ReadFile(path)
			pos := 0
			for i := slices.Index(bases, seg); i < d; i++ {
				pos += len(sourceBatch(t, i))
			}
			b[pos+batchHeaderLen+3] ^= 0x40 // inside the records: only the CRC tells
			e.fs.WriteFile(path, b)
			l = e.open(cfg)
			if _, found := scrubAll(t, l); len(found) != 1 || found[0].FirstOffset != bases[d] || found[0].LastOffset != bases[d+1]-1 {
				t.Fatalf("scrub found %+v, want batch %d at %d", found, d, bases[d])
			}
			r := l.Damage()[0]

			if err := l.TruncateTo(tc.at(bases, d)); err != nil {
				t.Fatal(err)
			}
			cut := tc.end(bases, d)
			end, extra := cut, 0
			check := func(l *Log) {
				t.Helper()
				if l.EndOffset() != end {
					t.Fatalf("end offset %d, want %d", l.EndOffset(), end)
				}
				if got := l.Damage(); tc.kept != (len(got) == 1) || tc.kept && (got[0].Start != r.Start || got[0].End != r.End) {
					t.Fatalf("damage %+v, want %v kept: %v", got, r, tc.kept)
				}
				segs := l.Segments()
				if act := segs[len(segs)-1]; tc.kept && act.BaseOffset != cut {
					t.Fatalf("active segment %+v: want a new one at %d after the damaged one", act, cut)
				}
				got, skipped := readAround(t, l)
				n := 0
				for i := 0; bases[i] < cut; i++ {
					if i != d {
						n += i%3 + 1
					}
				}
				if len(got) != n+extra || len(skipped) != len(l.Damage()) {
					t.Fatalf("read %d records around %v, want %d; damage %v\n%s", len(got), skipped, n+extra, l.Damage(), e.logs)
				}
			}
			check(l)
			res := mustAppend(t, l, makeBatch(t, spec("new")))
			if res.BaseOffset != end {
				t.Fatalf("append after the truncation at %d, want %d", res.BaseOffset, end)
			}
			end, extra = end+1, 1
			e.fs = e.fs.Clone()
			check(e.open(cfg))
		})
	}
}

// TestReadRacingTruncation: a read that loaded the segment list before a
// TruncateTo and looks in the cut segment after it, for an offset the cut
// removed, gets ErrOffsetOutOfRange: the segment ending early is not
// damage, and no index is rebuilt.
func TestReadRacingTruncation(t *testing.T) {
	e := newEnv(t)
	l := e.open(truncConfig())
	bases := appendSource(t, l, 0, 60)
	segs := *l.segs.Load()
	i := max(0, slices.IndexFunc(segs, func(s *segment) bool { return s.base > bases[25] })-1)
	if err := l.TruncateTo(bases[25]); err != nil {
		t.Fatal(err)
	}
	gen := segs[i].indexGen.Load()
	if _, _, err := l.readSegment(segs[i], bases[27], 100, segs[i+1].base); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read of a cut offset in the list read before the cut: %v", err)
	}
	if segs[i].indexGen.Load() != gen || len(l.Damage()) != 0 {
		t.Fatalf("the read rebuilt the indexes or found damage: %v", l.Damage())
	}
}
