// Package vfs is the small file-system interface through which the broker
// does its disk I/O (broker/log, the metadata journal in broker/meta, and
// the broker's own files: the data-dir lock, cluster.id, producer-ids,
// partition.metadata and the partition folders), with the
// operating-system implementation. Tests substitute errorfs,
// which injects failures (by the rules of internal/fault) and simulates
// crashes.
package vfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// FS is the set of file-system operations the broker needs.
type FS interface {
	// Create creates or truncates name, opened read-write; writes append.
	Create(name string) (File, error)
	// OpenAppend opens an existing file read-write; writes append at the end.
	OpenAppend(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// Remove deletes a file; removing a missing file is an error matching
	// os.ErrNotExist.
	Remove(name string) error
	// Rename atomically replaces newname with oldname, a file or a folder
	// (which replaces only an empty folder).
	Rename(oldname, newname string) error
	// MkdirAll creates dir and its parents.
	MkdirAll(dir string) error
	// List returns the names (not paths) of the regular files in dir, sorted.
	List(dir string) ([]string, error)
	// ListDirs returns the names (not paths) of the folders in dir, sorted.
	ListDirs(dir string) ([]string, error)
	// Stat describes a file or a folder; a missing one is an error
	// matching os.ErrNotExist.
	Stat(name string) (os.FileInfo, error)
	// Lock takes an exclusive lock named name (on the OS, flock(2) on that
	// file, created if absent) or fails at once if another holder has it;
	// Close releases it.
	Lock(name string) (io.Closer, error)
	// SyncDir makes creations, renames and removals in dir durable.
	SyncDir(dir string) error
	// RemoveAll deletes dir and everything under it.
	RemoveAll(dir string) error
}

// File is an open file.
type File interface {
	io.ReaderAt
	// Write appends p at the end of the file.
	io.Writer
	io.Closer
	// Sync makes the written bytes durable.
	Sync() error
	// Truncate cuts the file to size bytes.
	Truncate(size int64) error
	// Size returns the current length.
	Size() (int64, error)
}

// OSFiler is implemented by files backed by an *os.File (for sendfile).
type OSFiler interface {
	OSFile() *os.File
}

// Default is the operating system's file system.
var Default FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (f osFile) OSFile() *os.File { return f.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenAppend(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string) error            { return os.MkdirAll(dir, 0o755) }
func (osFS) RemoveAll(dir string) error           { return os.RemoveAll(dir) }

func (osFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }

func (osFS) ListDirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil // os.ReadDir sorts
}

func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: name, Err: err}
	}
	return f, nil
}

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic writes data to name through a temporary file and a rename,
// so name holds either its old or its new content after a crash. With sync
// the data and the directory entry are made durable.
func WriteFileAtomic(fs FS, name string, data []byte, sync bool) error {
	tmp := name + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, name)
	}
	if err == nil && sync {
		err = fs.SyncDir(filepath.Dir(name))
	}
	if err != nil {
		_ = fs.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// MkdirAllDurable creates dir and its missing parents, like MkdirAll, and
// syncs the folder holding each one it created, so that a machine crash
// keeps them (and what is later made durable inside them).
func MkdirAllDurable(fs FS, dir string) error {
	dir = filepath.Clean(dir)
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		_, err := fs.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fs.MkdirAll(dir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fs.SyncDir(filepath.Dir(missing[i])); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	return nil
}

// ReadFile reads a whole (small) file.
func ReadFile(fs FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}
