package log

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
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
		err := l.checked(s, func() (err error) { off, rts, found, err = s.searchTimestamp(ts, start); return err })
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
	err := l.checked(best, func() (err error) { off, rts, found, err = best.searchTimestamp(ts, l.start.Load()); return err })
	if err != nil || !found {
		return -1, -1
	}
	return rts, off
}

// searchTimestamp finds the first record in s at or after start with a
// timestamp >= ts.
func (s *segment) searchTimestamp(ts, start int64) (int64, int64, bool, error) {
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
			off, rts, found, err := FirstRecordAtOrAfter(batch, ts, start)
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
// needed) and returns the offset and timestamp of the first record with
// offset >= minOffset and timestamp >= ts.
func FirstRecordAtOrAfter(batch []byte, ts, minOffset int64) (offset, timestamp int64, found bool, err error) {
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
	rd, closeFn, err := recordsReader(h.Compression(), batch[batchHeaderLen:h.TotalSize()])
	if err != nil {
		return 0, 0, false, err
	}
	defer closeFn()
	for i := int32(0); i < h.NumRecords; i++ {
		length, err := binary.ReadVarint(rd)
		if err != nil || length < 3 {
			return 0, 0, false, fmt.Errorf("%w: record %d: bad length", ErrCorruptMessage, i)
		}
		cr := &countingReader{r: rd}
		if _, err := cr.ReadByte(); err != nil { // attributes
			return 0, 0, false, fmt.Errorf("%w: record %d: %v", ErrCorruptMessage, i, err)
		}
		tsDelta, err1 := binary.ReadVarint(cr)
		offDelta, err2 := binary.ReadVarint(cr)
		if err := errors.Join(err1, err2); err != nil || cr.n > length {
			return 0, 0, false, fmt.Errorf("%w: record %d: bad header", ErrCorruptMessage, i)
		}
		rts, off := h.FirstTimestamp+tsDelta, h.BaseOffset+offDelta
		if rts >= ts && off >= minOffset {
			return off, rts, true, nil
		}
		if _, err := rd.Discard(int(length - cr.n)); err != nil {
			return 0, 0, false, fmt.Errorf("%w: record %d: truncated", ErrCorruptMessage, i)
		}
	}
	return 0, 0, false, nil
}

type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// maxDecompressed bounds what a snappy batch may expand to.
const maxDecompressed = 256 << 20

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// recordsReader returns a reader over a batch's record bytes.
func recordsReader(codec int, b []byte) (*bufio.Reader, func(), error) {
	noop := func() {}
	var r io.Reader
	switch codec {
	case 0:
		r = bytes.NewReader(b)
	case 1:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, noop, fmt.Errorf("%w: gzip: %v", ErrCorruptMessage, err)
		}
		r = zr
	case 2:
		out, err := decodeSnappy(b)
		if err != nil {
			return nil, noop, err
		}
		r = bytes.NewReader(out)
	case 3:
		r = lz4.NewReader(bytes.NewReader(b))
	case 4:
		zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
		if err != nil {
			return nil, noop, fmt.Errorf("%w: zstd: %v", ErrCorruptMessage, err)
		}
		return bufio.NewReader(zr), zr.Close, nil
	default:
		return nil, noop, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptMessage, codec)
	}
	return bufio.NewReader(r), noop, nil
}

// decodeSnappy handles both raw snappy blocks and the xerial framing Kafka's
// Java client writes (magic, version, compat, then length-prefixed blocks).
func decodeSnappy(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, xerialMagic) || len(b) < 16 {
		n, err := snappy.DecodedLen(b)
		if err != nil || n > maxDecompressed {
			return nil, fmt.Errorf("%w: snappy: bad block", ErrCorruptMessage)
		}
		out, err := snappy.Decode(nil, b)
		if err != nil {
			return nil, fmt.Errorf("%w: snappy: %v", ErrCorruptMessage, err)
		}
		return out, nil
	}
	var out []byte
	for p := b[16:]; len(p) > 0; {
		if len(p) < 4 {
			return nil, fmt.Errorf("%w: snappy: truncated xerial block", ErrCorruptMessage)
		}
		n := int(binary.BigEndian.Uint32(p))
		if n < 0 || n > len(p)-4 {
			return nil, fmt.Errorf("%w: snappy: xerial block of %d bytes", ErrCorruptMessage, n)
		}
		dn, err := snappy.DecodedLen(p[4 : 4+n])
		if err != nil || len(out)+dn > maxDecompressed {
			return nil, fmt.Errorf("%w: snappy: bad block", ErrCorruptMessage)
		}
		dec, err := snappy.Decode(nil, p[4:4+n])
		if err != nil {
			return nil, fmt.Errorf("%w: snappy: %v", ErrCorruptMessage, err)
		}
		out = append(out, dec...)
		p = p[4+n:]
	}
	return out, nil
}
