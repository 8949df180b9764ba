package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/broker/internal/frames"
	"github.com/sluicehq/sluice/broker/log/vfs"
)

// File names in the node's folder (see the package comment).
const (
	walFileName  = "raft.wal"
	lockFileName = "LOCK"
	snapPrefix   = "snap-"
	snapSuffix   = ".snap"
)

const (
	frameHeaderLen = 8
	// maxWALFrame bounds a log record, so a corrupt length cannot make
	// Start allocate without limit: a proposal (MaxProposalBytes) plus its
	// envelope and the entry's own fields fit well inside it.
	maxWALFrame = 2 * MaxProposalBytes
	// maxSnapFrame bounds a snapshot file's one frame.
	maxSnapFrame = 1 << 30
)

// Record kinds: the first byte of every log frame's payload.
const (
	recHeader    byte = 1 // walMagic and the node id (8 bytes big-endian); always the first record
	recEntry     byte = 2 // a raftpb.Entry
	recHardState byte = 3 // a raftpb.HardState
	recSnapshot  byte = 4 // a raftpb.SnapshotMetadata: the log now starts after the snapshot in snap-<index>.snap
)

var walMagic = []byte("SLQWAL1")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walState is what a log file holds once replayed.
type walState struct {
	snap *raftpb.Snapshot // the snapshot the log starts from; nil if none
	ents []*raftpb.Entry  // contiguous, after the snapshot
	hs   *raftpb.HardState
}

// empty reports whether the log holds no state. Entries without a hard
// state can only be a first write torn by a crash (raft's first Ready
// with entries always changes the term too, and the hard state is written
// after its entries): nothing of it was acknowledged, so they do not count.
func (s *walState) empty() bool { return s.snap == nil && s.hs == nil }

func (s *walState) snapIndex() uint64 { return s.snap.GetMetadata().GetIndex() }

// wal is the node's raft log file, opened for appending. It is used by the
// node's loop goroutine alone.
type wal struct {
	fs     vfs.FS
	dir    string
	path   string
	nodeID uint64
	f      vfs.File
	buf    []byte
}

