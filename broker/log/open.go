package log

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// Small files of a partition folder besides segments and snapshots.
const (
	cleanShutdownFile = "clean-shutdown"
	recoveryPointFile = "recovery-point"
	startOffsetFile   = "log-start-offset"
	checkpointVersion = "1"
)

func cleanShutdownPath(dir string) string { return filepath.Join(dir, cleanShutdownFile) }

// Checkpoint files hold one line: "1 <offset>\n".
func writeCheckpoint(fs vfs.FS, dir, name string, offset int64, sync bool) error {
	return vfs.WriteFileAtomic(fs, filepath.Join(dir, name), []byte(checkpointVersion+" "+strconv.FormatInt(offset, 10)+"\n"), sync)
}

// readCheckpoint returns -1 when the file is absent.
func readCheckpoint(fs vfs.FS, dir, name string) (int64, error) {
	b, err := vfs.ReadFile(fs, filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	v, off, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, perr := strconv.ParseInt(off, 10, 64)
	if !ok || v != checkpointVersion || perr != nil || n < 0 {
		return -1, fmt.Errorf("log: checkpoint %s: malformed content %q", filepath.Join(dir, name), b)
	}
	return n, nil
}

// Open opens the partition log in dir, creating the folder if absent, and
// recovers it: after an unclean shutdown every segment from the recovery
// checkpoint on is re-read, checked batch by batch (length, magic, CRC32C,
// increasing offsets) and truncated at the first bad batch.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Files == nil {
		opts.Files = NewFileCache(0)
	}
	l := &Log{dir: dir, fs: opts.FS, files: opts.Files, fileErr: new(atomic.Pointer[error]), logger: opts.Logger, now: opts.Now}
	l.cfg.Store(&cfg)
	if err := l.fs.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("log: create %s: %w", dir, err)
	}
	segs, err := l.load()
	if err != nil {
		for _, s := range segs {
			s.close()
		}
		return nil, err
	}
	return l, nil
}

