package log

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// FS is the file-system interface all log I/O goes through.
type FS = vfs.FS

// File is an open file of an FS.
type File = vfs.File

// Options are the log's collaborators.
type Options struct {
	// FS defaults to the operating system's.
	FS FS
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now; tests drive time through it.
	Now func() time.Time
	// Files bounds the segment and index files held open; the logs of a
	// broker share one. nil gives the log its own cache without a bound.
	Files *FileCache
}

// Log is one partition's log. Appends are serialised by mu; reads use only
// atomics and a copy-on-write segment list, so they never wait for I/O
// done under the append lock.
type Log struct {
	dir    string
	fs     FS
	files  *FileCache
	logger *slog.Logger
	now    func() time.Time

	cfg   atomic.Pointer[Config]
	segs  atomic.Pointer[[]*segment] // sorted by base; the last is active
	start atomic.Int64               // log start offset
	end   atomic.Int64               // next offset to assign
	done  atomic.Bool                // set by Close; reads fail with ErrClosed
	epoch atomic.Int32               // leader epoch stamped on appended batches
	// failed mirrors mu.err for lock-free Failure calls (recover.go).
	failed atomic.Pointer[failure]
	// damage lists the damaged ranges by segment and start (damage.go);
	// written under mu, read lock-free.
	damage atomic.Pointer[[]DamagedRange]
	// reloading marks the throwaway Log that Recover loads the folder
	// into: its failures are Recover's to report, not its own.
	reloading bool
	// truncationResumed says load found the marker of an interrupted
	// TruncateTo (replica.go), so the epoch to stamp is the log's.
	truncationResumed bool
	// fileErr is a failed fsync the file cache did before closing one of
	// the log's files; the next append or flush fails the log with it.
	// Shared with the Log that Recover reloads into, whose files l adopts.
	fileErr *atomic.Pointer[error]

	flushMu sync.Mutex // serialises Flush
	mu      struct {
		sync.Mutex
		err            error // sticky write/sync failure
		closed         bool
		producers      producerState
		epochs         epochCache // leader epochs and their start offsets (epochs.go)
		recoveryPoint  int64
		unflushed      int64     // records appended since the last flush
		firstUnflushed time.Time // when the oldest unflushed append happened
	}
}

// AppendResult says where an append landed.
type AppendResult struct {
	BaseOffset, LastOffset int64
	// LogAppendTime is the broker timestamp stamped on the batches, or -1
	// when the topic uses CreateTime.
	LogAppendTime  int64
	LogStartOffset int64
}

// Chunk is a byte range of one segment holding whole batches. It holds the
// segment file open (even if the segment is deleted meanwhile) until
// Release, which the reader must call once it has read or sent the bytes.
type Chunk struct {
	// File is the segment file on the OS file system (for sendfile with
	// explicit offsets); nil with another FS or when Size is 0. Do not
	// close it; do not use it after Release.
	File *os.File
	// R reads the segment until Release; nil when Size is 0.
	R         io.ReaderAt
	Pos, Size int64
	ref       *fileRef
}

// Release lets the file cache close the chunk's segment file again.
// Calling it more than once, or on an empty chunk, does nothing.
func (c Chunk) Release() { c.ref.release() }

// Config returns the current configuration.
func (l *Log) Config() Config { return *l.cfg.Load() }

// SetConfig changes the configuration; it applies to the next append or
// Maintain call.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.cfg.Store(&cfg)
	return nil
}

// SetLeaderEpoch sets the partitionLeaderEpoch that Append stamps on every
// batch, as Kafka's leader does (0 until replication changes it).
//
// An epoch newer than every epoch the log has starts at the log end (in
// the leader-epoch checkpoint) even before a batch is appended in it, as
// a Kafka leader records its epoch when it takes over.
func (l *Log) SetLeaderEpoch(epoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch.Store(epoch)
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	if l.mu.epochs.assign(epoch, l.end.Load()) {
		return l.persistEpochsLocked()
	}
	return nil
}

// Dir is the partition folder.
func (l *Log) Dir() string { return l.dir }

