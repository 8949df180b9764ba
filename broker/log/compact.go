package log

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// Log compaction (cleanup.policy=compact), as Kafka's log cleaner does it:
//
//   - Only closed segments are cleaned, never the active one, and only those
//     whose newest record is older than min.compaction.lag.ms.
//   - The "dirty" part is what was appended since the last clean; a log is
//     cleaned when dirty bytes / cleanable bytes reach
//     min.cleanable.dirty.ratio (or, with max.compaction.lag.ms, when dirty
//     data has waited that long).
//   - The dirty part's keys are mapped to their latest offset; every
//     cleanable segment is rewritten keeping a record only if no later
//     record has its key. Records without a key are dropped. A tombstone
//     (null value) is kept until it is delete.retention.ms old, so
//     consumers that read from the start see the delete.
//   - Segments with damaged ranges (damage.go) are neither read for keys
//     nor rewritten: the damaged bytes stay for a repair, and skipping a
//     segment only keeps more records.
//   - Offsets never change: batches keep their records' offsets and
//     timestamps, leaving gaps (Config.Compact makes recovery accept them).
//     Each segment's last record is kept, so no segment ends in a gap or
//     becomes empty (see cleanSegment).
//     Rewritten batches are uncompressed, one per run of consecutive kept
//     offsets (a batch's record count must match its offset span);
//     idempotent producer fields are kept, sequences moved with the offsets.
//
// Crash safety: a segment's replacement is written and fsynced as
// "<base>.log.cleaned" (with its indexes as "*.cleaned"; Open removes such
// leftovers). It is installed under the log's lock by: removing the old
// index files (a segment without indexes is valid, read by scanning), then
// renaming the .cleaned log over the old one (atomic), then renaming the
// indexes. A crash at any point leaves either the old or the new segment,
// both complete. Open file handles of the old segment are closed after the
// file-delete delay, as for retention, so reads in flight finish.

// CompactConfig holds a compacted topic's cleaner settings (Kafka's names).
type CompactConfig struct {
	DeleteRetention        time.Duration // delete.retention.ms
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio
	MinCompactionLag       time.Duration // min.compaction.lag.ms
	MaxCompactionLag       time.Duration // max.compaction.lag.ms; <= 0: none
}

// DefaultCompactConfig returns Kafka's defaults.
func DefaultCompactConfig() CompactConfig {
	return CompactConfig{DeleteRetention: 24 * time.Hour, MinCleanableDirtyRatio: 0.5}
}

// CompactResult says what one Compact call did.
type CompactResult struct {
	Cleaned        bool    // false: nothing was due
	DirtyRatio     float64 // dirty / cleanable bytes before cleaning
	Segments       int     // segments rewritten
	BytesBefore    int64   // bytes of the rewritten segments before
	BytesAfter     int64   // and after
	RecordsRemoved int64
}

// Cleaner compacts logs. It remembers, per log, where the last clean ended
// (the first dirty offset); after a restart the whole log counts as dirty
// once. A Cleaner is safe for concurrent use; each log is cleaned by one
// call at a time.
type Cleaner struct {
	mu         sync.Mutex
	firstDirty map[*Log]int64
	busy       map[*Log]bool
}

// NewCleaner returns a cleaner with no history.
func NewCleaner() *Cleaner {
	return &Cleaner{firstDirty: map[*Log]int64{}, busy: map[*Log]bool{}}
}

// Retain forgets every log not in live (closed or deleted logs).
func (c *Cleaner) Retain(live map[*Log]bool) {
	c.mu.Lock()
	for l := range c.firstDirty {
		if !live[l] {
			delete(c.firstDirty, l)
		}
	}
	c.mu.Unlock()
}

// ErrNotCompacted is returned when Compact is asked to clean a log whose
// Config.Compact is off.
var ErrNotCompacted = errors.New("log: cleanup.policy does not include compact")

