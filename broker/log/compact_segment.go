package log

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Cleaning one segment, in bounded memory.
//
// The cleaner reads a segment batch by batch (scanSegment: one batch's
// stored bytes at a time) and streams each batch's records (recordReader),
// so what it holds is one batch as stored plus a decoder window, never a
// batch decompressed whole nor a segment. It passes over a segment twice:
// planSegment decides, per batch, whether any record goes; only then
// rewriteSegment writes the replacement through a 1 MiB buffer, copying
// untouched batches as they are and streaming the kept records of the
// others into new batches of at most max.message.bytes (runWriter).
//
// A batch whose records cannot be read (data that does not decompress,
// records over the limits, a bad record structure) is kept exactly as it
// is and reported once (UncleanableBatch); a segment with a damaged batch
// header or CRC is not cleaned at all. Neither fails the log's cleaning.

// UncleanableBatch is a batch the cleaner keeps as it is because it cannot
// read its records, or the first damaged batch of a segment it leaves
// uncleaned.
type UncleanableBatch struct {
	Segment  string // file name
	Position int64  // byte position in the segment
	Offset   int64  // the batch's base offset
	Err      error  // why
}

// cleanRound collects what one Compact call could not clean.
type cleanRound struct {
	lim      recordLimits
	reported map[int64]bool // base offsets reported by earlier rounds
	found    []UncleanableBatch
}

func (r *cleanRound) note(s *segment, pos int64, h BatchHeader, err error) {
	if r.reported[h.BaseOffset] {
		return
	}
	r.reported[h.BaseOffset] = true
	r.found = append(r.found, UncleanableBatch{Segment: s.name(), Position: pos, Offset: h.BaseOffset, Err: err})
}

// noteDamage records the damaged batch a scan stopped at, if err is one,
// and reports whether it was.
func (r *cleanRound) noteDamage(s *segment, err error) bool {
	var cerr *CorruptionError
	if !errors.As(err, &cerr) {
		return false
	}
	r.note(s, cerr.Position, BatchHeader{BaseOffset: cerr.Offset}, err)
	return true
}

// scanSegment calls fn with the position, header and stored bytes (valid
// until fn returns) of every batch of the closed segment s, after checking
// its length and CRC; a damaged one stops the scan with a
// *CorruptionError.
func scanSegment(ctx context.Context, s *segment, fn func(pos int64, h BatchHeader, raw []byte) error) error {
	size := s.size.Load()
	buf := make([]byte, batchHeaderLen)
	for pos := int64(0); pos < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		damaged := func(reason string, off int64) error {
			return &CorruptionError{Segment: s.name(), Position: pos, Offset: off, Reason: reason}
		}
		if size-pos < batchHeaderLen {
			return damaged(fmt.Sprintf("%d bytes left, less than a batch header", size-pos), -1)
		}
		if _, err := s.log.ReadAt(buf[:batchHeaderLen], pos); err != nil {
			return fmt.Errorf("read %s at %d: %w", s.name(), pos, err)
		}
		h, _ := ParseBatchHeader(buf)
		if h.TotalSize() < batchHeaderLen || pos+h.TotalSize() > size {
			return damaged(fmt.Sprintf("batch length %d does not fit the segment", h.Length), h.BaseOffset)
		}
		if int64(cap(buf)) < h.TotalSize() {
			buf = make([]byte, h.TotalSize())
		}
		raw := buf[:h.TotalSize()]
		if _, err := s.log.ReadAt(raw, pos); err != nil {
			return fmt.Errorf("read %s at %d: %w", s.name(), pos, err)
		}
		if _, err := validateBatch(raw, 0); err != nil {
			return damaged(err.Error(), h.BaseOffset)
		}
		if err := fn(pos, h, raw); err != nil {
			return err
		}
		pos += h.TotalSize()
	}
	return nil
}

// eachRecord streams the records of one batch to fn, keeping fields f. A
// batch whose records cannot be read returns errUnreadable wrapping why.
func eachRecord(raw []byte, h BatchHeader, lim recordLimits, f recordFields, fn func(i int32, r Record) error) error {
	r, err := newRecordReader(raw, h, lim)
	if err != nil {
		return &unreadableError{err}
	}
	defer r.close()
	var rec rawRecord
	for i := int32(0); ; i++ {
		ok, err := r.next(f, &rec)
		if err != nil {
			return &unreadableError{err}
		}
		if !ok {
			return nil
		}
		if err := fn(i, r.record(&rec)); err != nil {
			return err
		}
	}
}

