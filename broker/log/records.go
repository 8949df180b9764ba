package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/batchcodec"
)

// Streaming the records of one batch in bounded memory.
//
// A record inside a v2 batch (varints are zigzag, as Kafka's DefaultRecord):
//
//	length          varint   bytes of the record after this field
//	attributes      int8
//	timestampDelta  varlong  from the batch's firstTimestamp
//	offsetDelta     varint   from the batch's baseOffset: 0, 1, 2, ...
//	keyLength       varint   -1 for a null key
//	key             bytes
//	valueLength     varint   -1 for a null value (a tombstone)
//	value           bytes
//	headerCount     varint
//	headers         keyLength varint (>= 0), key, valueLength varint, value
//
// A recordReader walks these one at a time, over the batch's bytes or a
// decompressing reader (codec.go), keeping only the fields asked for. It
// checks what Kafka's record iterator and LogValidator check, with Kafka's
// error classes: a bad structure, a count that disagrees with the records
// present, or bytes left after the last record are INVALID_RECORD
// (InvalidRecordException); so are offset deltas that do not increase
// within the batch's span (with Append's count check, deltas other than
// 0, 1, 2, ...), which Kafka rewrites for compressed batches but which a
// log that keeps batches as bytes must refuse. A record of a compressed batch longer
// than max.decompressed.message.bytes is INVALID_RECORD, as in Kafka. A
// compressed batch whose records decompress to more than the batch limit
// (Config.MaxDecompressedBatchBytes) is MESSAGE_TOO_LARGE; data that does
// not decompress is CORRUPT_MESSAGE.

// recordLimits bound the decoding of one batch.
type recordLimits struct {
	// batch is the most bytes a compressed batch's records may
	// decompress to.
	batch int64
	// record is the longest record (its length field) a compressed batch
	// may hold: max.decompressed.message.bytes.
	record int64
}

// recordFields says what reading a record keeps.
type recordFields int

const (
	fieldsNone recordFields = iota // check the structure only
	fieldsKey                      // keep the key; skip value and headers
	fieldsAll                      // keep key, value and headers
)

// rawRecord is one record as read from a batch.
type rawRecord struct {
	tsDelta   int64
	offDelta  int32
	key       []byte // with fieldsKey or fieldsAll; nil for a null key
	valueNull bool
	value     []byte        // with fieldsAll
	headers   []kmsg.Header // with fieldsAll
}

// minRecordLength is the shortest record body: attributes and five
// one-byte varints (timestamp and offset deltas, key and value lengths,
// header count).
const minRecordLength = 6

// errRecordsEnd ends the record bytes of a batch (internal to recordStream).
var errRecordsEnd = errors.New("log: end of records")

// recordStream is a buffered byte source over a batch's record bytes:
// either the bytes themselves (uncompressed) or a decompressing reader,
// read through a pooled 64 KiB buffer and at most limit bytes in all.
type recordStream struct {
	buf   []byte // buf[pos:] is unread
	pos   int
	base  int64 // stream offset of buf[0]
	src   io.Reader
	back  *[]byte
	codec int
	taken int64 // bytes read from src
	limit int64
	err   error // sticky
}

const streamBufLen = 64 << 10

var streamBufs = sync.Pool{New: func() any { b := make([]byte, streamBufLen); return &b }}

// offset is how many record bytes have been consumed.
func (s *recordStream) offset() int64 { return s.base + int64(s.pos) }

// fill refills an exhausted buffer from the source.
func (s *recordStream) fill() error {
	if s.err != nil {
		return s.err
	}
	if s.src == nil {
		s.err = errRecordsEnd
		return s.err
	}
	s.base += int64(len(s.buf))
	s.buf, s.pos = nil, 0
	// Read at most limit+1 bytes in all: one more than allowed proves the
	// batch too large without decompressing further.
	room := min(int64(len(*s.back)), s.limit-s.taken+1)
	for range 100 {
		n, err := s.src.Read((*s.back)[:room])
		if n > 0 {
			s.taken += int64(n)
			if s.taken > s.limit {
				s.err = fmt.Errorf("%w: %s records decompress to more than %d bytes, the most a batch may expand to (%d times max.message.bytes)",
					ErrMessageTooLarge, codecName(s.codec), s.limit, DecompressionRatio)
				return s.err
			}
			s.buf = (*s.back)[:n]
			return nil
		}
		switch {
		case err == io.EOF:
			s.err = errRecordsEnd
			return s.err
		case err != nil:
			s.err = decodeError(s.codec, err)
			return s.err
		}
	}
	s.err = fmt.Errorf("%w: %s reader makes no progress", ErrCorruptMessage, codecName(s.codec))
	return s.err
}

