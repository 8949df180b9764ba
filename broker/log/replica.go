package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// What a follower replica does to its log: Kafka's appendAsFollower and
// truncateTo (KIP-101, KIP-279).
//
// AppendReplicated stores the leader's batches byte for byte: offsets,
// partitionLeaderEpoch and timestamps stay as the leader wrote them, the
// producer state and the leader-epoch cache follow them, and nothing is
// refused that the leader accepted except bytes that are not intact.
//
// TruncateTo cuts a divergent tail. It changes several files (segments,
// indexes, checkpoints, snapshots), so it is made atomic with an intent
// file in the partition folder:
//
//	truncation-point   "1 <offset>\n": a TruncateTo to offset in progress
//
// written and fsynced (with the folder) before anything is changed, and
// removed (the folder fsynced again) only once every change is durable.
// Open, and Recover (which reloads the folder as Open does), finish a
// truncation whose marker they find, so after a crash or a failed write
// the log is either as before TruncateTo or as after it. In between, the
// folder always holds a log Open accepts. The steps, in order: the
// recovery checkpoint is lowered to the new end offset (so that after a
// crash Open rescans the cut segment, rebuilding its indexes from the log,
// and never takes the end past the cut), a log start offset past the new
// end is moved back, producer snapshots at or after the cut are removed,
// segments wholly after the cut are deleted, last first (what is left is
// always a prefix of the log), the cut segment's log file and indexes are
// truncated and fsynced, the folder is fsynced, the leader-epoch
// checkpoint is rewritten and the producer state rebuilt as Open rebuilds
// it.

// truncationFile marks a TruncateTo in progress (see above).
const truncationFile = "truncation-point"

// replicaLimits bound the records of replicated batches. max.message.bytes
// and the limits derived from it are the leader's to apply, as Kafka's
// follower ignores the record size: the leader accepted the batches,
// perhaps under a larger setting since lowered, and a follower that
// refused them could never catch up. What stays is what keeps the log
// readable: CRC, structure, codec and offset deltas, and the cleaner's cap
// of one batch's records below 2 GiB.
var replicaLimits = recordLimits{batch: math.MaxInt32 - batchHeaderLen, record: math.MaxInt32}

// AppendReplicated appends record batches exactly as the leader wrote them
// (a follower's append, Kafka's appendAsFollower): base offsets,
// partitionLeaderEpoch and timestamps are kept, not assigned, and
// LogAppendTime is never stamped (the leader did it; AppendResult's
// LogAppendTime is -1). The batches are checked as Append checks them
// (ValidateBatches: lengths, magic, CRC32C, record count; then the records'
// structure, codec and offset deltas), except against max.message.bytes
// and the decompression limits, which the leader applies (see
// replicaLimits). The first batch must start at EndOffset and each one
// right after the one before it, else nothing is written and the error
// wraps ErrOffsetMismatch naming the offset expected and the one given; a
// compacted log (Config.Compact) also takes a batch that starts later, as
// a leader's cleaner leaves gaps between batches (and recovery accepts
// them there).
//
// Every batch's producer is recorded without a check (a follower never
// refuses what its leader accepted), so that once this replica leads, an
// idempotent producer's retry is found a duplicate. Each leader epoch new
// to the log starts where its first batch does, in the leader-epoch
// checkpoint (Kafka's leaderEpochCache.assign), and LeaderEpoch follows
// the latest. Rolling, indexing, flush.messages and the read-only state
// after a failed write are Append's.
func (l *Log) AppendReplicated(batches []byte) (AppendResult, error) {
	cfg := l.cfg.Load()
	hs, records, err := validateAppend(batches, 0, replicaLimits)
	if err != nil {
		return AppendResult{}, err
	}
	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return AppendResult{}, err
	}
	if err := checkReplicatedOffsets(hs, l.end.Load(), cfg.Compact); err != nil {
		l.mu.Unlock()
		return AppendResult{}, err
	}
	needFlush, err := l.writeLocked(cfg, batches, hs, records, func() {
		for i := range hs {
			l.mu.producers.apply(&hs[i])
		}
	})
	if err != nil {
		l.mu.Unlock()
		return AppendResult{}, err
	}
	l.followEpochsLocked()
	res := AppendResult{BaseOffset: hs[0].BaseOffset, LastOffset: hs[len(hs)-1].LastOffset(), LogAppendTime: -1, LogStartOffset: l.start.Load()}
	l.mu.Unlock()
	if needFlush {
		if err := l.Flush(); err != nil {
			return AppendResult{}, err
		}
	}
	return res, nil
}

