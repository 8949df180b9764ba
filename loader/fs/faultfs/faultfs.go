// Package faultfs wraps an fs.FS to inject failures, for testing what the
// loader's commit protocol does when the sink fails at each step.
//
// It asks a fault.Injector (internal/fault, the design the broker's errorfs
// shares) about every call: rules fail the N-th call of an operation,
// optionally only on paths containing a substring, before or after it took
// effect, or crash the FS. After a crash every call fails with ErrCrashed,
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
	"io"

	"github.com/sluicehq/sluice/internal/fault"
	"github.com/sluicehq/sluice/loader/fs"
)

// Op names an operation that rules can match (see package fault).
type Op = fault.Op

// Operations of the sink FS, counted and matched by rules.
const (
	OpCreate = fault.OpCreate
	OpWrite  = fault.OpWrite // File.Write
	OpClose  = fault.OpClose // File.Close
	OpAbort  = fault.OpAbort // File.Abort
	OpOpen   = fault.OpOpen
	OpRename = fault.OpRename
	OpRemove = fault.OpRemove
	OpList   = fault.OpList // List and every folder listed by Walk
	OpMkdir  = fault.OpMkdir
	OpStat   = fault.OpStat
)

// Ops is every operation of the sink FS, in a fixed order, for tests that
// loop over them.
var Ops = []Op{OpCreate, OpWrite, OpClose, OpAbort, OpOpen, OpRename, OpRemove, OpList, OpMkdir, OpStat}

var (
	// ErrInjected is the error of a call a rule failed.
	ErrInjected = fault.ErrInjected
	// ErrCrashed is the error of every call after a crash.
	ErrCrashed = fault.ErrCrashed
)

// Rule is one fault to inject (see fault.Rule).
type Rule = fault.Rule

// FS is a fault-injecting fs.FS. It is safe for concurrent use. Its
// Injector's methods (Inject, Count, Reset, Crash, Crashed) set the rules
// and read the counts.
type FS struct {
	fault.Injector
	inner fs.FS
}

var _ fs.FS = (*FS)(nil)

// New wraps inner. Closing the wrapper closes inner.
func New(inner fs.FS) *FS { return &FS{inner: inner} }

const fsName = "faultfs"

func (f *FS) run(op Op, do func() error, paths ...string) error {
	return f.Run(fsName, op, do, paths...)
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
	v, err := ff.fs.Check(fsName, OpWrite, ff.name)
	switch v {
	case fault.FailBefore, fault.Crashed:
		return 0, err
	case fault.FailAfter:
		n, _ := ff.inner.Write(p[:len(p)/2])
		return n, err
	}
	return ff.inner.Write(p)
}

// Close: before-faults leave the file open (the caller should Abort);
// after-faults finish it but report an error; a crash releases the handle
// and leaves the partial file.
func (ff *faultFile) Close() error {
	v, err := ff.fs.Check(fsName, OpClose, ff.name)
	switch v {
	case fault.FailBefore:
		return err
	case fault.Crashed:
		ff.release()
		return err
	case fault.FailAfter:
		_ = ff.inner.Close()
		return err
	}
	return ff.inner.Close()
}

func (ff *faultFile) Abort() error {
	v, err := ff.fs.Check(fsName, OpAbort, ff.name)
	switch v {
	case fault.FailBefore:
		return err
	case fault.Crashed:
		ff.release()
		return err
	case fault.FailAfter:
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
