package log

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// Scrubbing finds bit rot in sealed segments before a consumer does. Scrub
// re-reads one closed segment in full, at the pace its caller sets, and
// checks every batch as recovery does (length, magic, CRC32C, record count,
// offsets continuing); what fails becomes a DamagedRange found by "scrub"
// (damage.go): logged, persisted, reported, and answered CORRUPT_MESSAGE
// to fetches, with the batches around it still served. On the OS file
// system each range is dropped from the page cache before it is read
// (posix_fadvise DONTNEED; sealed segments are fsynced, so their pages are
// clean), so the check reads what is on the disk, not a copy cached since
// the batch was written. The active segment is not scrubbed until it
// rolls.

// ScrubResult says what one Scrub call did.
type ScrubResult struct {
	Segment int64          // base offset of the segment scrubbed; -1 if none was left
	Bytes   int64          // bytes of it checked
	Damage  []DamagedRange // ranges found that were not known before
}

// Scrub checks the first closed segment whose base offset is at least
// from and returns which one it was; call it again with that base plus one
// for the next (Segment -1: the pass is over). pace is called with the
// bytes about to be read and may wait (a rate limit) or fail (ctx done),
// which ends the call with its error. A segment that retention or the
// cleaner removes meanwhile is skipped.
func (l *Log) Scrub(ctx context.Context, from int64, pace func(n int64) error) (ScrubResult, error) {
	res := ScrubResult{Segment: -1}
	if l.done.Load() {
		return res, ErrClosed
	}
	segs := *l.segs.Load()
	i := sort.Search(len(segs)-1, func(i int) bool { return segs[i].base >= from })
	if i >= len(segs)-1 {
		return res, nil
	}
	s, next := segs[i], segs[i+1].base
	res.Segment = s.base
	f, err := s.log.acquire(false)
	if errors.Is(err, ErrSegmentGone) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("log: scrub %s: %w", s.name(), err)
	}
	defer s.log.release(false)
	size := s.size.Load()
	sc := newScan(s, size, next, l.cfg.Load().Compact, true)
	sc.pace = func(n int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return pace(n)
	}
	if of, ok := f.(vfs.OSFiler); ok {
		fd := int(of.OSFile().Fd())
		sc.uncache = func(pos, n int64) { _ = unix.Fadvise(fd, pos, n, unix.FADV_DONTNEED) }
	}
	_, found, err := sc.run(func(*BatchHeader, int64) {}, func(int64, int64, string) bool { return true })
	if err != nil {
		if errors.Is(err, ErrSegmentGone) {
			return res, nil
		}
		return res, fmt.Errorf("log: scrub %s: %w", s.name(), err)
	}
	res.Bytes = size
	found = boundDamage(s, found, size, sc.expect, next, !l.cfg.Load().Compact)
	if len(found) == 0 {
		return res, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed || !containsSegment(*l.segs.Load(), s) {
		return res, nil // closed, deleted or replaced meanwhile
	}
	res.Damage = l.addDamageLocked(found, "scrub")
	return res, nil
}

func containsSegment(segs []*segment, s *segment) bool {
	for _, t := range segs {
		if t == s {
			return true
		}
	}
	return false
}
