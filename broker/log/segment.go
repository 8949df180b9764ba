package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// File name suffixes of a partition folder.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	snapshotSuffix  = ".snapshot"
	baseDigits      = 20
)

func fileName(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%0*d%s", baseDigits, base, suffix))
}

// parseBaseName splits "<20 digits><suffix>" into base offset and suffix.
// ok is false when name does not end in one of ours; err is set when it
// does but the base offset is not 20 decimal digits.
func parseBaseName(name string) (base int64, suffix string, ok bool, err error) {
	for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix, snapshotSuffix} {
		if strings.HasSuffix(name, sfx) {
			stem := strings.TrimSuffix(name, sfx)
			if len(stem) != baseDigits {
				return 0, sfx, true, fmt.Errorf("log: file %q: name must be a %d-digit base offset followed by %s", name, baseDigits, sfx)
			}
			b, perr := strconv.ParseInt(stem, 10, 64)
			if perr != nil || b < 0 {
				return 0, sfx, true, fmt.Errorf("log: file %q: name must be a %d-digit base offset followed by %s", name, baseDigits, sfx)
			}
			return b, sfx, true, nil
		}
	}
	return 0, "", false, nil
}

// segment is one <base>.log file with its two indexes. Its files are
// opened on demand through the log's FileCache. Fields other than the
// atomics are guarded by Log.mu.
type segment struct {
	base    int64
	dir     string
	log     *cachedFile
	offIdx  *sparseIndex
	timeIdx *sparseIndex

	size       atomic.Int64 // committed bytes: readers never look past this
	maxTs      atomic.Int64 // largest batch maxTimestamp, -1 if none
	maxTsBatch atomic.Int64 // base offset of the first batch with maxTs

	nextOffset      int64 // one past the last offset held (base when empty)
	bytesSinceIndex int64
	lastTimeEntryTs int64
	rollStart       time.Time // when the first batch was appended (zero if empty)
	closedAt        time.Time // when rolled (or opened, for older segments)
	synced          bool      // closed segment fully fsynced

	indexGen atomic.Uint64 // bumped when the indexes are rebuilt (verify.go)
}

func (s *segment) name() string { return filepath.Base(fileName(s.dir, s.base, logSuffix)) }

func newSegment(dir string, base int64) *segment {
	s := &segment{base: base, dir: dir, nextOffset: base, lastTimeEntryTs: math.MinInt64}
	s.maxTs.Store(-1)
	s.maxTsBatch.Store(-1)
	return s
}

// openSegment opens (create=false) or creates a segment's three files
// through the cache. dirty says the files may hold data never fsynced
// (after an unclean shutdown), so they are fsynced before the cache closes
// them. A missing index file is created empty (recovery rebuilds it).
func openSegment(l *Log, base int64, create, dirty bool) (*segment, error) {
	dir := l.dir
	s := newSegment(dir, base)
	logMode, idxMode := openExisting, openOrCreate
	if create {
		logMode, idxMode = createFile, createFile
	}
	var err error
	if s.log, err = l.openFile(fileName(dir, base, logSuffix), logMode, dirty); err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	oi, err := l.openFile(fileName(dir, base, indexSuffix), idxMode, dirty)
	if err != nil {
		s.log.Close()
		return nil, fmt.Errorf("open index: %w", err)
	}
	ti, err := l.openFile(fileName(dir, base, timeIndexSuffix), idxMode, dirty)
	if err != nil {
		s.log.Close()
		oi.Close()
		return nil, fmt.Errorf("open time index: %w", err)
	}
	s.offIdx = &sparseIndex{entryLen: offsetIndexEntryLen, file: oi, inMem: true}
	s.timeIdx = &sparseIndex{entryLen: timeIndexEntryLen, file: ti, inMem: true}
	size, err := s.log.Size()
	if err != nil {
		s.close()
		return nil, err
	}
	s.size.Store(size)
	return s, nil
}

// openFile opens one of the log's segment or index files through its cache.
func (l *Log) openFile(name string, mode openMode, dirty bool) (*cachedFile, error) {
	return l.files.openFile(l.fs, name, mode, dirty, l.fileErr)
}

// files are the segment's log, offset index and time index files; nil for
// the ones not opened yet.
func (s *segment) files() []*cachedFile {
	out := []*cachedFile{s.log, nil, nil}
	if s.offIdx != nil {
		out[1] = s.offIdx.file
	}
	if s.timeIdx != nil {
		out[2] = s.timeIdx.file
	}
	return out
}

