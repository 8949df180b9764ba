package log

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
)

// readChunk returns the bytes Read(off, maxBytes) gives.
func readChunk(t testing.TB, l *Log, off int64, maxBytes int) []byte {
	t.Helper()
	c, err := l.Read(off, maxBytes)
	if err != nil {
		t.Fatalf("read %d: %v", off, err)
	}
	defer c.Release()
	buf := make([]byte, c.Size)
	if _, err := c.R.ReadAt(buf, c.Pos); err != nil && err != io.EOF {
		t.Fatalf("read chunk at %d: %v", off, err)
	}
	return buf
}

// replicate copies the leader's batches past the follower's end into the
// follower, maxBytes a fetch, as a follower's fetcher does.
func replicate(t testing.TB, leader, follower *Log, maxBytes int) {
	t.Helper()
	for follower.EndOffset() < leader.EndOffset() {
		b := readChunk(t, leader, follower.EndOffset(), maxBytes)
		if _, err := follower.AppendReplicated(b); err != nil {
			t.Fatalf("replicate at %d: %v", follower.EndOffset(), err)
		}
	}
}

// logState is what a log holds, as its reader and a leader taking it over
// see it.
type logState struct {
	Records     []record
	Start, End  int64
	Epochs      []EpochStart
	LeaderEpoch int32
	Producers   []byte // the encoded producer state
	MaxTs       [2]int64
	Segments    []SegmentInfo
	Logs        map[int64][]byte // segment files by base offset
}

func stateOf(t testing.TB, fs *errorfs.FS, l *Log) logState {
	t.Helper()
	st := logState{Records: readAll(t, l, 1<<20), Start: l.StartOffset(), End: l.EndOffset(), Epochs: l.LeaderEpochs(),
		LeaderEpoch: l.LeaderEpoch(), Segments: l.Segments(), Logs: map[int64][]byte{}}
	l.mu.Lock()
	st.Producers = l.mu.producers.encode()
	l.mu.Unlock()
	st.MaxTs[0], st.MaxTs[1] = l.MaxTimestamp()
	for _, s := range st.Segments {
		b, err := fs.ReadFile(fileName(l.Dir(), s.BaseOffset, logSuffix))
		if err != nil {
			t.Fatal(err)
		}
		st.Logs[s.BaseOffset] = b
	}
	return st
}

// diff names the first field in which a and b differ ("" if none).
func (a logState) diff(b logState) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		if x, y := va.Field(i).Interface(), vb.Field(i).Interface(); !reflect.DeepEqual(x, y) {
			sx, sy := fmt.Sprint(x), fmt.Sprint(y)
			if len(sx)+len(sy) > 400 {
				sx, sy = fmt.Sprintf("%.200s…", sx), fmt.Sprintf("%.200s…", sy)
			}
			return fmt.Sprintf("%s: %s\nwant %s", va.Type().Field(i).Name, sx, sy)
		}
	}
	return ""
}

func sameState(t testing.TB, what string, got, want logState) {
	t.Helper()
	if d := got.diff(want); d != "" {
		t.Fatalf("%s: %s", what, d)
	}
}

// withBase returns a copy of batch b with base offset off (not covered
// by the CRC).
func withBase(b []byte, off int64) []byte {
	b = slices.Clone(b)
	setBaseOffset(b, off)
	return b
}

