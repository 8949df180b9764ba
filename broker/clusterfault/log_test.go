package clusterfault_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/broker/clusterfault"
)

// batchAt is oneRecordBatch as a log stores it: at base offset base,
// stamped with leader epoch epoch.
func batchAt(base int64, epoch int32, value string) []byte {
	b := oneRecordBatch([]byte(value), 1)
	binary.BigEndian.PutUint64(b[0:8], uint64(base))
	binary.BigEndian.PutUint32(b[12:16], uint32(epoch))
	return b
}

// TestReadLog checks the log reader the fault tests compare replicas
// with: segments concatenated in name order, batches split by their
// headers, a torn tail left aside, prefixes only at batch boundaries.
func TestReadLog(t *testing.T) {
	dir := t.TempDir()
	seg0 := append(batchAt(0, 0, "a"), batchAt(1, 0, "b")...)
	seg2 := append(batchAt(2, 3, "c"), batchAt(3, 3, "d")[:20]...) // a torn last batch
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000002.log"), seg2, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), seg0, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000000.index"), []byte("not a log"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := clusterfault.ReadLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Batches) != 3 || l.End() != 3 || l.Tail != 20 {
		t.Fatalf("%d batches, end %d, tail %d; want 3, 3, 20", len(l.Batches), l.End(), l.Tail)
	}
	if b, ok := l.BatchAt(2); !ok || b.LeaderEpoch != 3 || b.Pos != len(seg0) {
		t.Errorf("batch at 2: %+v %v", b, ok)
	}
	if _, ok := l.BatchAt(3); ok {
		t.Error("a batch at offset 3, which is torn")
	}
	if p, err := l.Prefix(2); err != nil || len(p) != len(seg0) {
		t.Errorf("prefix to 2: %d bytes, %v; want %d", len(p), err, len(seg0))
	}
	if _, err := l.Prefix(4); err == nil {
		t.Error("a prefix past the log end")
	}
	if err := l.CheckEpochs(); err != nil {
		t.Error(err)
	}
	if _, err := clusterfault.ReadLog(filepath.Join(dir, "missing")); err == nil {
		t.Error("no error for a missing partition folder")
	}
}

// TestLogChecks: epochs going back and offset gaps are reported, and so
// is the first batch where two replicas differ.
func TestLogChecks(t *testing.T) {
	back := clusterfault.ParseLog(append(batchAt(0, 2, "a"), batchAt(1, 1, "b")...))
	if err := back.CheckEpochs(); err == nil || !strings.Contains(err.Error(), "leader epoch 1, after epoch 2") {
		t.Errorf("epochs going back: %v", err)
	}
	gap := clusterfault.ParseLog(append(batchAt(0, 0, "a"), batchAt(2, 0, "b")...))
	if err := gap.CheckEpochs(); err == nil || !strings.Contains(err.Error(), "follows the batch ending at offset 0") {
		t.Errorf("a gap: %v", err)
	}
	a := clusterfault.ParseLog(append(batchAt(0, 0, "a"), batchAt(1, 1, "b")...))
	b := clusterfault.ParseLog(append(batchAt(0, 0, "a"), batchAt(1, 2, "b")...))
	if d := clusterfault.FirstDifference(a, a, 2); d != "" {
		t.Errorf("a log differs from itself: %s", d)
	}
	if d := clusterfault.FirstDifference(a, b, 1); d != "" {
		t.Errorf("equal below offset 1, yet: %s", d)
	}
	if d := clusterfault.FirstDifference(a, b, 2); !strings.Contains(d, "offsets 1-1 epoch 1") || !strings.Contains(d, "offsets 1-1 epoch 2") {
		t.Errorf("difference at offset 1: %q", d)
	}
}
