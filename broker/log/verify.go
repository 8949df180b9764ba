package log

import (
	"errors"
	"fmt"
	"math"
)

// Index entries are checked where they are used rather than when a
// segment is opened: every lookup reads the batch header at the position an
// entry gives anyway, so comparing its base offset with the entry's costs
// nothing. An entry that disagrees (or points at bytes that are not a batch
// header), and a walk over batch headers that meets one that does not
// parse, make the reader rescan that segment's headers: both indexes are
// rebuilt, damaged bytes become DamagedRanges (damage.go), and the read is
// retried once. The time index is rebuilt with the offset index but not
// checked on its own: a wrong time-index entry can only make a timestamp
// lookup start its scan at the wrong batch.

// checked runs fn, a read of s that may meet a wrong index entry or
// damaged bytes; after an *IndexMismatchError or a *CorruptionError it
// rescans s and runs fn once more. An entry of the fresh index that still
// disagrees means the data there is damaged: that is a *CorruptionError.
func (l *Log) checked(s *segment, fn func() error) error {
	gen := s.indexGen.Load()
	err := fn()
	var mis *IndexMismatchError
	var cerr *CorruptionError
	if !errors.As(err, &mis) && !errors.As(err, &cerr) {
		return err
	}
	if err := l.rescan(s, gen, err); err != nil {
		return err
	}
	err = fn()
	if errors.As(err, &mis) {
		return &CorruptionError{Segment: mis.Segment, Position: mis.Position, Offset: mis.Offset, Reason: mis.Reason}
	}
	return err
}

// rescan walks s's batch headers (no CRC: that is the scrubber's job),
// rebuilds both indexes from them and records the damage it meets, unless
// another reader rescanned s since generation gen. It holds the append
// lock, so the active segment's indexes and counters stay in step with
// appends; a damaged active segment is rolled, so appends never follow
// damaged bytes. why is what the reader met.
func (l *Log) rescan(s *segment, gen uint64, why error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if s.indexGen.Load() != gen {
		return nil
	}
	segs := *l.segs.Load()
	at := -1
	for i, t := range segs {
		if t == s {
			at = i
		}
	}
	if at < 0 {
		return nil // deleted or replaced by a cleaned copy meanwhile
	}
	active := at == len(segs)-1
	next, bound := int64(-1), s.nextOffset
	if !active {
		next, bound = segs[at+1].base, segs[at+1].base
	}
	tmp := &segment{base: s.base, lastTimeEntryTs: math.MinInt64, nextOffset: s.base,
		offIdx: &sparseIndex{entryLen: offsetIndexEntryLen, inMem: true}, timeIdx: &sparseIndex{entryLen: timeIndexEntryLen, inMem: true}}
	tmp.maxTs.Store(-1)
	tmp.maxTsBatch.Store(-1)
	cfg := l.cfg.Load()
	size := s.size.Load()
	_, damage, err := newScan(s, size, next, cfg.Compact, false).run(func(h *BatchHeader, pos int64) {
		tmp.noteBatch(h)
		tmp.indexBatch(h, pos, cfg.IndexIntervalBytes)
	}, func(int64, int64, string) bool { return true })
	if err != nil {
		return fmt.Errorf("log: rescan %s: %w", s.name(), err)
	}
	damage = boundDamage(s, damage, size, tmp.nextOffset, bound, active || !cfg.Compact)
	if !active {
		tmp.sealTimeIndex()
	}
	var mis *IndexMismatchError
	if errors.As(why, &mis) {
		l.logger.Warn("offset index disagrees with its segment; rebuilt both indexes from the batch headers",
			"dir", l.dir, "segment", s.name(), "entry_offset", mis.Offset, "entry_position", mis.Position,
			"found", mis.Reason, "entries", tmp.offIdx.n, "damaged_ranges", len(damage))
	}
	var errs []error
	if err := s.offIdx.replace(tmp.offIdx.mem); err != nil {
		errs = append(errs, fmt.Errorf("log: rewrite index of %s: %w", s.name(), err))
	}
	if err := s.timeIdx.replace(tmp.timeIdx.mem); err != nil {
		errs = append(errs, fmt.Errorf("log: rewrite time index of %s: %w", s.name(), err))
	}
	if active {
		s.bytesSinceIndex, s.lastTimeEntryTs = tmp.bytesSinceIndex, tmp.lastTimeEntryTs
	}
	s.indexGen.Add(1)
	if err := errors.Join(errs...); err != nil {
		// The indexes are right in memory; only their files are stale.
		l.logger.Warn("could not write rebuilt indexes; keeping them in memory", "dir", l.dir, "segment", s.name(), "err", err)
	}
	l.addDamageLocked(damage, "read")
	if active && len(damage) > 0 && l.checkWritableLocked() == nil {
		if _, err := l.rollLocked(); err != nil {
			return err
		}
	}
	return nil
}

// boundDamage completes the ranges a scan of s (size bytes, offsets up to
// scanned) found: damage that runs to the end of the file held offsets up
// to bound (the next segment's base, or what the log knows is the end);
// with none, a segment that ends below bound lost its last batches, which
// is damage too when tail is set (a cleaner never leaves a gap at a
// segment's end, but a log that was compacted may not say so any more).
func boundDamage(s *segment, damage []DamagedRange, size, scanned, bound int64, tail bool) []DamagedRange {
	if n := len(damage); n > 0 && damage[n-1].LastOffset < 0 {
		damage[n-1].LastOffset = bound - 1
	} else if scanned < bound && tail {
		damage = append(damage, DamagedRange{Segment: s.base, Start: size, End: size, FirstOffset: scanned, LastOffset: bound - 1,
			Reason: fmt.Sprintf("the segment ends at offset %d, below %d: batches are missing", scanned, bound)})
	}
	return damage
}