func (s *recordStream) readByte() (byte, error) {
	if s.pos == len(s.buf) {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.pos]
	s.pos++
	return b, nil
}

var errBadVarint = errors.New("log: varint overflows 64 bits")

// varint reads a zigzag varint.
func (s *recordStream) varint() (int64, error) {
	if s.pos < len(s.buf) && s.buf[s.pos] < 0x80 { // one byte: most lengths and deltas
		ux := uint64(s.buf[s.pos])
		s.pos++
		return int64(ux>>1) ^ -int64(ux&1), nil
	}
	if len(s.buf)-s.pos >= binary.MaxVarintLen64 {
		v, n := binary.Varint(s.buf[s.pos:])
		if n <= 0 {
			return 0, errBadVarint
		}
		s.pos += n
		return v, nil
	}
	var ux uint64
	for i := uint(0); i < binary.MaxVarintLen64; i++ {
		b, err := s.readByte()
		if err != nil {
			return 0, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, errBadVarint
			}
			ux |= uint64(b) << (7 * i)
			x := int64(ux >> 1)
			if ux&1 != 0 {
				x = ^x
			}
			return x, nil
		}
		ux |= uint64(b&0x7f) << (7 * i)
	}
	return 0, errBadVarint
}

// skip consumes n bytes.
func (s *recordStream) skip(n int64) error {
	if n <= int64(len(s.buf)-s.pos) {
		s.pos += int(n)
		return nil
	}
	for n > 0 {
		if s.pos == len(s.buf) {
			if err := s.fill(); err != nil {
				return err
			}
		}
		k := min(int64(len(s.buf)-s.pos), n)
		s.pos += int(k)
		n -= k
	}
	return nil
}

// bytes consumes n bytes into a new slice.
func (s *recordStream) bytes(n int64) ([]byte, error) {
	out := make([]byte, n)
	for off := 0; off < len(out); {
		if s.pos == len(s.buf) {
			if err := s.fill(); err != nil {
				return nil, err
			}
		}
		k := copy(out[off:], s.buf[s.pos:])
		s.pos += k
		off += k
	}
	return out, nil
}

// atEnd reports whether every record byte has been consumed.
func (s *recordStream) atEnd() (bool, error) {
	if s.pos < len(s.buf) {
		return false, nil
	}
	switch err := s.fill(); {
	case errors.Is(err, errRecordsEnd):
		return true, nil
	case err != nil:
		return false, err
	}
	return false, nil
}

// recordReader streams the records of one batch. Close it.
type recordReader struct {
	h   BatchHeader
	s   recordStream
	lim recordLimits
	i   int32 // records read
	// prevDelta is the offset delta of the last record read (-1 before).
	prevDelta int64
	release   func()
	slot      bool
}

// newRecordReader reads the records of batch (one whole batch, header
// included, its length and CRC already checked).
func newRecordReader(batch []byte, h BatchHeader, lim recordLimits) (*recordReader, error) {
	if h.NumRecords < 0 {
		return nil, fmt.Errorf("%w: record count %d", ErrInvalidRecord, h.NumRecords)
	}
	if err := checkCodec(h); err != nil {
		return nil, err
	}
	data := batch[batchHeaderLen:h.TotalSize()]
	r := &recordReader{h: h, lim: lim, prevDelta: -1}
	c := h.Compression()
	if c == codecNone {
		r.s = recordStream{buf: data, limit: int64(len(data))}
		return r, nil
	}
	decodeSlots <- struct{}{}
	r.slot = true
	src, err := batchcodec.NewReader(c, data, lim.batch)
	if err != nil {
		r.close()
		return nil, decodeError(c, err)
	}
	r.release = src.Close
	r.s = recordStream{src: src, back: streamBufs.Get().(*[]byte), codec: c, limit: lim.batch}
	return r, nil
}