// TestAppendReplicatedRoundTrip: a follower fed the leader's batches one
// fetch at a time holds the same bytes (LogAppendTime not stamped again),
// the same leader epochs and the same producer state, so that once it
// leads, an idempotent producer's retry is a duplicate and its next batch
// is checked against the sequence the old leader saw.
func TestAppendReplicatedRoundTrip(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	cfg.LogAppendTime = true
	le := newEnv(t)
	leader := le.open(cfg)
	n := 0
	for i := range 10 {
		mustAppend(t, leader, makeBatch(t, spec(val(n), val(n+1))))
		mustAppend(t, leader, makeBatch(t, spec(val(n+2)).withProducer(7, 0, int32(i))))
		n += 3
	}
	if err := leader.SetLeaderEpoch(3); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustAppend(t, leader, makeBatch(t, spec(val(n), val(n+1)).withProducer(8, 2, int32(2*i))))
		n += 2
	}
	if err := leader.SetLeaderEpoch(5); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		mustAppend(t, leader, makeBatch(t, spec(val(n))))
		n++
	}
	if err := leader.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(leader.Segments()) < 3 {
		t.Fatalf("%d segments, want several", len(leader.Segments()))
	}

	fe := newEnv(t)
	fe.clock.Advance(time.Hour) // a stamp by the follower would differ
	follower := fe.open(cfg)
	replicate(t, leader, follower, 1) // one batch a fetch: the same rolls
	if err := follower.Flush(); err != nil {
		t.Fatal(err)
	}
	want := stateOf(t, le.fs, leader)
	sameState(t, "follower", stateOf(t, fe.fs, follower), want)
	for _, s := range leader.Segments() {
		for _, sfx := range []string{indexSuffix, timeIndexSuffix} {
			a, _ := le.fs.ReadFile(fileName(le.dir, s.BaseOffset, sfx))
			b, _ := fe.fs.ReadFile(fileName(fe.dir, s.BaseOffset, sfx))
			if !bytes.Equal(a, b) {
				t.Fatalf("%020d%s differs: %d bytes on the follower, %d on the leader", s.BaseOffset, sfx, len(b), len(a))
			}
		}
	}
	if got, w := follower.LeaderEpochs(), []EpochStart{{0, 0}, {3, 30}, {5, 50}}; !slices.Equal(got, w) || follower.LeaderEpoch() != 5 {
		t.Fatalf("follower epochs %v, leader epoch %d; want %v and 5", got, follower.LeaderEpoch(), w)
	}

	// Fetches of many batches: the segments may roll elsewhere, the
	// records, epochs and producers are the same.
	fe2 := newEnv(t)
	f2 := fe2.open(cfg)
	replicate(t, leader, f2, 700)
	got2 := stateOf(t, fe2.fs, f2)
	got2.Segments, got2.Logs = want.Segments, want.Logs
	sameState(t, "follower fetching 700 bytes at a time", got2, want)

	// The follower takes over, running on or restarted after a crash.
	takeOver := func(l *Log) {
		t.Helper()
		if l.LeaderEpoch() < 5 {
			t.Fatalf("leader epoch %d, want at least the log's latest, 5", l.LeaderEpoch())
		}
		res, err := l.Append(makeBatch(t, spec(val(48), val(49)).withProducer(8, 2, 18)))
		if !errors.Is(err, ErrDuplicateSequence) || res.BaseOffset != 48 {
			t.Fatalf("retry of producer 8's last batch: %+v %v, want a duplicate at 48", res, err)
		}
		if _, err := l.Append(makeBatch(t, spec("x").withProducer(7, 0, 11))); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("producer 7 skipping sequence 10: %v", err)
		}
		if res := mustAppend(t, l, makeBatch(t, spec("y").withProducer(7, 0, 10))); res.BaseOffset != 60 {
			t.Fatalf("producer 7's next batch at %d, want 60", res.BaseOffset)
		}
	}
	crashed := fe.fs.Clone()
	if err := follower.SetLeaderEpoch(6); err != nil {
		t.Fatal(err)
	}
	takeOver(follower)
	fe.fs = crashed
	takeOver(fe.open(cfg))
}

