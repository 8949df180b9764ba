package broker

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/log"
)

// fileSection is a partition's record batches left in their segment file,
// to be sent with sendfile(2) instead of being copied through user space.
//
// The fetch response is encoded by kmsg with a 16-byte random marker in
// place of each such partition's records; writeFetch finds each marker in
// the (small) encoded skeleton, replaces it with the real length prefix and
// streams the file range in its place.
//
// A section holds its log chunk, and so the segment file open, until the
// response is written (releaseSections).
type fileSection struct {
	marker [16]byte
	file   *os.File
	pos    int64
	size   int64
	chunk  log.Chunk
}

// newFileSection returns a section and the marker bytes to encode.
func newFileSection(chunk log.Chunk) (*fileSection, []byte) {
	s := &fileSection{file: chunk.File, pos: chunk.Pos, size: chunk.Size, chunk: chunk}
	rand.Read(s.marker[:])
	return s, s.marker[:]
}

// releaseSections lets go of the segment files of the fetch response
// being built or just written.
func (c *conn) releaseSections() {
	for _, s := range c.sections {
		s.chunk.Release()
	}
	c.sections = c.sections[:0]
}

// writeFetch writes a fetch response whose record bytes partly live in
// sections, in the order they appear in the response.
func (c *conn) writeFetch(corr int32, resp *kmsg.FetchResponse, sections []*fileSection, flexHeader bool) error {
	tcp, ok := c.nc.(*net.TCPConn)
	if !ok {
		return errors.New("broker: sendfile needs a plain TCP connection")
	}
	c.armWriteDeadline()
	flexible := resp.IsFlexible()
	b := c.scratch[:0]
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if flexHeader {
		b = append(b, 0)
	}
	b = resp.AppendTo(b)
	c.keepScratch(b)

	// Locate every marker and the length prefix kmsg wrote before it.
	type cut struct{ start, end int } // bytes of b replaced by a section
	cuts := make([]cut, len(sections))
	total := int64(len(b)) - 4
	from := 0
	oldPrefix := 4
	if flexible {
		oldPrefix = 1 // uvarint(16+1)
	}
	for i, s := range sections {
		j := bytes.Index(b[from:], s.marker[:])
		if j < 0 || from+j < oldPrefix {
			return fmt.Errorf("broker: fetch marker %d not found in encoded response", i)
		}
		at := from + j
		cuts[i] = cut{start: at - oldPrefix, end: at + len(s.marker)}
		from = cuts[i].end
		total += int64(len(lengthPrefix(nil, s.size, flexible))) + s.size - int64(cuts[i].end-cuts[i].start)
	}
	if total > 1<<31-1 {
		return fmt.Errorf("broker: fetch response of %d bytes is too large", total)
	}
	binary.BigEndian.PutUint32(b, uint32(total))
	prev := 0
	var pfx [10]byte
	for i, s := range sections {
		if _, err := c.w.Write(b[prev:cuts[i].start]); err != nil {
			return err
		}
		if _, err := c.w.Write(lengthPrefix(pfx[:0], s.size, flexible)); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		if err := sendFile(tcp, s.file, s.pos, s.size); err != nil {
			return fmt.Errorf("sendfile %s: %w", s.file.Name(), err)
		}
		prev = cuts[i].end
	}
	if _, err := c.w.Write(b[prev:]); err != nil {
		return err
	}
	return c.w.Flush()
}

// lengthPrefix appends the encoding of a byte string's length: compact
// (uvarint of n+1) in flexible versions, int32 otherwise.
func lengthPrefix(dst []byte, n int64, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(dst, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// sendFile copies size bytes at off in f to the socket with sendfile(2),
// waiting for the socket to drain when it is full.
func sendFile(conn *net.TCPConn, f *os.File, off, size int64) error {
	dst, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	src, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	ctlErr := src.Control(func(srcFd uintptr) {
		for size > 0 && sendErr == nil {
			chunk := size
			if chunk > 1<<30 {
				chunk = 1 << 30
			}
			var n int
			var e error
			werr := dst.Write(func(dstFd uintptr) bool {
				n, e = syscall.Sendfile(int(dstFd), int(srcFd), &off, int(chunk))
				return !(errors.Is(e, syscall.EAGAIN) || errors.Is(e, syscall.EINTR))
			})
			switch {
			case werr != nil:
				sendErr = werr
			case e != nil:
				sendErr = e
			case n == 0:
				sendErr = io.ErrUnexpectedEOF // the file is shorter than the index said
			}
			if n > 0 {
				size -= int64(n)
			}
		}
	})
	if ctlErr != nil {
		return ctlErr
	}
	return sendErr
}

// countRecords sums the record counts of the batches in [pos, pos+size) of
// r, reading only their headers.
func countRecords(r io.ReaderAt, pos, size int64) int64 {
	var hdr [61]byte
	var n int64
	for end := pos + size; pos+61 <= end; {
		if _, err := r.ReadAt(hdr[:], pos); err != nil {
			break
		}
		length := int64(int32(binary.BigEndian.Uint32(hdr[8:]))) + 12
		if length < 61 {
			break
		}
		n += int64(int32(binary.BigEndian.Uint32(hdr[57:])))
		pos += length
	}
	return n
}