// close returns the decoder and buffer and frees the decode slot.
func (r *recordReader) close() {
	if r.release != nil {
		r.release()
		r.release = nil
	}
	if r.s.back != nil {
		streamBufs.Put(r.s.back)
		r.s.back = nil
	}
	r.s.src = nil
	if r.slot {
		<-decodeSlots
		r.slot = false
	}
}

// invalid is an INVALID_RECORD error about record i.
func invalid(i int32, format string, args ...any) error {
	return fmt.Errorf("%w: record %d: %s", ErrInvalidRecord, i, fmt.Sprintf(format, args...))
}

// streamErr explains a stream error met inside record i.
func (r *recordReader) streamErr(err error) error {
	switch {
	case errors.Is(err, errRecordsEnd):
		return fmt.Errorf("%w: the batch declares %d records but its data ends inside record %d", ErrInvalidRecord, r.h.NumRecords, r.i)
	case errors.Is(err, errBadVarint):
		return invalid(r.i, "bad varint")
	}
	return err
}

// next reads the next record into rec, keeping the fields f. It returns
// false after the last record, once it has checked that no bytes follow.
func (r *recordReader) next(f recordFields, rec *rawRecord) (bool, error) {
	if r.i == r.h.NumRecords {
		end, err := r.s.atEnd()
		if err != nil {
			return false, r.streamErr(err)
		}
		if !end {
			return false, fmt.Errorf("%w: bytes follow the %d records the batch declares", ErrInvalidRecord, r.h.NumRecords)
		}
		return false, nil
	}
	if err := r.read(f, rec); err != nil {
		return false, r.streamErr(err)
	}
	r.i++
	return true, nil
}

func (r *recordReader) read(f recordFields, rec *rawRecord) error {
	s, i := &r.s, r.i
	length, err := s.varint()
	if err != nil {
		return err
	}
	if length < minRecordLength || length > math.MaxInt32 {
		return invalid(i, "length %d", length)
	}
	if r.h.Compression() != codecNone && length > r.lim.record {
		return invalid(i, "%d bytes decompressed, more than max.decompressed.message.bytes %d", length, r.lim.record)
	}
	end := s.offset() + length
	if _, err := s.readByte(); err != nil { // attributes, unused in v2
		return err
	}
	if rec.tsDelta, err = s.varint(); err != nil {
		return err
	}
	off, err := s.varint()
	if err != nil {
		return err
	}
	// Deltas must increase within the batch's span. Since Append requires
	// as many records as the span holds, they are then 0, 1, 2, ...
	if off <= r.prevDelta || off > int64(r.h.LastOffsetDelta) {
		return invalid(i, "offset delta %d after %d; deltas must increase, from 0 up to the batch's lastOffsetDelta %d",
			off, r.prevDelta, r.h.LastOffsetDelta)
	}
	r.prevDelta = off
	rec.offDelta = int32(off)
	if rec.key, _, err = r.field(end, "key", f >= fieldsKey, true); err != nil {
		return err
	}
	if rec.value, rec.valueNull, err = r.field(end, "value", f == fieldsAll, true); err != nil {
		return err
	}
	if f == fieldsAll && !rec.valueNull && rec.value == nil {
		rec.value = []byte{}
	}
	n, err := s.varint()
	if err != nil {
		return err
	}
	// Each header takes at least two bytes.
	if n < 0 || n > (end-s.offset())/2 {
		return invalid(i, "%d headers, %d bytes left in the record", n, end-s.offset())
	}
	rec.headers = nil
	if f == fieldsAll && n > 0 {
		rec.headers = make([]kmsg.Header, n)
	}
	for h := range int(n) {
		k, _, err := r.field(end, "header key", f == fieldsAll, false)
		if err != nil {
			return err
		}
		v, _, err := r.field(end, "header value", f == fieldsAll, true)
		if err != nil {
			return err
		}
		if f == fieldsAll {
			rec.headers[h] = kmsg.Header{Key: string(k), Value: v}
		}
	}
	if got := s.offset(); got != end {
		return invalid(i, "fields take %d bytes, its length says %d", length-(end-got), length)
	}
	return nil
}