// close retires the segment's files: each is closed once no reader holds
// it, and never reopened.
func (s *segment) close() error {
	var errs []error
	for _, f := range s.files() {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

// removeFiles unlinks the segment's files; open handles keep working.
func (s *segment) removeFiles(fs vfs.FS) error {
	var errs []error
	for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := fs.Remove(fileName(s.dir, s.base, sfx)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// batchPrefix is the start of a batch header, enough to step over batches.
type batchPrefix struct {
	base, last int64
	size       int64
}

// parsePrefix checks the batch prefix read from pos into buf: its length
// stays within limit, its magic is 2 and its offsets are not negative.
func (s *segment) parsePrefix(pos, limit int64, buf []byte) (batchPrefix, error) {
	be := binary.BigEndian
	p := batchPrefix{
		base: int64(be.Uint64(buf[0:])),
		size: int64(int32(be.Uint32(buf[8:]))) + batchLengthOverhead,
	}
	delta := int32(be.Uint32(buf[23:]))
	p.last = p.base + int64(delta)
	switch {
	case p.size < batchHeaderLen || pos+p.size > limit:
		return p, &CorruptionError{Segment: s.name(), Position: pos, Offset: -1,
			Reason: fmt.Sprintf("batch length %d runs past the committed size %d or is shorter than a header", p.size, limit)}
	case buf[16] != 2:
		return p, &CorruptionError{Segment: s.name(), Position: pos, Offset: -1, Reason: fmt.Sprintf("magic %d, not 2", int8(buf[16]))}
	case delta < 0 || p.base < 0:
		return p, &CorruptionError{Segment: s.name(), Position: pos, Offset: -1,
			Reason: fmt.Sprintf("base offset %d, last offset delta %d", p.base, delta)}
	}
	return p, nil
}

// lookup returns a batch start position at or before the batch holding
// offset, and the base offset the batch there must have (the index entry's
// offset; -1 for the segment start, which needs no check).
func (s *segment) lookup(offset int64) (pos, want int64, err error) {
	if offset <= s.base {
		// Also an offset below the base: a read that fell into a gap at the
		// end of the previous segment (compaction) starts here.
		return 0, -1, nil
	}
	if offset-s.base > math.MaxUint32 {
		offset = s.base + math.MaxUint32
	}
	rel := uint32(offset - s.base)
	_, e, err := s.offIdx.search(func(e []byte) bool { r, _ := parseOffsetEntry(e); return r <= rel })
	if err != nil || e == nil {
		return 0, -1, err
	}
	r, p := parseOffsetEntry(e)
	return int64(p), s.base + int64(r), nil
}

// readIndexed reads the batch prefix at pos, which an offset-index entry
// says holds the batch with base offset want (-1: no entry, nothing to
// check). A prefix that does not parse or names another offset is an
// *IndexMismatchError: the index, not the data, is suspect first.
func (s *segment) readIndexed(pos, want, limit int64, buf []byte) (batchPrefix, error) {
	if pos+batchPrefixLen > limit {
		return s.checkIndexed(pos, want, limit, nil)
	}
	if _, err := s.log.ReadAt(buf[:batchPrefixLen], pos); err != nil {
		return batchPrefix{}, fmt.Errorf("read batch header of %s at %d: %w", s.name(), pos, err)
	}
	return s.checkIndexed(pos, want, limit, buf)
}

// checkIndexed is readIndexed for a prefix already read into buf (nil: the
// segment ends before a whole prefix).
func (s *segment) checkIndexed(pos, want, limit int64, buf []byte) (batchPrefix, error) {
	var p batchPrefix
	var err error
	if buf == nil {
		err = &CorruptionError{Segment: s.name(), Position: pos, Offset: -1, Reason: fmt.Sprintf("torn batch header: %d bytes left", limit-pos)}
	} else {
		p, err = s.parsePrefix(pos, limit, buf)
	}
	if want < 0 {
		return p, err
	}
	var cerr *CorruptionError
	switch {
	case errors.As(err, &cerr):
		return p, &IndexMismatchError{Segment: s.name(), Offset: want, Position: pos, Reason: cerr.Reason}
	case err != nil:
		return p, err
	case p.base != want:
		return p, &IndexMismatchError{Segment: s.name(), Offset: want, Position: pos,
			Reason: fmt.Sprintf("the batch there has base offset %d", p.base)}
	}
	return p, nil
}

// findBatch returns the position and prefix of the first batch whose last
// offset is >= offset, scanning from the sparse index entry; found is false
// when no such batch is within limit. The walk steps over the segment's
// damaged ranges dmg (none holds offset) and never into one: it returns the
// limit it kept to, the start of the first damaged range after pos.
func (s *segment) findBatch(offset, limit int64, dmg []DamagedRange) (pos int64, p batchPrefix, lim int64, found bool, err error) {
	pos, want, err := s.lookup(offset)
	if err != nil {
		return 0, p, limit, false, err
	}
	pos, want, limit = skipDamage(dmg, offset, pos, want, limit)
	pos, p, found, err = s.walkTo(offset, pos, want, limit)
	return pos, p, limit, found, err
}

// skipDamage moves a walk for offset that starts at pos past the damaged
// ranges whose offsets lie before offset, and lowers limit to the start of
// the first damaged range whose offsets lie after it.
func skipDamage(dmg []DamagedRange, offset, pos, want, limit int64) (int64, int64, int64) {
	for _, r := range dmg {
		if r.LastOffset < offset && pos < r.End {
			pos, want = r.End, -1
		}
	}
	for _, r := range dmg {
		if r.FirstOffset > offset && r.Start >= pos && r.Start < limit {
			limit = r.Start
		}
	}
	return pos, want, limit
}

// walkTo steps over batch prefixes from pos to the first batch whose last
// offset is >= offset; want is the base offset the index says is at pos.
func (s *segment) walkTo(offset, pos, want, limit int64) (int64, batchPrefix, bool, error) {
	var p batchPrefix
	var err error
	var buf [batchPrefixLen]byte
	for pos < limit {
		p, err = s.readIndexed(pos, want, limit, buf[:])
		if err != nil {
			return 0, p, false, err
		}
		want = -1
		if p.last >= offset {
			return pos, p, true, nil
		}
		pos += p.size
	}
	return pos, p, false, nil
}

// boundary returns the end of the last whole batch that ends at or before
// want (but at least first), scanning from the sparse index entry at or
// before want.
func (s *segment) boundary(first, want, limit int64) (int64, error) {
	if want >= limit {
		return limit, nil
	}
	pos, base := first, int64(-1)
	_, e, err := s.offIdx.search(func(e []byte) bool { _, p := parseOffsetEntry(e); return int64(p) <= want })
	if err != nil {
		return 0, err
	}
	if e != nil {
		if r, p := parseOffsetEntry(e); int64(p) > pos {
			pos, base = int64(p), s.base+int64(r)
		}
	}
	var buf [batchPrefixLen]byte
	for pos < want {
		p, err := s.readIndexed(pos, base, limit, buf[:])
		var cerr *CorruptionError
		if errors.As(err, &cerr) {
			break // the chunk ends before damage; a read from there reports it
		}
		if err != nil {
			return 0, err
		}
		base = -1
		if pos+p.size > want {
			break
		}
		pos += p.size
	}
	return pos, nil
}

// indexBatch records a just-appended batch at pos in the sparse indexes.
func (s *segment) indexBatch(h *BatchHeader, pos int64, interval int) {
	if s.bytesSinceIndex > int64(interval) {
		rel := uint32(h.BaseOffset - s.base)
		s.offIdx.add(offsetEntry(rel, uint32(pos)))
		if ts := s.maxTs.Load(); ts > s.lastTimeEntryTs {
			s.timeIdx.add(timeEntry(ts, rel))
			s.lastTimeEntryTs = ts
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += h.TotalSize()
}

// noteBatch updates the in-memory summary for a batch appended or scanned.
func (s *segment) noteBatch(h *BatchHeader) {
	if h.MaxTimestamp > s.maxTs.Load() {
		s.maxTs.Store(h.MaxTimestamp)
		s.maxTsBatch.Store(h.BaseOffset)
	}
	s.nextOffset = h.LastOffset() + 1
}

// sealTimeIndex adds a final time-index entry for the segment's max
// timestamp (Kafka does this on roll and close) so that a reopened segment
// knows its max timestamp from the last entry.
func (s *segment) sealTimeIndex() {
	ts := s.maxTs.Load()
	if ts > s.lastTimeEntryTs && s.maxTsBatch.Load() >= s.base {
		s.timeIdx.add(timeEntry(ts, uint32(s.maxTsBatch.Load()-s.base)))
		s.lastTimeEntryTs = ts
	}
}

func (s *segment) sync() error {
	for _, f := range s.files() {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", s.name(), err)
		}
	}
	return nil
}
