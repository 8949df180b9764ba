package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record decoding and encoding for the two places that must look inside
// batches: the compaction cleaner and the group coordinator's records in
// __consumer_offsets. Everything else keeps batches as bytes.

// Record is one record of a batch with its absolute offset and timestamp.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte // nil: no key
	Value     []byte // nil: a tombstone
	Headers   []kmsg.Header
}

// DecodeBatch decodes one whole batch (header and records, decompressing
// if needed) and checks its CRC. It holds every record, so the records may
// decompress to at most DefaultConfig's MaxDecompressedBatchBytes; the
// cleaner streams records instead (recordReader).
func DecodeBatch(b []byte) (BatchHeader, []Record, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, nil, err
	}
	if h.TotalSize() < batchHeaderLen {
		return h, nil, fmt.Errorf("%w: batch at offset %d: length %d smaller than a header", ErrCorruptMessage, h.BaseOffset, h.Length)
	}
	if int64(len(b)) < h.TotalSize() {
		return h, nil, fmt.Errorf("%w: batch at offset %d is %d bytes, have %d", ErrCorruptMessage, h.BaseOffset, h.TotalSize(), len(b))
	}
	b = b[:h.TotalSize()]
	if crc32.Checksum(b[batchCRCStart:], castagnoli) != h.CRC {
		return h, nil, fmt.Errorf("%w: batch at offset %d: CRC mismatch", ErrCorruptMessage, h.BaseOffset)
	}
	r, err := newRecordReader(b, h, DefaultConfig().recordLimits())
	if err != nil {
		return h, nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	defer r.close()
	recs := make([]Record, 0, min(h.NumRecords, 1<<16))
	var rec rawRecord
	for {
		ok, err := r.next(fieldsAll, &rec)
		if err != nil {
			return h, nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		if !ok {
			return h, recs, nil
		}
		recs = append(recs, r.record(&rec))
	}
}

// EncodeBatch writes records as one uncompressed batch. Offsets and
// timestamps are kept as given (offsets may have gaps, as after
// compaction); producer fields come from h (use -1 for none).
func EncodeBatch(h BatchHeader, recs []Record) []byte {
	if len(recs) == 0 {
		return nil
	}
	base := recs[0].Offset
	firstTs, maxTs := recs[0].Timestamp, recs[0].Timestamp
	for _, r := range recs {
		firstTs = min(firstTs, r.Timestamp)
		maxTs = max(maxTs, r.Timestamp)
	}
	var body []byte
	for _, r := range recs {
		kr := kmsg.Record{
			TimestampDelta64: r.Timestamp - firstTs,
			OffsetDelta:      int32(r.Offset - base),
			Key:              r.Key,
			Value:            r.Value,
			Headers:          r.Headers,
		}
		body = appendRecord(body, &kr)
	}
	b := make([]byte, batchHeaderLen, batchHeaderLen+len(body))
	b = append(b, body...)
	binary.BigEndian.PutUint64(b[0:], uint64(base))
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-batchLengthOverhead))
	binary.BigEndian.PutUint32(b[12:], uint32(h.PartitionLeaderEpoch))
	b[16] = 2
	attrs := h.Attributes &^ attrCompressionMask
	binary.BigEndian.PutUint16(b[21:], uint16(attrs))
	binary.BigEndian.PutUint32(b[23:], uint32(recs[len(recs)-1].Offset-base))
	binary.BigEndian.PutUint64(b[27:], uint64(firstTs))
	if h.IsLogAppendTime() {
		maxTs = h.MaxTimestamp
	}
	binary.BigEndian.PutUint64(b[35:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[43:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[51:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[53:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[57:], uint32(len(recs)))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[batchCRCStart:], castagnoli))
	return b
}

// NewBatchHeader is a header for a batch with no producer, for EncodeBatch.
func NewBatchHeader() BatchHeader {
	return BatchHeader{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// appendRecord encodes one record (length-prefixed, varint fields).
func appendRecord(dst []byte, r *kmsg.Record) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, r.TimestampDelta64)
	body = binary.AppendVarint(body, int64(r.OffsetDelta))
	body = appendVarBytes(body, r.Key)
	body = appendVarBytes(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, hd := range r.Headers {
		body = binary.AppendVarint(body, int64(len(hd.Key)))
		body = append(body, hd.Key...)
		body = appendVarBytes(body, hd.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
