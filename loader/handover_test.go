package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/loader/fs"
)

// The tests in this file hand a partition over between two owners in the
// middle of a commit: the old owner (a zombie that lost its consumer-group
// membership but does not know it yet) commits a batch spanning three time
// partitions while the new owner recovers the partition and loads it. A
// scheduler runs the two on one goroutine at a time and decides, before
// each file-system call, which of them makes the next one, so every
// interleaving is reproducible. Whatever the interleaving, a clean rerun
// must succeed (no partition needs manual cleanup) and land every offset
// exactly once.

// step is a file-system call an actor is about to make.
type step struct {
	op    string // create, open, rename, remove, list, mkdir, stat, close, abort
	paths []string
	done  bool // the actor's work has returned
}

func (s step) String() string {
	if s.done {
		return "done"
	}
	return s.op + " " + strings.Join(s.paths, " -> ")
}

var errSchedStopped = errors.New("scheduler stopped")

// actor is one owner: its file-system calls wait for the scheduler.
type actor struct {
	name  string
	ready chan step     // the actor's next call, or done
	grant chan struct{} // the scheduler lets that call proceed
	stop  chan struct{} // closed when the test gives up
	err   error         // what the work returned
	trace []string      // calls made
}

func newActor(name string, stop chan struct{}) *actor {
	return &actor{name: name, ready: make(chan step), grant: make(chan struct{}), stop: stop}
}

// gate announces a call and waits for the scheduler's turn.
func (a *actor) gate(op string, paths ...string) error {
	select {
	case a.ready <- step{op: op, paths: paths}:
	case <-a.stop:
		return errSchedStopped
	}
	select {
	case <-a.grant:
		return nil
	case <-a.stop:
		return errSchedStopped
	}
}

// schedFS is an fs.FS whose every call (and every file's Close and Abort)
// waits for its actor's turn.
type schedFS struct {
	inner fs.FS
	a     *actor
}

func (s *schedFS) Create(ctx context.Context, name string) (fs.File, error) {
	if err := s.a.gate("create", name); err != nil {
		return nil, err
	}
	f, err := s.inner.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &schedFile{File: f, a: s.a, name: name}, nil
}

func (s *schedFS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := s.a.gate("open", name); err != nil {
		return nil, err
	}
	return s.inner.Open(ctx, name)
}

func (s *schedFS) Rename(ctx context.Context, from, to string) error {
	if err := s.a.gate("rename", from, to); err != nil {
		return err
	}
	return s.inner.Rename(ctx, from, to)
}

func (s *schedFS) Remove(ctx context.Context, name string) error {
	if err := s.a.gate("remove", name); err != nil {
		return err
	}
	return s.inner.Remove(ctx, name)
}

func (s *schedFS) List(ctx context.Context, dir string) ([]fs.Entry, error) {
	if err := s.a.gate("list", dir); err != nil {
		return nil, err
	}
	return s.inner.List(ctx, dir)
}

