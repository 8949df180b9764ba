package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluicehq/sluice/broker/internal/frames"
	"github.com/sluicehq/sluice/broker/log/vfs"
)

// Journal is the durable, ordered log of metadata entries. The local
// FileJournal implements it for a single node; a Raft log replaces it for a
// cluster without touching the broker.
type Journal interface {
	// Append durably appends one payload and returns its offset: 0 for the
	// first payload, then one more each time.
	Append(ctx context.Context, rec []byte) (offset int64, err error)
	// Replay calls fn for every payload in order, stopping at fn's first
	// error, which it returns.
	Replay(fn func(offset int64, rec []byte) error) error
	// Close releases the journal; later calls fail with ErrClosed.
	Close() error
}

// FileJournalOptions configures OpenFileJournal.
type FileJournalOptions struct {
	// Logger receives a warning when a torn tail is truncated; nil discards.
	Logger *slog.Logger
	// FS is the file system the journal file lives on (the broker's vfs,
	// so tests run it on errorfs); nil is the operating system's.
	FS vfs.FS
}

const (
	frameHeaderLen = 8
	// maxFrameLen bounds a payload so a corrupt length cannot make the
	// journal allocate without limit. Metadata entries are small.
	maxFrameLen = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFrameSize is returned by Append for an empty payload or one longer
// than the frame limit (64 MiB).
var ErrFrameSize = errors.New("meta: journal payload must be 1 byte to 64 MiB")

// FileJournal is a Journal in one local file of length- and CRC32C-framed
// payloads (see the package comment), fsynced on every append. After a
// failed write or sync it returns that error from every later Append until
// Recover succeeds or it is reopened; either drops whatever the failed
// append left.
type FileJournal struct {
	path string
	mu   struct {
		sync.Mutex
		f      vfs.File
		size   int64 // bytes of valid frames
		next   int64 // offset of the next append
		err    error // sticky write or sync error
		closed bool
	}
}

// OpenFileJournal opens or creates the journal at path, checks every frame,
// and truncates a torn tail (logging what it cut). A bad frame followed by
// more data fails with a *CorruptionError.
func OpenFileJournal(path string, opts FileJournalOptions) (*FileJournal, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	f, size, err := openJournalFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("meta: open journal: %w", err)
	}
	valid, n, reason, err := scanFrames(path, f, size, nil)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if valid < size {
		logger.Warn("meta: truncating torn journal tail", "path", path, "pos", valid, "end", size, "bytes", size-valid,
			"offset", n, "reason", reason, "dropped", describeTornTail(f, valid, size))
		if err := f.Truncate(valid); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("meta: truncate torn journal tail of %s at byte %d: %w", path, valid, err)
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("meta: sync %s after truncation: %w", path, err)
		}
	}
	j := &FileJournal{path: path}
	j.mu.f, j.mu.size, j.mu.next = f, valid, n
	return j, nil
}

