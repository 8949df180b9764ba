package log

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// Damage inside a segment that cannot be a torn write is kept, not cut:
// a sealed segment (below the recovery point, or any segment after a clean
// shutdown) held fsynced, acknowledged batches, and the batches after a bad
// one are as intact as before it. Truncating there would delete them and
// hand their offsets out again. Instead the bad bytes become a
// DamagedRange: they stay on disk untouched (for a repair from a replica),
// reads of the offsets they held fail with a *DamagedError
// (ErrCorruptMessage; the broker answers CORRUPT_MESSAGE), and reads before
// and after them work. The end offset never moves back below the damage:
// if the active segment is damaged, the log rolls a new one at the end
// offset (at least the recovery point).
//
// Ranges are found by recovery on open, by a read that meets a header that
// does not parse, and by Scrub. Each is logged once at warn level when
// found and persisted in the partition folder:
//
//	damaged-ranges   {"version":1,"ranges":[{"segment":..,"start":..,...}]}
//
// A range lives as long as its segment; retention deleting the segment
// drops it.

// damageFile holds the partition's damaged ranges (JSON, see above).
const damageFile = "damaged-ranges"

// PartitionMetadataFile is the broker's record of the topic a partition
// folder belongs to (Kafka's partition.metadata); the log leaves it alone.
const PartitionMetadataFile = "partition.metadata"

// DamagedRange is a byte range of one segment file that holds no valid
// record batches, and the offsets it held or may have held.
type DamagedRange struct {
	// Segment is the base offset of the segment; its file is
	// <Segment, 20 digits>.log in the partition folder.
	Segment int64 `json:"segment"`
	// Start and End are the range's bytes [Start, End) in the segment
	// file. End is where the next valid batch starts, or the file's end.
	// Start == End means batches are missing (a cut file) but no bytes
	// are bad.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// FirstOffset and LastOffset bound the offsets the range held: from
	// the one after the last valid batch before it to the one before the
	// first valid batch after it (or the next segment's base, or the
	// recovery point). LastOffset < FirstOffset when it held none (bad
	// bytes after the last batch of a segment).
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	// Reason says what was wrong with the first bad byte.
	Reason string `json:"reason"`
	// FoundBy is "open" (recovery), "read" or "scrub"; FoundAt is when.
	FoundBy string    `json:"found_by"`
	FoundAt time.Time `json:"found_at"`
}

// File is the segment file's name.
func (r DamagedRange) File() string { return filepath.Base(fileName("", r.Segment, logSuffix)) }

// Bytes is the range's length in bytes.
func (r DamagedRange) Bytes() int64 { return r.End - r.Start }

// Offsets is how many offsets the range may have held.
func (r DamagedRange) Offsets() int64 { return max(r.LastOffset-r.FirstOffset+1, 0) }

func (r DamagedRange) holds(offset int64) bool {
	return offset >= r.FirstOffset && offset <= r.LastOffset
}

// DamagedError is a read of an offset inside a damaged range. It matches
// ErrCorruptMessage with errors.Is.
type DamagedError struct {
	Dir    string
	Offset int64
	Range  DamagedRange
}

// Error names the range and the first offset after it.
func (e *DamagedError) Error() string {
	r := e.Range
	return fmt.Sprintf("log: offset %d of %s is in damaged bytes %d-%d of segment %s (offsets %d-%d, %s); reading from offset %d skips them",
		e.Offset, e.Dir, r.Start, r.End, r.File(), r.FirstOffset, r.LastOffset, r.Reason, r.LastOffset+1)
}

// Is makes errors.Is(err, ErrCorruptMessage) true.
func (e *DamagedError) Is(target error) bool { return target == ErrCorruptMessage }

// Damage returns the log's damaged ranges, by segment and position.
func (l *Log) Damage() []DamagedRange {
	if d := l.damage.Load(); d != nil {
		return slices.Clone(*d)
	}
	return nil
}

// damageIn returns the damaged ranges of the segment with base offset base
// (a shared slice: do not modify). It never blocks.
func (l *Log) damageIn(base int64) []DamagedRange {
	d := l.damage.Load()
	if d == nil {
		return nil
	}
	all := *d
	i := sort.Search(len(all), func(i int) bool { return all[i].Segment >= base })
	j := i
	for j < len(all) && all[j].Segment == base {
		j++
	}
	return all[i:j]
}

// holding returns the range of dmg holding offset, or nil.
func holding(dmg []DamagedRange, offset int64) *DamagedRange {
	for i := range dmg {
		if dmg[i].holds(offset) {
			return &dmg[i]
		}
	}
	return nil
}

// damageAt returns the range of dmg that starts at pos, or nil.
func damageAt(dmg []DamagedRange, pos int64) *DamagedRange {
	for i := range dmg {
		if dmg[i].Start == pos && dmg[i].End > pos {
			return &dmg[i]
		}
	}
	return nil
}

