package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Record batch v2 layout (all integers big-endian), as stored in a segment:
//
//	offset  size  field
//	     0     8  baseOffset            assigned by the log on append
//	     8     4  batchLength           bytes after this field
//	    12     4  partitionLeaderEpoch
//	    16     1  magic                 must be 2
//	    17     4  crc                   CRC32C of bytes 21..end
//	    21     2  attributes            bits 0-2 compression, 3 LogAppendTime,
//	                                    4 transactional, 5 control
//	    23     4  lastOffsetDelta
//	    27     8  firstTimestamp
//	    35     8  maxTimestamp
//	    43     8  producerId
//	    51     2  producerEpoch
//	    53     4  baseSequence
//	    57     4  numRecords
//	    61     …  records (compressed as a whole if compression != 0)
const (
	batchHeaderLen      = 61
	batchLengthOverhead = 12 // baseOffset + batchLength
	batchCRCStart       = 21
	// batchPrefixLen is how much of a header Read needs to step over batches.
	batchPrefixLen = 27

	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrControl         = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the fixed-size header of a Kafka v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // batchLength: bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// TotalSize is the whole batch's size in bytes, header included.
func (h BatchHeader) TotalSize() int64 { return int64(h.Length) + batchLengthOverhead }

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// LastSequence is the sequence number of the batch's last record, wrapping
// at math.MaxInt32 as Kafka does.
func (h BatchHeader) LastSequence() int32 {
	return addSequence(h.BaseSequence, h.LastOffsetDelta)
}

// Compression is the codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (h BatchHeader) Compression() int { return int(h.Attributes & attrCompressionMask) }

// IsLogAppendTime reports whether the timestamp-type attribute is set.
func (h BatchHeader) IsLogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

func addSequence(seq, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// ParseBatchHeader decodes the header at the start of b. It checks only
// that b is long enough for a header; see validateBatch for the rest.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < batchHeaderLen {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes, shorter than a %d-byte batch header", ErrCorruptMessage, len(b), batchHeaderLen)
	}
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[0:])),
		Length:               int32(be.Uint32(b[8:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[12:])),
		Magic:                int8(b[16]),
		CRC:                  be.Uint32(b[17:]),
		Attributes:           int16(be.Uint16(b[21:])),
		LastOffsetDelta:      int32(be.Uint32(b[23:])),
		FirstTimestamp:       int64(be.Uint64(b[27:])),
		MaxTimestamp:         int64(be.Uint64(b[35:])),
		ProducerID:           int64(be.Uint64(b[43:])),
		ProducerEpoch:        int16(be.Uint16(b[51:])),
		BaseSequence:         int32(be.Uint32(b[53:])),
		NumRecords:           int32(be.Uint32(b[57:])),
	}, nil
}

// validateBatch checks the batch at the start of b: its length field fits
// in b and within maxBytes, the magic is 2, the CRC32C matches, and the
// record count agrees with lastOffsetDelta. It returns the header; the
// batch occupies b[:h.TotalSize()].
func validateBatch(b []byte, maxBytes int) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.Length < batchHeaderLen-batchLengthOverhead {
		return h, fmt.Errorf("%w: batch length %d smaller than a header", ErrCorruptMessage, h.Length)
	}
	if maxBytes > 0 && h.TotalSize() > int64(maxBytes) {
		return h, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", ErrMessageTooLarge, h.TotalSize(), maxBytes)
	}
	if h.TotalSize() > int64(len(b)) {
		return h, fmt.Errorf("%w: batch length %d runs past the %d bytes given", ErrCorruptMessage, h.TotalSize(), len(b))
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d, only 2 is supported", ErrCorruptMessage, h.Magic)
	}
	if crc := crc32.Checksum(b[batchCRCStart:h.TotalSize()], castagnoli); crc != h.CRC {
		return h, fmt.Errorf("%w: crc32c %08x, header says %08x", ErrCorruptMessage, crc, h.CRC)
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta < 0 || int64(h.LastOffsetDelta)+1 != int64(h.NumRecords) {
		return h, fmt.Errorf("%w: batch has %d records but lastOffsetDelta %d", ErrInvalidRecord, h.NumRecords, h.LastOffsetDelta)
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return h, fmt.Errorf("%w: producer id %d with sequence %d", ErrInvalidRecord, h.ProducerID, h.BaseSequence)
	}
	return h, nil
}

// ValidateBatches checks every batch in b (as Append does before writing)
// and returns their headers.
func ValidateBatches(b []byte, maxBytes int) ([]BatchHeader, error) {
	var hs []BatchHeader
	for pos := 0; pos < len(b); {
		h, err := validateBatch(b[pos:], maxBytes)
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(hs), pos, err)
		}
		hs = append(hs, h)
		pos += int(h.TotalSize())
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("%w: no record batch", ErrInvalidRecord)
	}
	return hs, nil
}

// checkBatchRecords reads the records of every batch of b (validated, with
// headers hs): their count, structure and offset deltas, codec and
// decompressed size. Append runs it after ValidateBatches.
func checkBatchRecords(b []byte, hs []BatchHeader, lim recordLimits) error {
	pos := 0
	for i, h := range hs {
		if err := checkRecords(b[pos:pos+int(h.TotalSize())], h, lim); err != nil {
			return fmt.Errorf("batch %d at byte %d: %w", i, pos, err)
		}
		pos += int(h.TotalSize())
	}
	return nil
}

// setLeaderEpoch rewrites partitionLeaderEpoch in place (not covered by the CRC).
func setLeaderEpoch(b []byte, epoch int32) { binary.BigEndian.PutUint32(b[12:], uint32(epoch)) }

// setBaseOffset rewrites the base offset in place (not covered by the CRC).
func setBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[0:], uint64(off)) }

// stampLogAppendTime sets the timestamp type to LogAppendTime with ts as the
// first and max timestamp, and recomputes the CRC.
func stampLogAppendTime(b []byte, h *BatchHeader, ts int64) {
	be := binary.BigEndian
	h.Attributes |= attrLogAppendTime
	h.FirstTimestamp, h.MaxTimestamp = ts, ts
	be.PutUint16(b[21:], uint16(h.Attributes))
	be.PutUint64(b[27:], uint64(ts))
	be.PutUint64(b[35:], uint64(ts))
	h.CRC = crc32.Checksum(b[batchCRCStart:h.TotalSize()], castagnoli)
	be.PutUint32(b[17:], h.CRC)
}

// stampCRC recomputes the CRC of the batch of total size n at b.
func stampCRC(b []byte, n int64) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[batchCRCStart:n], castagnoli))
}
