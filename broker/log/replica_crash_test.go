package log

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
	faults "github.com/sluicehq/sluice/internal/fault"
)

// reopened opens the log left in fs, checks its index entries point at
// their batches, and returns its state.
func reopened(t *testing.T, fs *errorfs.FS, what string) logState {
	t.Helper()
	e := newEnv(t)
	e.fs = fs
	l, err := Open(e.dir, truncConfig(), e.options())
	if err != nil {
		t.Fatalf("%s: reopen: %v\n%s", what, err, e.logs)
	}
	defer l.Close()
	checkIndexes(t, l)
	return stateOf(t, fs, l)
}

// beforeOrAfter fails unless got is one of the two states.
func beforeOrAfter(t *testing.T, what string, got, before, after logState) {
	t.Helper()
	if got.diff(before) != "" && got.diff(after) != "" {
		t.Fatalf("%s: neither the log before the truncation (%s) nor after it (%s)", what, got.diff(before), got.diff(after))
	}
}

// TestTruncateToCrashAtEveryOperation fails, in turn, every file-system
// operation a TruncateTo does: a crash there (the process dies; the OS
// crashes too, keeping only what was fsynced), or an error before or after
// the operation took effect. The folder always reopens as the log before
// the truncation or after it, with every offset readable; after an error
// the log is read-only and Recover brings it to one of the two as well.
// Directory entries are modelled strictly too (a name lasts only once its
// folder is fsynced).
func TestTruncateToCrashAtEveryOperation(t *testing.T) {
	ops := []faults.Op{faults.OpCreate, faults.OpOpen, faults.OpWrite, faults.OpSync, faults.OpTruncate,
		faults.OpRename, faults.OpRemove, faults.OpList, faults.OpSyncDir, faults.OpStat, faults.OpMkdir}
	cuts := map[string]func(bases []int64, segs []SegmentInfo) int64{
		"inside a closed segment": func(b []int64, _ []SegmentInfo) int64 { return b[25] },
		"at a segment boundary":   func(_ []int64, s []SegmentInfo) int64 { return s[2].BaseOffset },
	}
	for name, cutAt := range cuts {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s strict=%v", name, strict), func(t *testing.T) {
				t.Parallel()
				// prepare builds the log, durable to the last byte and name.
				prepare := func() (*env, *Log, int64) {
					e := newEnv(t)
					if strict {
						e.fs = errorfs.NewStrict()
					}
					l := e.open(truncConfig())
					bases := appendSource(t, l, 0, 60)
					if err := l.Flush(); err != nil {
						t.Fatal(err)
					}
					for _, d := range []string{filepath.Dir(e.dir), e.dir} {
						if err := e.fs.SyncDir(d); err != nil {
							t.Fatal(err)
						}
					}
					return e, l, cutAt(bases, l.Segments())
				}
				e, l, cut := prepare()
				before := reopened(t, e.fs.Clone(), "before")
				counts := make([]int, len(ops))
				for i, op := range ops {
					counts[i] = e.fs.Count(op)
				}
				if err := l.TruncateTo(cut); err != nil {
					t.Fatal(err)
				}
				after := stateOf(t, e.fs, l)
				sameState(t, "reopened after the truncation", reopened(t, e.fs.Crash(), "after"), after)
				for i, op := range ops {
					counts[i] = e.fs.Count(op) - counts[i]
				}

				for i, op := range ops {
					for n := 1; n <= counts[i]; n++ {
						for _, mode := range []string{"crash", "error", "error after it took effect"} {
							what := fmt.Sprintf("%s, strict %v: %s at %s %d of %d", name, strict, mode, op, n, counts[i])
							e, l, cut := prepare()
							e.fs.Inject(faults.Rule{Op: op, N: n, Crash: mode == "crash", After: mode != "crash" && mode != "error"})
							err := l.TruncateTo(cut)
							if err == nil {
								// A failure the truncation may ignore (an
								// unreadable producer snapshot: it rescans).
								sameState(t, what+": truncated", stateOf(t, e.fs, l), after)
								continue
							}
							beforeOrAfter(t, what+", then the OS crashed", reopened(t, e.fs.Crash(), what), before, after)
							beforeOrAfter(t, what+", then the process died", reopened(t, e.fs.Clone(), what), before, after)
							if mode == "crash" {
								continue
							}
							if _, ferr := l.Failure(); ferr == nil {
								t.Fatalf("%s: %v, but the log takes writes", what, err)
							}
							if err := l.Recover(); err != nil {
								t.Fatalf("%s: recover: %v\n%s", what, err, e.logs)
							}
							got := stateOf(t, e.fs, l)
							beforeOrAfter(t, what+", then Recover", got, before, after)
							checkReadable(t, l)
							sameState(t, what+": reopened after Recover", reopened(t, e.fs.Clone(), what), got)
						}
					}
				}
			})
		}
	}
}