// unreadableError is a batch whose records the cleaner cannot read.
type unreadableError struct{ err error }

func (e *unreadableError) Error() string { return e.err.Error() }
func (e *unreadableError) Unwrap() error { return e.err }

// keyOffsets maps the keys of the dirty records (offset >= firstDirty) of
// s to their offsets in latest.
func keyOffsets(ctx context.Context, s *segment, firstDirty int64, latest map[string]int64, round *cleanRound) error {
	err := scanSegment(ctx, s, func(pos int64, h BatchHeader, raw []byte) error {
		if h.Attributes&attrControl != 0 {
			return nil
		}
		err := eachRecord(raw, h, round.lim, fieldsKey, func(_ int32, r Record) error {
			if r.Key != nil && r.Offset >= firstDirty {
				latest[string(r.Key)] = r.Offset
			}
			return nil
		})
		var unreadable *unreadableError
		if errors.As(err, &unreadable) {
			round.note(s, pos, h, unreadable.err)
			return nil
		}
		return err
	})
	if round.noteDamage(s, err) {
		return nil
	}
	return err
}

// cleanPolicy decides which records of a segment stay.
type cleanPolicy struct {
	latest        map[string]int64
	deleteHorizon int64
	segmentSize   int64
}

// keep reports whether record i of the batch at pos (size bytes, n
// records) stays. The segment's last record always stays, so that a
// segment never ends in an offset gap nor becomes empty: a read for an
// offset in such a gap would continue into the next segment below its
// base offset, which the sparse index lookup does not handle.
func (p *cleanPolicy) keep(pos int64, h BatchHeader, i int32, r Record) bool {
	if pos+h.TotalSize() == p.segmentSize && i == h.NumRecords-1 {
		return true
	}
	switch off, ok := p.latest[string(r.Key)]; {
	case r.Key == nil, ok && off > r.Offset:
		return false // no key, or superseded by a later record
	case r.Value == nil && r.Timestamp < p.deleteHorizon:
		return false // a tombstone past delete.retention.ms
	}
	return true
}

// planSegment returns the positions of the batches of s that lose records
// and how many records go.
func planSegment(ctx context.Context, s *segment, p *cleanPolicy, round *cleanRound) ([]int64, int64, error) {
	var rewrite []int64
	var removed int64
	err := scanSegment(ctx, s, func(pos int64, h BatchHeader, raw []byte) error {
		if h.Attributes&attrControl != 0 {
			return nil
		}
		var dropped int64
		err := eachRecord(raw, h, round.lim, fieldsKey, func(i int32, r Record) error {
			if !p.keep(pos, h, i, r) {
				dropped++
			}
			return nil
		})
		var unreadable *unreadableError
		switch {
		case errors.As(err, &unreadable):
			round.note(s, pos, h, unreadable.err)
		case err != nil:
			return err
		case dropped > 0:
			rewrite = append(rewrite, pos)
			removed += dropped
		}
		return nil
	})
	if round.noteDamage(s, err) {
		return nil, 0, nil
	}
	return rewrite, removed, err
}

// cleanSegment rewrites s without superseded records and installs the
// result. It returns nil if nothing in s was removable.
func (l *Log) cleanSegment(ctx context.Context, s *segment, next int64, p *cleanPolicy, round *cleanRound, now time.Time) (*segment, int64, error) {
	p.segmentSize = s.size.Load()
	rewrite, removed, err := planSegment(ctx, s, p, round)
	if err != nil || removed == 0 {
		return nil, 0, err
	}
	ns, err := l.createCleaned(s)
	if err != nil {
		return nil, 0, err
	}
	if err := l.rewriteSegment(ctx, s, ns, rewrite, p, round.lim); err != nil {
		ns.close()
		l.removeCleaned(s.base)
		return nil, 0, err
	}
	if err := l.finishCleaned(s, ns, next); err != nil {
		return nil, 0, err
	}
	if err := l.installCleaned(s, ns); err != nil {
		ns.close()
		l.removeCleaned(s.base)
		return nil, 0, err
	}
	return ns, removed, nil
}