// Compact cleans l if it is due. It reads and writes segment files without
// holding the log's append lock, which it takes only to install each
// rewritten segment.
func (c *Cleaner) Compact(ctx context.Context, l *Log, now time.Time, cc CompactConfig) (CompactResult, error) {
	var res CompactResult
	if !l.cfg.Load().Compact {
		return res, ErrNotCompacted
	}
	c.mu.Lock()
	if c.busy[l] {
		c.mu.Unlock()
		return res, nil
	}
	c.busy[l] = true
	firstDirty, known := c.firstDirty[l]
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.busy, l)
		c.mu.Unlock()
	}()
	if !known {
		firstDirty = l.start.Load()
	}

	segs := *l.segs.Load()
	// Cleanable: closed segments whose newest record is past the lag.
	n := 0
	for n < len(segs)-1 {
		s := segs[n]
		if cc.MinCompactionLag > 0 && s.maxTs.Load() > now.Add(-cc.MinCompactionLag).UnixMilli() {
			break
		}
		n++
	}
	if n == 0 {
		return res, nil
	}
	cleanable := segs[:n]
	end := segs[n].base // first offset not cleaned this round
	var total, dirty int64
	oldestDirty := int64(math.MaxInt64)
	for i, s := range cleanable {
		size := s.size.Load()
		total += size
		if segs[i+1].base > firstDirty {
			dirty += size
			if ts := s.maxTs.Load(); ts >= 0 {
				oldestDirty = min(oldestDirty, ts)
			}
		}
	}
	if total == 0 || dirty == 0 {
		return res, nil
	}
	res.DirtyRatio = float64(dirty) / float64(total)
	overdue := cc.MaxCompactionLag > 0 && oldestDirty < now.Add(-cc.MaxCompactionLag).UnixMilli()
	if res.DirtyRatio < cc.MinCleanableDirtyRatio && !overdue {
		return res, nil
	}

	// Map every key of the dirty part to its latest offset.
	latest := map[string]int64{}
	for i, s := range cleanable {
		if segs[i+1].base <= firstDirty || len(l.damageIn(s.base)) > 0 {
			continue
		}
		err := eachBatch(ctx, s, func(_ []byte, _ BatchHeader, recs []Record) error {
			for _, r := range recs {
				if r.Key != nil && r.Offset >= firstDirty {
					latest[string(r.Key)] = r.Offset
				}
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("log: compact %s: map keys of %s: %w", l.dir, s.name(), err)
		}
	}

	deleteHorizon := now.Add(-cc.DeleteRetention).UnixMilli()
	for i, s := range cleanable {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if len(l.damageIn(s.base)) > 0 {
			// Damaged bytes stay as they are for a repair; the records
			// around them are not cleaned until then.
			continue
		}
		before := s.size.Load()
		replaced, removed, err := l.cleanSegment(ctx, s, segs[i+1].base, latest, deleteHorizon, now)
		if err != nil {
			return res, fmt.Errorf("log: compact %s: %w", l.dir, err)
		}
		if replaced != nil {
			res.Segments++
			res.BytesBefore += before
			res.BytesAfter += replaced.size.Load()
			res.RecordsRemoved += removed
		}
	}
	res.Cleaned = true
	c.mu.Lock()
	c.firstDirty[l] = end
	c.mu.Unlock()
	return res, nil
}

// eachBatch calls fn with every batch of a closed segment, decoded.
func eachBatch(ctx context.Context, s *segment, fn func(raw []byte, h BatchHeader, recs []Record) error) error {
	size := s.size.Load()
	hdr := make([]byte, batchHeaderLen)
	for pos := int64(0); pos < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := s.log.ReadAt(hdr, pos); err != nil {
			return fmt.Errorf("read at %d: %w", pos, err)
		}
		h, err := ParseBatchHeader(hdr)
		if err != nil {
			return fmt.Errorf("batch at %d: %w", pos, err)
		}
		raw := make([]byte, h.TotalSize())
		if _, err := s.log.ReadAt(raw, pos); err != nil {
			return fmt.Errorf("read batch at %d: %w", pos, err)
		}
		var recs []Record
		if h.Attributes&attrControl == 0 {
			if _, recs, err = DecodeBatch(raw); err != nil {
				return fmt.Errorf("batch at %d: %w", pos, err)
			}
		}
		if err := fn(raw, h, recs); err != nil {
			return err
		}
		pos += h.TotalSize()
	}
	return nil
}

// cleanSegment rewrites s without superseded records and installs the
// result. It returns nil if nothing in s was removable.
func (l *Log) cleanSegment(ctx context.Context, s *segment, next int64, latest map[string]int64, deleteHorizon int64, now time.Time) (*segment, int64, error) {
	var out [][]byte
	var removed int64
	// The segment's last record is always kept, so that a segment never
	// ends in an offset gap nor becomes empty: a read for an offset in such
	// a gap would continue into the next segment below its base offset,
	// which the sparse index lookup does not handle.
	var last struct {
		h        BatchHeader
		recs     []Record
		kept     []Record
		outStart int
	}
	err := eachBatch(ctx, s, func(raw []byte, h BatchHeader, recs []Record) error {
		last.h, last.recs, last.kept, last.outStart = h, nil, nil, len(out)
		if h.Attributes&attrControl != 0 {
			out = append(out, raw)
			return nil
		}
		kept := recs[:0:0]
		for _, r := range recs {
			switch off, ok := latest[string(r.Key)]; {
			case r.Key == nil, ok && off > r.Offset:
				removed++ // no key, or superseded by a later record
			case r.Value == nil && r.Timestamp < deleteHorizon:
				removed++ // a tombstone past delete.retention.ms
			default:
				kept = append(kept, r)
			}
		}
		last.recs, last.kept = recs, kept
		switch {
		case len(kept) == len(recs):
			out = append(out, raw)
		case len(kept) > 0:
			out = append(out, encodeRuns(h, kept)...)
		}
		return nil
	})
	if n := len(last.recs); n > 0 && (len(last.kept) == 0 || last.kept[len(last.kept)-1].Offset != last.recs[n-1].Offset) {
		keep := append(last.kept, last.recs[n-1])
		removed--
		if len(keep) == n {
			keep = last.recs
		}
		out = append(out[:last.outStart], encodeRuns(last.h, keep)...)
	}
	if err != nil || removed == 0 {
		return nil, 0, err
	}
	ns, err := l.writeCleaned(s, next, out)
	if err != nil {
		return nil, 0, err
	}
	if err := l.installCleaned(s, ns, now); err != nil {
		ns.close()
		l.removeCleaned(s.base)
		return nil, 0, err
	}
	return ns, removed, nil
}

