package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Decompression of a batch's records, in bounded memory.
//
// A batch is read through a decompressing io.Reader, never decompressed
// into one slice: what a reader holds is its codec's window (gzip 32 KiB,
// lz4 one block of at most 4 MiB, zstd the frame's window, capped by
// zstdMaxWindow) plus a 64 KiB buffer. Snappy has no streaming form: a raw
// block is decoded whole once its declared size has been checked against
// the batch limit, and the xerial framing of Kafka's Java client is decoded
// one chunk at a time.
//
// Decoders are pooled, and at most GOMAXPROCS batches are decompressed at
// once across the broker (decodeSlots): decompression is bound by CPU, so
// more would not be faster, and it bounds the memory of the decoders in use
// to GOMAXPROCS times the largest window.

// Codec ids (the low three bits of the batch attributes).
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLz4    = 3
	codecZstd   = 4
)

// codecName names a codec id for messages.
func codecName(c int) string {
	switch c {
	case codecNone:
		return "none"
	case codecGzip:
		return "gzip"
	case codecSnappy:
		return "snappy"
	case codecLz4:
		return "lz4"
	case codecZstd:
		return "zstd"
	}
	return "unknown"
}

// checkCodec refuses a compression codec Kafka does not define.
func checkCodec(h BatchHeader) error {
	if c := h.Compression(); c > codecZstd {
		return fmt.Errorf("%w: unknown compression codec %d (attributes %#04x); Kafka defines 0 none, 1 gzip, 2 snappy, 3 lz4 and 4 zstd",
			ErrCorruptMessage, c, uint16(h.Attributes))
	}
	return nil
}

const (
	// zstdMinWindow is the smallest zstd window always accepted: 8 MiB
	// covers every zstd level up to 19 of Kafka's clients.
	zstdMinWindow = 8 << 20
	// zstdMaxWindow is the reference decoder's default limit (window log
	// 27), so a batch refused here is one a Java consumer refuses too.
	zstdMaxWindow = 128 << 20
)

// zstdWindow is the largest zstd window accepted for a batch that may
// decompress to at most limit bytes.
func zstdWindow(limit int64) uint64 {
	return uint64(min(max(limit, zstdMinWindow), zstdMaxWindow))
}

var decodeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// pooledGzip, pooledLz4 and pooledZstd keep a decoder together with the
// bytes.Reader it reads from, so that decompressing allocates neither.
type pooledGzip struct {
	src bytes.Reader
	zr  gzip.Reader
}

type pooledLz4 struct {
	src bytes.Reader
	zr  *lz4.Reader
}

type pooledZstd struct {
	src bytes.Reader
	zr  *zstd.Decoder
}

var (
	gzipPool = sync.Pool{New: func() any { return new(pooledGzip) }}
	lz4Pool  = sync.Pool{New: func() any { return &pooledLz4{zr: lz4.NewReader(nil)} }}
	zstdPool = sync.Pool{New: func() any {
		// The batch CRC covers the compressed bytes: the frame checksum
		// adds nothing.
		zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.IgnoreChecksum(true))
		if err != nil {
			panic(fmt.Sprintf("log: zstd decoder: %v", err)) // only for invalid options
		}
		return &pooledZstd{zr: zr}
	}}
)

// decompressor returns a reader of the decompressed records data b of a
// batch with codec c, which may produce at most limit bytes (the caller
// counts; snappy checks declared sizes against it before allocating), and
// a function that returns its decoder to the pool. The caller holds a
// decodeSlot.
func decompressor(c int, b []byte, limit int64) (io.Reader, func(), error) {
	switch c {
	case codecGzip:
		p := gzipPool.Get().(*pooledGzip)
		p.src.Reset(b)
		if err := p.zr.Reset(&p.src); err != nil {
			gzipPool.Put(p)
			return nil, nil, fmt.Errorf("%w: gzip: %v", ErrCorruptMessage, err)
		}
		return &p.zr, func() { p.src.Reset(nil); gzipPool.Put(p) }, nil
	case codecSnappy:
		r, err := newSnappyReader(b, limit)
		return r, r.release, err
	case codecLz4:
		p := lz4Pool.Get().(*pooledLz4)
		p.src.Reset(b)
		p.zr.Reset(&p.src)
		return p.zr, func() { p.zr.Reset(nil); p.src.Reset(nil); lz4Pool.Put(p) }, nil
	case codecZstd:
		if err := checkZstdHeader(b, limit); err != nil {
			return nil, nil, err
		}
		p := zstdPool.Get().(*pooledZstd)
		p.src.Reset(b)
		if err := p.zr.ResetWithOptions(&p.src, zstd.WithDecoderMaxWindow(zstdWindow(limit))); err != nil {
			p.zr.Reset(nil)
			zstdPool.Put(p)
			return nil, nil, fmt.Errorf("%w: zstd: %v", ErrCorruptMessage, err)
		}
		return p.zr, func() { p.zr.Reset(nil); p.src.Reset(nil); zstdPool.Put(p) }, nil
	}
	return nil, nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptMessage, c)
}

