package log

import (
	"fmt"
	"io"
	"math"
)

// segmentScan walks the batches of one segment file and checks each as
// recovery does: the header parses (length within the file, magic 2, record
// count matching lastOffsetDelta), with crc the whole batch passes its
// CRC32C, and offsets continue the previous batch (exactly; with gaps when
// compact; below next when it is set). Recovery, index rebuilds and the
// scrubber share it, so they agree on what damage is and where it ends.
type segmentScan struct {
	s       *segment
	size    int64 // bytes to scan
	next    int64 // base offset of the next segment, or -1
	compact bool
	crc     bool
	// pace, if set, is called with the bytes about to be read (the
	// scrubber's rate limit); an error from it stops the scan.
	pace func(n int64) error
	// uncache, if set, is called with each range about to be read, so
	// that the scrubber reads the disk rather than the page cache.
	uncache func(pos, n int64)

	expect int64 // offset the next batch should start at
	hdr    []byte
	buf    []byte
}

func newScan(s *segment, size, next int64, compact, crc bool) *segmentScan {
	return &segmentScan{s: s, size: size, next: next, compact: compact, crc: crc, expect: s.base, hdr: make([]byte, batchHeaderLen)}
}

// run checks every batch from position 0, calling good for each valid one.
// At a bad batch it asks onBad whether to go on: false stops the scan
// there and run returns that position; true resyncs at the next valid
// batch and the bad bytes become a DamagedRange (LastOffset -1 when no
// valid batch follows: the caller knows what bounds the segment).
func (sc *segmentScan) run(good func(h *BatchHeader, pos int64), onBad func(pos, expect int64, reason string) bool) (stop int64, damage []DamagedRange, err error) {
	pos := int64(0)
	for pos < sc.size {
		h, reason, gap, err := sc.check(pos)
		if err != nil {
			return pos, damage, err
		}
		if reason == "" {
			good(&h, pos)
			sc.expect = h.LastOffset() + 1
			pos += h.TotalSize()
			continue
		}
		if !onBad(pos, sc.expect, reason) {
			return pos, damage, nil
		}
		if gap {
			// A whole, valid batch after missing offsets: the offsets are
			// damage, the batch is not, if what follows agrees (a flipped
			// bit in its base offset, which the CRC does not cover, would
			// put it after the batches that follow).
			ok, err := sc.continues(&h, pos)
			if err != nil {
				return pos, damage, err
			}
			if ok {
				damage = append(damage, DamagedRange{Segment: sc.s.base, Start: pos, End: pos, FirstOffset: sc.expect, LastOffset: h.BaseOffset - 1,
					Reason: fmt.Sprintf("offsets %d..%d missing before the batch at %d", sc.expect, h.BaseOffset-1, pos)})
				sc.expect = h.BaseOffset
				continue
			}
		}
		q, qh, err := sc.resync(pos + 1)
		if err != nil {
			return pos, damage, err
		}
		r := DamagedRange{Segment: sc.s.base, Start: pos, End: q, FirstOffset: sc.expect, LastOffset: -1, Reason: reason}
		if q < sc.size {
			r.LastOffset = qh.BaseOffset - 1
			sc.expect = qh.BaseOffset
		}
		damage = append(damage, r)
		pos = q
	}
	return sc.size, damage, nil
}

// check returns the header of the batch at pos, or why it is not valid;
// gap says the batch is whole and valid but starts after the expected
// offset in a log without compaction.
func (sc *segmentScan) check(pos int64) (h BatchHeader, reason string, gap bool, err error) {
	if sc.size-pos < batchHeaderLen {
		return BatchHeader{}, fmt.Sprintf("torn batch header: %d bytes left", sc.size-pos), false, nil
	}
	if err := sc.read(sc.hdr, pos); err != nil {
		return BatchHeader{}, "", false, err
	}
	h, _ = ParseBatchHeader(sc.hdr)
	switch {
	case h.TotalSize() < batchHeaderLen:
		return h, fmt.Sprintf("batch length %d too small", h.Length), false, nil
	case pos+h.TotalSize() > sc.size:
		return h, fmt.Sprintf("torn batch: length %d runs past the end of the file", h.Length), false, nil
	}
	if sc.crc {
		if int64(cap(sc.buf)) < h.TotalSize() {
			sc.buf = make([]byte, h.TotalSize())
		}
		sc.buf = sc.buf[:h.TotalSize()]
		if err := sc.read(sc.buf, pos); err != nil {
			return h, "", false, err
		}
		if _, err := validateBatch(sc.buf, 0); err != nil {
			return h, err.Error(), false, nil
		}
	} else if reason := headerProblem(&h); reason != "" {
		return h, reason, false, nil
	}
	if d := h.BaseOffset - sc.expect; d < 0 || d > 0 && !sc.compact || !sc.fits(&h) {
		// The base offset is not covered by the CRC: offsets must
		// continue exactly, or with gaps in compacted logs.
		return h, fmt.Sprintf("batch offsets %d..%d, expected to start at %d", h.BaseOffset, h.LastOffset(), sc.expect), d > 0 && sc.fits(&h), nil
	}
	return h, "", false, nil
}