// openJournalFile opens the journal file for reading and appending,
// creating it (and syncing its folder) if it does not exist, and returns
// it with its size.
func openJournalFile(fsys vfs.FS, path string) (vfs.File, int64, error) {
	f, err := fsys.OpenAppend(path)
	if errors.Is(err, os.ErrNotExist) {
		f, err = fsys.Create(path)
		if err == nil {
			// A new file's directory entry must be durable before the
			// first acknowledged append relies on it.
			err = fsys.SyncDir(filepath.Dir(path))
			if err != nil {
				_ = f.Close()
			}
		}
	}
	if err != nil {
		return nil, 0, err
	}
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// scanFrames reads frames from the start of f (size bytes), calling fn for
// each valid one if fn is not nil (broker/internal/frames). It returns the
// end of the last valid frame and the number of valid frames; if the file
// continues past them with a torn tail, reason says why it is torn.
// Corruption followed by more data is a *CorruptionError.
func scanFrames(path string, f io.ReaderAt, size int64, fn func(off int64, payload []byte) error) (valid, n int64, reason string, err error) {
	var each func(pos, n int64, p []byte) error
	if fn != nil {
		each = func(_, n int64, p []byte) error { return fn(n, p) }
	}
	valid, n, reason, err = frames.Scan(f, size, frames.Options{MaxLen: maxFrameLen, EmptyLastFrameTorn: true, ReuseBuffer: true}, each)
	var c *frames.Corrupt
	var re *frames.ReadError
	switch {
	case errors.As(err, &c):
		err = &CorruptionError{Path: path, Pos: c.Pos, Offset: c.Frame, Reason: c.Reason}
	case errors.As(err, &re) && re.Pos >= 0:
		err = fmt.Errorf("meta: read journal %s at byte %d: %w", path, re.Pos, re.Err)
	case errors.As(err, &re):
		err = fmt.Errorf("meta: read journal %s: %w", path, re.Err)
	}
	return valid, n, reason, err
}

// Append writes one frame and fsyncs it.
func (j *FileJournal) Append(ctx context.Context, rec []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if len(rec) == 0 || len(rec) > maxFrameLen {
		return -1, fmt.Errorf("%w: got %d bytes", ErrFrameSize, len(rec))
	}
	frame := make([]byte, frameHeaderLen+len(rec))
	binary.BigEndian.PutUint32(frame[0:4], uint32(len(rec)))
	binary.BigEndian.PutUint32(frame[4:8], crc32.Checksum(rec, castagnoli))
	copy(frame[frameHeaderLen:], rec)

	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.mu.closed:
		return -1, ErrClosed
	case j.mu.err != nil:
		return -1, j.mu.err
	}
	if _, err := j.mu.f.Write(frame); err != nil {
		j.mu.err = fmt.Errorf("meta: write journal %s: %w", j.path, err)
		return -1, j.mu.err
	}
	if err := j.mu.f.Sync(); err != nil {
		j.mu.err = fmt.Errorf("meta: sync journal %s: %w", j.path, err)
		return -1, j.mu.err
	}
	off := j.mu.next
	j.mu.next++
	j.mu.size += int64(len(frame))
	return off, nil
}

// journalProbeBytes is what Recover appends (zeros) to test the disk.
const journalProbeBytes = 64 << 10

// Recover makes a journal whose write or sync failed writable again if the
// disk takes writes. It cuts the file back to the end of the last
// acknowledged frame: every acknowledged frame was fsynced, so nothing
// before it needs checking, and a frame whose write or sync failed was
// refused to its caller, so it must not survive (with a failed fsync its
// bytes are not known durable either). It then probes the disk by
// appending journalProbeBytes zeros, fsyncing and cutting them off (a
// crash mid-probe leaves a zero-filled tail, which Open truncates), and
// clears the error. On a journal that has not failed it does nothing.
func (j *FileJournal) Recover() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.mu.closed:
		return ErrClosed
	case j.mu.err == nil:
		return nil
	}
	f := j.mu.f
	if err := f.Truncate(j.mu.size); err != nil {
		return fmt.Errorf("meta: journal %s stays read-only: cut the refused frame at byte %d: %w", j.path, j.mu.size, err)
	}
	_, err := f.Write(make([]byte, journalProbeBytes))
	if err == nil {
		err = f.Sync()
	}
	if terr := f.Truncate(j.mu.size); err == nil {
		err = terr
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return fmt.Errorf("meta: journal %s stays read-only: probe write: %w", j.path, err)
	}
	j.mu.err = nil
	return nil
}

// Replay calls fn for every appended payload in order. The slice passed to
// fn is reused: copy it to keep it.
func (j *FileJournal) Replay(fn func(offset int64, rec []byte) error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.closed {
		return ErrClosed
	}
	_, _, _, err := scanFrames(j.path, j.mu.f, j.mu.size, fn)
	return err
}

// NextOffset returns the offset the next Append will get.
func (j *FileJournal) NextOffset() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.next
}

// Close closes the file.
func (j *FileJournal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.closed {
		return ErrClosed
	}
	j.mu.closed = true
	if err := j.mu.f.Close(); err != nil {
		return fmt.Errorf("meta: close journal %s: %w", j.path, err)
	}
	return nil
}
