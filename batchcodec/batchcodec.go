// Package batchcodec reads the records data of Kafka record batches
// compressed with any codec Kafka defines (gzip, snappy in its raw and
// xerial forms, lz4 frames, zstd), in bounded memory. It is shared by the
// broker's log (append checks, cleaner) and, through package
// batchcodec/bounded (franz-go's decompressor), by every franz-go client
// Sluice builds: the loader's, the CLI's and the scheduler's. It depends on
// no other Sluice package.
//
// [NewReader] streams: what a reader holds is its codec's window (gzip
// 32 KiB, lz4 one block of at most 4 MiB, zstd the frame's window, capped by
// [ZstdWindow]); snappy has no streaming form, so a raw block is decoded
// whole once its declared size has been checked against the limit, and the
// xerial framing of Kafka's Java client one chunk at a time. A zstd frame
// whose header declares more than the limit is refused before any memory is
// allocated for it. [Decode] decompresses a whole batch, for consumers that
// need its bytes, stopping at the limit. Decoders are pooled.
//
// Errors wrap [ErrCorrupt] (data that does not decompress, an unknown
// codec) or [ErrTooLarge] (more than the limit).
package batchcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec ids: the low three bits of a batch's attributes.
const (
	None   = 0
	Gzip   = 1
	Snappy = 2
	Lz4    = 3
	Zstd   = 4
)

// Errors.
var (
	// ErrCorrupt: the data does not decompress with its codec, or the
	// codec is not one Kafka defines.
	ErrCorrupt = errors.New("batchcodec: corrupt compressed data")
	// ErrTooLarge: the data decompresses, or declares it decompresses, to
	// more than the limit.
	ErrTooLarge = errors.New("batchcodec: decompresses past the limit")
)

// Name names a codec id for messages ("unknown" for ids past 4).
func Name(c int) string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case Lz4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return "unknown"
}

const (
	// zstdMinWindow is the smallest zstd window always accepted: 8 MiB
	// covers every zstd level up to 19 of Kafka's clients.
	zstdMinWindow = 8 << 20
	// zstdMaxWindow is the reference decoder's default limit (window log
	// 27), so a batch refused here is one a Java consumer refuses too.
	zstdMaxWindow = 128 << 20
)

// ZstdWindow is the largest zstd window accepted for data that may
// decompress to at most limit bytes: limit itself, but at least 8 MiB (every
// zstd level up to 19 of Kafka's clients) and at most 128 MiB (the
// reference decoder's default, so nothing a Java consumer reads is refused).
// A decoder's memory is about its window.
func ZstdWindow(limit int64) uint64 {
	return uint64(min(max(limit, zstdMinWindow), zstdMaxWindow))
}

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
			panic(fmt.Sprintf("batchcodec: zstd decoder: %v", err)) // only for invalid options
		}
		return &pooledZstd{zr: zr}
	}}
)

// Reader reads decompressed data. Close it to return its decoder to the
// pool.
type Reader struct {
	io.Reader
	release func()
}

// Close returns the decoder to its pool; the Reader is unusable after.
func (r *Reader) Close() {
	if r.release != nil {
		r.release()
		r.release, r.Reader = nil, nil
	}
}

// NewReader returns a reader of data b compressed with codec c (not None),
// which may decompress to at most limit bytes. The reader itself checks the
// sizes that frames and blocks declare; the caller counts what it reads.
func NewReader(c int, b []byte, limit int64) (*Reader, error) {
	r, release, err := open(c, b, limit)
	if err != nil {
		return nil, err
	}
	return &Reader{Reader: r, release: release}, nil
}