// checkReplicatedOffsets checks that the batches hs continue a log ending
// at end: each starts right after the one before (the first at end), or
// later in a compacted log, and none ends so far past end that one segment
// could not index it.
func checkReplicatedOffsets(hs []BatchHeader, end int64, compact bool) error {
	want := end
	for i := range hs {
		h := &hs[i]
		if h.BaseOffset != want && !(compact && h.BaseOffset > want) {
			if i == 0 {
				return fmt.Errorf("%w: the first batch starts at offset %d, expected the log end offset %d", ErrOffsetMismatch, h.BaseOffset, want)
			}
			return fmt.Errorf("%w: batch %d starts at offset %d, expected %d (right after batch %d)", ErrOffsetMismatch, i, h.BaseOffset, want, i-1)
		}
		if h.BaseOffset-end > math.MaxInt32-int64(h.LastOffsetDelta) {
			return fmt.Errorf("%w: batch %d ends at offset %d, more than %d past the log end offset %d", ErrOffsetMismatch, i, h.LastOffset(), math.MaxInt32, end)
		}
		want = h.LastOffset() + 1
	}
	return nil
}

// TruncateTo drops every record at or after offset (a follower's divergent
// tail, KIP-101), which must be at least StartOffset; at or past EndOffset
// it does nothing. The log is cut at a batch boundary: if offset falls
// inside a batch, that batch goes too and the new end offset is its base
// offset. The caller takes offset from the leader's OffsetForLeaderEpoch
// answer, which is the start of an epoch's first batch, so for a log
// written by Append or AppendReplicated the cut is exactly at offset. (If
// the batch holding StartOffset goes, the log start moves back to the new
// end: the log is then empty.) A damaged range (damage.go) at the cut goes
// with the tail, so the log never ends in damaged bytes.
//
// Segments wholly at or after the cut are deleted as retention deletes
// them: a Chunk already read from one stays readable until Release. The
// segment holding the cut is truncated (log file, offset and time
// indexes) and becomes the active one; its max timestamp is recomputed.
// Producer snapshots at or after the cut are removed and the producer
// state is rebuilt for the new end as Open rebuilds it (the newest older
// snapshot, then the batches after it); leader epochs that start at or
// after the cut are dropped from the checkpoint and LeaderEpoch becomes
// the latest one left (at least 0). A read racing the truncation for an
// offset past the new end gets ErrOffsetOutOfRange or a short read; a
// Chunk of the cut segment read before it may come up short too.
//
// It is crash-safe (see the comment at the top of replica.go): after a
// crash at any point the folder reopens as the log before TruncateTo or
// after it. A failed write makes the log read-only, as in Append; Recover
// (or the next Open) then finishes the truncation.
func (l *Log) TruncateTo(offset int64) error {
	l.flushMu.Lock() // a Flush would checkpoint the old end
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	if offset >= l.end.Load() {
		return nil
	}
	if start := l.start.Load(); offset < start {
		return fmt.Errorf("%w: truncate to %d, below the log start offset %d", ErrOffsetOutOfRange, offset, start)
	}
	return l.truncateLocked(offset)
}

// cutPlan is where TruncateTo cuts, found before anything changes.
type cutPlan struct {
	keep int      // segments kept: the first keep; the last of them is seg
	seg  *segment // the segment cut, active afterwards
	pos  int64    // seg's new size, a batch boundary
	end  int64    // the new end offset
	// What seg keeps of its indexes and its summary afterwards.
	offEntries, timeEntries          int
	maxTs, maxTsBatch                int64
	lastTimeEntryTs, bytesSinceIndex int64
}

