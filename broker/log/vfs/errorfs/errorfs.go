// Package errorfs is an in-memory vfs.FS for tests: it injects faults by
// the rules of package internal/fault (the design the loader's faultfs
// shares: fail the N-th create, open, write, sync, truncate, rename,
// remove, mkdir, list or syncdir, optionally on paths containing a
// substring, before or after it took effect, or crash), models a full disk (a capacity in bytes beyond
// which writes fail with ENOSPC after writing what fits, as a real file
// system's short write does), and simulates an OS crash that drops every
// byte not yet fsynced (in the manner of pebble's vfs/errorfs and MemFS).
//
// Model: each file has its current content and its durable content (as of
// its last Sync). With New, creating, renaming and removing files are
// durable at once (a journaling file system after the directory is
// synced). NewStrict models the directory too, as pebble's strict MemFS
// does: a name created, renamed or removed is durable only once SyncDir of
// its folder, so a crash can bring back a file's old name or lose a new one.
// Open handles keep working after their file is removed, as on POSIX.
package errorfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/internal/fault"
)

// ErrInjected is the error of a call a rule failed (fault.ErrInjected).
var ErrInjected = fault.ErrInjected

type node struct {
	data    []byte
	durable []byte
}

// FS is an in-memory file system with fault injection. The zero value is
// not usable; call New. Its Injector's methods (Inject, Count, Reset)
// set the rules and read the counts; Injector.Crash makes every later
// call fail, while FS.Crash returns what an OS crash would leave.
type FS struct {
	fault.Injector
	mu       sync.Mutex
	files    map[string]*node
	dirs     map[string]bool
	capacity int64 // bytes all files may hold; 0 = unlimited
	openNow  int   // handles not closed
	maxOpen  int   // the most handles open at once
	// durableNames, with NewStrict, is the namespace as of each folder's
	// last SyncDir: which node each name durably points at. Nil means
	// namespace changes are durable at once.
	durableNames map[string]*node
}

// NewStrict returns an empty FS whose namespace changes (create, rename,
// remove) survive Crash only after SyncDir of their folder.
func NewStrict() *FS {
	fs := New()
	fs.durableNames = map[string]*node{}
	return fs
}

// New returns an empty FS.
func New() *FS {
	return &FS{files: map[string]*node{}, dirs: map[string]bool{}}
}

const fsName = "errorfs"

// FailWriteAt makes the n-th write from now fail (torn: half of it
// written). It is the rule {Op: write, N: n, After: torn}.
func (fs *FS) FailWriteAt(n int, torn bool) {
	fs.Inject(fault.Rule{Op: fault.OpWrite, N: n, After: torn})
}

// FailSyncAt makes the n-th sync from now fail. It is the rule
// {Op: sync, N: n}.
func (fs *FS) FailSyncAt(n int) { fs.Inject(fault.Rule{Op: fault.OpSync, N: n}) }

// SetCapacity limits the bytes all files together may hold (0 removes the
// limit). A write that does not fit writes what does and fails with an
// error matching syscall.ENOSPC, as write(2) on a full disk does; removing
// or truncating files frees space again.
func (fs *FS) SetCapacity(bytes int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.capacity = bytes
}

// Used returns the bytes all files hold.
func (fs *FS) Used() int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.usedLocked()
}

func (fs *FS) usedLocked() int64 {
	var n int64
	for _, f := range fs.files {
		n += int64(len(f.data))
	}
	return n
}

// OpenFiles returns how many handles are open now and the most that were
// open at once.
func (fs *FS) OpenFiles() (now, most int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.openNow, fs.maxOpen
}

// Counts returns how many writes and syncs were done (including failed
// ones).
func (fs *FS) Counts() (writes, syncs int) {
	return fs.Count(fault.OpWrite), fs.Count(fault.OpSync)
}

// Crash returns the file system as it would be after an OS crash now: each
// file holds only what it held at its last Sync. The receiver keeps working
// (its handles are orphaned, as a dead process's would be).
func (fs *FS) Crash() *FS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	c := New()
	names := fs.files
	if fs.durableNames != nil {
		c.durableNames = map[string]*node{}
		names = fs.durableNames
	}
	for name, n := range names {
		c.files[name] = &node{data: append([]byte(nil), n.durable...), durable: append([]byte(nil), n.durable...)}
		if c.durableNames != nil {
			c.durableNames[name] = c.files[name]
		}
	}
	for d := range fs.dirs {
		c.dirs[d] = true
	}
	return c
}