// load does Open's work; on error it returns the segments to close.
func (l *Log) load() ([]*segment, error) {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return nil, fmt.Errorf("log: list %s: %w", l.dir, err)
	}
	clean := false
	logs := map[int64]bool{}
	var others []string
	for _, n := range names {
		switch {
		case n == cleanShutdownFile:
			clean = true
		case n == recoveryPointFile || n == startOffsetFile || n == damageFile || n == PartitionMetadataFile || n == LeaderEpochFile ||
			n == truncationFile:
		case strings.HasSuffix(n, ".tmp") || strings.HasSuffix(n, ".deleted") || strings.HasSuffix(n, ".cleaned"):
			l.logger.Info("removing leftover file", "dir", l.dir, "file", n)
			if err := l.fs.Remove(filepath.Join(l.dir, n)); err != nil {
				return nil, fmt.Errorf("log: remove leftover %s: %w", n, err)
			}
		default:
			base, sfx, ok, err := parseBaseName(n)
			if err != nil {
				return nil, fmt.Errorf("%w in %s; move it out of the partition folder", err, l.dir)
			}
			if !ok {
				l.logger.Warn("ignoring unknown file in partition folder", "dir", l.dir, "file", n)
				continue
			}
			if sfx == logSuffix {
				logs[base] = true
			} else {
				others = append(others, n)
			}
		}
	}
	for _, n := range others {
		base, sfx, _, _ := parseBaseName(n)
		if (sfx == indexSuffix || sfx == timeIndexSuffix) && !logs[base] {
			l.logger.Warn("removing index without a segment", "dir", l.dir, "file", n)
			if err := l.fs.Remove(filepath.Join(l.dir, n)); err != nil {
				return nil, fmt.Errorf("log: remove orphan %s: %w", n, err)
			}
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	start, err := readCheckpoint(l.fs, l.dir, startOffsetFile)
	if err != nil {
		l.logger.Warn("ignoring log start checkpoint", "dir", l.dir, "err", err)
		start = -1
	}
	rp, err := readCheckpoint(l.fs, l.dir, recoveryPointFile)
	if err != nil || rp < 0 {
		if err != nil {
			l.logger.Warn("ignoring recovery checkpoint", "dir", l.dir, "err", err)
		}
		rp, clean = 0, false
	}
	epochs, haveEpochs, err := loadEpochs(l.fs, l.dir)
	if err != nil {
		// Rebuilt below from what the scan reads and the default epoch.
		l.logger.Warn("ignoring leader epoch checkpoint", "dir", l.dir, "err", err)
		epochs, haveEpochs = nil, false
	}
	l.mu.epochs.entries = epochs

	var segs []*segment
	var found []DamagedRange
	for i, b := range bases {
		// After an unclean shutdown, what lies past the recovery point may
		// never have been fsynced: the cache fsyncs it before closing it.
		dirty := !clean && (i == len(bases)-1 || bases[i+1] > rp)
		s, err := openSegment(l, b, false, dirty)
		if err != nil {
			return segs, fmt.Errorf("log: %s: %w", l.dir, err)
		}
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		base := max(start, 0)
		s, err := openSegment(l, base, true, false)
		if err != nil {
			return nil, fmt.Errorf("log: %s: %w", l.dir, err)
		}
		segs = append(segs, s)
	}

	// Recover: closed segments below the recovery point keep their indexes
	// when they pass a sanity check; the rest are scanned.
	scanFrom := len(segs)
	if !clean {
		scanFrom = sort.Search(len(segs), func(i int) bool { return segs[i].base > rp }) - 1
		scanFrom = max(scanFrom, 0)
	}
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		last := i == len(segs)-1
		next := int64(-1)
		if !last {
			next = segs[i+1].base
		}
		if i < scanFrom {
			if err := l.trustSegment(s, next, last); err == nil {
				if last && s.nextOffset < rp {
					// Trusted, but the recovery point says batches past its
					// end were fsynced: they are gone, not to be reused.
					found = boundDamage(s, found, s.size.Load(), s.nextOffset, rp, true)
					s.nextOffset = rp
				}
				continue
			} else {
				l.logger.Warn("rebuilding segment indexes", "dir", l.dir, "segment", s.name(), "reason", err)
			}
		}
		truncated, damage, err := l.recoverSegment(s, next, rp)
		if err != nil {
			return segs, err
		}
		found = append(found, damage...)
		if truncated && !last {
			// Everything after a cut is unreliable: drop later segments.
			for _, t := range segs[i+1:] {
				l.logger.Warn("deleting segment after truncation point", "dir", l.dir, "segment", t.name(), "bytes", t.size.Load())
				t.close()
				if err := t.removeFiles(l.fs); err != nil {
					return segs[:i+1], fmt.Errorf("log: %w", err)
				}
			}
			segs = segs[:i+1]
		}
	}
	l.loadDamage(segs)
	l.addDamageLocked(found, "open")
	if act := segs[len(segs)-1]; len(l.damageIn(act.base)) > 0 {
		// Appends never go after damaged bytes: start a new segment at the
		// end offset (which is past the damage).
		act.sealTimeIndex()
		s, err := openSegment(l, act.nextOffset, true, false)
		if err != nil {
			return segs, fmt.Errorf("log: %s: %w", l.dir, err)
		}
		segs = append(segs, s)
	}
	for i, s := range segs {
		if i < len(segs)-1 {
			s.nextOffset = segs[i+1].base
			if err := s.offIdx.release(); err != nil {
				return segs, fmt.Errorf("log: write index of %s: %w", s.name(), err)
			}
			if err := s.timeIdx.release(); err != nil {
				return segs, fmt.Errorf("log: write time index of %s: %w", s.name(), err)
			}
			s.synced = s.nextOffset <= rp
			s.closedAt = l.now()
		}
	}
	act := segs[len(segs)-1]
	end := act.nextOffset
	if start < segs[0].base {
		start = segs[0].base
	}
	if start > end {
		l.logger.Warn("log start offset beyond recovered end; emptying log", "dir", l.dir, "start", start, "end", end)
		for _, s := range segs {
			s.close()
			if err := s.removeFiles(l.fs); err != nil {
				return nil, fmt.Errorf("log: %w", err)
			}
		}
		s, err := openSegment(l, start, true, false)
		if err != nil {
			return nil, fmt.Errorf("log: %s: %w", l.dir, err)
		}
		segs, end = []*segment{s}, start
	}
	l.segs.Store(&segs)
	l.start.Store(start)
	l.end.Store(end)
	l.mu.recoveryPoint = min(rp, end)
	l.settleEpochs(haveEpochs, start, end)
	if act.size.Load() > 0 {
		act.rollStart = l.now()
	}
	// Drop whole segments below the start (DeleteRecords before a crash).
	l.deleteSegmentsLocked(func(s, next *segment) bool { return next.base <= start })
	if err := l.loadProducerState(); err != nil {
		return *l.segs.Load(), err
	}
	if err := l.resumeTruncation(); err != nil { // replica.go
		return *l.segs.Load(), err
	}
	if clean {
		if err := l.fs.Remove(cleanShutdownPath(l.dir)); err != nil {
			return *l.segs.Load(), fmt.Errorf("log: remove clean shutdown marker: %w", err)
		}
	}
	return nil, nil
}

