// Package frames reads files of length- and CRC32C-framed payloads, the
// format of the metadata journal (broker/meta) and the quorum's log
// (broker/quorum): a big-endian uint32 payload length, the payload's
// CRC32C (Castagnoli) as a big-endian uint32, the payload, repeated. Scan
// tells a torn tail (what a crash during a write leaves: a partial frame,
// a last frame failing its CRC, zeros) from corruption (a bad frame with
// more data after it); each file format turns that into its own errors.
package frames

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// HeaderLen is the length of a frame's header.
const HeaderLen = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options says what Scan accepts.
type Options struct {
	// MaxLen is the largest payload a frame may hold.
	MaxLen int64
	// EmptyLastFrameTorn counts a header of length 0 that ends the file
	// as a torn tail rather than corruption.
	EmptyLastFrameTorn bool
	// ReuseBuffer hands fn every payload in one buffer, valid only until
	// fn returns; otherwise each payload is a fresh slice.
	ReuseBuffer bool
}

// Corrupt is a bad frame followed by more data.
type Corrupt struct {
	Pos, Frame int64 // the bad frame's byte position and number
	Reason     string
	// Following is how many bytes follow the bad frame (for a CRC
	// mismatch; 0 otherwise).
	Following int64
}

func (c *Corrupt) Error() string {
	return fmt.Sprintf("frame %d at byte %d: %s", c.Frame, c.Pos, c.Reason)
}

// ReadError is a failed read of the file; Pos is -1 when it is not one
// frame's.
type ReadError struct {
	Pos int64
	Err error
}

func (e *ReadError) Error() string { return e.Err.Error() }

// Unwrap returns the read's error.
func (e *ReadError) Unwrap() error { return e.Err }

// Scan reads frames from the start of f (size bytes), calling fn (if not
// nil) with each valid one's position, number and payload. It returns the
// end of the last valid frame and the number of valid frames; reason says
// why the bytes after them are a torn tail ("" if there are none). A bad
// frame followed by more data is a *Corrupt, a failed read a *ReadError;
// fn's errors are returned as they are.
func Scan(f io.ReaderAt, size int64, o Options, fn func(pos, n int64, payload []byte) error) (valid, n int64, reason string, err error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 64<<10)
	var hdr [HeaderLen]byte
	var buf []byte
	pos := int64(0)
	for pos < size {
		if size-pos < HeaderLen {
			return pos, n, "partial frame header", nil
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return pos, n, "", &ReadError{Pos: pos, Err: err}
		}
		length := int64(binary.BigEndian.Uint32(hdr[0:4]))
		sum := binary.BigEndian.Uint32(hdr[4:8])
		end := pos + HeaderLen + length
		if length == 0 || length > o.MaxLen {
			if zero, err := AllZero(f, pos, size); err != nil {
				return pos, n, "", &ReadError{Pos: -1, Err: err}
			} else if zero {
				return pos, n, "zero-filled tail", nil
			}
			if o.EmptyLastFrameTorn && length == 0 && size-pos == HeaderLen {
				return pos, n, "empty frame at the end of the file", nil
			}
			return pos, n, "", &Corrupt{Pos: pos, Frame: n, Reason: fmt.Sprintf("frame length %d is not in 1..%d", length, o.MaxLen)}
		}
		if end > size {
			return pos, n, "frame runs past the end of the file", nil
		}
		if !o.ReuseBuffer || int64(cap(buf)) < length {
			buf = make([]byte, length)
		}
		buf = buf[:length]
		if _, err := io.ReadFull(r, buf); err != nil {
			return pos, n, "", &ReadError{Pos: pos, Err: err}
		}
		if got := crc32.Checksum(buf, castagnoli); got != sum {
			if end == size {
				return pos, n, "last frame fails its CRC", nil
			}
			if zero, err := AllZero(f, end, size); err != nil {
				return pos, n, "", &ReadError{Pos: -1, Err: err}
			} else if zero {
				return pos, n, "frame fails its CRC and only zeros follow", nil
			}
			return pos, n, "", &Corrupt{Pos: pos, Frame: n, Reason: fmt.Sprintf("CRC32C is %08x, frame says %08x", got, sum), Following: size - end}
		}
		if fn != nil {
			if err := fn(pos, n, buf); err != nil {
				return pos, n, "", err
			}
		}
		pos, n = end, n+1
	}
	return pos, n, "", nil
}

// AllZero reports whether bytes [from, to) of f are all zero.
func AllZero(f io.ReaderAt, from, to int64) (bool, error) {
	buf := make([]byte, 32<<10)
	for from < to {
		k := min(int64(len(buf)), to-from)
		if _, err := f.ReadAt(buf[:k], from); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		for _, b := range buf[:k] {
			if b != 0 {
				return false, nil
			}
		}
		from += k
	}
	return true, nil
}
