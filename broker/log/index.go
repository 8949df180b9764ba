package log

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
)

// Index files are append-only (not preallocated): a file holds exactly its
// entries, so its size tells how many there are and nothing needs trimming
// on close. Entries of the active segment are kept in memory and written to
// the file on Flush, roll and Close; after an unclean shutdown the indexes of
// every segment from the recovery point on are rebuilt from the log.
//
//	.index      entry = relativeOffset uint32 | position uint32        (8 bytes)
//	.timeindex  entry = timestamp int64 | relativeOffset uint32         (12 bytes)
//
// Offset-index entries map a batch's base offset to the file position of
// that batch; time-index entries say "every batch up to and including the
// one at relativeOffset has maxTimestamp <= timestamp" and are only added
// when that maximum grows.
const (
	offsetIndexEntryLen = 8
	timeIndexEntryLen   = 12
)

// sparseIndex holds fixed-size entries, in memory while the segment is
// active and in a file (searched with ReadAt) once it is closed.
type sparseIndex struct {
	entryLen int
	mu       sync.RWMutex // guards the fields below against concurrent readers
	file     *cachedFile
	mem      []byte // all entries while in memory; nil when served from file
	inMem    bool
	written  int // bytes of mem already written to file
	n        int // number of entries
}

func (x *sparseIndex) entry(i int, buf []byte) ([]byte, error) {
	if x.inMem {
		return x.mem[i*x.entryLen : (i+1)*x.entryLen], nil
	}
	if _, err := x.file.ReadAt(buf, int64(i*x.entryLen)); err != nil {
		return nil, fmt.Errorf("read index entry %d: %w", i, err)
	}
	return buf, nil
}

// search returns the largest i whose entry satisfies le (entries sorted), or -1.
func (x *sparseIndex) search(le func(e []byte) bool) (int, []byte, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	buf := make([]byte, x.entryLen)
	var ferr error
	i := sort.Search(x.n, func(i int) bool {
		if ferr != nil {
			return true
		}
		e, err := x.entry(i, buf)
		if err != nil {
			ferr = err
			return true
		}
		return !le(e)
	}) - 1
	if ferr != nil || i < 0 {
		return -1, nil, ferr
	}
	e, err := x.entry(i, buf)
	if err != nil {
		return -1, nil, err
	}
	return i, append([]byte(nil), e...), nil
}

func (x *sparseIndex) last() ([]byte, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.n == 0 {
		return nil, nil
	}
	buf := make([]byte, x.entryLen)
	e, err := x.entry(x.n-1, buf)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), e...), nil
}

func (x *sparseIndex) add(e []byte) {
	x.mu.Lock()
	x.mem = append(x.mem, e...)
	x.n++
	x.mu.Unlock()
}

// writePending writes the entries not yet in the file.
func (x *sparseIndex) writePending() error {
	if !x.inMem || x.written == len(x.mem) {
		return nil
	}
	if _, err := x.file.Write(x.mem[x.written:]); err != nil {
		return err
	}
	x.written = len(x.mem)
	return nil
}

// release writes pending entries and drops the in-memory copy (segment closed).
func (x *sparseIndex) release() error {
	if err := x.writePending(); err != nil {
		return err
	}
	x.mu.Lock()
	x.inMem, x.mem = false, nil
	x.mu.Unlock()
	return nil
}

// load reads the index file into memory (for the active segment).
func (x *sparseIndex) load() error {
	size, err := x.file.Size()
	if err != nil {
		return err
	}
	buf := make([]byte, size)
	if _, err := x.file.ReadAt(buf, 0); err != nil && err != io.EOF {
		return err
	}
	x.mu.Lock()
	x.mem, x.inMem, x.written, x.n = buf, true, len(buf), len(buf)/x.entryLen
	x.mu.Unlock()
	return nil
}

// reset empties the index and its file, keeping it in memory.
func (x *sparseIndex) reset() error {
	if err := x.file.Truncate(0); err != nil {
		return err
	}
	x.mu.Lock()
	x.mem, x.inMem, x.written, x.n = nil, true, 0, 0
	x.mu.Unlock()
	return nil
}

