package faultfs_test

import (
	"context"
	"errors"
	"path"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/loader/fs"
	"github.com/sluicehq/sluice/loader/fs/faultfs"
	"github.com/sluicehq/sluice/loader/fs/fstest"
)

func TestTransparentWithoutRules(t *testing.T) {
	fstest.Run(t, faultfs.New(fs.NewLocal()), filepath.ToSlash(t.TempDir()))
}

func TestFailNth(t *testing.T) {
	ctx := context.Background()
	dir := filepath.ToSlash(t.TempDir())
	ffs := faultfs.New(fs.NewLocal())
	ffs.Inject(faultfs.Rule{Op: faultfs.OpRename, N: 2})
	for i, name := range []string{"a", "b", "c"} {
		fstest.WriteFile(t, ffs, path.Join(dir, "_tmp", name), []byte(name))
		err := ffs.Rename(ctx, path.Join(dir, "_tmp", name), path.Join(dir, name))
		if (i == 1) != errors.Is(err, faultfs.ErrInjected) {
			t.Fatalf("rename %d: %v", i+1, err)
		}
	}
	// The failed rename did nothing.
	if _, err := ffs.Stat(ctx, path.Join(dir, "_tmp", "b")); err != nil {
		t.Fatalf("source of the failed rename: %v", err)
	}
	if _, err := ffs.Stat(ctx, path.Join(dir, "b")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("destination of the failed rename: %v", err)
	}
	if got := ffs.Count(faultfs.OpRename); got != 3 {
		t.Fatalf("rename count %d, want 3", got)
	}
}

func TestAfter(t *testing.T) {
	ctx := context.Background()
	dir := filepath.ToSlash(t.TempDir())
	ffs := faultfs.New(fs.NewLocal())
	fstest.WriteFile(t, ffs, path.Join(dir, "a"), []byte("x"))
	ffs.Inject(faultfs.Rule{Op: faultfs.OpRename, After: true})
	if err := ffs.Rename(ctx, path.Join(dir, "a"), path.Join(dir, "b")); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("rename: %v", err)
	}
	if got := fstest.ReadFile(t, ffs, path.Join(dir, "b")); string(got) != "x" {
		t.Fatalf("the rename did not take effect: %q", got)
	}
}

func TestPathContains(t *testing.T) {
	ctx := context.Background()
	dir := filepath.ToSlash(t.TempDir())
	ffs := faultfs.New(fs.NewLocal())
	ffs.Inject(faultfs.Rule{Op: faultfs.OpCreate, PathContains: "_SUCCESS"})
	fstest.WriteFile(t, ffs, path.Join(dir, "x.parquet"), nil)
	if _, err := ffs.Create(ctx, path.Join(dir, "_SUCCESS")); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("create _SUCCESS: %v", err)
	}
}

func TestWriteAndCloseFaults(t *testing.T) {
	ctx := context.Background()
	dir := filepath.ToSlash(t.TempDir())
	ffs := faultfs.New(fs.NewLocal())
	ffs.Inject(faultfs.Rule{Op: faultfs.OpWrite, N: 2})
	f, err := ffs.Create(ctx, path.Join(dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("two")); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("second write: %v", err)
	}
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := ffs.Stat(ctx, path.Join(dir, "w")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("aborted file: %v", err)
	}

	ffs.Inject(faultfs.Rule{Op: faultfs.OpClose})
	f, err = ffs.Create(ctx, path.Join(dir, "c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("close: %v", err)
	}
	// After a failed close the caller aborts, which must still work.
	if err := f.Abort(); err != nil {
		t.Fatalf("abort after failed close: %v", err)
	}
	if _, err := ffs.Stat(ctx, path.Join(dir, "c")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("aborted file: %v", err)
	}
}

func TestCrashLeavesPartialFile(t *testing.T) {
	ctx := context.Background()
	dir := filepath.ToSlash(t.TempDir())
	local := fs.NewLocal()
	ffs := faultfs.New(local)
	ffs.Inject(faultfs.Rule{Op: faultfs.OpWrite, N: 3, Crash: true})
	name := path.Join(dir, "_tmp", "p")
	f, err := ffs.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, nil, faultfs.ErrCrashed, faultfs.ErrCrashed} {
		if _, err := f.Write([]byte("abc")); !errors.Is(err, want) && (want != nil || err != nil) {
			t.Fatalf("write %d: %v, want %v", i+1, err, want)
		}
	}
	if err := f.Abort(); !errors.Is(err, faultfs.ErrCrashed) {
		t.Fatalf("abort after crash: %v", err)
	}
	for _, op := range []func() error{
		func() error { _, err := ffs.List(ctx, dir); return err },
		func() error { return ffs.Remove(ctx, name) },
		func() error { return ffs.MkdirAll(ctx, dir) },
	} {
		if err := op(); !errors.Is(err, faultfs.ErrCrashed) {
			t.Fatalf("call after crash: %v", err)
		}
	}
	if !ffs.Crashed() {
		t.Fatal("Crashed() = false")
	}
	// The partial temporary is still there, holding what was written.
	if got := fstest.ReadFile(t, local, name); string(got) != "abcabc" {
		t.Fatalf("partial file holds %q, want %q", got, "abcabc")
	}
	ffs.Reset()
	if _, err := ffs.List(ctx, dir); err != nil {
		t.Fatalf("list after reset: %v", err)
	}
}