// openWAL opens (or creates) the log in dir, checks and replays every
// frame, cuts a torn tail with a warning and returns the replayed state.
func openWAL(fs vfs.FS, dir string, nodeID uint64, logger *slog.Logger) (*wal, *walState, error) {
	w := &wal{fs: fs, dir: dir, path: filepath.Join(dir, walFileName), nodeID: nodeID}
	f, err := fs.OpenAppend(w.path)
	created := errors.Is(err, os.ErrNotExist)
	if created {
		f, err = fs.Create(w.path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("quorum: open %s: %w", w.path, err)
	}
	w.f = f
	st, err := w.load(logger)
	if err == nil && created {
		// The file's name must be durable before anything it holds is.
		err = fs.SyncDir(dir)
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return w, st, nil
}

// load replays the open file and makes sure it starts with the header.
func (w *wal) load(logger *slog.Logger) (*walState, error) {
	size, err := w.f.Size()
	if err != nil {
		return nil, fmt.Errorf("quorum: size of %s: %w", w.path, err)
	}
	st := &walState{}
	valid, n, reason, err := scanFrames(w.path, w.f, size, maxWALFrame, func(pos, n int64, p []byte) error {
		return w.replay(st, pos, n, p)
	})
	if err != nil {
		return nil, err
	}
	if valid < size {
		logger.Warn("quorum: cutting the torn tail of the raft log", "path", w.path, "pos", valid, "end", size,
			"bytes", size-valid, "frame", n, "reason", reason)
		if err := w.f.Truncate(valid); err != nil {
			return nil, fmt.Errorf("quorum: cut the torn tail of %s at byte %d: %w", w.path, valid, err)
		}
		if err := w.f.Sync(); err != nil {
			return nil, fmt.Errorf("quorum: sync %s after cutting its tail: %w", w.path, err)
		}
	}
	if n == 0 {
		// New, or a crash cut the header itself: nothing else can follow.
		if _, err := w.f.Write(w.header(nil)); err != nil {
			return nil, fmt.Errorf("quorum: write %s: %w", w.path, err)
		}
		if err := w.f.Sync(); err != nil {
			return nil, fmt.Errorf("quorum: sync %s: %w", w.path, err)
		}
	}
	return st, nil
}

// replay adds frame n (at byte pos) to st.
func (w *wal) replay(st *walState, pos, n int64, p []byte) error {
	bad := func(format string, args ...any) error {
		return &CorruptionError{Path: w.path, Pos: pos, Frame: n, Reason: fmt.Sprintf(format, args...)}
	}
	kind, body := p[0], p[1:]
	if (n == 0) != (kind == recHeader) {
		return bad("record kind %d where the header must be first and only first", kind)
	}
	switch kind {
	case recHeader:
		if len(body) != len(walMagic)+8 || string(body[:len(walMagic)]) != string(walMagic) {
			return bad("not a sluice raft log header")
		}
		if id := binary.BigEndian.Uint64(body[len(walMagic):]); id != w.nodeID {
			return fmt.Errorf("quorum: %s is the raft log of node %d, not of node %d", w.path, id, w.nodeID)
		}
	case recSnapshot:
		md := &raftpb.SnapshotMetadata{}
		if err := proto.Unmarshal(body, md); err != nil {
			return bad("snapshot record: %v", err)
		}
		snap, err := readSnapshot(w.fs, w.dir, md.GetIndex())
		if err != nil {
			return err
		}
		if got := snap.GetMetadata(); got.GetIndex() != md.GetIndex() || got.GetTerm() != md.GetTerm() {
			return bad("snapshot file holds index %d term %d, the log says index %d term %d",
				got.GetIndex(), got.GetTerm(), md.GetIndex(), md.GetTerm())
		}
		if md.GetIndex() < st.snapIndex() {
			return bad("snapshot at index %d after one at %d", md.GetIndex(), st.snapIndex())
		}
		st.snap, st.ents = snap, nil
	case recEntry:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(body, e); err != nil {
			return bad("entry record: %v", err)
		}
		base := st.snapIndex()
		if e.GetIndex() <= base {
			return nil // covered by the snapshot
		}
		at := e.GetIndex() - base - 1
		if at > uint64(len(st.ents)) {
			return bad("entry %d after entry %d leaves a gap", e.GetIndex(), base+uint64(len(st.ents)))
		}
		// A later entry at the same or a lower index replaces the suffix
		// (a new leader overwrote an uncommitted tail).
		st.ents = append(st.ents[:at], e)
	case recHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(body, hs); err != nil {
			return bad("hard state record: %v", err)
		}
		st.hs = hs
	default:
		return bad("unknown record kind %d", kind)
	}
	return nil
}

// header returns buf with the header frame appended.
func (w *wal) header(buf []byte) []byte {
	body := binary.BigEndian.AppendUint64(append([]byte(nil), walMagic...), w.nodeID)
	return appendFrame(buf, recHeader, body)
}

// save appends entries, then the hard state (entries first: a torn tail
// can then lose the hard state but never keep one whose entries are
// gone), in one write, fsynced if sync.
func (w *wal) save(hs *raftpb.HardState, ents []*raftpb.Entry, sync bool) error {
	buf := w.buf[:0]
	var err error
	for _, e := range ents {
		if buf, err = appendRecord(buf, recEntry, e); err != nil {
			return err
		}
	}
	if hs != nil {
		if buf, err = appendRecord(buf, recHardState, hs); err != nil {
			return err
		}
	}
	w.buf = buf[:0]
	if len(buf) == 0 {
		return nil
	}
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("quorum: write %s: %w", w.path, err)
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("quorum: sync %s: %w", w.path, err)
		}
	}
	return nil
}

// rewrite replaces the log, atomically, with one that starts from the
// snapshot md (already in its own file) and holds hs and ents (the entries
// after it), then reopens it for appending.
func (w *wal) rewrite(md *raftpb.SnapshotMetadata, hs *raftpb.HardState, ents []*raftpb.Entry) error {
	buf := w.header(nil)
	var err error
	if buf, err = appendRecord(buf, recSnapshot, md); err != nil {
		return err
	}
	if hs != nil {
		if buf, err = appendRecord(buf, recHardState, hs); err != nil {
			return err
		}
	}
	for _, e := range ents {
		if buf, err = appendRecord(buf, recEntry, e); err != nil {
			return err
		}
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("quorum: close %s: %w", w.path, err)
	}
	w.f = nil
	if err := vfs.WriteFileAtomic(w.fs, w.path, buf, true); err != nil {
		return fmt.Errorf("quorum: rewrite the raft log: %w", err)
	}
	f, err := w.fs.OpenAppend(w.path)
	if err != nil {
		return fmt.Errorf("quorum: reopen %s: %w", w.path, err)
	}
	w.f = f
	return nil
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// appendRecord appends one frame holding kind and m.
func appendRecord(buf []byte, kind byte, m proto.Message) ([]byte, error) {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeaderLen)...)
	buf = append(buf, kind)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return nil, fmt.Errorf("quorum: encode record: %w", err)
	}
	return sealFrame(buf, start)
}

// appendFrame appends one frame holding kind and body.
func appendFrame(buf []byte, kind byte, body []byte) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeaderLen)...)
	buf = append(append(buf, kind), body...)
	buf, _ = sealFrame(buf, start)
	return buf
}

