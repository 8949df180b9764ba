// Package fs is the small file-system interface the loader writes its sink
// through, with a local-folder implementation and an HDFS one
// (github.com/colinmarc/hdfs/v2).
//
// The loader's commit protocol needs only a handful of operations, and two
// guarantees that differ between file systems are made uniform here:
//
//   - Rename never overwrites: if the destination exists it fails with an
//     error wrapping [ErrExist] (HDFS's rename2 would overwrite silently).
//   - File.Close is durable: the local implementation fsyncs the file (and
//     Create/Rename fsync the parent folder); the HDFS one closes the block
//     pipeline, retrying while the last block is still replicating.
//
// Paths given to an FS are slash-separated and absolute within the file
// system (as returned by [Open] for the sink root). Tests inject faults
// through the wrapper in loader/fs/faultfs.
package fs

import (
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"time"
)

// ErrExist is wrapped by Create and Rename when the target already exists.
// It is io/fs.ErrExist, so errors.Is(err, os.ErrExist) works too.
var ErrExist = iofs.ErrExist

// ErrNotExist is wrapped by Open, Stat and Rename (for the source) when the
// file does not exist. It is io/fs.ErrNotExist.
var ErrNotExist = iofs.ErrNotExist

// ErrClosed is returned by every call on an FS after Close.
var ErrClosed = errors.New("fs: file system closed")

// FS is a sink file system. Implementations are safe for concurrent use.
type FS interface {
	// Create makes a new file for writing, creating missing parent
	// folders. It fails with an error wrapping ErrExist if name exists.
	Create(ctx context.Context, name string) (File, error)
	// Open opens an existing file for reading.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Rename moves from to to. It must NOT overwrite: if to exists it
	// fails with an error wrapping ErrExist. Missing parents of to are
	// created.
	Rename(ctx context.Context, from, to string) error
	// Remove deletes a file or an empty folder; removing an absent name is
	// not an error.
	Remove(ctx context.Context, name string) error
	// List returns the entries directly inside dir, sorted by path. An
	// absent dir gives an empty list and a nil error.
	List(ctx context.Context, dir string) ([]Entry, error)
	// Walk calls fn for every entry below dir (not dir itself), depth
	// first, in lexical order, folders before their contents. An absent
	// dir is not an error. An error from fn stops the walk and is
	// returned.
	Walk(ctx context.Context, dir string, fn func(Entry) error) error
	// MkdirAll creates dir and its missing parents.
	MkdirAll(ctx context.Context, dir string) error
	// Stat describes name, or fails with an error wrapping ErrNotExist.
	Stat(ctx context.Context, name string) (Entry, error)
	// Close releases the file system's connections.
	Close() error
}

// File is a file being written. Exactly one of Close or Abort must be
// called; after either, further calls fail.
type File interface {
	io.Writer
	// Close finishes the file; when it returns nil the contents are
	// durable (fsync locally; on HDFS the block pipeline is closed,
	// retried while hdfs.IsErrReplicating).
	Close() error
	// Abort closes the file, ignoring errors, and deletes it. Use it after
	// any write error: an HDFS writer cannot recover from a failed
	// pipeline, the file must be rewritten whole.
	Abort() error
}

// Entry describes a file or folder.
type Entry struct {
	Path    string // slash-separated, absolute within the FS
	Size    int64
	IsDir   bool
	ModTime time.Time
}
