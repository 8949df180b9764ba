// Package errorfs is an in-memory vfs.FS for tests: it injects faults by
// the rules of package internal/fault (the design the loader's faultfs
// shares: fail the N-th create, open, write, sync, truncate, rename,
// remove, mkdir, list, stat or syncdir (Lock counts as an open), optionally on paths containing a
// substring, before or after it took effect, or crash), models a full disk (a capacity in bytes beyond
// which writes fail with ENOSPC after writing what fits, as a real file
// system's short write does), and simulates an OS crash that drops every
// byte not yet fsynced (in the manner of pebble's vfs/errorfs and MemFS).
//
// Model: each file has its current content and its durable content (as of
// its last Sync). With New, creating, renaming and removing files and
// folders are durable at once (a journaling file system after the
// directory is synced). NewStrict models the directories too, as pebble's
// strict MemFS does: a name created, renamed or removed (a file's or a
// folder's) is durable only once SyncDir of the folder holding it, so a
// crash can bring back an old name or lose a new one, and a folder whose
// own name is lost takes its content with it. A folder keeps its durable
// entries when it is renamed, as an inode does. Folders directly under the
// root stand for the mount points and temporary folders a test starts
// from: they are durable as soon as they are made. Open handles keep
// working after their file is removed, as on POSIX.
package errorfs

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/internal/fault"
)

// ErrInjected is the error of a call a rule failed (fault.ErrInjected).
var ErrInjected = fault.ErrInjected

type node struct {
	data    []byte
	durable []byte
}

// dirNode is a folder. Its identity is what a rename keeps; durable, with
// NewStrict, is its entries as of its last SyncDir: each name to a *node
// (a file) or a *dirNode (a folder).
type dirNode struct {
	durable map[string]any
}

func newDirNode() *dirNode { return &dirNode{durable: map[string]any{}} }

// FS is an in-memory file system with fault injection. The zero value is
// not usable; call New. Its Injector's methods (Inject, Count, Reset)
// set the rules and read the counts; Injector.Crash makes every later
// call fail, while FS.Crash returns what an OS crash would leave.
type FS struct {
	fault.Injector
	mu       sync.Mutex
	files    map[string]*node
	dirs     map[string]*dirNode // every folder but the roots
	roots    map[string]*dirNode // "/" and "."
	locks    map[string]bool     // names Lock holds
	capacity int64               // bytes all files may hold; 0 = unlimited
	openNow  int                 // handles not closed
	maxOpen  int                 // the most handles open at once
	// strict (NewStrict) makes namespace changes durable only at SyncDir
	// of their folder; otherwise they are durable at once.
	strict bool
}

// NewStrict returns an empty FS whose namespace changes (create, rename,
// remove, mkdir) survive Crash only after SyncDir of their folder.
func NewStrict() *FS {
	fs := New()
	fs.strict = true
	return fs
}

// New returns an empty FS.
func New() *FS {
	return &FS{
		files: map[string]*node{},
		dirs:  map[string]*dirNode{},
		roots: map[string]*dirNode{"/": newDirNode(), ".": newDirNode()},
		locks: map[string]bool{},
	}
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
// file holds only what it held at its last Sync and, with NewStrict, only
// the names as of each folder's last SyncDir remain. The receiver keeps
// working (its handles are orphaned and its locks held, as a dead
// process's would be; the copy holds no lock).
func (fs *FS) Crash() *FS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	c := New()
	c.strict = fs.strict
	durableCopy := func(n *node) *node {
		return &node{data: append([]byte(nil), n.durable...), durable: append([]byte(nil), n.durable...)}
	}
	if !fs.strict {
		for name, n := range fs.files {
			c.files[name] = durableCopy(n)
		}
		for d := range fs.dirs {
			c.dirs[d] = newDirNode()
		}
		return c
	}
	var walk func(path string, from, to *dirNode)
	walk = func(path string, from, to *dirNode) {
		for name, e := range from.durable {
			p := filepath.Join(path, name)
			switch e := e.(type) {
			case *node:
				n := durableCopy(e)
				c.files[p] = n
				to.durable[name] = n
			case *dirNode:
				d := newDirNode()
				c.dirs[p] = d
				to.durable[name] = d
				walk(p, e, d)
			}
		}
	}
	for r, d := range fs.roots {
		walk(r, d, c.roots[r])
	}
	return c
}