func (x *sparseIndex) count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

func offsetEntry(rel, pos uint32) []byte {
	var e [offsetIndexEntryLen]byte
	binary.BigEndian.PutUint32(e[0:], rel)
	binary.BigEndian.PutUint32(e[4:], pos)
	return e[:]
}

func timeEntry(ts int64, rel uint32) []byte {
	var e [timeIndexEntryLen]byte
	binary.BigEndian.PutUint64(e[0:], uint64(ts))
	binary.BigEndian.PutUint32(e[8:], rel)
	return e[:]
}

func parseOffsetEntry(e []byte) (rel, pos uint32) {
	return binary.BigEndian.Uint32(e[0:]), binary.BigEndian.Uint32(e[4:])
}

func parseTimeEntry(e []byte) (ts int64, rel uint32) {
	return int64(binary.BigEndian.Uint64(e[0:])), binary.BigEndian.Uint32(e[8:])
}

// checkIndexFile sanity-checks an index of a closed segment: whole entries,
// increasing offsets (and positions/timestamps), all within the segment.
func checkIndexFile(x *sparseIndex, segSize int64, maxRel uint32) error {
	size, err := x.file.Size()
	if err != nil {
		return err
	}
	if size%int64(x.entryLen) != 0 {
		return fmt.Errorf("size %d is not a multiple of %d", size, x.entryLen)
	}
	buf := make([]byte, size)
	if _, err := x.file.ReadAt(buf, 0); err != nil && err != io.EOF {
		return err
	}
	var prevA, prevB int64 = math.MinInt64, -1
	for i := 0; i < len(buf); i += x.entryLen {
		var a, b int64
		if x.entryLen == offsetIndexEntryLen {
			rel, pos := parseOffsetEntry(buf[i:])
			a, b = int64(rel), int64(pos)
			if b >= segSize || uint32(a) > maxRel {
				return fmt.Errorf("entry %d (offset +%d, position %d) beyond the segment", i/x.entryLen, a, b)
			}
			if a <= prevA || b <= prevB {
				return fmt.Errorf("entry %d not increasing", i/x.entryLen)
			}
		} else {
			ts, rel := parseTimeEntry(buf[i:])
			a, b = ts, int64(rel)
			if uint32(b) > maxRel {
				return fmt.Errorf("entry %d (offset +%d) beyond the segment", i/x.entryLen, b)
			}
			if a <= prevA || b < prevB {
				return fmt.Errorf("entry %d not increasing", i/x.entryLen)
			}
		}
		prevA, prevB = a, b
	}
	x.mu.Lock()
	x.n, x.inMem, x.mem, x.written = len(buf)/x.entryLen, false, nil, 0
	x.mu.Unlock()
	return nil
}

// replace makes entries the whole index, in memory for an active segment
// (written on the next flush) and in the file for a closed one. If the file
// cannot be rewritten the entries are kept in memory, so reads stay right;
// the next Open finds the file wrong and rebuilds it again.
func (x *sparseIndex) replace(entries []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.n = len(entries) / x.entryLen
	if x.inMem {
		x.mem, x.written = entries, 0
		return x.file.Truncate(0)
	}
	err := x.file.Truncate(0)
	if err == nil {
		_, err = x.file.Write(entries)
	}
	if err != nil {
		x.mem, x.inMem, x.written = entries, true, len(entries)
	}
	return err
}

// truncateTo keeps the first n entries, in memory and in the file (the
// segment was cut after the batches they point at; TruncateTo).
func (x *sparseIndex) truncateTo(n int) error {
	x.mu.Lock()
	if n >= x.n {
		x.mu.Unlock()
		return nil
	}
	x.n = n
	size := n * x.entryLen
	if x.inMem {
		x.mem = x.mem[:size:size]
		x.written = min(x.written, size)
		size = x.written
	}
	x.mu.Unlock()
	if cur, err := x.file.Size(); err != nil {
		return err
	} else if cur <= int64(size) {
		return nil
	}
	return x.file.Truncate(int64(size))
}