// mergeDamage adds found to have: ranges of one segment whose bytes
// overlap or touch become one, and the result is sorted by segment and
// start. added are the ranges of found not already covered by have.
func mergeDamage(have, found []DamagedRange) (all, added []DamagedRange) {
	all = slices.Clone(have)
	for _, f := range found {
		if !slices.ContainsFunc(all, func(a DamagedRange) bool {
			return a.Segment == f.Segment && a.Start <= f.Start && f.End <= a.End && a.FirstOffset <= f.FirstOffset && f.LastOffset <= a.LastOffset
		}) {
			added = append(added, f)
			all = append(all, f)
		}
	}
	slices.SortFunc(all, func(a, b DamagedRange) int {
		if a.Segment != b.Segment {
			return compareInt(a.Segment, b.Segment)
		}
		return compareInt(a.Start, b.Start)
	})
	out := all[:0]
	for _, r := range all {
		if n := len(out); n > 0 && out[n-1].Segment == r.Segment && r.Start <= out[n-1].End {
			p := &out[n-1]
			p.End = max(p.End, r.End)
			p.FirstOffset, p.LastOffset = min(p.FirstOffset, r.FirstOffset), max(p.LastOffset, r.LastOffset)
			continue
		}
		out = append(out, r)
	}
	return out, added
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addDamageLocked records found ranges, logs the new ones and persists the
// set; it returns the new ones. A failure to persist is logged: the ranges
// are found again by the next read, scrub or recovery that meets them.
func (l *Log) addDamageLocked(found []DamagedRange, by string) []DamagedRange {
	if len(found) == 0 {
		return nil
	}
	now := l.now()
	for i := range found {
		found[i].FoundBy, found[i].FoundAt = by, now
	}
	all, added := mergeDamage(l.Damage(), found)
	if len(added) == 0 {
		return nil
	}
	l.damage.Store(&all)
	for _, r := range added {
		l.logger.Warn("damaged bytes in a sealed segment: kept on disk, reads of their offsets answer CORRUPT_MESSAGE, the rest stays readable",
			"dir", l.dir, "segment", r.File(), "bytes_start", r.Start, "bytes_end", r.End,
			"first_offset", r.FirstOffset, "last_offset", r.LastOffset, "reason", r.Reason, "found_by", by)
	}
	if err := l.persistDamageLocked(); err != nil {
		l.logger.Warn("could not persist damaged ranges", "dir", l.dir, "err", err)
	}
	return added
}

// dropDamageLocked forgets the ranges of segments for which gone is true.
func (l *Log) dropDamageLocked(gone func(base int64) bool) {
	have := l.Damage()
	keep := slices.DeleteFunc(slices.Clone(have), func(r DamagedRange) bool { return gone(r.Segment) })
	if len(keep) == len(have) {
		return
	}
	l.damage.Store(&keep)
	if err := l.persistDamageLocked(); err != nil {
		l.logger.Warn("could not persist damaged ranges", "dir", l.dir, "err", err)
	}
}

type damageFileV1 struct {
	Version int            `json:"version"`
	Ranges  []DamagedRange `json:"ranges"`
}

func (l *Log) persistDamageLocked() error {
	path := filepath.Join(l.dir, damageFile)
	ranges := l.Damage()
	if len(ranges) == 0 {
		if err := l.fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	b, err := json.Marshal(damageFileV1{Version: 1, Ranges: ranges})
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(l.fs, path, append(b, '\n'), true)
}

// loadDamage reads the persisted ranges, keeping those of segments in segs
// that fit the segment's file. A damaged or unreadable file is ignored with
// a warning: reads, scrubs and recovery find the ranges again.
func (l *Log) loadDamage(segs []*segment) {
	b, err := vfs.ReadFile(l.fs, filepath.Join(l.dir, damageFile))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var f damageFileV1
	if err == nil {
		if err = json.Unmarshal(b, &f); err == nil && f.Version != 1 {
			err = fmt.Errorf("version %d, want 1", f.Version)
		}
	}
	if err != nil {
		l.logger.Warn("ignoring damaged-ranges file", "dir", l.dir, "err", err)
		return
	}
	size := map[int64]int64{}
	for _, s := range segs {
		size[s.base] = s.size.Load()
	}
	var keep []DamagedRange
	for _, r := range f.Ranges {
		n, ok := size[r.Segment]
		if !ok || r.Start < 0 || r.Start > r.End || r.End > n {
			l.logger.Info("forgetting damaged range that no longer fits its segment", "dir", l.dir, "segment", r.File(),
				"bytes_start", r.Start, "bytes_end", r.End)
			continue
		}
		keep = append(keep, r)
	}
	all, _ := mergeDamage(nil, keep)
	l.damage.Store(&all)
}