// truncateLocked is TruncateTo for start <= offset < end, and Open's way
// to finish an interrupted one.
func (l *Log) truncateLocked(offset int64) error {
	from := l.end.Load()
	v := l.view()
	p, err := l.planCut(v, offset)
	l.damage.Store(v.damage.Load()) // what an index rebuild on the way found
	if err != nil {
		return fmt.Errorf("log: truncate %s to %d: %w", l.dir, offset, err)
	}
	if err := writeCheckpoint(l.fs, l.dir, truncationFile, offset, true); err != nil {
		return l.failLocked(fmt.Errorf("log: record truncation to %d: %w", offset, err))
	}
	deleted := len(*l.segs.Load()) - p.keep
	if err := l.cutLocked(p); err != nil {
		return l.failLocked(err)
	}
	if err := l.removeTruncationMarker(); err != nil {
		return l.failLocked(fmt.Errorf("log: remove truncation marker: %w", err))
	}
	l.logger.Info("truncated log", "dir", l.dir, "requested", offset, "from", from, "to", p.end,
		"segments_deleted", deleted, "leader_epoch", l.epoch.Load())
	return nil
}

// planCut finds where truncating to offset cuts: in the segment holding
// offset, or, when nothing of that segment stays, at the end of the one
// before it.
func (l *Log) planCut(v *Log, offset int64) (cutPlan, error) {
	segs := *l.segs.Load()
	c := max(sort.Search(len(segs), func(i int) bool { return segs[i].base > offset })-1, 0)
	for target := offset; ; {
		s := segs[c]
		var p cutPlan
		err := v.checked(s, func() (err error) {
			p, err = s.planCut(target, v.damageIn(s.base))
			return err
		})
		if err != nil {
			return cutPlan{}, err
		}
		if p.pos > 0 || c == 0 {
			p.keep, p.seg = c+1, s
			return p, nil
		}
		c, target = c-1, s.base
	}
}

// planCut plans the cut of s before the batch holding offset (or the
// first one after it), and before any damaged range that would end the
// segment; dmg are s's damaged ranges. It reads only the batch headers
// from the last offset-index entry before the cut, as Kafka's segment
// truncation does, to find the new end offset and max timestamp.
func (s *segment) planCut(offset int64, dmg []DamagedRange) (cutPlan, error) {
	var pos int64
	if r := holding(dmg, offset); r != nil {
		pos = r.Start
	} else {
		at, _, limit, found, err := s.findBatch(offset, s.size.Load(), dmg)
		if err != nil {
			return cutPlan{}, err
		}
		pos = limit
		if found {
			pos = at
		}
	}
	for moved := true; moved; {
		moved = false
		for _, r := range dmg {
			if r.Start < pos && r.End >= pos {
				pos, moved = r.Start, true
			}
		}
	}
	p := cutPlan{pos: pos, lastTimeEntryTs: math.MinInt64}
	i, e, err := s.offIdx.search(func(e []byte) bool { _, at := parseOffsetEntry(e); return int64(at) < pos })
	if err != nil {
		return cutPlan{}, err
	}
	from, want := int64(0), int64(-1)
	if e != nil {
		rel, at := parseOffsetEntry(e)
		from, want = int64(at), s.base+int64(rel)
	}
	p.offEntries, p.bytesSinceIndex = i+1, pos-from
	if p.end, p.maxTs, p.maxTsBatch, err = s.summarize(from, want, pos, dmg); err != nil {
		return cutPlan{}, err
	}
	j, te, err := s.timeIdx.search(func(e []byte) bool { _, rel := parseTimeEntry(e); return s.base+int64(rel) < p.end })
	if err != nil {
		return cutPlan{}, err
	}
	p.timeEntries = j + 1
	if te == nil {
		if from > 0 { // no time entry covers the batches before from
			_, p.maxTs, p.maxTsBatch, err = s.summarize(0, -1, pos, dmg)
		}
		return p, err
	}
	ts, rel := parseTimeEntry(te)
	p.lastTimeEntryTs = ts
	if ts > p.maxTs || ts == p.maxTs && s.base+int64(rel) < p.maxTsBatch {
		p.maxTs, p.maxTsBatch = ts, s.base+int64(rel)
	}
	return p, nil
}

