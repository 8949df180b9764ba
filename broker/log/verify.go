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
// header) makes the reader rebuild both indexes of that segment from its
// batch headers, log it once, and retry. The time index is rebuilt with the
// offset index but not checked on its own: a wrong time-index entry can only
// make a timestamp lookup start its scan at the wrong batch.

// checked runs fn, a read of s that may meet a wrong index entry; after an
// *IndexMismatchError it rebuilds s's indexes and runs fn once more. An
// entry of the fresh index that still disagrees means the data there is
// damaged: that is a *CorruptionError.
func (l *Log) checked(s *segment, fn func() error) error {
	gen := s.indexGen.Load()
	err := fn()
	var mis *IndexMismatchError
	if !errors.As(err, &mis) {
		return err
	}
	if err := l.rebuildIndexes(s, gen, mis); err != nil {
		return err
	}
	err = fn()
	if errors.As(err, &mis) {
		return &CorruptionError{Segment: mis.Segment, Position: mis.Position, Offset: mis.Offset, Reason: mis.Reason}
	}
	return err
}

// rebuildIndexes rebuilds s's offset and time indexes from its batch
// headers, unless another reader did since generation gen. It holds the
// append lock, so the active segment's indexes and counters stay in step
// with appends.
func (l *Log) rebuildIndexes(s *segment, gen uint64, why *IndexMismatchError) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if s.indexGen.Load() != gen {
		return nil
	}
	active := s == l.active()
	tmp := &segment{base: s.base, lastTimeEntryTs: math.MinInt64,
		offIdx: &sparseIndex{entryLen: offsetIndexEntryLen, inMem: true}, timeIdx: &sparseIndex{entryLen: timeIndexEntryLen, inMem: true}}
	tmp.maxTs.Store(-1)
	tmp.maxTsBatch.Store(-1)
	size := s.size.Load()
	interval := l.cfg.Load().IndexIntervalBytes
	hdr := make([]byte, batchHeaderLen)
	var damage error
	pos := int64(0)
	for pos < size {
		if pos+batchHeaderLen > size {
			damage = &CorruptionError{Segment: s.name(), Position: pos, Offset: -1, Reason: "torn batch header"}
			break
		}
		if _, err := s.log.ReadAt(hdr, pos); err != nil {
			return fmt.Errorf("log: rebuild index of %s: read at %d: %w", s.name(), pos, err)
		}
		if _, err := s.parsePrefix(pos, size, hdr); err != nil {
			damage = err
			break
		}
		h, _ := ParseBatchHeader(hdr)
		tmp.noteBatch(&h)
		tmp.indexBatch(&h, pos, interval)
		pos += h.TotalSize()
	}
	if !active {
		tmp.sealTimeIndex()
	}
	l.logger.Warn("offset index disagrees with its segment; rebuilt both indexes from the batch headers",
		"dir", l.dir, "segment", s.name(), "entry_offset", why.Offset, "entry_position", why.Position,
		"found", why.Reason, "entries", tmp.offIdx.n, "damage", damage)
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
	return nil
}