// rewriteSegment writes the replacement of s into ns: batches at the
// positions in rewrite lose the records p drops, the others are copied.
func (l *Log) rewriteSegment(ctx context.Context, s, ns *segment, rewrite []int64, p *cleanPolicy, lim recordLimits) error {
	w := bufio.NewWriterSize(ns.log, 1<<20)
	maxBatch := l.cfg.Load().MaxMessageBytes
	err := scanSegment(ctx, s, func(pos int64, h BatchHeader, raw []byte) error {
		if len(rewrite) == 0 || pos != rewrite[0] {
			_, err := w.Write(raw)
			return err
		}
		rewrite = rewrite[1:]
		runs := runWriter{h: h, w: w, maxBytes: maxBatch}
		err := eachRecord(raw, h, lim, fieldsAll, func(i int32, r Record) error {
			if !p.keep(pos, h, i, r) {
				return nil
			}
			return runs.add(r)
		})
		if err != nil {
			return fmt.Errorf("batch at %s position %d: %w", s.name(), pos, err)
		}
		return runs.flush()
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

// runWriter writes kept records as batches of consecutive offsets: a
// batch's record count must match its offset span (appends and recovery
// check it), so gaps fall between batches, never inside one. A batch is
// also cut once it holds maxBytes of keys and values, so no rewritten batch
// grows past about max.message.bytes. An idempotent producer's sequence
// numbers move with each batch's first offset.
type runWriter struct {
	h        BatchHeader // of the batch the records come from
	w        io.Writer
	maxBytes int
	recs     []Record
	bytes    int
}

func (rw *runWriter) add(r Record) error {
	if n := len(rw.recs); n > 0 && (r.Offset != rw.recs[n-1].Offset+1 || rw.bytes >= rw.maxBytes) {
		if err := rw.flush(); err != nil {
			return err
		}
	}
	rw.recs = append(rw.recs, r)
	rw.bytes += len(r.Key) + len(r.Value)
	return nil
}

func (rw *runWriter) flush() error {
	if len(rw.recs) == 0 {
		return nil
	}
	rh := rw.h
	if rh.ProducerID >= 0 && rh.BaseSequence >= 0 {
		rh.BaseSequence = addSequence(rh.BaseSequence, int32(rw.recs[0].Offset-rh.BaseOffset))
	}
	_, err := rw.w.Write(EncodeBatch(rh, rw.recs))
	rw.recs, rw.bytes = rw.recs[:0], 0
	return err
}

// createCleaned creates the replacement of old under *.cleaned names.
func (l *Log) createCleaned(old *segment) (*segment, error) {
	ns := newSegment(old.dir, old.base)
	ns.closedAt, ns.synced = old.closedAt, true
	fail := func(err error) (*segment, error) {
		ns.close()
		l.removeCleaned(old.base)
		return nil, err
	}
	var err error
	if ns.log, err = l.openFile(cleanedName(l.dir, old.base, logSuffix), createFile, false); err != nil {
		return fail(err)
	}
	oi, err := l.openFile(cleanedName(l.dir, old.base, indexSuffix), createFile, false)
	if err != nil {
		return fail(err)
	}
	ns.offIdx = &sparseIndex{entryLen: offsetIndexEntryLen, file: oi, inMem: true}
	ti, err := l.openFile(cleanedName(l.dir, old.base, timeIndexSuffix), createFile, false)
	if err != nil {
		return fail(err)
	}
	ns.timeIdx = &sparseIndex{entryLen: timeIndexEntryLen, file: ti, inMem: true}
	return ns, nil
}

// finishCleaned builds the indexes of the written replacement ns of old
// exactly as recovery would, writes them out and fsyncs all three files.
func (l *Log) finishCleaned(old, ns *segment, next int64) error {
	fail := func(err error) error {
		ns.close()
		l.removeCleaned(old.base)
		return err
	}
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
	if err := ns.sync(); err != nil {
		return fail(err)
	}
	return nil
}