// checkZstdHeader refuses a zstd frame whose header declares more content
// than limit, or a window larger than the broker decodes, before any
// memory is allocated for it.
func checkZstdHeader(b []byte, limit int64) error {
	var fh zstd.Header
	if err := fh.Decode(b); err != nil {
		return fmt.Errorf("%w: zstd frame header: %v", ErrCorruptMessage, err)
	}
	if fh.HasFCS && fh.FrameContentSize > uint64(limit) {
		return fmt.Errorf("%w: zstd frame declares %d bytes, more than the %d a batch may decompress to", ErrMessageTooLarge, fh.FrameContentSize, limit)
	}
	if w := zstdWindow(limit); fh.WindowSize > w {
		return fmt.Errorf("%w: zstd window of %d bytes, larger than the %d this broker decodes", ErrCorruptMessage, fh.WindowSize, w)
	}
	return nil
}

// decodeError classifies an error from a decompressing reader: one already
// classified is kept, anything else means corrupt compressed data.
func decodeError(c int, err error) error {
	if errors.Is(err, ErrCorruptMessage) || errors.Is(err, ErrMessageTooLarge) || errors.Is(err, ErrInvalidRecord) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrCorruptMessage, codecName(c), err)
}

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// xerialHeaderLen is the magic plus the version and compatible-version words.
const xerialHeaderLen = 16

// snappyReader reads a raw snappy block (as franz-go and librdkafka write
// it) or the chunks of the xerial framing (Kafka's Java client), decoding
// each block once its declared length fits the remaining limit.
type snappyReader struct {
	rest   []byte // xerial chunks not yet decoded; nil for a raw block
	out    []byte // decoded bytes not yet read
	buf    *[]byte
	limit  int64
	xerial bool
}

var snappyBufs = sync.Pool{New: func() any { return new([]byte) }}

func newSnappyReader(b []byte, limit int64) (*snappyReader, error) {
	r := &snappyReader{buf: snappyBufs.Get().(*[]byte), limit: limit}
	if bytes.HasPrefix(b, xerialMagic) && len(b) >= xerialHeaderLen {
		r.xerial, r.rest = true, b[xerialHeaderLen:]
		return r, nil
	}
	if err := r.decode(b); err != nil {
		r.release()
		return nil, err
	}
	return r, nil
}

// decode decodes one snappy block into the reader's buffer.
func (r *snappyReader) decode(blk []byte) error {
	n, err := s2.DecodedLen(blk)
	if err != nil {
		return fmt.Errorf("%w: snappy: %v", ErrCorruptMessage, err)
	}
	if int64(n) > r.limit {
		return fmt.Errorf("%w: snappy block declares %d bytes, more than the %d left for the batch", ErrMessageTooLarge, n, r.limit)
	}
	r.limit -= int64(n)
	if cap(*r.buf) < n {
		*r.buf = make([]byte, n)
	}
	out, err := s2.Decode((*r.buf)[:n], blk)
	if err != nil {
		return fmt.Errorf("%w: snappy: %v", ErrCorruptMessage, err)
	}
	r.out = out
	return nil
}

func (r *snappyReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if !r.xerial || len(r.rest) == 0 {
			return 0, io.EOF
		}
		if len(r.rest) < 4 {
			return 0, fmt.Errorf("%w: snappy: truncated xerial chunk length", ErrCorruptMessage)
		}
		n := binary.BigEndian.Uint32(r.rest)
		if uint64(n) > uint64(len(r.rest)-4) {
			return 0, fmt.Errorf("%w: snappy: xerial chunk of %d bytes, %d left", ErrCorruptMessage, n, len(r.rest)-4)
		}
		blk := r.rest[4 : 4+n]
		r.rest = r.rest[4+n:]
		if err := r.decode(blk); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// release keeps the decode buffer for reuse unless it grew past 1 MiB.
func (r *snappyReader) release() {
	if r.buf == nil {
		return
	}
	if cap(*r.buf) > 1<<20 {
		*r.buf = nil
	}
	snappyBufs.Put(r.buf)
	r.buf, r.out, r.rest = nil, nil, nil
}
