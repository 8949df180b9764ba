package fs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"sort"
	"sync/atomic"
	"time"

	"github.com/colinmarc/hdfs/v2"
)

// HDFS is an FS on a Hadoop cluster, through the native RPC client
// github.com/colinmarc/hdfs/v2 (no JVM).
//
// The client has no context support: a call checks ctx before it starts
// but is not interrupted by it. Rename is a check followed by rename2,
// which overwrites: two writers renaming to the same name at the same
// moment could both succeed. The loader never does that (one owner per
// partition, names carry offsets).
type HDFS struct {
	client *hdfs.Client
	closed atomic.Bool

	// closeRetry bounds the retries of FileWriter.Close while the
	// namenode reports the last block still replicating.
	closeRetry time.Duration
}

var _ FS = (*HDFS)(nil)

// HDFSOptions configure NewHDFS.
type HDFSOptions struct {
	// Addresses of the namenode(s), host:port.
	Addresses []string
	// User to act as; required (HADOOP_USER_NAME or the OS user, as Open
	// chooses).
	User string
}

// NewHDFS connects to a namenode.
func NewHDFS(opts HDFSOptions) (*HDFS, error) {
	if len(opts.Addresses) == 0 {
		return nil, errors.New("fs: hdfs: no namenode address")
	}
	if opts.User == "" {
		return nil, errors.New("fs: hdfs: no user")
	}
	c, err := hdfs.NewClient(hdfs.ClientOptions{
		Addresses:           opts.Addresses,
		User:                opts.User,
		UseDatanodeHostname: false,
		NamenodeDialFunc:    (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DatanodeDialFunc:    (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	})
	if err != nil {
		return nil, fmt.Errorf("fs: hdfs: connect to namenode %v: %w", opts.Addresses, err)
	}
	return &HDFS{client: c, closeRetry: 60 * time.Second}, nil
}

func (h *HDFS) check(ctx context.Context) error {
	if h.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// Create implements FS.
func (h *HDFS) Create(ctx context.Context, name string) (File, error) {
	if err := h.check(ctx); err != nil {
		return nil, err
	}
	if err := h.client.MkdirAll(path.Dir(name), 0o755); err != nil {
		return nil, fmt.Errorf("fs: create %s: %w", name, err)
	}
	w, err := h.client.Create(name)
	if err != nil {
		return nil, fmt.Errorf("fs: create: %w", err)
	}
	return &hdfsFile{h: h, w: w, b: bufio.NewWriterSize(w, 1<<20), name: name}, nil
}

type hdfsFile struct {
	h    *HDFS
	w    *hdfs.FileWriter
	b    *bufio.Writer
	name string
	done bool
}

func (f *hdfsFile) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("fs: write %s: %w", f.name, os.ErrClosed)
	}
	n, err := f.b.Write(p)
	if err != nil {
		return n, fmt.Errorf("fs: write %s: %w", f.name, err)
	}
	return n, nil
}

func (f *hdfsFile) Close() error {
	if f.done {
		return fmt.Errorf("fs: close %s: %w", f.name, os.ErrClosed)
	}
	if err := f.b.Flush(); err != nil {
		return fmt.Errorf("fs: close %s: %w", f.name, err)
	}
	deadline := time.Now().Add(f.h.closeRetry)
	wait := 10 * time.Millisecond
	for {
		err := f.w.Close()
		if err == nil {
			f.done = true
			return nil
		}
		if !hdfs.IsErrReplicating(err) || time.Now().After(deadline) {
			return fmt.Errorf("fs: close %s: %w", f.name, err)
		}
		// The namenode has not yet heard from enough datanodes about the
		// last block: back off and ask again, as the Java client does.
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

func (f *hdfsFile) Abort() error {
	if !f.done {
		f.done = true
		_ = f.w.Close()
	}
	err := f.h.client.Remove(f.name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fs: abort %s: %w", f.name, err)
	}
	return nil
}

// Open implements FS.
func (h *HDFS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := h.check(ctx); err != nil {
		return nil, err
	}
	r, err := h.client.Open(name)
	if err != nil {
		return nil, fmt.Errorf("fs: open: %w", err)
	}
	return r, nil
}

// Rename implements FS: it fails with ErrExist if to exists, since
// HDFS rename2 as the client sends it would overwrite.
func (h *HDFS) Rename(ctx context.Context, from, to string) error {
	if err := h.check(ctx); err != nil {
		return err
	}
	if _, err := h.client.Stat(to); err == nil {
		return fmt.Errorf("fs: rename %s to %s: %w", from, to, ErrExist)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fs: rename %s to %s: %w", from, to, err)
	}
	if _, err := h.client.Stat(from); err != nil {
		return fmt.Errorf("fs: rename %s to %s: %w", from, to, err)
	}
	if err := h.client.MkdirAll(path.Dir(to), 0o755); err != nil {
		return fmt.Errorf("fs: rename %s to %s: %w", from, to, err)
	}
	if err := h.client.Rename(from, to); err != nil {
		return fmt.Errorf("fs: rename %s to %s: %w", from, to, err)
	}
	return nil
}

// Remove implements FS.
func (h *HDFS) Remove(ctx context.Context, name string) error {
	if err := h.check(ctx); err != nil {
		return err
	}
	err := h.client.Remove(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fs: remove: %w", err)
	}
	return nil
}

// List implements FS.
func (h *HDFS) List(ctx context.Context, dir string) ([]Entry, error) {
	if err := h.check(ctx); err != nil {
		return nil, err
	}
	fis, err := h.client.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fs: list: %w", err)
	}
	out := make([]Entry, 0, len(fis))
	for _, fi := range fis {
		out = append(out, hdfsEntry(path.Join(dir, fi.Name()), fi))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Walk implements FS.
func (h *HDFS) Walk(ctx context.Context, dir string, fn func(Entry) error) error {
	return walk(ctx, h, dir, fn)
}

// MkdirAll implements FS.
func (h *HDFS) MkdirAll(ctx context.Context, dir string) error {
	if err := h.check(ctx); err != nil {
		return err
	}
	if err := h.client.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fs: mkdir: %w", err)
	}
	return nil
}

// Stat implements FS.
func (h *HDFS) Stat(ctx context.Context, name string) (Entry, error) {
	if err := h.check(ctx); err != nil {
		return Entry{}, err
	}
	fi, err := h.client.Stat(name)
	if err != nil {
		return Entry{}, fmt.Errorf("fs: stat: %w", err)
	}
	return hdfsEntry(name, fi), nil
}

// Close implements FS.
func (h *HDFS) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	return h.client.Close()
}

func hdfsEntry(name string, fi os.FileInfo) Entry {
	e := Entry{Path: name, IsDir: fi.IsDir(), ModTime: fi.ModTime()}
	if !e.IsDir {
		e.Size = fi.Size()
	}
	return e
}