// sealFrame fills in the length and CRC32C of the frame at buf[start:].
func sealFrame(buf []byte, start int) ([]byte, error) {
	payload := buf[start+frameHeaderLen:]
	if len(payload) > maxWALFrame {
		return nil, fmt.Errorf("quorum: record of %d bytes is over the %d-byte limit", len(payload), maxWALFrame)
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf, nil
}

// scanFrames reads frames of up to maxLen bytes from the start of f (size
// bytes; broker/internal/frames), calling fn for each valid one with its
// position and number. It returns the end of the last valid frame and the
// number of valid frames; if the file continues past them with a torn
// tail (a crash during a write: a partial frame, a last frame failing its
// CRC, zeros), reason says why it is torn. A bad frame followed by more
// data is a *CorruptionError.
func scanFrames(path string, f io.ReaderAt, size int64, maxLen int64, fn func(pos, n int64, payload []byte) error) (valid, n int64, reason string, err error) {
	valid, n, reason, err = frames.Scan(f, size, frames.Options{MaxLen: maxLen}, fn)
	var c *frames.Corrupt
	var re *frames.ReadError
	switch {
	case errors.As(err, &c):
		why := c.Reason
		if c.Following > 0 {
			why = fmt.Sprintf("%s, and %d more bytes follow", why, c.Following)
		}
		err = &CorruptionError{Path: path, Pos: c.Pos, Frame: c.Frame, Reason: why}
	case errors.As(err, &re) && re.Pos >= 0:
		err = fmt.Errorf("quorum: read %s at byte %d: %w", path, re.Pos, re.Err)
	case errors.As(err, &re):
		err = fmt.Errorf("quorum: read %s: %w", path, re.Err)
	}
	return valid, n, reason, err
}

func snapPath(dir string, index uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%016x%s", snapPrefix, index, snapSuffix))
}

// writeSnapshot stores snap in its own file, atomically and durably: one
// frame (length, CRC32C, the marshalled raftpb.Snapshot).
func writeSnapshot(fs vfs.FS, dir string, snap *raftpb.Snapshot) error {
	body, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("quorum: encode snapshot: %w", err)
	}
	if len(body) > maxSnapFrame {
		return fmt.Errorf("quorum: snapshot of %d bytes is over the %d-byte limit", len(body), maxSnapFrame)
	}
	buf := make([]byte, frameHeaderLen, frameHeaderLen+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	binary.BigEndian.PutUint32(buf[4:], crc32.Checksum(body, castagnoli))
	buf = append(buf, body...)
	if err := vfs.WriteFileAtomic(fs, snapPath(dir, snap.GetMetadata().GetIndex()), buf, true); err != nil {
		return fmt.Errorf("quorum: save snapshot: %w", err)
	}
	return nil
}

// readSnapshot reads the snapshot file of index. It was written atomically,
// so any damage is corruption.
func readSnapshot(fs vfs.FS, dir string, index uint64) (*raftpb.Snapshot, error) {
	path := snapPath(dir, index)
	b, err := vfs.ReadFile(fs, path)
	if err != nil {
		return nil, fmt.Errorf("quorum: the raft log starts from a snapshot at index %d: %w", index, err)
	}
	bad := func(why string) error { return &CorruptionError{Path: path, Reason: why} }
	if len(b) < frameHeaderLen {
		return nil, bad(fmt.Sprintf("%d bytes, shorter than a frame header", len(b)))
	}
	length := binary.BigEndian.Uint32(b)
	if int64(length) != int64(len(b)-frameHeaderLen) {
		return nil, bad(fmt.Sprintf("frame says %d bytes, the file holds %d", length, len(b)-frameHeaderLen))
	}
	if got, want := crc32.Checksum(b[frameHeaderLen:], castagnoli), binary.BigEndian.Uint32(b[4:]); got != want {
		return nil, bad(fmt.Sprintf("CRC32C is %08x, frame says %08x", got, want))
	}
	snap := &raftpb.Snapshot{}
	if err := proto.Unmarshal(b[frameHeaderLen:], snap); err != nil {
		return nil, bad(err.Error())
	}
	return snap, nil
}

// removeStale deletes the snapshot files other than keep's (older ones a
// compaction replaced, or a newer one whose log rewrite a crash prevented)
// and leftover temporary files.
func removeStale(fs vfs.FS, dir string, keep uint64) error {
	names, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("quorum: list %s: %w", dir, err)
	}
	removed := false
	for _, name := range names {
		stale := strings.HasSuffix(name, ".tmp")
		if s, ok := strings.CutPrefix(name, snapPrefix); ok && strings.HasSuffix(s, snapSuffix) {
			idx, err := strconv.ParseUint(strings.TrimSuffix(s, snapSuffix), 16, 64)
			stale = err == nil && idx != keep
		}
		if !stale {
			continue
		}
		if err := fs.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("quorum: remove %s: %w", name, err)
		}
		removed = true
	}
	if removed {
		if err := fs.SyncDir(dir); err != nil {
			return fmt.Errorf("quorum: sync %s: %w", dir, err)
		}
	}
	return nil
}
