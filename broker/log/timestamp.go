package log

import (
	"fmt"
)

// OffsetForTimestamp implements ListOffsets by timestamp: the offset and
// timestamp of the first record (at or after the log start) whose timestamp
// is >= ts, or (-1, -1, nil) if there is none. Segments and batches are
// chosen by their max timestamps and the time index; the records of the
// chosen batch are then decoded (decompressing if needed) for exactness.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	start := l.start.Load()
	for _, s := range *l.segs.Load() {
		if s.maxTs.Load() < ts {
			continue
		}
		var off, rts int64
		var found bool
		err := l.checked(s, func() (err error) {
			off, rts, found, err = s.searchTimestamp(ts, start, l.cfg.Load().recordLimits(), l.damageIn(s.base))
			return err
		})
		if err != nil {
			return -1, -1, fmt.Errorf("log: offset for timestamp %d: %w", ts, err)
		}
		if found {
			return off, rts, nil
		}
	}
	return -1, -1, nil
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record carrying it (ListOffsets MAX_TIMESTAMP), or (-1, -1).
func (l *Log) MaxTimestamp() (timestamp, offset int64) {
	var best *segment
	for _, s := range *l.segs.Load() {
		if s.size.Load() > 0 && (best == nil || s.maxTs.Load() > best.maxTs.Load()) {
			best = s
		}
	}
	if best == nil {
		return -1, -1
	}
	ts := best.maxTs.Load()
	var off, rts int64
	var found bool
	err := l.checked(best, func() (err error) {
		off, rts, found, err = best.searchTimestamp(ts, l.start.Load(), l.cfg.Load().recordLimits(), l.damageIn(best.base))
		return err
	})
	if err != nil || !found {
		return -1, -1
	}
	return rts, off
}

// searchTimestamp finds the first record in s at or after start with a
// timestamp >= ts.
func (s *segment) searchTimestamp(ts, start int64, lim recordLimits, dmg []DamagedRange) (int64, int64, bool, error) {
	limit := s.size.Load()
	pos, want := int64(0), int64(-1)
	_, e, err := s.timeIdx.search(func(e []byte) bool { t, _ := parseTimeEntry(e); return t < ts })
	if err != nil {
		return 0, 0, false, err
	}
	if e != nil {
		_, rel := parseTimeEntry(e)
		if pos, want, err = s.lookup(s.base + int64(rel)); err != nil {
			return 0, 0, false, err
		}
	}
	hdr := make([]byte, batchHeaderLen)
	for pos+batchHeaderLen <= limit {
		if r := damageAt(dmg, pos); r != nil {
			pos, want = r.End, -1
			continue
		}
		if _, err := s.log.ReadAt(hdr, pos); err != nil {
			return 0, 0, false, fmt.Errorf("read %s at %d: %w", s.name(), pos, err)
		}
		if _, err := s.checkIndexed(pos, want, limit, hdr); err != nil {
			return 0, 0, false, err
		}
		want = -1
		h, _ := ParseBatchHeader(hdr)
		if h.MaxTimestamp >= ts && h.LastOffset() >= start {
			batch := make([]byte, h.TotalSize())
			if _, err := s.log.ReadAt(batch, pos); err != nil {
				return 0, 0, false, fmt.Errorf("read %s at %d: %w", s.name(), pos, err)
			}
			off, rts, found, err := firstRecordAtOrAfter(batch, ts, start, lim)
			if err != nil {
				return 0, 0, false, fmt.Errorf("%s position %d: %w", s.name(), pos, err)
			}
			if found {
				return off, rts, true, nil
			}
		}
		pos += h.TotalSize()
	}
	return 0, 0, false, nil
}

// FirstRecordAtOrAfter decodes the records of one batch (decompressing if
// needed, to at most DefaultConfig's MaxDecompressedBatchBytes) and returns
// the offset and timestamp of the first record with offset >= minOffset and
// timestamp >= ts.
func FirstRecordAtOrAfter(batch []byte, ts, minOffset int64) (offset, timestamp int64, found bool, err error) {
	return firstRecordAtOrAfter(batch, ts, minOffset, DefaultConfig().recordLimits())
}

func firstRecordAtOrAfter(batch []byte, ts, minOffset int64, lim recordLimits) (offset, timestamp int64, found bool, err error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return 0, 0, false, err
	}
	if h.TotalSize() > int64(len(batch)) || h.TotalSize() < batchHeaderLen {
		return 0, 0, false, fmt.Errorf("%w: batch length %d, have %d bytes", ErrCorruptMessage, h.Length, len(batch))
	}
	if h.IsLogAppendTime() {
		if h.MaxTimestamp >= ts && h.LastOffset() >= minOffset {
			return max(h.BaseOffset, minOffset), h.MaxTimestamp, true, nil
		}
		return 0, 0, false, nil
	}
	r, err := newRecordReader(batch, h, lim)
	if err != nil {
		return 0, 0, false, err
	}
	defer r.close()
	var rec rawRecord
	for {
		ok, err := r.next(fieldsNone, &rec)
		if !ok || err != nil {
			return 0, 0, false, err
		}
		rts, off := h.FirstTimestamp+rec.tsDelta, h.BaseOffset+int64(rec.offDelta)
		if rts >= ts && off >= minOffset {
			return off, rts, true, nil
		}
	}
}
