// Package batchtest builds Kafka v2 record batches, hostile ones included, and
// compressed record data for tests of anything that decodes batches: the
// broker's append checks and cleaner, package batchcodec, and consumers
// such as the loader. It depends on no Sluice package, so tests of
// broker/log can use it too.
package batchtest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"strconv"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Compress compresses data with codec 1 gzip, 2 snappy (a raw block, as
// franz-go and librdkafka write it), 3 lz4 (a frame) or 4 zstd (a frame
// that declares its size); 0 returns data as it is.
func Compress(codec int, data []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case 1:
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case 2:
		return s2.EncodeSnappy(nil, data)
	case 3:
		w := lz4.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case 4:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err) // only for invalid options
		}
		defer enc.Close()
		return enc.EncodeAll(data, nil)
	default:
		return data
	}
	return buf.Bytes()
}

// XerialSnappy compresses data as snappy in the xerial framing of Kafka's
// Java client: magic, version and compatible version, then n
// length-prefixed snappy blocks.
func XerialSnappy(data []byte, n int) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for i := range n {
		blk := s2.EncodeSnappy(nil, data[len(data)*i/n:len(data)*(i+1)/n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
	}
	return out
}

// ZstdBomb returns a zstd-compressed batch of n records, keyed "bomb-0",
// "bomb-1", ..., whose values are size zero bytes each: a few KB that
// decompress to about n*size bytes. The frame is written as a stream, so its
// header does not declare the content size and only decompressing reveals
// it. The batch starts at offset base, has no producer id, and its CRC is
// valid.
func ZstdBomb(base int64, n, size int) []byte { return zstdBomb(base, n, size, false) }

// ZstdBombDeclared is ZstdBomb with a frame header that declares the
// content size, as zstd's one-shot encoders (franz-go's, the Java
// client's) write it: a decoder that trusts the header allocates all of
// it at once, one that checks it refuses the batch before decoding.
func ZstdBombDeclared(base int64, n, size int) []byte { return zstdBomb(base, n, size, true) }

func zstdBomb(base int64, n, size int, declare bool) []byte {
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		panic(err) // only for invalid options
	}
	heads := make([][]byte, n) // each record up to its value
	total := int64(0)
	for i := range n {
		key := []byte("bomb-" + strconv.Itoa(i))
		body := []byte{0}                          // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		body = binary.AppendVarint(body, int64(len(key)))
		body = append(body, key...)
		body = binary.AppendVarint(body, int64(size))
		length := len(body) + size + 1 // and the header count
		heads[i] = append(binary.AppendVarint(nil, int64(length)), body...)
		total += int64(len(heads[i]) + size + 1)
	}
	if declare {
		enc.ResetContentSize(&buf, total)
	} else {
		enc.Reset(&buf)
	}
	zeros := make([]byte, 1<<20)
	for i := range n {
		enc.Write(heads[i])
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

// Allocated returns the bytes fn allocated on the heap in all (TotalAlloc),
// which does not depend on timing: a decoder that expands a bomb into
// memory allocates at least what it expands to, however briefly.
func Allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
