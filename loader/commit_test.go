package loader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/loader/fs"
	"github.com/sluicehq/sluice/loader/fs/faultfs"
)

const testRecords = 600

var testTPs = []TopicPartition{{"events", 0}, {"events", 1}}

// testSource has two partitions of testRecords records whose timestamps
// interleave three hours (so batches span several time partitions), with
// a bad record every 97 offsets (dead-lettered).
func testSource() *memSource {
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return newMemSource(testTPs, testRecords,
		func(tp TopicPartition, off int64) string {
			if off%97 == 5 {
				return "bad"
			}
			return fmt.Sprintf("v%d-%d", tp.Partition, off)
		},
		func(off int64) time.Time {
			return base.Add(time.Duration(off%3)*time.Hour + time.Duration(off)*time.Second)
		})
}

// runAll runs one worker per partition to the end of the source.
func runAll(ctx context.Context, cfg *workerConfig, src *memSource) error {
	var errs []error
	for _, tp := range testTPs {
		_, end, _ := src.offsets(ctx, tp)
		if err := newWorker(cfg, tp).run(ctx, end); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func TestCommitCleanRun(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := testSource()
	cfg := testConfig(t, fs.NewLocal(), root, src)
	var pubs []published
	cfg.onPublish = func(p published) { pubs = append(pubs, p) }
	w := newWorker(cfg, testTPs[0])
	if err := w.run(ctx, testRecords); err != nil {
		t.Fatal(err)
	}
	if err := newWorker(cfg, testTPs[1]).run(ctx, testRecords); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, sinkContents(t, cfg.sink.FS(), root), testTPs, testRecords)
	st := w.stats
	bad := int64(0)
	for off := int64(0); off < testRecords; off++ {
		if off%97 == 5 {
			bad++
		}
	}
	if st.Records != testRecords-bad || st.Errors != bad || st.DeadLetters != bad || st.First != 0 || st.Last != testRecords-1 {
		t.Fatalf("stats %+v, want %d records, %d errors, offsets 0..%d", st, testRecords-bad, bad, testRecords-1)
	}
	if st.Files < 6 || len(pubs) < 4 {
		t.Fatalf("%d files in %d batches: rolling at 100 records over 3 hours should give more", st.Files, len(pubs))
	}
	// A rerun finds everything landed and publishes nothing.
	pubs = nil
	if err := runAll(ctx, cfg, src); err != nil || len(pubs) != 0 {
		t.Fatalf("rerun: err %v, %d batches published", err, len(pubs))
	}
	// New records are picked up where the sink stopped.
	src.records[testTPs[0]] = append(src.records[testTPs[0]], src.records[testTPs[1]][:0]...)
	pos, err := cfg.sink.Recover(ctx, testTPs, nil)
	if p := pos[testTPs[0]]; err != nil || !p.Landed || p.Next != testRecords {
		t.Fatalf("position %+v, %v", pos, err)
	}
}

// TestCommitFaults fails every step of the protocol in turn (each call
// number of create, write, close, rename, list, ...), both as a plain error
// and as a crash (nothing works afterwards, open files left partial), with
// the fault taking effect or not; after each failed run a clean rerun must
// end with every offset landed exactly once.
func TestCommitFaults(t *testing.T) {
	ctx := context.Background()
	// Count each operation in a clean run.
	counter := faultfs.New(fs.NewLocal())
	src := testSource()
	if err := runAll(ctx, testConfig(t, counter, t.TempDir(), src), src); err != nil {
		t.Fatal(err)
	}
	ops := []faultfs.Op{faultfs.OpCreate, faultfs.OpWrite, faultfs.OpClose, faultfs.OpRename, faultfs.OpList, faultfs.OpRemove, faultfs.OpStat, faultfs.OpOpen}
	var cases, failed atomic.Int64
	t.Run("each", func(t *testing.T) { // waits for its parallel cases
		for _, op := range ops {
			total := counter.Count(op)
			for n := 1; n <= total; n++ { // every call in turn (every 4th write)
				if op == faultfs.OpWrite && n%4 != 1 && n != total {
					continue
				}
				for _, mode := range []string{"error", "after", "crash"} {
					if mode == "after" && op != faultfs.OpRename && op != faultfs.OpClose && op != faultfs.OpCreate && op != faultfs.OpWrite {
						continue
					}
					cases.Add(1)
					t.Run(fmt.Sprintf("%s#%d/%s", op, n, mode), func(t *testing.T) {
						t.Parallel()
						root := t.TempDir()
						ffs := faultfs.New(fs.NewLocal())
						ffs.Inject(faultfs.Rule{Op: op, N: n, After: mode == "after", Crash: mode == "crash"})
						src := testSource()
						cfg := testConfig(t, ffs, root, src)
						firstErr := runAll(ctx, cfg, src)
						if firstErr == nil {
							t.Logf("the fault was absorbed (no error)")
						} else {
							failed.Add(1)
						}
						ffs.Reset()
						if err := runAll(ctx, testConfig(t, ffs, root, src), src); err != nil {
							t.Fatalf("rerun after %v: %v", firstErr, err)
						}
						assertExactlyOnce(t, sinkContents(t, fs.NewLocal(), root), testTPs, testRecords)
					})
				}
			}
		}
	})
	if n, f := cases.Load(), failed.Load(); n < 200 || f < n*3/4 {
		t.Fatalf("%d fault cases, %d of them failed the first run", n, f)
	}
	t.Logf("%d fault cases, %d failed the first run", cases.Load(), failed.Load())
}

// TestCommitRetries checks that a worker recovers from a transient fault
// in the same run (as after an HDFS datanode restart).
func TestCommitRetries(t *testing.T) {
	ctx := context.Background()
	for _, op := range []faultfs.Op{faultfs.OpCreate, faultfs.OpWrite, faultfs.OpClose, faultfs.OpRename, faultfs.OpList} {
		t.Run(string(op), func(t *testing.T) {
			root := t.TempDir()
			ffs := faultfs.New(fs.NewLocal())
			for _, n := range []int{3, 9, 20} {
				ffs.Inject(faultfs.Rule{Op: op, N: n})
			}
			src := testSource()
			cfg := testConfig(t, ffs, root, src)
			cfg.retries = 5
			w := newWorker(cfg, testTPs[0])
			if err := w.run(ctx, testRecords); err != nil {
				t.Fatal(err)
			}
			if err := newWorker(cfg, testTPs[1]).run(ctx, testRecords); err != nil {
				t.Fatal(err)
			}
			assertExactlyOnce(t, sinkContents(t, fs.NewLocal(), root), testTPs, testRecords)
		})
	}
}

// cancelAtCommitFS cancels a context right after the rename that commits
// a batch (prepared -> .intent).
type cancelAtCommitFS struct {
	fs.FS
	cancel context.CancelFunc
}

func (c *cancelAtCommitFS) Rename(ctx context.Context, from, to string) error {
	err := c.FS.Rename(ctx, from, to)
	if err == nil && strings.HasSuffix(to, ".intent") {
		c.cancel()
	}
	return err
}

// A run cancelled (by its timeout) just after a batch's commit point
// reports that batch as landed: the sink holds it, so the run's stats must
// count it. Before, the rest of the commit saw the cancelled context and
// failed, and the batch was counted by no run.
func TestCancelAfterCommitPointCountsTheBatch(t *testing.T) {
	root := t.TempDir()
	src := testSource()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := testConfig(t, &cancelAtCommitFS{FS: fs.NewLocal(), cancel: cancel}, root, src)
	w := newWorker(cfg, testTPs[0])
	err := w.run(ctx, testRecords)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v, want it cancelled", err)
	}
	landed := len(sinkContents(t, fs.NewLocal(), root)[testTPs[0]])
	if landed == 0 {
		t.Fatal("nothing landed before the cancel")
	}
	if got := w.stats.Records + w.stats.DeadLetters; got != int64(landed) {
		t.Errorf("stats say %d records landed (%d rows, %d dead letters), the sink holds %d", got, w.stats.Records, w.stats.DeadLetters, landed)
	}
}