// trustSegment accepts a segment's index files after a sanity check. For
// the active (last) segment it loads them into memory and scans the batch
// headers after the last index entry.
func (l *Log) trustSegment(s *segment, next int64, last bool) error {
	size := s.size.Load()
	maxRel := uint32(0xffffffff)
	if next >= 0 {
		maxRel = uint32(next - 1 - s.base)
	}
	if err := checkIndexFile(s.offIdx, size, maxRel); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(fileName(s.dir, s.base, indexSuffix)), err)
	}
	if err := checkIndexFile(s.timeIdx, size, maxRel); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(fileName(s.dir, s.base, timeIndexSuffix)), err)
	}
	if size > 0 && s.timeIdx.count() == 0 {
		// Every segment that holds timestamps gets a final time-index
		// entry at roll and close; none means the index was lost.
		return errors.New("time index is empty")
	}
	if e, err := s.timeIdx.last(); err != nil {
		return err
	} else if e != nil {
		ts, rel := parseTimeEntry(e)
		s.maxTs.Store(ts)
		s.maxTsBatch.Store(s.base + int64(rel))
		s.lastTimeEntryTs = ts
	}
	if !last {
		return nil
	}
	if err := s.offIdx.load(); err != nil {
		return err
	}
	if err := s.timeIdx.load(); err != nil {
		return err
	}
	pos, want := int64(0), s.base
	if e, _ := s.offIdx.last(); e != nil {
		rel, p := parseOffsetEntry(e)
		pos, want = int64(p), s.base+int64(rel)
	}
	s.bytesSinceIndex = size - pos
	// Verify the batches after the last index entry (at most about
	// index.interval.bytes plus one batch): cheap, and it catches a tail
	// damaged after a clean shutdown.
	hdr := make([]byte, batchHeaderLen)
	for pos < size {
		if pos+batchHeaderLen > size {
			return fmt.Errorf("torn batch header at %d", pos)
		}
		if _, err := s.log.ReadAt(hdr, pos); err != nil {
			return err
		}
		h, _ := ParseBatchHeader(hdr)
		if h.TotalSize() < batchHeaderLen || pos+h.TotalSize() > size {
			return fmt.Errorf("batch at %d runs past the end", pos)
		}
		buf := make([]byte, h.TotalSize())
		if _, err := s.log.ReadAt(buf, pos); err != nil {
			return err
		}
		if _, err := validateBatch(buf, 0); err != nil {
			return fmt.Errorf("batch at %d: %w", pos, err)
		}
		if h.BaseOffset != want && !(l.cfg.Load().Compact && h.BaseOffset > want) {
			return fmt.Errorf("batch at %d has base offset %d, want %d", pos, h.BaseOffset, want)
		}
		want = h.LastOffset() + 1
		s.noteBatch(&h)
		pos += h.TotalSize()
	}
	return nil
}