// Walk lists through the scheduler, one call per folder.
func (s *schedFS) Walk(ctx context.Context, dir string, fn func(fs.Entry) error) error {
	es, err := s.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
		if e.IsDir {
			if err := s.Walk(ctx, e.Path, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *schedFS) MkdirAll(ctx context.Context, dir string) error {
	if err := s.a.gate("mkdir", dir); err != nil {
		return err
	}
	return s.inner.MkdirAll(ctx, dir)
}

func (s *schedFS) Stat(ctx context.Context, name string) (fs.Entry, error) {
	if err := s.a.gate("stat", name); err != nil {
		return fs.Entry{}, err
	}
	return s.inner.Stat(ctx, name)
}

func (s *schedFS) Close() error { return nil }

type schedFile struct {
	fs.File
	a    *actor
	name string
}

func (f *schedFile) Close() error {
	if err := f.a.gate("close", f.name); err != nil {
		_ = f.File.Abort()
		return err
	}
	return f.File.Close()
}

func (f *schedFile) Abort() error {
	if err := f.a.gate("abort", f.name); err != nil {
		_ = f.File.Abort()
		return err
	}
	return f.File.Abort()
}

// schedule runs old's and new's work concurrently, one file-system call at
// a time, in the order pick decides; it returns when both have returned.
func schedule(t *testing.T, old, new *actor, oldWork, newWork func() error, pick func(old, new step) string) {
	t.Helper()
	for _, w := range []struct {
		a    *actor
		work func() error
	}{{old, oldWork}, {new, newWork}} {
		go func() {
			w.a.err = w.work()
			select {
			case w.a.ready <- step{done: true}:
			case <-w.a.stop:
			}
		}()
	}
	next := func(a *actor) step {
		select {
		case s := <-a.ready:
			return s
		case <-time.After(30 * time.Second):
			close(a.stop)
			t.Fatalf("%s is stuck; calls so far: %v", a.name, a.trace)
			return step{}
		}
	}
	so, sn := next(old), next(new)
	for !so.done || !sn.done {
		who := "old"
		switch {
		case so.done:
			who = "new"
		case sn.done:
		default:
			who = pick(so, sn)
		}
		a, s := old, &so
		if who == "new" {
			a, s = new, &sn
		}
		a.trace = append(a.trace, s.String())
		a.grant <- struct{}{}
		*s = next(a)
	}
}

// phase runs one actor until it is about to make a call that matches
// before (nil: until it returns).
type phase struct {
	who    string // old | new
	before func(step) bool
}

// phases is a policy that runs each phase in turn, then whoever is left.
func phases(ps ...phase) func(old, new step) string {
	i := 0
	return func(old, new step) string {
		for i < len(ps) {
			p := ps[i]
			s := old
			if p.who == "new" {
				s = new
			}
			if p.before == nil || !p.before(s) {
				return p.who
			}
			i++
		}
		return "old"
	}
}

// nth matches the n-th call (from 1) that matches match.
func nth(n int, match func(step) bool) func(step) bool {
	seen := 0
	return func(s step) bool {
		if match(s) {
			seen++
		}
		return seen >= n
	}
}

// listing matches a listing of the folder rel under root.
func listing(root, rel string) func(step) bool {
	return func(s step) bool { return s.op == "list" && s.paths[0] == path.Join(root, rel) }
}

// publishing matches a rename whose destination is a published data file.
func publishing(s step) bool {
	if s.op != "rename" {
		return false
	}
	_, ok := ParseFileName(path.Base(s.paths[1]))
	return ok && !strings.Contains(s.paths[1], "/"+tmpDir+"/")
}

func anyRename(s step) bool { return s.op == "rename" }

// handover lands offsets 0..99 of events[0], then lets an old owner
// commit offsets 100..149 (three time partitions, so three files) while a
// new owner recovers the partition and loads it up to offset 250, in the
// order pick decides. Then clean reruns must land every offset exactly
// once. policy returns, for the sink root, the function that picks which
// owner makes the next call when both are about to make one.
func handover(t *testing.T, policy func(root string) func(old, new step) string) {
	ctx := context.Background()
	root := t.TempDir()
	pick := policy(root)
	src := testSource()
	tp := testTPs[0]
	if err := newWorker(testConfig(t, fs.NewLocal(), root, src), tp).run(ctx, 100); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	oldA, newA := newActor("old owner", stop), newActor("new owner", stop)
	// The old owner recovered the partition before the handover.
	zombie := newWorker(testConfig(t, fs.NewLocal(), root, src), tp)
	from, _, err := zombie.resumeFrom(ctx, -1)
	if err != nil || from != 100 {
		t.Fatalf("old owner resumes from %d, %v", from, err)
	}
	zombie.cfg = testConfig(t, &schedFS{inner: fs.NewLocal(), a: oldA}, root, src)
	zombie.format = lineFormat{}
	zombie.next, zombie.batchFirst = from, from
	oldWork := func() error {
		defer zombie.abandon(ctx)
		for _, rec := range src.records[tp][100:150] {
			if err := zombie.process(ctx, rec); err != nil {
				return err
			}
			zombie.next = rec.Offset + 1
		}
		return zombie.publish(ctx)
	}
	newWork := func() error {
		return newWorker(testConfig(t, &schedFS{inner: fs.NewLocal(), a: newA}, root, src), tp).run(ctx, 250)
	}
	schedule(t, oldA, newA, oldWork, newWork, pick)
	t.Logf("old owner: %v\n\t%s", oldA.err, strings.Join(oldA.trace, "\n\t"))
	t.Logf("new owner: %v\n\t%s", newA.err, strings.Join(newA.trace, "\n\t"))
	// Whatever happened, the sink needs no manual cleanup: a rerun of
	// each partition succeeds and lands everything exactly once.
	cfg := testConfig(t, fs.NewLocal(), root, src)
	for _, tp := range testTPs {
		if err := newWorker(cfg, tp).run(ctx, testRecords); err != nil {
			t.Fatalf("rerun of %s after the handover: %v", tp, err)
		}
	}
	assertExactlyOnce(t, sinkContents(t, fs.NewLocal(), root), testTPs, testRecords)
}

// TestHandoverRaces replays the interleavings that broke exactly once.
func TestHandoverRaces(t *testing.T) {
	for _, tc := range []struct {
		name   string
		phases func(root string) []phase
	}{
		// The new owner lists the intents before the old owner writes
		// its intent, and removes the partition's temporary files after
		// the old owner published one file of three.
		{"cleanup between intent and renames", func(root string) []phase {
			return []phase{{"new", listing(root, tmpDir)}, {"old", nth(2, publishing)}, {"new", nil}}
		}},
		// The old owner writes its whole batch after the new owner
		// cleaned up, and publishes one file before and two after the
		// new owner scanned the sink for its resume offset.
		{"publish across the new owner's scan", func(root string) []phase {
			return []phase{{"new", listing(root, "")}, {"old", nth(2, publishing)}, {"new", nil}}
		}},
		// The new owner recovers after the old owner wrote its intent,
		// before the old owner's fencing check.
		{"recovery before the fencing check", func(root string) []phase {
			return []phase{{"old", listing(root, intentsDir)}, {"new", nil}}
		}},
		// The new owner recovers between the old owner's fencing check
		// and its first rename (which commits the intent).
		{"recovery before the first rename", func(string) []phase {
			return []phase{{"old", nth(1, anyRename)}, {"new", nil}}
		}},
		// The new owner recovers while the old owner publishes.
		{"recovery between renames", func(string) []phase {
			return []phase{{"old", nth(2, publishing)}, {"new", nil}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handover(t, func(root string) func(old, new step) string { return phases(tc.phases(root)...) })
		})
	}
}

// TestHandoverInterleavings runs the handover under many seeded random
// interleavings of the two owners' file-system calls.
func TestHandoverInterleavings(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 40
	}
	for seed := range n {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			// The old owner makes the first head calls alone (up to
			// about its commit); then each call is the old owner's
			// with probability pOld.
			rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
			head := rng.IntN(24)
			pOld := float64(rng.IntN(5)+1) / 6
			handover(t, func(string) func(old, new step) string {
				return func(step, step) string {
					if head > 0 || rng.Float64() < pOld {
						head--
						return "old"
					}
					return "new"
				}
			})
		})
	}
}