// Clone returns a copy with every written byte (a process crash: the page
// cache survives).
func (fs *FS) Clone() *FS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	c := New()
	for name, n := range fs.files {
		c.files[name] = &node{data: append([]byte(nil), n.data...), durable: append([]byte(nil), n.durable...)}
	}
	for d := range fs.dirs {
		c.dirs[d] = true
	}
	return c
}

// ReadFile returns a file's current content (for tests that corrupt files).
func (fs *FS) ReadFile(name string) ([]byte, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, ok := fs.files[filepath.Clean(name)]
	if !ok {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	return append([]byte(nil), n.data...), nil
}

// WriteFile replaces a file's content, durably (for tests that corrupt files).
func (fs *FS) WriteFile(name string, data []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.files[filepath.Clean(name)] = &node{data: append([]byte(nil), data...), durable: append([]byte(nil), data...)}
}

func (fs *FS) dirExists(dir string) bool {
	return dir == "." || dir == "/" || fs.dirs[dir]
}

func (fs *FS) open(name string, create, trunc, mustExist bool) (f vfs.File, err error) {
	op := fault.OpOpen
	if create {
		op = fault.OpCreate
	}
	v, ferr := fs.Check(fsName, op, name)
	switch v {
	case fault.FailBefore, fault.Crashed:
		return nil, ferr
	case fault.FailAfter:
		defer func() {
			if f != nil {
				_ = f.Close()
			}
			f, err = nil, ferr
		}()
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	name = filepath.Clean(name)
	n, ok := fs.files[name]
	switch {
	case !ok && !create:
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	case !ok:
		if !fs.dirExists(filepath.Dir(name)) {
			return nil, &os.PathError{Op: "create", Path: name, Err: os.ErrNotExist}
		}
		n = &node{}
		fs.files[name] = n
	case trunc:
		n.data = n.data[:0:0]
	}
	_ = mustExist
	fs.openNow++
	fs.maxOpen = max(fs.maxOpen, fs.openNow)
	return &file{fs: fs, n: n, name: name, writable: create || !mustExist}, nil
}

// Create implements vfs.FS.
func (fs *FS) Create(name string) (vfs.File, error) { return fs.open(name, true, true, false) }

// OpenAppend implements vfs.FS.
func (fs *FS) OpenAppend(name string) (vfs.File, error) { return fs.open(name, false, false, false) }

// Open implements vfs.FS.
func (fs *FS) Open(name string) (vfs.File, error) {
	f, err := fs.open(name, false, false, true)
	if err != nil {
		return nil, err
	}
	f.(*file).writable = false
	return f, nil
}

// Remove implements vfs.FS.
func (fs *FS) Remove(name string) error {
	return fs.Run(fsName, fault.OpRemove, func() error { return fs.remove(name) }, name)
}

func (fs *FS) remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	name = filepath.Clean(name)
	if _, ok := fs.files[name]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	delete(fs.files, name)
	return nil
}

// Rename implements vfs.FS.
func (fs *FS) Rename(oldname, newname string) error {
	return fs.Run(fsName, fault.OpRename, func() error { return fs.rename(oldname, newname) }, oldname, newname)
}

func (fs *FS) rename(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	n, ok := fs.files[oldname]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrNotExist}
	}
	delete(fs.files, oldname)
	fs.files[newname] = n
	return nil
}

// MkdirAll implements vfs.FS.
func (fs *FS) MkdirAll(dir string) error {
	return fs.Run(fsName, fault.OpMkdir, func() error { return fs.mkdirAll(dir) }, dir)
}

func (fs *FS) mkdirAll(dir string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for d := filepath.Clean(dir); d != "." && d != "/"; d = filepath.Dir(d) {
		fs.dirs[d] = true
	}
	return nil
}

