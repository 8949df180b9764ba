package vfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
)

// exercise runs the same checks against any FS.
func exercise(t *testing.T, fs vfs.FS, dir string) {
	t.Helper()
	if err := fs.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hello "))
	f.Write([]byte("world"))
	if n, _ := f.Size(); n != 11 {
		t.Fatalf("size %d", n)
	}
	buf := make([]byte, 5)
	if _, err := f.ReadAt(buf, 6); err != nil || string(buf) != "world" {
		t.Fatalf("ReadAt: %q %v", buf, err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("!")) // appends at the new end
	f.Close()
	if b, err := vfs.ReadFile(fs, filepath.Join(dir, "a")); err != nil || string(b) != "hello!" {
		t.Fatalf("ReadFile: %q %v", b, err)
	}
	if err := vfs.WriteFileAtomic(fs, filepath.Join(dir, "b"), []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	if names, _ := fs.List(dir); !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("List: %v (no .tmp leftovers expected)", names)
	}
	if err := fs.Remove(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Remove missing: %v", err)
	}
	if _, err := fs.OpenAppend(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenAppend missing: %v", err)
	}
	// Folders: made, listed, described, renamed with their content.
	if err := vfs.MkdirAllDurable(fs, filepath.Join(dir, "sub", "deep")); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFileAtomic(fs, filepath.Join(dir, "sub", "deep", "c"), []byte("c"), true); err != nil {
		t.Fatal(err)
	}
	if names, err := fs.ListDirs(dir); err != nil || !slices.Equal(names, []string{"sub"}) {
		t.Fatalf("ListDirs: %v %v", names, err)
	}
	if st, err := fs.Stat(filepath.Join(dir, "sub")); err != nil || !st.IsDir() {
		t.Fatalf("Stat folder: %v %v", st, err)
	}
	if st, err := fs.Stat(filepath.Join(dir, "b")); err != nil || st.IsDir() || st.Size() != 1 {
		t.Fatalf("Stat file: %v %v", st, err)
	}
	if _, err := fs.Stat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat missing: %v", err)
	}
	if err := fs.Rename(filepath.Join(dir, "sub"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	if b, err := vfs.ReadFile(fs, filepath.Join(dir, "moved", "deep", "c")); err != nil || string(b) != "c" {
		t.Fatalf("file of a renamed folder: %q %v", b, err)
	}
	if _, err := fs.Stat(filepath.Join(dir, "sub")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("renamed-away folder: %v", err)
	}
	if err := fs.Rename(filepath.Join(dir, "b"), filepath.Join(dir, "moved")); err == nil {
		t.Fatal("a file replaced a folder")
	}
	// One lock holder at a time.
	l, err := fs.Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	if l2, err := fs.Lock(filepath.Join(dir, ".lock")); err == nil {
		l2.Close()
		t.Fatal("a held lock was taken twice")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = fs.Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l.Close()
	if err := fs.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.List(dir); err == nil {
		t.Fatal("dir still listed after RemoveAll")
	}
}

func TestOSFS(t *testing.T)          { exercise(t, vfs.Default, filepath.Join(t.TempDir(), "d")) }
func TestErrorFSBasics(t *testing.T) { exercise(t, errorfs.New(), "/x/d") }

func TestErrorFSCrashAndInjection(t *testing.T) {
	fs := errorfs.New()
	fs.MkdirAll("/d")
	f, _ := fs.Create("/d/f")
	f.Write([]byte("synced"))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("+lost"))
	g, _ := fs.Open("/d/f")
	fs.Remove("/d/f")
	buf := make([]byte, 6)
	if _, err := g.ReadAt(buf, 0); err != nil || string(buf) != "synced" {
		t.Fatalf("handle after remove: %q %v", buf, err)
	}
	fs.WriteFile("/d/h", []byte("abc"))
	h, _ := fs.OpenAppend("/d/h")
	h.Write([]byte("def"))
	crashed := fs.Crash()
	if b, _ := crashed.ReadFile("/d/h"); string(b) != "abc" {
		t.Fatalf("after crash: %q, want the synced part", b)
	}
	if b, _ := fs.Clone().ReadFile("/d/h"); string(b) != "abcdef" {
		t.Fatalf("clone: %q", b)
	}
	fs.FailWriteAt(2, true)
	if _, err := h.Write([]byte("1")); err != nil {
		t.Fatal(err)
	}
	if n, err := h.Write([]byte("2345")); !errors.Is(err, errorfs.ErrInjected) || n != 2 {
		t.Fatalf("injected torn write: %d %v", n, err)
	}
	if b, _ := fs.ReadFile("/d/h"); string(b) != "abcdef123" {
		t.Fatalf("torn write left %q", b)
	}
	fs.FailSyncAt(1)
	if err := h.Sync(); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("injected sync: %v", err)
	}
	if w, s := fs.Counts(); w != 5 || s != 2 {
		t.Fatalf("counts %d writes %d syncs", w, s)
	}
}