// recoverSegment scans every batch of s (CRC included), rebuilds its
// indexes and decides what to do with a bad batch by where it lies. At or
// past the recovery point rp a torn write is possible: the segment is
// truncated there (truncated is true; the caller drops later segments, as
// Kafka does). Below it the segment was fsynced, so the bad bytes are
// damage: they are kept and returned as DamagedRanges, and the scan goes
// on at the next valid batch. rp < 0 truncates at any bad batch (a cleaned
// copy that must verify whole). next is the following segment's base
// offset, or -1.
func (l *Log) recoverSegment(s *segment, next, rp int64) (truncated bool, damage []DamagedRange, err error) {
	if err := s.offIdx.reset(); err != nil {
		return false, nil, fmt.Errorf("log: reset index of %s: %w", s.name(), err)
	}
	if err := s.timeIdx.reset(); err != nil {
		return false, nil, fmt.Errorf("log: reset time index of %s: %w", s.name(), err)
	}
	s.maxTs.Store(-1)
	s.maxTsBatch.Store(-1)
	s.lastTimeEntryTs, s.bytesSinceIndex, s.nextOffset = -1<<63, 0, s.base
	size, err := s.log.Size()
	if err != nil {
		return false, nil, fmt.Errorf("log: size of %s: %w", s.name(), err)
	}
	cfg := l.cfg.Load()
	sc := newScan(s, size, next, cfg.Compact, true)
	stop, damage, err := sc.run(func(h *BatchHeader, pos int64) {
		s.noteBatch(h)
		s.indexBatch(h, pos, cfg.IndexIntervalBytes)
		l.mu.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset) // a batch past the checkpoint's last epoch
	}, func(pos, expect int64, reason string) bool {
		if expect < rp {
			return true // sealed: damage, not a torn write
		}
		cerr := &CorruptionError{Segment: s.name(), Position: pos, Offset: expect, Reason: reason}
		l.logger.Warn("truncating log at corrupt or torn batch", "dir", l.dir, "segment", s.name(),
			"position", pos, "offset", expect, "bytes_cut", size-pos, "reason", reason, "err", cerr)
		return false
	})
	if err != nil {
		return false, nil, err
	}
	if stop < size {
		if err := s.log.Truncate(stop); err != nil {
			return false, nil, fmt.Errorf("log: truncate %s at %d: %w", s.name(), stop, err)
		}
		s.size.Store(stop)
		return true, damage, nil
	}
	s.size.Store(size)
	// What bounds the segment's offsets: the next segment, or for the last
	// one the recovery point (everything below it was fsynced).
	bound := next
	if next < 0 {
		bound = max(rp, s.nextOffset)
	}
	damage = boundDamage(s, damage, size, s.nextOffset, bound, next < 0 || !cfg.Compact)
	s.nextOffset = max(s.nextOffset, bound)
	return false, damage, nil
}

// loadProducerState loads the newest valid snapshot at or below the end
// offset and applies the batches after it.
func (l *Log) loadProducerState() error {
	offs, err := l.listSnapshots()
	if err != nil {
		return fmt.Errorf("log: list snapshots: %w", err)
	}
	end := l.end.Load()
	from := l.start.Load()
	l.mu.producers = producerState{}
	for i := len(offs) - 1; i >= 0; i-- {
		name := fileName(l.dir, offs[i], snapshotSuffix)
		if offs[i] > end {
			l.logger.Info("removing snapshot beyond the log end", "dir", l.dir, "file", filepath.Base(name))
			_ = l.fs.Remove(name)
			continue
		}
		b, err := vfs.ReadFile(l.fs, name)
		if err == nil {
			var ps producerState
			if ps, err = decodeSnapshot(b); err == nil {
				l.mu.producers, from = ps, max(offs[i], from)
				break
			}
		}
		l.logger.Warn("ignoring producer state snapshot", "dir", l.dir, "file", filepath.Base(name), "err", err)
	}
	return l.scanBatches(from, end, func(h *BatchHeader) { l.mu.producers.apply(h) })
}

// scanBatches calls fn for each batch header holding offsets in [from, to),
// stepping over damaged ranges.
func (l *Log) scanBatches(from, to int64, fn func(*BatchHeader)) error {
	if from >= to {
		return nil
	}
	segs := *l.segs.Load()
	i := max(sort.Search(len(segs), func(i int) bool { return segs[i].base > from })-1, 0)
	buf := make([]byte, batchHeaderLen)
	for ; i < len(segs); i++ {
		s := segs[i]
		dmg := l.damageIn(s.base)
		size := s.size.Load()
		var pos int64
		var found bool
		err := l.checked(s, func() (err error) {
			if r := holding(dmg, from); r != nil {
				pos, found = r.End, true
				return nil
			}
			pos, _, _, found, err = s.findBatch(from, size, dmg)
			return err
		})
		if err != nil {
			return fmt.Errorf("log: scan from %d: %w", from, err)
		}
		for found && pos < size {
			if r := damageAt(dmg, pos); r != nil {
				pos = r.End
				continue
			}
			if _, err := s.log.ReadAt(buf, pos); err != nil {
				return fmt.Errorf("log: scan %s at %d: %w", s.name(), pos, err)
			}
			h, _ := ParseBatchHeader(buf)
			if h.BaseOffset >= to {
				return nil
			}
			if h.TotalSize() < batchHeaderLen {
				break // damage no read has met yet; the scrubber will
			}
			fn(&h)
			pos += h.TotalSize()
		}
	}
	return nil
}
