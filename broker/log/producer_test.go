package log

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestProducerSequenceRules(t *testing.T) {
	e := newEnv(t)
	l := e.open(smallConfig())
	pb := func(pid int64, epoch int16, seq int32, vs ...string) []byte {
		return makeBatch(t, spec(vs...).withProducer(pid, epoch, seq))
	}
	type step struct {
		name    string
		batch   []byte
		want    error
		wantOff int64 // base offset, also for duplicates
	}
	steps := []step{
		{"first batch of producer 7 at seq 0", pb(7, 0, 0, "a", "b"), nil, 0},
		{"next seq", pb(7, 0, 2, "c"), nil, 2},
		{"retry of the first batch", pb(7, 0, 0, "a", "b"), ErrDuplicateSequence, 0},
		{"retry of the second", pb(7, 0, 2, "c"), ErrDuplicateSequence, 2},
		{"gap", pb(7, 0, 4, "e"), ErrOutOfOrderSequence, -1},
		{"overlap that is not a retry", pb(7, 0, 1, "x"), ErrOutOfOrderSequence, -1},
		{"unknown producer may start anywhere (KIP-360)", pb(8, 3, 100, "p"), nil, 3},
		{"other producer continues", pb(8, 3, 101, "q"), nil, 4},
		{"new epoch must start at 0", pb(7, 1, 3, "d"), ErrOutOfOrderSequence, -1},
		{"new epoch at 0", pb(7, 1, 0, "d"), nil, 5},
		{"old epoch fenced", pb(7, 0, 3, "d"), ErrInvalidProducerEpoch, -1},
		{"non-idempotent batches are not checked", makeBatch(t, spec("n")), nil, 6},
		{"continue new epoch", pb(7, 1, 1, "e"), nil, 7},
	}
	for _, s := range steps {
		res, err := l.Append(s.batch)
		if !errors.Is(err, s.want) {
			t.Fatalf("%s: err %v, want %v", s.name, err, s.want)
		}
		if s.wantOff >= 0 && res.BaseOffset != s.wantOff {
			t.Fatalf("%s: base offset %d, want %d", s.name, res.BaseOffset, s.wantOff)
		}
	}
	if got := values(readAll(t, l, 1<<20)); !slices.Equal(got, []string{"a", "b", "c", "p", "q", "d", "n", "e"}) {
		t.Fatalf("log holds %v", got)
	}
}

func TestProducerDuplicateWindowIsFiveBatches(t *testing.T) {
	e := newEnv(t)
	l := e.open(DefaultConfig())
	for i := 0; i < 7; i++ {
		mustAppend(t, l, makeBatch(t, spec(val(i)).withProducer(1, 0, int32(i))))
	}
	for i := 2; i < 7; i++ {
		res, err := l.Append(makeBatch(t, spec(val(i)).withProducer(1, 0, int32(i))))
		if !errors.Is(err, ErrDuplicateSequence) || res.BaseOffset != int64(i) {
			t.Fatalf("retry of seq %d: %+v %v", i, res, err)
		}
	}
	if _, err := l.Append(makeBatch(t, spec(val(1)).withProducer(1, 0, 1))); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry of a batch older than the last five: %v", err)
	}
}

func TestProducerSequenceWraps(t *testing.T) {
	e := newEnv(t)
	l := e.open(DefaultConfig())
	mustAppend(t, l, makeBatch(t, spec("a", "b", "c").withProducer(1, 0, math.MaxInt32-1))) // seqs Max-1, Max, 0
	if _, err := l.Append(makeBatch(t, spec("d").withProducer(1, 0, 1))); err != nil {
		t.Fatalf("sequence after wrap: %v", err)
	}
	if _, err := l.Append(makeBatch(t, spec("a", "b", "c").withProducer(1, 0, math.MaxInt32-1))); !errors.Is(err, ErrDuplicateSequence) {
		t.Fatalf("retry of the wrapping batch: %v", err)
	}
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash bool
	}{{"clean", false}, {"crash", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l, err := Open(e.dir, smallConfig(), e.options())
			if err != nil {
				t.Fatal(err)
			}
			// Many batches so that segments roll and snapshots are written.
			for i := 0; i < 200; i++ {
				mustAppend(t, l, makeBatch(t, spec(val(i)).withProducer(int64(i%3), 0, int32(i/3))))
			}
			if tc.crash {
				e.fs = e.fs.Clone()
			} else if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			snaps, _ := (&Log{fs: e.fs, dir: e.dir}).listSnapshots()
			if len(snaps) == 0 || len(snaps) > 2 {
				t.Fatalf("%d snapshots, want 1 or 2", len(snaps))
			}
			l2 := e.open(smallConfig())
			// Retries of the last batches are duplicates; the next sequence is accepted.
			for i := 197; i < 200; i++ {
				res, err := l2.Append(makeBatch(t, spec(val(i)).withProducer(int64(i%3), 0, int32(i/3))))
				if !errors.Is(err, ErrDuplicateSequence) || res.BaseOffset != int64(i) {
					t.Fatalf("retry %d after restart: %+v %v", i, res, err)
				}
			}
			if _, err := l2.Append(makeBatch(t, spec("gap").withProducer(0, 0, 70))); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after restart: %v", err)
			}
			if _, err := l2.Append(makeBatch(t, spec("next").withProducer(0, 0, 67))); err != nil {
				t.Fatalf("next after restart: %v", err)
			}
			if tc.crash {
				l.Close()
			}
		})
	}
}

func TestSnapshotRoundTripAndCorruption(t *testing.T) {
	var ps producerState
	for i := 0; i < 8; i++ {
		h := BatchHeader{BaseOffset: int64(10 * i), LastOffsetDelta: 2, ProducerID: int64(i % 2), ProducerEpoch: 1, BaseSequence: int32(3 * i)}
		ps.apply(&h)
	}
	b := ps.encode()
	got, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.m) != 2 || len(got.m[0].batches) != 4 || got.m[1].batches[3].lastOffset != 72 {
		t.Fatalf("decoded %+v", got.m)
	}
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0x40
		if _, err := decodeSnapshot(c); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	for n := 0; n < len(b); n++ {
		if _, err := decodeSnapshot(b[:n]); err == nil {
			t.Fatalf("truncated to %d accepted", n)
		}
	}
}
