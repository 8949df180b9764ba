// Package faultfs wraps an fs.FS to inject failures, for testing what the
// loader's commit protocol does when the sink fails at each step.
//
// Rules pick the N-th call (counted from when the rule is added) of one
// operation, optionally only on paths containing a substring, and make it
// fail with ErrInjected, either before the operation (nothing happens) or
// after it (it took effect but the caller sees an error, like a timeout
// after the namenode applied a rename). A rule may also crash the FS:
// that call and every later call of any operation fail with ErrCrashed,
// and files open at that moment stay as partial files (their Close and
// Abort release the handle but neither finish nor delete the file), which
// is what a killed process leaves behind.
//
//	ffs := faultfs.New(local)
//	ffs.Inject(faultfs.Rule{Op: faultfs.OpRename, N: 2})            // 2nd rename fails
//	ffs.Inject(faultfs.Rule{Op: faultfs.OpWrite, N: 10, Crash: true}) // crash at the 10th write
//
// Count reports how many calls of an operation were made, so a test can
// run once clean, count, and then fail each step in turn.
package faultfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/loader/fs"
)

// Op names an operation that rules can match.
type Op string

// Operations counted and matched by rules.
const (
	OpCreate Op = "create"
	OpWrite  Op = "write" // File.Write
	OpClose  Op = "close" // File.Close
	OpAbort  Op = "abort" // File.Abort
	OpOpen   Op = "open"
	OpRename Op = "rename"
	OpRemove Op = "remove"
	OpList   Op = "list" // List and every folder listed by Walk
	OpMkdir  Op = "mkdir"
	OpStat   Op = "stat"
)

// Ops is every operation, in a fixed order, for tests that loop over them.
var Ops = []Op{OpCreate, OpWrite, OpClose, OpAbort, OpOpen, OpRename, OpRemove, OpList, OpMkdir, OpStat}

var (
	// ErrInjected is the error of a call a rule failed.
	ErrInjected = errors.New("faultfs: injected fault")
	// ErrCrashed is the error of every call after a crash.
	ErrCrashed = errors.New("faultfs: crashed")
)

// Rule is one fault to inject.
type Rule struct {
	Op Op
	// N is which matching call fails, counted from 1 when the rule is
	// added. N <= 0 means the next one.
	N int
	// PathContains limits the rule to calls whose path (either path for
	// rename; the file's name for write, close and abort) contains it.
	PathContains string
	// After lets the operation take effect before reporting ErrInjected.
	// For write it writes the first half of the buffer and reports a short
	// write.
	After bool
	// Crash makes this call and all later calls fail with ErrCrashed.
	Crash bool
}

// FS is a fault-injecting fs.FS. It is safe for concurrent use.
type FS struct {
	inner fs.FS

	mu struct {
		sync.Mutex
		counts  map[Op]int
		rules   []*rule
		crashed bool
	}
}

type rule struct {
	Rule
	seen int
}

var _ fs.FS = (*FS)(nil)

// New wraps inner. Closing the wrapper closes inner.
func New(inner fs.FS) *FS {
	f := &FS{inner: inner}
	f.mu.counts = make(map[Op]int)
	return f
}

// Inject adds a rule; each rule fires once.
func (f *FS) Inject(r Rule) {
	if r.N <= 0 {
		r.N = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.rules = append(f.mu.rules, &rule{Rule: r})
}

// Crash makes every later call fail with ErrCrashed.
func (f *FS) Crash() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.crashed = true
}

// Crashed reports whether the FS has crashed.
func (f *FS) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.crashed
}

// Count returns how many calls of op were made (including failed ones).
func (f *FS) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.counts[op]
}

// Reset removes pending rules and clears a crash; counts are kept.
func (f *FS) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.rules = nil
	f.mu.crashed = false
}

// fault is the verdict on one call.
type fault int

const (
	faultNone fault = iota
	faultBefore
	faultAfter
	faultCrashed
)

// decide counts a call and decides its fate.
func (f *FS) decide(op Op, paths ...string) (fault, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.counts[op]++
	if f.mu.crashed {
		return faultCrashed, fmt.Errorf("faultfs: %s %s: %w", op, strings.Join(paths, " "), ErrCrashed)
	}
	for i, r := range f.mu.rules {
		if r.Op != op || !matches(r.PathContains, paths) {
			continue
		}
		r.seen++
		if r.seen < r.N {
			continue
		}
		f.mu.rules = append(f.mu.rules[:i:i], f.mu.rules[i+1:]...)
		if r.Crash {
			f.mu.crashed = true
			return faultCrashed, fmt.Errorf("faultfs: %s %s: %w", op, strings.Join(paths, " "), ErrCrashed)
		}
		err := fmt.Errorf("faultfs: %s %s (call %d): %w", op, strings.Join(paths, " "), f.mu.counts[op], ErrInjected)
		if r.After {
			return faultAfter, err
		}
		return faultBefore, err
	}
	return faultNone, nil
}