// summarize walks the batch headers of s from position from (where the
// offset index says the batch with base offset want starts; -1: nothing to
// check) to pos, a batch boundary, stepping over damaged ranges. It
// returns the offset after the last batch (s's base if none) and the
// largest max timestamp with the first batch carrying it (-1, -1 if none).
func (s *segment) summarize(from, want, pos int64, dmg []DamagedRange) (next, maxTs, maxTsBatch int64, err error) {
	next, maxTs, maxTsBatch = s.base, -1, -1
	hdr := make([]byte, batchHeaderLen)
	for at := from; at < pos; {
		if r := damageAt(dmg, at); r != nil {
			next = max(next, r.LastOffset+1)
			at, want = r.End, -1
			continue
		}
		buf := hdr
		if pos-at < batchHeaderLen {
			buf = nil // torn: checkIndexed says so
		} else if _, err := s.log.ReadAt(hdr, at); err != nil {
			return 0, 0, 0, fmt.Errorf("read batch header of %s at %d: %w", s.name(), at, err)
		}
		p, err := s.checkIndexed(at, want, pos, buf)
		if err != nil {
			return 0, 0, 0, err
		}
		h, _ := ParseBatchHeader(hdr)
		next = h.LastOffset() + 1
		if h.MaxTimestamp > maxTs {
			maxTs, maxTsBatch = h.MaxTimestamp, h.BaseOffset
		}
		at, want = at+p.size, -1
	}
	return next, maxTs, maxTsBatch, nil
}

// cutLocked carries out p, in the order the comment at the top of
// replica.go gives.
func (l *Log) cutLocked(p cutPlan) error {
	s := p.seg
	rp := min(l.mu.recoveryPoint, p.end)
	if err := writeCheckpoint(l.fs, l.dir, recoveryPointFile, rp, true); err != nil {
		return fmt.Errorf("log: lower the recovery checkpoint to %d: %w", rp, err)
	}
	l.mu.recoveryPoint = rp
	if p.end < l.start.Load() {
		if err := writeCheckpoint(l.fs, l.dir, startOffsetFile, p.end, true); err != nil {
			return fmt.Errorf("log: persist log start offset: %w", err)
		}
		l.start.Store(p.end)
	}
	if err := l.removeSnapshotsFrom(p.end); err != nil {
		return err
	}

	// Readers see the end move back first: an offset past it is out of
	// range, whichever segment list they loaded.
	segs := *l.segs.Load()
	wasActive := s == segs[len(segs)-1]
	l.end.Store(p.end)
	kept := append([]*segment(nil), segs[:p.keep]...)
	l.segs.Store(&kept)
	s.size.Store(p.pos)
	s.nextOffset = p.end
	s.maxTs.Store(p.maxTs)
	s.maxTsBatch.Store(p.maxTsBatch)
	s.lastTimeEntryTs, s.bytesSinceIndex, s.synced = p.lastTimeEntryTs, p.bytesSinceIndex, false
	if p.pos == 0 {
		s.rollStart = time.Time{}
	} else if s.rollStart.IsZero() {
		s.rollStart = l.now()
	}

	for i := len(segs) - 1; i >= p.keep; i-- {
		t := segs[i]
		l.logger.Info("deleting segment after the truncation point", "dir", l.dir, "segment", t.name(), "bytes", t.size.Load())
		// Retired before the unlink, as retention does: a reader holding
		// a Chunk keeps its descriptor until Release.
		t.close()
		if err := t.removeFiles(l.fs); err != nil {
			return fmt.Errorf("log: delete segment %s: %w", t.name(), err)
		}
	}
	l.dropDamageFromLocked(s.base, p.pos)
	if err := s.log.Truncate(p.pos); err != nil {
		return fmt.Errorf("log: truncate %s at %d: %w", s.name(), p.pos, err)
	}
	if err := s.offIdx.truncateTo(p.offEntries); err != nil {
		return fmt.Errorf("log: truncate index of %s: %w", s.name(), err)
	}
	if err := s.timeIdx.truncateTo(p.timeEntries); err != nil {
		return fmt.Errorf("log: truncate time index of %s: %w", s.name(), err)
	}
	if !wasActive { // an active segment's indexes live in memory
		for _, x := range []*sparseIndex{s.offIdx, s.timeIdx} {
			if err := x.load(); err != nil {
				return fmt.Errorf("log: read index of %s: %w", s.name(), err)
			}
		}
	}
	if err := s.sync(); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("log: sync %s: %w", l.dir, err)
	}

	// As Open settles them: the latest epoch left is the one to stamp,
	// and 0 starts at the end if none is left.
	changed := l.mu.epochs.truncateFromEnd(p.end)
	l.epoch.Store(max(l.mu.epochs.latest(), 0))
	if l.mu.epochs.assign(l.epoch.Load(), p.end) || changed {
		if err := l.persistEpochsLocked(); err != nil {
			return err
		}
	}
	v := l.view()
	err := v.loadProducerState()
	l.damage.Store(v.damage.Load())
	if err != nil {
		return err
	}
	l.mu.producers = v.mu.producers
	if len(l.damageIn(s.base)) > 0 {
		// As Open does: appends never go after damaged bytes.
		if _, err := l.rollLocked(); err != nil {
			return err
		}
	}
	return nil
}