func open(c int, b []byte, limit int64) (io.Reader, func(), error) {
	switch c {
	case Gzip:
		p := gzipPool.Get().(*pooledGzip)
		p.src.Reset(b)
		if err := p.zr.Reset(&p.src); err != nil {
			gzipPool.Put(p)
			return nil, nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		return &p.zr, func() { p.src.Reset(nil); gzipPool.Put(p) }, nil
	case Snappy:
		r, err := newSnappyReader(b, limit)
		return r, r.release, err
	case Lz4:
		p := lz4Pool.Get().(*pooledLz4)
		p.src.Reset(b)
		p.zr.Reset(&p.src)
		return p.zr, func() { p.zr.Reset(nil); p.src.Reset(nil); lz4Pool.Put(p) }, nil
	case Zstd:
		if err := checkZstdHeader(b, limit); err != nil {
			return nil, nil, err
		}
		p := zstdPool.Get().(*pooledZstd)
		p.src.Reset(b)
		if err := p.zr.ResetWithOptions(&p.src, zstd.WithDecoderMaxWindow(ZstdWindow(limit))); err != nil {
			p.zr.Reset(nil)
			zstdPool.Put(p)
			return nil, nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return p.zr, func() { p.zr.Reset(nil); p.src.Reset(nil); zstdPool.Put(p) }, nil
	}
	return nil, nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, c)
}

// checkZstdHeader refuses a zstd frame whose header declares more content
// than limit, or a window larger than the broker decodes, before any
// memory is allocated for it.
func checkZstdHeader(b []byte, limit int64) error {
	var fh zstd.Header
	if err := fh.Decode(b); err != nil {
		return fmt.Errorf("%w: zstd frame header: %v", ErrCorrupt, err)
	}
	if fh.HasFCS && fh.FrameContentSize > uint64(limit) {
		return fmt.Errorf("%w: zstd frame declares %d bytes, more than the %d a batch may decompress to", ErrTooLarge, fh.FrameContentSize, limit)
	}
	if w := ZstdWindow(limit); fh.WindowSize > w {
		return fmt.Errorf("%w: zstd window of %d bytes, larger than the %d decoded for this limit", ErrCorrupt, fh.WindowSize, w)
	}
	return nil
}

// Decode appends to dst the decompression of data b with codec c, at most
// limit bytes of it; past that it stops with an error wrapping ErrTooLarge.
// A zstd frame that declares its size is decoded into one allocation of
// that size.
func Decode(dst []byte, c int, b []byte, limit int64) ([]byte, error) {
	r, err := NewReader(c, b, limit)
	if err != nil {
		return dst, err
	}
	defer r.Close()
	if c == Zstd {
		var fh zstd.Header
		if fh.Decode(b) == nil && fh.HasFCS && fh.FrameContentSize <= uint64(limit) {
			dst = growTo(dst, int(fh.FrameContentSize))
		}
	}
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = growTo(dst, min(max(cap(dst)-start, 32<<10), int(limit)+1-(len(dst)-start)))
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)-start) > limit {
			return dst[:start], fmt.Errorf("%w: %s data decompresses to more than %d bytes", ErrTooLarge, Name(c), limit)
		}
		switch {
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst[:start], wrapCorrupt(c, err)
		}
	}
}

// growTo returns b with room for at least n more bytes.
func growTo(b []byte, n int) []byte {
	if n <= 0 || cap(b)-len(b) >= n {
		return b
	}
	return append(b[:cap(b)], make([]byte, n)...)[:len(b)]
}

// wrapCorrupt classifies a decoder's error: one of ours is kept, any other
// means the data does not decompress.
func wrapCorrupt(c int, err error) error {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, Name(c), err)
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
		return fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	if int64(n) > r.limit {
		return fmt.Errorf("%w: snappy block declares %d bytes, more than the %d left for the batch", ErrTooLarge, n, r.limit)
	}
	r.limit -= int64(n)
	if cap(*r.buf) < n {
		*r.buf = make([]byte, n)
	}
	out, err := s2.Decode((*r.buf)[:n], blk)
	if err != nil {
		return fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
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
			return 0, fmt.Errorf("%w: snappy: truncated xerial chunk length", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(r.rest)
		if uint64(n) > uint64(len(r.rest)-4) {
			return 0, fmt.Errorf("%w: snappy: xerial chunk of %d bytes, %d left", ErrCorrupt, n, len(r.rest)-4)
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