// RemoveAll implements vfs.FS (a remove call for rules).
func (fs *FS) RemoveAll(dir string) error {
	return fs.Run(fsName, fault.OpRemove, func() error { return fs.removeAll(dir) }, dir)
}

func (fs *FS) removeAll(dir string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir = filepath.Clean(dir)
	for name := range fs.files {
		if strings.HasPrefix(name, dir+"/") {
			delete(fs.files, name)
		}
	}
	for d := range fs.dirs {
		if d == dir || strings.HasPrefix(d, dir+"/") {
			delete(fs.dirs, d)
		}
	}
	return nil
}

// List implements vfs.FS.
func (fs *FS) List(dir string) (names []string, err error) {
	err = fs.Run(fsName, fault.OpList, func() (err error) {
		names, err = fs.list(dir)
		return err
	}, dir)
	if err != nil {
		return nil, err
	}
	return names, nil
}

func (fs *FS) list(dir string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir = filepath.Clean(dir)
	if !fs.dirExists(dir) {
		return nil, &os.PathError{Op: "open", Path: dir, Err: os.ErrNotExist}
	}
	var names []string
	for name := range fs.files {
		if filepath.Dir(name) == dir {
			names = append(names, filepath.Base(name))
		}
	}
	sort.Strings(names)
	return names, nil
}

// SyncDir implements vfs.FS: with NewStrict it makes dir's current names
// durable; otherwise namespace changes are durable at once.
func (fs *FS) SyncDir(dir string) error {
	return fs.Run(fsName, fault.OpSyncDir, func() error { return fs.syncDir(dir) }, dir)
}

func (fs *FS) syncDir(dir string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.durableNames == nil {
		return nil
	}
	dir = filepath.Clean(dir)
	for name := range fs.durableNames {
		if filepath.Dir(name) == dir {
			delete(fs.durableNames, name)
		}
	}
	for name, n := range fs.files {
		if filepath.Dir(name) == dir {
			fs.durableNames[name] = n
		}
	}
	return nil
}

type file struct {
	fs       *FS
	n        *node
	name     string
	writable bool
	closed   bool
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, fmt.Errorf("errorfs: read %s: %w", f.name, os.ErrClosed)
	}
	if off < 0 {
		return 0, fmt.Errorf("errorfs: read %s: negative offset", f.name)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *file) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || !f.writable {
		return 0, fmt.Errorf("errorfs: write %s: %w", f.name, os.ErrClosed)
	}
	switch v, err := f.fs.Check(fsName, fault.OpWrite, f.name); v {
	case fault.FailBefore, fault.Crashed:
		return 0, err
	case fault.FailAfter:
		n := len(p) / 2
		f.n.data = append(f.n.data, p[:n]...)
		return n, err
	}
	if c := f.fs.capacity; c > 0 {
		if free := max(c-f.fs.usedLocked(), 0); int64(len(p)) > free {
			f.n.data = append(f.n.data, p[:free]...)
			return int(free), &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
		}
	}
	f.n.data = append(f.n.data, p...)
	return len(p), nil
}

func (f *file) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return fmt.Errorf("errorfs: sync %s: %w", f.name, os.ErrClosed)
	}
	v, err := f.fs.Check(fsName, fault.OpSync, f.name)
	if v == fault.FailBefore || v == fault.Crashed {
		return err
	}
	f.n.durable = append(f.n.durable[:0:0], f.n.data...)
	return err // nil unless failed after taking effect
}

func (f *file) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || !f.writable {
		return fmt.Errorf("errorfs: truncate %s: %w", f.name, os.ErrClosed)
	}
	v, ferr := f.fs.Check(fsName, fault.OpTruncate, f.name)
	if v == fault.FailBefore || v == fault.Crashed {
		return ferr
	}
	if size < 0 || size > int64(len(f.n.data)) {
		return fmt.Errorf("errorfs: truncate %s to %d: beyond size %d", f.name, size, len(f.n.data))
	}
	f.n.data = f.n.data[:size:size]
	return ferr // nil unless failed after taking effect
}

func (f *file) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.n.data)), nil
}

func (f *file) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return fmt.Errorf("errorfs: close %s: %w", f.name, os.ErrClosed)
	}
	f.closed = true
	f.fs.openNow--
	return nil
}