// StartOffset is the first offset that may be read.
func (l *Log) StartOffset() int64 { return l.start.Load() }

// EndOffset is the next offset to be assigned.
func (l *Log) EndOffset() int64 { return l.end.Load() }

// Size is the bytes held in segment files.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range *l.segs.Load() {
		n += s.size.Load()
	}
	return n
}

func (l *Log) active() *segment {
	segs := *l.segs.Load()
	return segs[len(segs)-1]
}

// checkWritableLocked returns why the log cannot be written, if it cannot.
func (l *Log) checkWritableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.err == nil {
		if p := l.fileErr.Load(); p != nil {
			l.failLocked(fmt.Errorf("log: %w", *p))
		}
	}
	if l.mu.err != nil {
		return fmt.Errorf("log %s is read-only after a failed write (until Recover finds the disk writable): %w", l.dir, l.mu.err)
	}
	return nil
}

// failLocked makes err sticky: the log is read-only until Recover.
func (l *Log) failLocked(err error) error {
	if l.mu.err == nil {
		l.mu.err = err
		if !l.reloading {
			l.failed.Store(&failure{err: err, since: l.now()})
			l.logger.Error("partition log read-only: a write failed; appends are refused until the disk takes writes again",
				"dir", l.dir, "err", err)
		}
	}
	return err
}

// Append validates, assigns offsets to and writes one or more concatenated
// record batches. It rewrites the batches in place.
func (l *Log) Append(batches []byte) (AppendResult, error) {
	cfg := l.cfg.Load()
	hs, records, err := validateAppend(batches, cfg.MaxMessageBytes, cfg.recordLimits())
	if err != nil {
		return AppendResult{}, err
	}
	res := AppendResult{LogAppendTime: -1}
	if cfg.LogAppendTime {
		res.LogAppendTime = l.now().UnixMilli()
		pos := 0
		for i := range hs {
			stampLogAppendTime(batches[pos:], &hs[i], res.LogAppendTime)
			pos += int(hs[i].TotalSize())
		}
	}

	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return AppendResult{}, err
	}
	end := l.end.Load()
	staged, dup, err := l.mu.producers.check(hs, end)
	if err != nil {
		l.mu.Unlock()
		if errors.Is(err, ErrDuplicateSequence) {
			res.BaseOffset, res.LastOffset, res.LogStartOffset = dup.firstOffset, dup.lastOffset, l.start.Load()
			return res, err
		}
		return AppendResult{}, err
	}
	off, epoch := end, l.epoch.Load()
	for i, pos := 0, 0; i < len(hs); i++ {
		setBaseOffset(batches[pos:], off)
		setLeaderEpoch(batches[pos:], epoch)
		hs[i].PartitionLeaderEpoch = epoch
		hs[i].BaseOffset = off
		off += int64(hs[i].NumRecords)
		pos += int(hs[i].TotalSize())
	}
	needFlush, err := l.writeLocked(cfg, batches, hs, records, func() { l.mu.producers.commit(staged, hs) })
	if err != nil {
		l.mu.Unlock()
		return AppendResult{}, err
	}
	res.BaseOffset, res.LastOffset, res.LogStartOffset = end, off-1, l.start.Load()
	l.mu.Unlock()
	if needFlush {
		if err := l.Flush(); err != nil {
			return AppendResult{}, err
		}
	}
	return res, nil
}

// validateAppend checks batches as every append does before it takes the
// lock (length fields, magic, CRC32C, record count, maxBytes if > 0, then
// the records themselves within lim) and returns their headers and how
// many records they hold.
func validateAppend(batches []byte, maxBytes int, lim recordLimits) ([]BatchHeader, int64, error) {
	hs, err := ValidateBatches(batches, maxBytes)
	if err != nil {
		return nil, 0, err
	}
	if err := checkBatchRecords(batches, hs, lim); err != nil {
		return nil, 0, err
	}
	var records int64
	for _, h := range hs {
		records += int64(h.NumRecords)
	}
	return hs, records, nil
}