// removeSnapshotsFrom removes the producer-state snapshots at or after
// offset.
func (l *Log) removeSnapshotsFrom(offset int64) error {
	offs, err := l.listSnapshots()
	if err != nil {
		return fmt.Errorf("log: list snapshots: %w", err)
	}
	for _, off := range offs {
		if off < offset {
			continue
		}
		if err := l.fs.Remove(fileName(l.dir, off, snapshotSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("log: remove producer state snapshot: %w", err)
		}
	}
	return nil
}

// dropDamageFromLocked forgets the damaged ranges of segments after base
// and those of segment base from position pos on.
func (l *Log) dropDamageFromLocked(base, pos int64) {
	have := l.Damage()
	keep := slices.DeleteFunc(slices.Clone(have), func(r DamagedRange) bool {
		return r.Segment > base || r.Segment == base && r.Start >= pos
	})
	if len(keep) == len(have) {
		return
	}
	l.damage.Store(&keep)
	if err := l.persistDamageLocked(); err != nil {
		l.logger.Warn("could not persist damaged ranges", "dir", l.dir, "err", err)
	}
}

func (l *Log) removeTruncationMarker() error {
	if err := l.fs.Remove(filepath.Join(l.dir, truncationFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return l.fs.SyncDir(l.dir)
}

// resumeTruncation finishes, at Open, a TruncateTo that a crash or a
// failed write interrupted: its marker is still in the folder.
func (l *Log) resumeTruncation() error {
	offset, err := readCheckpoint(l.fs, l.dir, truncationFile)
	switch {
	case err != nil:
		l.logger.Warn("ignoring unreadable truncation marker", "dir", l.dir, "err", err)
	case offset < 0:
		return nil
	}
	l.truncationResumed = true
	if offset = max(offset, l.start.Load()); err == nil && offset < l.end.Load() {
		l.logger.Info("finishing an interrupted truncation", "dir", l.dir, "offset", offset, "end_offset", l.end.Load())
		return l.truncateLocked(offset)
	}
	if err := l.removeTruncationMarker(); err != nil {
		return fmt.Errorf("log: remove truncation marker: %w", err)
	}
	return nil
}

// errView is why a view refuses writes.
var errView = errors.New("log: a view takes no writes")

// view returns a Log over l's folder, files, segments, offsets and damaged
// ranges with a lock of its own, for recovery code that takes the log's
// lock (an index rebuild after a wrong entry, in checked) to run while l's
// is held. It takes no writes, so such a rebuild never rolls a segment;
// the caller adopts the damaged ranges it found.
func (l *Log) view() *Log {
	v := &Log{dir: l.dir, fs: l.fs, files: l.files, logger: l.logger, now: l.now, fileErr: l.fileErr, reloading: true}
	v.cfg.Store(l.cfg.Load())
	v.segs.Store(l.segs.Load())
	v.start.Store(l.start.Load())
	v.end.Store(l.end.Load())
	v.damage.Store(l.damage.Load())
	v.mu.err = errView
	return v
}
