package log

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"
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
//     becomes empty (see cleanPolicy.keep).
//     Rewritten batches are uncompressed, one per run of consecutive kept
//     offsets (a batch's record count must match its offset span) and at
//     most about max.message.bytes each; idempotent producer fields are
//     kept, sequences moved with the offsets.
//   - Memory is bounded: records are streamed one batch at a time and the
//     replacement is written as it is produced (compact_segment.go). A
//     batch whose records cannot be read (undecompressable, over
//     max.decompressed.message.bytes or 64 times max.message.bytes) is
//     copied as it is and reported once in CompactResult.Uncleanable; a
//     segment with a damaged batch is left uncleaned and reported. Neither
//     fails the log's cleaning.
//
// Crash safety: a segment's replacement is written and fsynced as
// "<base>.log.cleaned" (with its indexes as "*.cleaned"; Open removes such
// leftovers). It is installed under the log's lock by: removing the old
// index files (a segment without indexes is valid, read by scanning), then
// renaming the .cleaned log over the old one (atomic), then renaming the
// indexes. A crash at any point leaves either the old or the new segment,
// both complete. The old segment's files are held open across the swap and
// closed once the last reader's Chunk of them is released, as for retention,
// so reads in flight finish.

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
	// Uncleanable lists the batches found this call that the cleaner keeps
	// as they are (records it cannot read) or that stopped it cleaning a
	// segment (damage); each is reported by one call only.
	Uncleanable []UncleanableBatch
}

// Cleaner compacts logs. It remembers, per log, where the last clean ended
// (the first dirty offset); after a restart the whole log counts as dirty
// once. A Cleaner is safe for concurrent use; each log is cleaned by one
// call at a time.
type Cleaner struct {
	mu         sync.Mutex
	firstDirty map[*Log]int64
	busy       map[*Log]bool
	// reported holds, per log, the base offsets of the uncleanable
	// batches already reported; only the log's one Compact call at a
	// time uses its map.
	reported map[*Log]map[int64]bool
}

// NewCleaner returns a cleaner with no history.
func NewCleaner() *Cleaner {
	return &Cleaner{firstDirty: map[*Log]int64{}, busy: map[*Log]bool{}, reported: map[*Log]map[int64]bool{}}
}

// reportedLocked returns l's set of reported batches, creating it.
func (c *Cleaner) reportedLocked(l *Log) map[int64]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reported[l] == nil {
		c.reported[l] = map[int64]bool{}
	}
	return c.reported[l]
}

// Retain forgets every log not in live (closed or deleted logs).
func (c *Cleaner) Retain(live map[*Log]bool) {
	c.mu.Lock()
	for l := range c.firstDirty {
		if !live[l] {
			delete(c.firstDirty, l)
		}
	}
	for l := range c.reported {
		if !live[l] {
			delete(c.reported, l)
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
func (c *Cleaner) Compact(ctx context.Context, l *Log, now time.Time, cc CompactConfig) (res CompactResult, err error) {
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

	round := &cleanRound{lim: l.cfg.Load().recordLimits(), reported: c.reportedLocked(l)}
	defer func() { res.Uncleanable = round.found }()

	// Map every key of the dirty part to its latest offset.
	latest := map[string]int64{}
	for i, s := range cleanable {
		if segs[i+1].base <= firstDirty || len(l.damageIn(s.base)) > 0 {
			continue
		}
		if err := keyOffsets(ctx, s, firstDirty, latest, round); err != nil {
			return res, fmt.Errorf("log: compact %s: map keys of %s: %w", l.dir, s.name(), err)
		}
	}

	policy := &cleanPolicy{latest: latest, deleteHorizon: now.Add(-cc.DeleteRetention).UnixMilli()}
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
		replaced, removed, err := l.cleanSegment(ctx, s, segs[i+1].base, policy, round, now)
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

// installCleaned replaces old by ns on disk and in the segment list, if
// old is still part of the log.
func (l *Log) installCleaned(old, ns *segment) error {
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
	// Hold old's files open across the renames: a reader that loaded the
	// segment list before the swap reads the old content through them, and
	// once retired they are never reopened by name (which then holds ns).
	var held []*cachedFile
	defer func() {
		for _, h := range held {
			h.release(false)
		}
	}()
	for _, h := range old.files() {
		if _, err := h.acquire(false); err != nil {
			return fmt.Errorf("hold %s open: %w", old.name(), err)
		}
		held = append(held, h)
	}
	for _, sfx := range []string{indexSuffix, timeIndexSuffix} {
		if err := l.fs.Remove(fileName(l.dir, old.base, sfx)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove old index of %s: %w", old.name(), err)
		}
	}
	for i, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := l.fs.Rename(cleanedName(l.dir, old.base, sfx), fileName(l.dir, old.base, sfx)); err != nil {
			return fmt.Errorf("install cleaned %s: %w", old.name(), err)
		}
		ns.files()[i].rename(fileName(l.dir, old.base, sfx))
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked(fmt.Errorf("log: sync dir after cleaning %s: %w", old.name(), err))
	}
	segs := append([]*segment(nil), cur...)
	segs[at] = ns
	l.segs.Store(&segs)
	// Closed once the deferred releases and every reader's Chunk let go.
	old.close()
	return nil
}