func matches(sub string, paths []string) bool {
	if sub == "" {
		return true
	}
	for _, p := range paths {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

// run applies the verdict to an operation without results.
func (f *FS) run(op Op, do func() error, paths ...string) error {
	v, ferr := f.decide(op, paths...)
	switch v {
	case faultBefore, faultCrashed:
		return ferr
	case faultAfter:
		_ = do()
		return ferr
	}
	return do()
}

// Create implements fs.FS.
func (f *FS) Create(ctx context.Context, name string) (fs.File, error) {
	var file fs.File
	err := f.run(OpCreate, func() (err error) {
		file, err = f.inner.Create(ctx, name)
		return err
	}, name)
	if err != nil {
		if file != nil {
			// Created, then reported as failed: a caller never sees it,
			// as if the client lost the answer. Leave it on disk.
			_ = file.Close()
		}
		return nil, err
	}
	return &faultFile{fs: f, inner: file, name: name}, nil
}

// Open implements fs.FS.
func (f *FS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := f.run(OpOpen, func() (err error) {
		rc, err = f.inner.Open(ctx, name)
		return err
	}, name)
	if err != nil {
		if rc != nil {
			_ = rc.Close()
		}
		return nil, err
	}
	return rc, nil
}

// Rename implements fs.FS.
func (f *FS) Rename(ctx context.Context, from, to string) error {
	return f.run(OpRename, func() error { return f.inner.Rename(ctx, from, to) }, from, to)
}

// Remove implements fs.FS.
func (f *FS) Remove(ctx context.Context, name string) error {
	return f.run(OpRemove, func() error { return f.inner.Remove(ctx, name) }, name)
}

// List implements fs.FS.
func (f *FS) List(ctx context.Context, dir string) ([]fs.Entry, error) {
	var es []fs.Entry
	err := f.run(OpList, func() (err error) {
		es, err = f.inner.List(ctx, dir)
		return err
	}, dir)
	if err != nil {
		return nil, err
	}
	return es, nil
}

// Walk implements fs.FS by listing through the wrapper, so every folder
// visited counts as a list call and can fail.
func (f *FS) Walk(ctx context.Context, dir string, fn func(fs.Entry) error) error {
	es, err := f.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
		if e.IsDir {
			if err := f.Walk(ctx, e.Path, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// MkdirAll implements fs.FS.
func (f *FS) MkdirAll(ctx context.Context, dir string) error {
	return f.run(OpMkdir, func() error { return f.inner.MkdirAll(ctx, dir) }, dir)
}

// Stat implements fs.FS.
func (f *FS) Stat(ctx context.Context, name string) (fs.Entry, error) {
	var e fs.Entry
	err := f.run(OpStat, func() (err error) {
		e, err = f.inner.Stat(ctx, name)
		return err
	}, name)
	if err != nil {
		return fs.Entry{}, err
	}
	return e, nil
}

// Close closes the inner FS. It is not subject to rules.
func (f *FS) Close() error { return f.inner.Close() }

type faultFile struct {
	fs       *FS
	inner    fs.File
	name     string
	released bool // inner handle closed after a crash
}

func (ff *faultFile) Write(p []byte) (int, error) {
	v, err := ff.fs.decide(OpWrite, ff.name)
	switch v {
	case faultBefore, faultCrashed:
		return 0, err
	case faultAfter:
		n, _ := ff.inner.Write(p[:len(p)/2])
		return n, err
	}
	return ff.inner.Write(p)
}

// Close: before-faults leave the file open (the caller should Abort);
// after-faults finish it but report an error; a crash releases the handle
// and leaves the partial file.
func (ff *faultFile) Close() error {
	v, err := ff.fs.decide(OpClose, ff.name)
	switch v {
	case faultBefore:
		return err
	case faultCrashed:
		ff.release()
		return err
	case faultAfter:
		_ = ff.inner.Close()
		return err
	}
	return ff.inner.Close()
}

func (ff *faultFile) Abort() error {
	v, err := ff.fs.decide(OpAbort, ff.name)
	switch v {
	case faultBefore:
		return err
	case faultCrashed:
		ff.release()
		return err
	case faultAfter:
		_ = ff.inner.Abort()
		return err
	}
	return ff.inner.Abort()
}

// release closes the inner handle without deleting the file, once: after
// a crash the partial file stays, as a killed process would leave it.
func (ff *faultFile) release() {
	if !ff.released {
		ff.released = true
		_ = ff.inner.Close()
	}
}
