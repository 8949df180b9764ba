package log

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// TestEndOffsetFor: OffsetForLeaderEpoch's answers, as Kafka's
// LeaderEpochFileCache gives them, over epochs 1 at 0, 3 at 10, 4 at 25.
func TestEndOffsetFor(t *testing.T) {
	c := epochCache{entries: []EpochStart{{1, 0}, {3, 10}, {4, 25}}}
	for _, tc := range []struct {
		ask       int32
		epoch     int32
		endOffset int64
	}{
		{4, 4, 40},   // the latest epoch ends at the log end
		{3, 3, 25},   // an older one where the next starts
		{2, 1, 10},   // one the log never had: the largest below, ending where 3 starts
		{0, 0, 0},    // below the first: itself, ending where the first starts
		{5, -1, -1},  // newer than every epoch
		{-1, -1, -1}, // undefined
	} {
		if e, o := c.endOffsetFor(tc.ask, 40); e != tc.epoch || o != tc.endOffset {
			t.Errorf("endOffsetFor(%d) = (%d, %d), want (%d, %d)", tc.ask, e, o, tc.epoch, tc.endOffset)
		}
	}
	if e, o := (&epochCache{}).endOffsetFor(0, 40); e != -1 || o != -1 {
		t.Errorf("no epochs: (%d, %d), want (-1, -1)", e, o)
	}
}

func TestEpochTruncation(t *testing.T) {
	c := epochCache{entries: []EpochStart{{1, 0}, {3, 10}, {4, 25}}}
	if !c.truncateFromEnd(25) || !slices.Equal(c.entries, []EpochStart{{1, 0}, {3, 10}}) {
		t.Errorf("truncateFromEnd(25): %v", c.entries)
	}
	if c.truncateFromEnd(30) {
		t.Errorf("truncateFromEnd past the last start changed %v", c.entries)
	}
	if !c.truncateFromStart(12) || !slices.Equal(c.entries, []EpochStart{{3, 12}}) {
		t.Errorf("truncateFromStart(12): %v", c.entries)
	}
	if c.assign(2, 20) || c.assign(3, 20) || !c.assign(6, 20) {
		t.Errorf("assign: only a newer epoch is recorded: %v", c.entries)
	}
}

// TestParseEpochsRefuses: a checkpoint out of order or malformed is an
// error naming the line.
func TestParseEpochsRefuses(t *testing.T) {
	good := (&epochCache{entries: []EpochStart{{0, 0}, {2, 7}}}).encode()
	if es, err := parseEpochs(good); err != nil || len(es) != 2 {
		t.Fatalf("round trip: %v %v", es, err)
	}
	for in, want := range map[string]string{
		"1\n0\n":           "version 0",
		"0\n2\n0 0\n":      "count line",
		"0\n1\nx 0\n":      "line 3",
		"0\n2\n3 5\n2 9\n": "line 4",
		"0\n2\n3 5\n4 1\n": "does not follow",
		"0\n1\n-1 5\n":     "line 3",
	} {
		if _, err := parseEpochs([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseEpochs(%q) = %v, want an error naming %q", in, err, want)
		}
	}
}

// TestLeaderEpochsAcrossRestarts: epochs are recorded as the leader
// changes (before any batch of the epoch, as a Kafka leader does), survive
// a restart, follow DeleteRecords, and a log without a checkpoint (written
// before it existed) gets epoch 0 from its start.
func TestLeaderEpochsAcrossRestarts(t *testing.T) {
	e := newEnv(t)
	l := e.open(DefaultConfig())
	for i := range 3 {
		mustAppend(t, l, makeBatch(t, spec(val(i))))
	}
	if err := l.SetLeaderEpoch(2); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, makeBatch(t, spec(val(3), val(4))))
	if err := l.SetLeaderEpoch(5); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, makeBatch(t, spec(val(5))))
	want := []EpochStart{{0, 0}, {2, 3}, {5, 5}}
	if got := l.LeaderEpochs(); !slices.Equal(got, want) {
		t.Fatalf("epochs %v, want %v", got, want)
	}
	if ep, end := l.EndOffsetForEpoch(2); ep != 2 || end != 5 {
		t.Errorf("end of epoch 2: (%d, %d), want (2, 5)", ep, end)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = e.open(DefaultConfig())
	if got := l.LeaderEpochs(); !slices.Equal(got, want) {
		t.Fatalf("after a restart: epochs %v, want %v", got, want)
	}
	if _, err := l.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
	if got, w := l.LeaderEpochs(), []EpochStart{{2, 4}, {5, 5}}; !slices.Equal(got, w) {
		t.Fatalf("after DeleteRecords(4): %v, want %v", got, w)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Remove(filepath.Join(e.dir, LeaderEpochFile)); err != nil {
		t.Fatal(err)
	}
	l = e.open(DefaultConfig())
	if got, w := l.LeaderEpochs(), []EpochStart{{0, 4}}; !slices.Equal(got, w) {
		t.Fatalf("without a checkpoint: %v, want %v", got, w)
	}
	if b, err := vfs.ReadFile(e.fs, filepath.Join(e.dir, LeaderEpochFile)); err != nil || string(b) != "0\n1\n0 4\n" {
		t.Errorf("checkpoint written at open: %q %v", b, err)
	}
}

// TestLeaderEpochsFollowTornTail: an epoch whose batches were torn off by
// a crash is dropped when the tail is cut, so its end is not reported.
func TestLeaderEpochsFollowTornTail(t *testing.T) {
	e := newEnv(t)
	l := e.open(DefaultConfig())
	mustAppend(t, l, makeBatch(t, spec(val(0), val(1))))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.SetLeaderEpoch(3); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, makeBatch(t, spec(val(2))))
	// The process dies; the last batch's bytes are torn.
	seg := filepath.Join(e.dir, fmt.Sprintf("%020d.log", 0))
	b, err := vfs.ReadFile(e.fs, seg)
	if err != nil {
		t.Fatal(err)
	}
	crashed := e.fs.Clone()
	crashed.WriteFile(seg, b[:len(b)-5])
	e.fs = crashed
	l = e.open(DefaultConfig())
	if got, w := l.LeaderEpochs(), []EpochStart{{0, 0}}; !slices.Equal(got, w) {
		t.Fatalf("epochs after the torn tail was cut: %v, want %v (end %d)", got, w, l.EndOffset())
	}
	if ep, end := l.EndOffsetForEpoch(3); ep != -1 || end != -1 {
		t.Errorf("epoch 3 after its batches were cut: (%d, %d), want (-1, -1)", ep, end)
	}
}