// writeLocked is the write half of Append and AppendReplicated: batches
// (headers hs, offsets and leader epochs already in place, the first at
// the end offset or, after a compaction gap, past it) go to the active
// segment, rolled first if they do not fit, with one write(2); they are
// indexed, commit records their producers, the end offset moves past them,
// a leader epoch new to the log is recorded where its first batch starts,
// and they count towards flush.messages. It reports whether a flush is due.
// A failed write makes the log read-only.
func (l *Log) writeLocked(cfg *Config, batches []byte, hs []BatchHeader, records int64, commit func()) (bool, error) {
	now := l.now()
	s := l.active()
	last := hs[len(hs)-1].LastOffset()
	if l.shouldRollLocked(s, cfg, int64(len(batches)), last, now) {
		var err error
		if s, err = l.rollLocked(); err != nil {
			return false, err
		}
	}
	if _, err := s.log.Write(batches); err != nil {
		return false, l.failLocked(fmt.Errorf("log: write %s: %w", s.name(), err))
	}
	pos := s.size.Load()
	for i := range hs {
		s.noteBatch(&hs[i])
		s.indexBatch(&hs[i], pos, cfg.IndexIntervalBytes)
		pos += hs[i].TotalSize()
	}
	if s.rollStart.IsZero() {
		s.rollStart = now
	}
	commit()
	s.size.Store(pos)
	l.end.Store(last + 1)
	newEpoch := false
	for i := range hs { // only a new epoch: no write otherwise
		newEpoch = l.mu.epochs.assign(hs[i].PartitionLeaderEpoch, hs[i].BaseOffset) || newEpoch
	}
	if newEpoch {
		if err := l.persistEpochsLocked(); err != nil {
			return false, err
		}
	}
	if l.mu.unflushed == 0 {
		l.mu.firstUnflushed = now
	}
	l.mu.unflushed += records
	return l.mu.unflushed >= cfg.FlushMessages, nil
}

// shouldRollLocked says whether bytes more, ending at offset last, need a
// new active segment.
func (l *Log) shouldRollLocked(s *segment, cfg *Config, bytes, last int64, now time.Time) bool {
	size := s.size.Load()
	if size == 0 {
		return false
	}
	switch {
	case size+bytes > cfg.SegmentBytes:
		return true
	case !s.rollStart.IsZero() && now.Sub(s.rollStart) >= cfg.SegmentMs:
		return true
	case (s.offIdx.count()+1)*offsetIndexEntryLen > cfg.SegmentIndexBytes,
		(s.timeIdx.count()+2)*timeIndexEntryLen > cfg.SegmentIndexBytes:
		return true
	case last-s.base > math.MaxInt32:
		return true
	}
	return false
}

// rollLocked closes the active segment and starts a new one at the end
// offset, writing a producer-state snapshot for that offset.
func (l *Log) rollLocked() (*segment, error) {
	old := l.active()
	end := l.end.Load()
	old.sealTimeIndex()
	if err := old.offIdx.release(); err != nil {
		return nil, l.failLocked(fmt.Errorf("log: write index of %s: %w", old.name(), err))
	}
	if err := old.timeIdx.release(); err != nil {
		return nil, l.failLocked(fmt.Errorf("log: write time index of %s: %w", old.name(), err))
	}
	if err := l.writeSnapshotLocked(end); err != nil {
		// A missing snapshot only costs a longer scan on open.
		l.logger.Warn("producer state snapshot failed", "dir", l.dir, "offset", end, "err", err)
	}
	s, err := openSegment(l, end, true, false)
	if err != nil {
		return nil, l.failLocked(fmt.Errorf("log: roll to %d: %w", end, err))
	}
	old.closedAt = l.now()
	segs := append(append([]*segment(nil), *l.segs.Load()...), s)
	l.segs.Store(&segs)
	return s, nil
}

// Read returns whole batches starting with the one holding offset, up to
// maxBytes but at least one batch. The caller must Release the chunk.
func (l *Log) Read(offset int64, maxBytes int) (Chunk, error) {
	for attempt := 0; ; attempt++ {
		c, err := l.read(offset, maxBytes)
		if errors.Is(err, ErrSegmentGone) && attempt < 8 {
			// The segment was deleted or replaced (compaction) after the
			// segment list was loaded: look again in the new list.
			continue
		}
		return c, err
	}
}