// TestAppendReplicatedRefusesWhatDoesNotContinue: batches that do not
// start at the end offset or do not follow each other, or are not intact,
// are refused whole, with an error naming the offsets.
func TestAppendReplicatedRefusesWhatDoesNotContinue(t *testing.T) {
	e := newEnv(t)
	l := e.open(smallConfig())
	one := makeBatch(t, spec("a"))
	for i := range 3 {
		if _, err := l.AppendReplicated(withBase(one, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	before := stateOf(t, e.fs, l)
	bad := withBase(makeBatch(t, spec("z")), 3)
	bad[len(bad)-1] ^= 1
	for _, tc := range []struct {
		name    string
		batches []byte
		want    error
		says    string
	}{
		{"gap before the first", withBase(one, 5), ErrOffsetMismatch, "starts at offset 5, expected the log end offset 3"},
		{"overlap", withBase(one, 2), ErrOffsetMismatch, "starts at offset 2, expected the log end offset 3"},
		{"gap between batches", slices.Concat(withBase(makeBatch(t, spec("p").withProducer(4, 0, 0)), 3), withBase(one, 7)),
			ErrOffsetMismatch, "batch 1 starts at offset 7, expected 4"},
		{"batches overlapping", slices.Concat(withBase(makeBatch(t, spec("b", "c")), 3), withBase(one, 4)),
			ErrOffsetMismatch, "batch 1 starts at offset 4, expected 5"},
		{"a corrupt batch after a good one", slices.Concat(withBase(one, 3), withBase(bad, 4)), ErrCorruptMessage, "crc32c"},
	} {
		_, err := l.AppendReplicated(tc.batches)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Fatalf("%s: %v, want %v saying %q", tc.name, err, tc.want, tc.says)
		}
		sameState(t, tc.name+": after the refusal", stateOf(t, e.fs, l), before)
	}
	if res, err := l.AppendReplicated(withBase(makeBatch(t, spec("p").withProducer(4, 0, 0)), 3)); err != nil || res.BaseOffset != 3 {
		t.Fatalf("the batch that continues: %+v %v", res, err)
	}
	// The refused batch of producer 4 was never recorded: its sequence 0 is
	// a duplicate of the one just taken, nothing else.
	if _, err := l.Append(makeBatch(t, spec("p").withProducer(4, 0, 0))); !errors.Is(err, ErrDuplicateSequence) {
		t.Fatalf("retry: %v", err)
	}

	// A compacted log takes gaps, as its leader's cleaner leaves them, and
	// recovery keeps them.
	cfg := smallConfig()
	cfg.Compact = true
	ce := newEnv(t)
	cl := ce.open(cfg)
	if _, err := cl.AppendReplicated(slices.Concat(withBase(one, 0), withBase(makeBatch(t, spec("b", "c")), 4))); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AppendReplicated(withBase(makeBatch(t, spec("d")), 9)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AppendReplicated(withBase(one, 8)); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("compacted log, batch before the end: %v", err)
	}
	ce.fs = ce.fs.Clone()
	cl2 := ce.open(cfg)
	if got := readAll(t, cl2, 1<<20); cl2.EndOffset() != 10 || len(got) != 4 || got[1].offset != 4 || got[3].offset != 9 {
		t.Fatalf("compacted follower after a crash: end %d, records %v", cl2.EndOffset(), got)
	}
	if r := decodeRecords(t, readChunk(t, cl2, 6, 1)); r[0].offset != 9 {
		t.Fatalf("read in the gap gave offset %d, want the next batch at 9", r[0].offset)
	}
}

// TestAppendReplicatedIgnoresMaxMessageBytes: the leader accepted the
// batch, perhaps before max.message.bytes was lowered; the follower keeps
// it.
func TestAppendReplicatedIgnoresMaxMessageBytes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = 100
	e := newEnv(t)
	l := e.open(cfg)
	big := makeBatch(t, spec(strings.Repeat("x", 500)))
	if _, err := l.Append(slices.Clone(big)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("append: %v", err)
	}
	if _, err := l.AppendReplicated(big); err != nil {
		t.Fatalf("replicated: %v", err)
	}
}

// TestAppendReplicatedAcrossRolls: a follower with smaller segments than
// its leader rolls on its own, snapshots the producer state at each roll
// and recovers all of it after a crash.
func TestAppendReplicatedAcrossRolls(t *testing.T) {
	le := newEnv(t)
	leader := le.open(DefaultConfig())
	for i := range 100 {
		mustAppend(t, leader, makeBatch(t, spec(val(i)).withProducer(3, 0, int32(i))))
	}
	fe := newEnv(t)
	cfg := smallConfig()
	follower := fe.open(cfg)
	replicate(t, leader, follower, 3*len(makeBatch(t, spec(val(0)))))
	segs := follower.Segments()
	if len(segs) < 4 || len(leader.Segments()) != 1 {
		t.Fatalf("follower has %d segments, leader %d", len(segs), len(leader.Segments()))
	}
	names, _ := fe.fs.List(fe.dir)
	for _, s := range segs[1:] {
		if !slices.Contains(names, fmt.Sprintf("%020d%s", s.BaseOffset, snapshotSuffix)) &&
			s.BaseOffset >= segs[len(segs)-2].BaseOffset { // the newest two are kept
			t.Fatalf("no producer snapshot at the roll to %d: %v", s.BaseOffset, names)
		}
	}
	want := stateOf(t, le.fs, leader)
	fe.fs = fe.fs.Clone()
	f2 := fe.open(cfg)
	got := stateOf(t, fe.fs, f2)
	got.Segments, got.Logs = want.Segments, want.Logs
	sameState(t, "follower reopened after a crash", got, want)
	if _, err := f2.Append(makeBatch(t, spec(val(99)).withProducer(3, 0, 99))); !errors.Is(err, ErrDuplicateSequence) {
		t.Fatalf("retry after the restart: %v", err)
	}
}