// continues reports whether the offsets of h (at pos) are confirmed by
// what follows: a valid batch after it with higher offsets, or the end of a
// segment that is not the last (fits already bounded h by the next one).
func (sc *segmentScan) continues(h *BatchHeader, pos int64) (bool, error) {
	at := pos + h.TotalSize()
	if at >= sc.size {
		return sc.next >= 0, nil
	}
	expect, compact := sc.expect, sc.compact
	sc.expect, sc.compact = h.LastOffset()+1, true
	_, reason, _, err := sc.check(at)
	sc.expect, sc.compact = expect, compact
	return reason == "" && err == nil, err
}

// fits reports whether h's offsets can belong to this segment.
func (sc *segmentScan) fits(h *BatchHeader) bool {
	return h.LastOffset()-sc.s.base <= math.MaxUint32 && (sc.next < 0 || h.LastOffset() < sc.next)
}

// headerProblem is validateBatch without the CRC, for header-only scans.
func headerProblem(h *BatchHeader) string {
	switch {
	case h.Magic != 2:
		return fmt.Sprintf("magic %d, only 2 is supported", h.Magic)
	case h.NumRecords <= 0 || h.LastOffsetDelta < 0 || int64(h.LastOffsetDelta)+1 != int64(h.NumRecords):
		return fmt.Sprintf("batch has %d records but lastOffsetDelta %d", h.NumRecords, h.LastOffsetDelta)
	}
	return ""
}

func (sc *segmentScan) read(b []byte, pos int64) error {
	if sc.pace != nil {
		if err := sc.pace(int64(len(b))); err != nil {
			return err
		}
	}
	if sc.uncache != nil {
		sc.uncache(pos, int64(len(b)))
	}
	if _, err := sc.s.log.ReadAt(b, pos); err != nil && err != io.EOF {
		return fmt.Errorf("log: read %s at %d: %w", sc.s.name(), pos, err)
	}
	return nil
}

// resyncWindow is how much of the file resync reads at a time.
const resyncWindow = 1 << 20

// resync returns the first position at or after from where a whole valid
// batch starts whose offsets may follow the damage (base offset at least
// the expected one, within the segment), or the file's size if there is
// none. Every byte is a candidate; the magic byte and the length and offset
// fields rule out almost all before the CRC is computed.
func (sc *segmentScan) resync(from int64) (int64, BatchHeader, error) {
	win := make([]byte, resyncWindow)
	for from+batchHeaderLen <= sc.size {
		n := min(int64(len(win)), sc.size-from)
		w := win[:n]
		if err := sc.read(w, from); err != nil {
			return 0, BatchHeader{}, err
		}
		for i := 0; i+batchHeaderLen <= len(w); i++ {
			if w[i+16] != 2 {
				continue
			}
			pos := from + int64(i)
			h, _ := ParseBatchHeader(w[i:])
			if h.TotalSize() < batchHeaderLen || pos+h.TotalSize() > sc.size || h.BaseOffset < sc.expect ||
				headerProblem(&h) != "" || !sc.fits(&h) {
				continue
			}
			b := make([]byte, h.TotalSize())
			if err := sc.read(b, pos); err != nil {
				return 0, BatchHeader{}, err
			}
			if _, err := validateBatch(b, 0); err == nil {
				return pos, h, nil
			}
		}
		// The next window overlaps this one by a header less one byte, so
		// a header across the boundary is seen whole.
		from += max(n-batchHeaderLen+1, 1)
	}
	return sc.size, BatchHeader{}, nil
}