// field reads a length-prefixed field of the record ending at stream
// offset end (a length of -1 is null if nullable), keeping or skipping it.
func (r *recordReader) field(end int64, what string, keep, nullable bool) (b []byte, null bool, err error) {
	s := &r.s
	n, err := s.varint()
	if err != nil {
		return nil, false, err
	}
	switch left := end - s.offset(); {
	case n == -1 && nullable:
		return nil, true, nil
	case n < 0 || n > left:
		return nil, false, invalid(r.i, "%s length %d, %d bytes left in the record", what, n, left)
	case keep:
		b, err := s.bytes(n)
		return b, false, err
	}
	return nil, false, s.skip(n)
}

// unreadValue stands for a value that was skipped: empty but not nil, so
// that only a tombstone has a nil Value.
var unreadValue = []byte{}

// record turns rec into a Record with its absolute offset and timestamp.
// A value that was not kept (fieldsKey) is empty, or nil for a tombstone.
func (r *recordReader) record(rec *rawRecord) Record {
	ts := r.h.FirstTimestamp + rec.tsDelta
	if r.h.IsLogAppendTime() {
		ts = r.h.MaxTimestamp
	}
	out := Record{Offset: r.h.BaseOffset + int64(rec.offDelta), Timestamp: ts, Key: rec.key, Value: rec.value, Headers: rec.headers}
	switch {
	case rec.valueNull:
		out.Value = nil
	case out.Value == nil:
		out.Value = unreadValue
	}
	return out
}

// checkRecords reads every record of one validated batch (Append's record
// check). An uncompressed batch is first checked by plainRecordsOK; only a
// batch it refuses goes through the streaming reader, whose verdict and
// error then stand.
func checkRecords(batch []byte, h BatchHeader, lim recordLimits) error {
	if h.Compression() == codecNone && h.NumRecords >= 0 && plainRecordsOK(batch[batchHeaderLen:h.TotalSize()], h) {
		return nil
	}
	r, err := newRecordReader(batch, h, lim)
	if err != nil {
		return err
	}
	defer r.close()
	var rec rawRecord
	for {
		ok, err := r.next(fieldsNone, &rec)
		if !ok || err != nil {
			return err
		}
	}
}

// plainRecordsOK reports whether data, the record bytes of an uncompressed
// batch with header h, holds exactly h.NumRecords well-formed records with
// increasing offset deltas: the checks of recordReader with fieldsNone, in
// one pass over the slice with no allocation. The profile of a 100 B
// producer put over a quarter of the broker's CPU in the streaming reader's
// per-byte bookkeeping, which bytes already in memory do not need. It only
// decides acceptance; whatever it refuses is read again by the streaming
// reader to name the fault (FuzzPlainRecords holds the two to the same
// verdict).
func plainRecordsOK(data []byte, h BatchHeader) bool {
	pos, prev := 0, int64(-1)
	for range h.NumRecords {
		length, n := binary.Varint(data[pos:])
		if n <= 0 || length < minRecordLength || length > int64(len(data)-pos-n) {
			return false
		}
		pos += n
		rec := data[pos : pos+int(length)]
		pos += int(length)
		p := 1 // after the attributes: the timestamp delta
		if _, n = binary.Varint(rec[p:]); n <= 0 {
			return false
		}
		p += n
		off, n := binary.Varint(rec[p:])
		if n <= 0 || off <= prev || off > int64(h.LastOffsetDelta) {
			return false
		}
		prev = off
		p += n
		var ok bool
		if p, ok = plainField(rec, p, true); !ok { // key
			return false
		}
		if p, ok = plainField(rec, p, true); !ok { // value
			return false
		}
		hc, n := binary.Varint(rec[p:])
		if n <= 0 || hc < 0 || hc > int64(len(rec)-p-n)/2 {
			return false
		}
		p += n
		for range hc {
			if p, ok = plainField(rec, p, false); !ok {
				return false
			}
			if p, ok = plainField(rec, p, true); !ok {
				return false
			}
		}
		if p != len(rec) {
			return false
		}
	}
	return pos == len(data)
}

// plainField skips the length-prefixed field at rec[p:] (a length of -1 is
// null if nullable) and returns the position after it.
func plainField(rec []byte, p int, nullable bool) (int, bool) {
	n, k := binary.Varint(rec[p:])
	switch {
	case k <= 0:
		return 0, false
	case n == -1 && nullable:
		return p + k, true
	case n < 0 || n > int64(len(rec)-p-k):
		return 0, false
	}
	return p + k + int(n), true
}