// Clone returns a copy with every written byte (a process crash: the page
// cache survives). The copy holds no lock and is not strict.
func (fs *FS) Clone() *FS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	c := New()
	for name, n := range fs.files {
		c.files[name] = &node{data: append([]byte(nil), n.data...), durable: append([]byte(nil), n.durable...)}
	}
	for d := range fs.dirs {
		c.dirs[d] = newDirNode()
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
	name = filepath.Clean(name)
	n := &node{data: append([]byte(nil), data...), durable: append([]byte(nil), data...)}
	fs.files[name] = n
	if d := fs.dirNode(filepath.Dir(name)); d != nil && fs.strict {
		d.durable[filepath.Base(name)] = n
	}
}

func (fs *FS) dirExists(dir string) bool { return fs.dirNode(dir) != nil }

// dirNode returns the folder at the clean path dir, or nil.
func (fs *FS) dirNode(dir string) *dirNode {
	if d, ok := fs.roots[dir]; ok {
		return d
	}
	return fs.dirs[dir]
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
	case !ok && fs.dirs[name] != nil:
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
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

// rename moves a file, or a folder with everything under it, as
// rename(2) does: a file does not replace a folder nor a folder a file,
// and a folder replaces only an empty one.
func (fs *FS) rename(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	fail := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	if !fs.dirExists(filepath.Dir(newname)) {
		return fail(os.ErrNotExist)
	}
	if n, ok := fs.files[oldname]; ok {
		if fs.dirs[newname] != nil {
			return fail(syscall.EISDIR)
		}
		delete(fs.files, oldname)
		fs.files[newname] = n
		return nil
	}
	d := fs.dirs[oldname]
	switch {
	case d == nil:
		return fail(os.ErrNotExist)
	case oldname == newname:
		return nil
	case strings.HasPrefix(newname, oldname+"/"):
		return fail(syscall.EINVAL)
	case fs.files[newname] != nil:
		return fail(syscall.ENOTDIR)
	case fs.dirs[newname] != nil && !fs.emptyLocked(newname):
		return fail(syscall.ENOTEMPTY)
	}
	moved := func(p string) (string, bool) {
		if p == oldname {
			return newname, true
		}
		if rest, ok := strings.CutPrefix(p, oldname+"/"); ok {
			return newname + "/" + rest, true
		}
		return "", false
	}
	files, dirs := map[string]*node{}, map[string]*dirNode{}
	for p, n := range fs.files {
		if to, ok := moved(p); ok {
			delete(fs.files, p)
			files[to] = n
		}
	}
	for p, n := range fs.dirs {
		if to, ok := moved(p); ok {
			delete(fs.dirs, p)
			dirs[to] = n
		}
	}
	delete(fs.dirs, newname) // the empty folder replaced
	maps.Copy(fs.files, files)
	maps.Copy(fs.dirs, dirs)
	return nil
}

// emptyLocked reports whether the folder dir holds nothing.
func (fs *FS) emptyLocked(dir string) bool {
	for p := range fs.files {
		if filepath.Dir(p) == dir {
			return false
		}
	}
	for p := range fs.dirs {
		if filepath.Dir(p) == dir {
			return false
		}
	}
	return true
}

// MkdirAll implements vfs.FS.
func (fs *FS) MkdirAll(dir string) error {
	return fs.Run(fsName, fault.OpMkdir, func() error { return fs.mkdirAll(dir) }, dir)
}

func (fs *FS) mkdirAll(dir string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir = filepath.Clean(dir)
	for d := dir; !fs.dirExists(d); d = filepath.Dir(d) {
		if _, ok := fs.files[d]; ok {
			return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
	}
	for d := dir; !fs.dirExists(d); d = filepath.Dir(d) {
		n := newDirNode()
		fs.dirs[d] = n
		if root, ok := fs.roots[filepath.Dir(d)]; ok && fs.strict {
			root.durable[filepath.Base(d)] = n // a mount point: see the package doc
		}
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
		if name == dir || strings.HasPrefix(name, dir+"/") {
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

// ListDirs implements vfs.FS (a list call for rules).
func (fs *FS) ListDirs(dir string) (names []string, err error) {
	err = fs.Run(fsName, fault.OpList, func() error {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		dir := filepath.Clean(dir)
		if !fs.dirExists(dir) {
			return &os.PathError{Op: "open", Path: dir, Err: os.ErrNotExist}
		}
		for p := range fs.dirs {
			if filepath.Dir(p) == dir {
				names = append(names, filepath.Base(p))
			}
		}
		sort.Strings(names)
		return nil
	}, dir)
	if err != nil {
		return nil, err
	}
	return names, nil
}

// Stat implements vfs.FS.
func (fs *FS) Stat(name string) (fi os.FileInfo, err error) {
	err = fs.Run(fsName, fault.OpStat, func() error {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		name := filepath.Clean(name)
		if n, ok := fs.files[name]; ok {
			fi = fileInfo{name: filepath.Base(name), size: int64(len(n.data))}
			return nil
		}
		if fs.dirExists(name) {
			fi = fileInfo{name: filepath.Base(name), dir: true}
			return nil
		}
		return &os.PathError{Op: "stat", Path: name, Err: os.ErrNotExist}
	}, name)
	if err != nil {
		return nil, err
	}
	return fi, nil
}

// fileInfo is what Stat says of a file or a folder.
type fileInfo struct {
	name string
	size int64
	dir  bool
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return fi.dir }
func (fi fileInfo) Sys() any           { return nil }

func (fi fileInfo) Mode() os.FileMode {
	if fi.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}

// Lock implements vfs.FS: one holder per name in this FS, as flock is one
// per file across processes (an open call for rules). The lock is not a
// file: List does not show it.
func (fs *FS) Lock(name string) (io.Closer, error) {
	name = filepath.Clean(name)
	err := fs.Run(fsName, fault.OpOpen, func() error {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if !fs.dirExists(filepath.Dir(name)) {
			return &os.PathError{Op: "lock", Path: name, Err: os.ErrNotExist}
		}
		if fs.locks[name] {
			return &os.PathError{Op: "lock", Path: name, Err: syscall.EWOULDBLOCK}
		}
		fs.locks[name] = true
		return nil
	}, name)
	if err != nil {
		return nil, err
	}
	return &lock{fs: fs, name: name}, nil
}

type lock struct {
	fs   *FS
	name string
	once sync.Once
}

func (l *lock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		defer l.fs.mu.Unlock()
		delete(l.fs.locks, l.name)
	})
	return nil
}

// SyncDir implements vfs.FS: with NewStrict it makes dir's current names
// (of files and folders) durable; otherwise namespace changes are durable
// at once.
func (fs *FS) SyncDir(dir string) error {
	return fs.Run(fsName, fault.OpSyncDir, func() error { return fs.syncDir(dir) }, dir)
}

func (fs *FS) syncDir(dir string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.strict {
		return nil
	}
	dir = filepath.Clean(dir)
	d := fs.dirNode(dir)
	if d == nil {
		return &os.PathError{Op: "sync", Path: dir, Err: os.ErrNotExist}
	}
	d.durable = map[string]any{}
	for name, n := range fs.files {
		if filepath.Dir(name) == dir {
			d.durable[filepath.Base(name)] = n
		}
	}
	for name, n := range fs.dirs {
		if filepath.Dir(name) == dir {
			d.durable[filepath.Base(name)] = n
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