func (l *Log) read(offset int64, maxBytes int) (Chunk, error) {
	if l.done.Load() {
		return Chunk{}, ErrClosed
	}
	end := l.end.Load()
	segs := *l.segs.Load()
	start := l.start.Load()
	if offset == end {
		return Chunk{Pos: segs[len(segs)-1].size.Load()}, nil
	}
	if offset < start || offset > end {
		return Chunk{}, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange, offset, start, end)
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	if i < 0 {
		return Chunk{}, fmt.Errorf("%w: offset %d below the first segment %d", ErrOffsetOutOfRange, offset, segs[0].base)
	}
	for ; i < len(segs); i++ {
		next := int64(-1)
		if i+1 < len(segs) {
			next = segs[i+1].base
		}
		c, found, err := l.readSegment(segs[i], offset, maxBytes, next)
		if err != nil {
			if e := l.end.Load(); offset >= e && !errors.Is(err, ErrOffsetOutOfRange) {
				// TruncateTo cut the log below offset while it was read.
				return Chunk{}, fmt.Errorf("%w: offset %d not in [%d, %d] (the log was truncated meanwhile)", ErrOffsetOutOfRange, offset, l.start.Load(), e)
			}
			return Chunk{}, fmt.Errorf("log: read offset %d: %w", offset, err)
		}
		if found {
			return c, nil
		}
		// Not found: offset fell in a gap (compaction) at the segment's end.
	}
	return Chunk{}, fmt.Errorf("%w: offset %d beyond the data", ErrOffsetOutOfRange, offset)
}

// readSegment is Read within one segment (next is the following segment's
// base offset, -1 for the active one), holding its file open for the
// chunk. The chunk starts with a batch header that parsed (length within
// the segment, magic 2) and whose last offset is at or after offset, found
// from a checked index entry, and it ends before any damaged range.
func (l *Log) readSegment(s *segment, offset int64, maxBytes int, next int64) (Chunk, bool, error) {
	f, err := s.log.acquire(false)
	if err != nil {
		return Chunk{}, false, err
	}
	var c Chunk
	found := false
	err = l.checked(s, func() error {
		c, found = Chunk{}, false
		dmg := l.damageIn(s.base)
		if r := holding(dmg, offset); r != nil {
			return &DamagedError{Dir: l.dir, Offset: offset, Range: *r}
		}
		size := s.size.Load()
		pos, p, limit, ok, err := s.findBatch(offset, size, dmg)
		if err != nil {
			return err
		}
		if !ok {
			if e := l.end.Load(); offset >= e {
				// Cut by TruncateTo since the read began: not damage.
				return fmt.Errorf("%w: offset %d not below the end offset %d", ErrOffsetOutOfRange, offset, e)
			}
			if limit == size && (next < 0 || !l.cfg.Load().Compact) {
				// Only a cleaner leaves gaps, and never at a segment's end.
				return &CorruptionError{Segment: s.name(), Position: size, Offset: offset,
					Reason: "the segment ends before this offset, which is below the next segment's base or the end offset"}
			}
			return nil
		}
		endPos, err := s.boundary(pos+p.size, pos+int64(maxBytes), limit)
		if err != nil {
			return err
		}
		c, found = Chunk{R: f, Pos: pos, Size: endPos - pos, ref: &fileRef{h: s.log}}, true
		return nil
	})
	if err != nil || !found {
		s.log.release(false)
		return Chunk{}, false, err
	}
	if of, ok := f.(vfs.OSFiler); ok {
		c.File = of.OSFile()
	}
	return c, true, nil
}