// encodeRuns writes kept records as one batch per run of consecutive
// offsets: a batch's record count must match its offset span (appends and
// recovery check it), so gaps fall between batches, never inside one. An
// idempotent producer's sequence numbers move with each run's first offset.
func encodeRuns(h BatchHeader, kept []Record) [][]byte {
	var out [][]byte
	for start := 0; start < len(kept); {
		end := start + 1
		for end < len(kept) && kept[end].Offset == kept[end-1].Offset+1 {
			end++
		}
		rh := h
		if h.ProducerID >= 0 && h.BaseSequence >= 0 {
			rh.BaseSequence = addSequence(h.BaseSequence, int32(kept[start].Offset-h.BaseOffset))
		}
		out = append(out, EncodeBatch(rh, kept[start:end]))
		start = end
	}
	return out
}

func cleanedName(dir string, base int64, suffix string) string {
	return fileName(dir, base, suffix) + ".cleaned"
}

func (l *Log) removeCleaned(base int64) {
	for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := l.fs.Remove(cleanedName(l.dir, base, sfx)); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.logger.Warn("remove cleaned file", "dir", l.dir, "err", err)
		}
	}
}

// writeCleaned writes batches as the replacement of old under *.cleaned
// names, builds its indexes and fsyncs it.
func (l *Log) writeCleaned(old *segment, next int64, batches [][]byte) (*segment, error) {
	ns := &segment{base: old.base, dir: old.dir, nextOffset: old.base, lastTimeEntryTs: math.MinInt64,
		closedAt: old.closedAt, synced: true}
	ns.maxTs.Store(-1)
	ns.maxTsBatch.Store(-1)
	var err error
	fail := func(err error) (*segment, error) {
		ns.close()
		l.removeCleaned(old.base)
		return nil, err
	}
	if ns.log, err = l.fs.Create(cleanedName(l.dir, old.base, logSuffix)); err != nil {
		return fail(err)
	}
	if of, ok := ns.log.(vfs.OSFiler); ok {
		ns.osFile = of.OSFile()
	}
	oi, err := l.fs.Create(cleanedName(l.dir, old.base, indexSuffix))
	if err != nil {
		return fail(err)
	}
	ns.offIdx = &sparseIndex{entryLen: offsetIndexEntryLen, file: oi, inMem: true}
	ti, err := l.fs.Create(cleanedName(l.dir, old.base, timeIndexSuffix))
	if err != nil {
		return fail(err)
	}
	ns.timeIdx = &sparseIndex{entryLen: timeIndexEntryLen, file: ti, inMem: true}
	var buf []byte
	for _, b := range batches {
		buf = append(buf, b...)
		if len(buf) >= 1<<20 {
			if _, err := ns.log.Write(buf); err != nil {
				return fail(err)
			}
			buf = buf[:0]
		}
	}
	if _, err := ns.log.Write(buf); err != nil {
		return fail(err)
	}
	// Build the indexes exactly as recovery would, then write them out.
	truncated, _, err := l.recoverSegment(ns, next, -1)
	if err != nil {
		return fail(err)
	}
	if truncated {
		return fail(fmt.Errorf("cleaned copy of %s does not verify", old.name()))
	}
	ns.nextOffset = next
	ns.sealTimeIndex()
	if err := ns.offIdx.release(); err != nil {
		return fail(err)
	}
	if err := ns.timeIdx.release(); err != nil {
		return fail(err)
	}
	for _, f := range []vfs.File{ns.log, ns.offIdx.file, ns.timeIdx.file} {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	return ns, nil
}

// installCleaned replaces old by ns on disk and in the segment list, if
// old is still part of the log.
func (l *Log) installCleaned(old, ns *segment, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	cur := *l.segs.Load()
	at := -1
	for i, s := range cur[:len(cur)-1] {
		if s == old {
			at = i
		}
	}
	if at < 0 {
		return fmt.Errorf("segment %s was deleted while being cleaned", old.name())
	}
	for _, sfx := range []string{indexSuffix, timeIndexSuffix} {
		if err := l.fs.Remove(fileName(l.dir, old.base, sfx)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove old index of %s: %w", old.name(), err)
		}
	}
	for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := l.fs.Rename(cleanedName(l.dir, old.base, sfx), fileName(l.dir, old.base, sfx)); err != nil {
			return fmt.Errorf("install cleaned %s: %w", old.name(), err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked(fmt.Errorf("log: sync dir after cleaning %s: %w", old.name(), err))
	}
	segs := append([]*segment(nil), cur...)
	segs[at] = ns
	l.segs.Store(&segs)
	l.mu.doomed = append(l.mu.doomed, doomedSegment{seg: old, closeAt: now.Add(fileDeleteDelay)})
	return nil
}
