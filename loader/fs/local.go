package fs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Local is the FS of the local machine. Names are absolute slash paths.
// Durability: File.Close fsyncs the file and its folder; Rename and Remove
// fsync the folders they change; MkdirAll fsyncs the parents of the folders
// it creates.
type Local struct {
	closed atomic.Bool
}

// NewLocal returns the local file system.
func NewLocal() *Local { return &Local{} }

var _ FS = (*Local)(nil)

func (l *Local) check(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// Create implements FS.
func (l *Local) Create(ctx context.Context, name string) (File, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	if err := l.MkdirAll(ctx, path.Dir(name)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.FromSlash(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fs: create: %w", err)
	}
	return &localFile{f: f, w: bufio.NewWriterSize(f, 256<<10), name: name}, nil
}

type localFile struct {
	f    *os.File
	w    *bufio.Writer
	name string
	done bool
}

func (f *localFile) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("fs: write %s: %w", f.name, os.ErrClosed)
	}
	n, err := f.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("fs: write %s: %w", f.name, err)
	}
	return n, nil
}

func (f *localFile) Close() error {
	if f.done {
		return fmt.Errorf("fs: close %s: %w", f.name, os.ErrClosed)
	}
	f.done = true
	err := f.w.Flush()
	if err == nil {
		err = f.f.Sync()
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(path.Dir(f.name))
	}
	if err != nil {
		return fmt.Errorf("fs: close %s: %w", f.name, err)
	}
	return nil
}

func (f *localFile) Abort() error {
	if !f.done {
		f.done = true
		_ = f.f.Close()
	}
	if err := os.Remove(filepath.FromSlash(f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fs: abort %s: %w", f.name, err)
	}
	return nil
}

// Open implements FS.
func (l *Local) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, fmt.Errorf("fs: open: %w", err)
	}
	return f, nil
}

// Rename implements FS without overwriting: renameat2(RENAME_NOREPLACE),
// or link+unlink where the file system lacks it.
func (l *Local) Rename(ctx context.Context, from, to string) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	if err := l.MkdirAll(ctx, path.Dir(to)); err != nil {
		return err
	}
	src, dst := filepath.FromSlash(from), filepath.FromSlash(to)
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		err = renameByLink(src, dst)
	}
	if err != nil {
		return fmt.Errorf("fs: rename %s to %s: %w", from, to, &os.LinkError{Op: "rename", Old: src, New: dst, Err: err})
	}
	if err := syncDir(path.Dir(to)); err != nil {
		return fmt.Errorf("fs: rename %s to %s: %w", from, to, err)
	}
	if path.Dir(to) != path.Dir(from) {
		if err := syncDir(path.Dir(from)); err != nil {
			return fmt.Errorf("fs: rename %s to %s: %w", from, to, err)
		}
	}
	return nil
}

// renameByLink is the no-overwrite rename for file systems without
// RENAME_NOREPLACE: link fails atomically if dst exists. Folders fall back
// to a check and a plain rename.
func renameByLink(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if _, err := os.Lstat(dst); err == nil {
			return os.ErrExist
		}
		return os.Rename(src, dst)
	}
	if err := os.Link(src, dst); err != nil {
		return err
	}
	return os.Remove(src)
}

// Remove implements FS.
func (l *Local) Remove(ctx context.Context, name string) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	err := os.Remove(filepath.FromSlash(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fs: remove: %w", err)
	}
	if err := syncDir(path.Dir(name)); err != nil {
		return fmt.Errorf("fs: remove %s: %w", name, err)
	}
	return nil
}

// List implements FS.
func (l *Local) List(ctx context.Context, dir string) ([]Entry, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	des, err := os.ReadDir(filepath.FromSlash(dir))
	if errors.Is(err, os.ErrNotExist) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fs: list: %w", err)
	}
	out := make([]Entry, 0, len(des))
	for _, de := range des {
		fi, err := de.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, fmt.Errorf("fs: list %s: %w", dir, err)
		}
		out = append(out, localEntry(path.Join(dir, de.Name()), fi))
	}
	return out, nil
}

// Walk implements FS.
func (l *Local) Walk(ctx context.Context, dir string, fn func(Entry) error) error {
	return walk(ctx, l, dir, fn)
}

// MkdirAll implements FS.
func (l *Local) MkdirAll(ctx context.Context, dir string) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	// Find the deepest existing ancestor so the folders created can be
	// made durable by syncing their parents.
	var missing []string
	for d := dir; ; d = path.Dir(d) {
		if _, err := os.Stat(filepath.FromSlash(d)); err == nil {
			break
		}
		missing = append(missing, d)
		if d == path.Dir(d) {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
		return fmt.Errorf("fs: mkdir: %w", err)
	}
	for _, d := range missing {
		if err := syncDir(path.Dir(d)); err != nil {
			return fmt.Errorf("fs: mkdir %s: %w", dir, err)
		}
	}
	return nil
}

// Stat implements FS.
func (l *Local) Stat(ctx context.Context, name string) (Entry, error) {
	if err := l.check(ctx); err != nil {
		return Entry{}, err
	}
	fi, err := os.Stat(filepath.FromSlash(name))
	if err != nil {
		return Entry{}, fmt.Errorf("fs: stat: %w", err)
	}
	return localEntry(name, fi), nil
}

// Close implements FS; later calls fail with ErrClosed.
func (l *Local) Close() error {
	l.closed.Store(true)
	return nil
}

func localEntry(name string, fi os.FileInfo) Entry {
	e := Entry{Path: name, IsDir: fi.IsDir(), ModTime: fi.ModTime()}
	if !e.IsDir {
		e.Size = fi.Size()
	}
	return e
}

func syncDir(dir string) error {
	d, err := os.Open(filepath.FromSlash(dir))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
