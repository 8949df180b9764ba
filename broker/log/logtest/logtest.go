// Package logtest builds hostile Kafka v2 record batches for tests of
// anything that decodes batches: the broker's append checks and cleaner, and
// consumers such as the loader. It depends on no Sluice package, so tests
// of broker/log can use it too.
package logtest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strconv"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ZstdBomb returns a zstd-compressed batch of n records, keyed "bomb-0",
// "bomb-1", ..., whose values are size zero bytes each: a few KB that
// decompress to about n*size bytes. The frame is written as a stream, so its
// header does not declare the content size and only decompressing reveals
// it. The batch starts at offset base, has no producer id, and its CRC is
// valid.
func ZstdBomb(base int64, n, size int) []byte {
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		panic(err) // only for invalid options
	}
	zeros := make([]byte, 1<<20)
	for i := range n {
		key := []byte("bomb-" + strconv.Itoa(i))
		body := []byte{0}                          // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		body = binary.AppendVarint(body, int64(len(key)))
		body = append(body, key...)
		body = binary.AppendVarint(body, int64(size))
		length := len(body) + size + 1 // and the header count
		enc.Write(append(binary.AppendVarint(nil, int64(length)), body...))
		for left := size; left > 0; left -= len(zeros) {
			enc.Write(zeros[:min(left, len(zeros))])
		}
		enc.Write([]byte{0}) // no headers
	}
	if err := enc.Close(); err != nil {
		panic(err)
	}
	const zstdCodec = 4
	return Batch(base, zstdCodec, buf.Bytes(), int32(n))
}

// Batch wraps records data (compressed with the codec in the low bits of
// attributes, or not) in a v2 batch at offset base declaring n records,
// with a valid CRC and no producer id.
func Batch(base int64, attributes int16, records []byte, n int32) []byte {
	rb := kmsg.RecordBatch{
		FirstOffset:     base,
		Magic:           2,
		Attributes:      attributes,
		LastOffsetDelta: n - 1,
		FirstTimestamp:  1_700_000_000_000,
		MaxTimestamp:    1_700_000_000_000,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      n,
		Records:         records,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