// DeleteRecordsBefore advances the log start offset to offset (Kafka's
// DeleteRecords), removing segments wholly below it. The new start is
// persisted before returning.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return 0, err
	}
	if offset > l.end.Load() || offset < 0 {
		return 0, fmt.Errorf("%w: delete records before %d, log is [%d, %d]", ErrOffsetOutOfRange, offset, l.start.Load(), l.end.Load())
	}
	if offset <= l.start.Load() {
		return l.start.Load(), nil
	}
	if err := l.setStartLocked(offset); err != nil {
		return 0, err
	}
	l.deleteSegmentsLocked(func(s, next *segment) bool { return next.base <= offset })
	return offset, nil
}

func (l *Log) setStartLocked(offset int64) error {
	l.start.Store(offset)
	if err := writeCheckpoint(l.fs, l.dir, startOffsetFile, offset, true); err != nil {
		return l.failLocked(fmt.Errorf("log: persist log start offset: %w", err))
	}
	if l.mu.epochs.truncateFromStart(offset) {
		if err := l.persistEpochsLocked(); err != nil {
			return err
		}
	}
	l.mu.producers.expire(offset)
	return nil
}

// deleteSegmentsLocked removes leading closed segments while del holds,
// advancing the start offset past them.
func (l *Log) deleteSegmentsLocked(del func(s, next *segment) bool) int {
	segs := *l.segs.Load()
	n := 0
	for n < len(segs)-1 && del(segs[n], segs[n+1]) {
		n++
	}
	if n == 0 {
		return 0
	}
	rest := append([]*segment(nil), segs[n:]...)
	if rest[0].base > l.start.Load() {
		if err := l.setStartLocked(rest[0].base); err != nil {
			return 0
		}
	}
	l.segs.Store(&rest)
	l.dropDamageLocked(func(base int64) bool { return base < rest[0].base })
	for _, s := range segs[:n] {
		l.logger.Info("deleting segment", "dir", l.dir, "segment", s.name(), "bytes", s.size.Load())
		// Retired before the unlink, so the files are never reopened; a
		// reader holding a Chunk keeps its descriptor until Release.
		s.close()
		if err := s.removeFiles(l.fs); err != nil {
			l.logger.Warn("remove segment files", "dir", l.dir, "segment", s.name(), "err", err)
		}
	}
	l.removeStaleSnapshots()
	return n
}

// Maintain rolls the active segment by segment.ms, applies retention,
// fsyncs rolled segments and applies flush.ms. The broker calls it
// periodically.
func (l *Log) Maintain(now time.Time) error {
	cfg := l.cfg.Load()
	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	s := l.active()
	if s.size.Load() > 0 && !s.rollStart.IsZero() && now.Sub(s.rollStart) >= cfg.SegmentMs {
		if _, err := l.rollLocked(); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	if cfg.RetentionMs >= 0 {
		cutoff := now.UnixMilli() - cfg.RetentionMs.Milliseconds() // no overflow for huge values
		l.deleteSegmentsLocked(func(s, _ *segment) bool {
			ts := s.maxTs.Load()
			if ts < 0 { // no batch has a timestamp: use when it was closed
				ts = s.closedAt.UnixMilli()
			}
			return ts < cutoff
		})
	}
	if cfg.RetentionBytes >= 0 {
		excess := l.Size() - cfg.RetentionBytes
		l.deleteSegmentsLocked(func(s, _ *segment) bool {
			if excess-s.size.Load() < 0 {
				return false
			}
			excess -= s.size.Load()
			return true
		})
	}
	needFlush := l.mu.recoveryPoint < l.active().base ||
		(l.mu.unflushed > 0 && now.Sub(l.mu.firstUnflushed) >= cfg.FlushMs)
	l.mu.Unlock()
	if needFlush {
		return l.Flush()
	}
	return nil
}

// Flush writes pending index entries, fsyncs every segment that may hold
// unsynced data and advances the recovery checkpoint to the end offset.
func (l *Log) Flush() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	end, toSync, err := l.prepareFlushLocked()
	l.mu.Unlock()
	if err != nil || toSync == nil {
		return err
	}
	// fsync without the append lock: appends continue meanwhile. A segment
	// deleted meanwhile needs no fsync (its retired files skip it), and
	// Close waits for flushMu.
	err = l.syncAndCheckpoint(end, toSync)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		return l.failLocked(err)
	}
	l.finishFlushLocked(end, toSync)
	return nil
}

// prepareFlushLocked writes the active segment's pending index entries and
// returns the end offset to checkpoint and the segments to fsync (nil if
// there is nothing to flush).
func (l *Log) prepareFlushLocked() (int64, []*segment, error) {
	end := l.end.Load()
	if l.mu.recoveryPoint >= end && l.mu.unflushed == 0 {
		return end, nil, nil
	}
	act := l.active()
	if err := act.offIdx.writePending(); err != nil {
		return 0, nil, l.failLocked(fmt.Errorf("log: write index of %s: %w", act.name(), err))
	}
	if err := act.timeIdx.writePending(); err != nil {
		return 0, nil, l.failLocked(fmt.Errorf("log: write time index of %s: %w", act.name(), err))
	}
	toSync := []*segment{}
	for _, s := range *l.segs.Load() {
		if s == act || !s.synced && s.nextOffset > l.mu.recoveryPoint {
			toSync = append(toSync, s)
		}
	}
	l.mu.unflushed = 0
	return end, toSync, nil
}

func (l *Log) syncAndCheckpoint(end int64, toSync []*segment) error {
	for _, s := range toSync {
		if err := s.sync(); err != nil {
			return fmt.Errorf("log: %w", err)
		}
	}
	if err := writeCheckpoint(l.fs, l.dir, recoveryPointFile, end, true); err != nil {
		return fmt.Errorf("log: write recovery checkpoint: %w", err)
	}
	return nil
}

func (l *Log) finishFlushLocked(end int64, synced []*segment) {
	act := l.active()
	for _, s := range synced {
		if s != act && s.nextOffset <= end {
			s.synced = true
		}
	}
	l.mu.recoveryPoint = max(l.mu.recoveryPoint, end)
}

// flushLocked is Flush with the lock held throughout (used by Close).
func (l *Log) flushLocked() error {
	end, toSync, err := l.prepareFlushLocked()
	if err != nil || toSync == nil {
		return err
	}
	if err := l.syncAndCheckpoint(end, toSync); err != nil {
		return l.failLocked(err)
	}
	l.finishFlushLocked(end, toSync)
	return nil
}

// Close flushes, writes a producer-state snapshot and the clean-shutdown
// marker, and closes every file. A failed log is closed without the marker
// so that the next Open recovers it.
func (l *Log) Close() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return nil
	}
	var errs []error
	if l.mu.err == nil {
		act := l.active()
		act.sealTimeIndex()
		l.mu.unflushed++ // force the index write and checkpoint
		if err := l.flushLocked(); err != nil {
			errs = append(errs, err)
		} else {
			if err := l.writeSnapshotLocked(l.end.Load()); err != nil {
				l.logger.Warn("producer state snapshot failed", "dir", l.dir, "err", err)
			}
			if err := vfs.WriteFileAtomic(l.fs, cleanShutdownPath(l.dir), nil, true); err != nil {
				errs = append(errs, fmt.Errorf("log: write clean shutdown marker: %w", err))
			}
		}
	}
	l.mu.closed = true
	l.done.Store(true)
	for _, s := range *l.segs.Load() {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

// Delete closes the log and removes its folder (topic deletion).
func (l *Log) Delete() error {
	err := l.Close()
	if rerr := l.fs.RemoveAll(l.dir); rerr != nil {
		return fmt.Errorf("log: delete %s: %w", l.dir, rerr)
	}
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// SegmentInfo describes one segment (for compaction and metrics).
type SegmentInfo struct {
	BaseOffset   int64
	Size         int64
	MaxTimestamp int64 // -1 if no batch has a timestamp
	Active       bool  // the segment being appended to; never compacted or deleted
}

// Segments lists the segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	segs := *l.segs.Load()
	out := make([]SegmentInfo, len(segs))
	for i, s := range segs {
		out[i] = SegmentInfo{BaseOffset: s.base, Size: s.size.Load(), MaxTimestamp: s.maxTs.Load(), Active: i == len(segs)-1}
	}
	return out
}
