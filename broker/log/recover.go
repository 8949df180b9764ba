package log

import (
	"fmt"
	"path/filepath"
	"time"
)

// A log whose write or fsync failed (a full disk, an I/O error) is
// read-only: reads go on, appends, flushes and retention are refused with
// that error. Recover leaves that state without a restart, in three steps:
//
//  1. Cut the active segment back to the bytes acknowledged before the
//     failure, so a torn or unacknowledged append never survives (an
//     idempotent producer's retry of a refused batch is then a new append,
//     never a duplicate of bytes it was told failed).
//  2. Probe: write, fsync and remove a probeBytes file in the partition
//     folder. While that fails the log stays read-only.
//  3. Recover the tail exactly as Open does after a crash, into a fresh
//     in-memory state: every segment from the recovery checkpoint on is
//     re-read and checked batch by batch (fsyncgate: after a failed fsync,
//     nothing past the last successful one is assumed durable or intact),
//     torn bytes are truncated, indexes rebuilt, producer state reloaded
//     from its snapshot and the batches after it. The new state replaces
//     the old at once; the old segments' files stay open for reads in
//     flight until their Chunks are released, as for deleted segments, and
//     the indexes of the segments being rescanned are served from memory
//     meanwhile.

// probeFile is the file Recover writes to test the disk; a leftover (a
// crash mid-probe) is removed by Open like every *.tmp file.
const probeFile = "write-probe.tmp"

// probeBytes is what Recover writes to decide the disk takes writes again:
// room for a typical produce request, so that a disk with a few bytes free
// does not make the log resume only to fail on its next append.
const probeBytes = 64 << 10

// failure is why a log refuses writes and since when.
type failure struct {
	err   error
	since time.Time
}

// Failure reports why the log refuses writes: err is nil while it accepts
// them; since is when it stopped. It never blocks, so metrics and health
// checks may call it at any time.
func (l *Log) Failure() (since time.Time, err error) {
	if f := l.failed.Load(); f != nil {
		return f.since, f.err
	}
	return time.Time{}, nil
}

// Recover makes a read-only log (see Failure) writable again if the disk
// takes writes: it probes the disk, then recovers the log's tail as Open
// does after a crash (see the comment at the top of recover.go). It returns
// nil if the log accepts appends afterwards, and the error that keeps it
// read-only otherwise. On a writable log it does nothing. Appends to this
// log wait while it runs; reads do not.
func (l *Log) Recover() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.err == nil {
		return nil
	}
	act := l.active()
	if err := act.log.Truncate(act.size.Load()); err != nil {
		return fmt.Errorf("log: %s stays read-only: cut unacknowledged bytes of %s: %w", l.dir, act.name(), err)
	}
	if err := l.probe(); err != nil {
		return fmt.Errorf("log: %s stays read-only: probe write: %w", l.dir, err)
	}
	if err := l.pinRescannedIndexesLocked(); err != nil {
		return fmt.Errorf("log: %s stays read-only: %w", l.dir, err)
	}
	nl, err := l.reload()
	if err != nil {
		return fmt.Errorf("log: %s stays read-only: recover: %w", l.dir, err)
	}
	now := l.now()
	old := *l.segs.Load()
	l.start.Store(nl.start.Load())
	l.segs.Store(nl.segs.Load())
	// The old segments' files are retired: each closes once the last
	// reader's Chunk of it is released, and a reader that loaded the old
	// list reads again from the new one (ErrSegmentGone).
	for _, s := range old {
		s.close()
	}
	l.end.Store(nl.end.Load())
	l.mu.producers = nl.mu.producers
	l.mu.epochs = nl.mu.epochs
	if nl.truncationResumed {
		// A follower's truncation: no epoch SetLeaderEpoch set survives it.
		l.epoch.Store(nl.epoch.Load())
	}
	l.mu.recoveryPoint = nl.mu.recoveryPoint
	l.damage.Store(nl.damage.Load())
	// What lies past the recovery point is not known to be fsynced:
	// flush.messages and flush.ms count it as unflushed.
	l.mu.unflushed, l.mu.firstUnflushed = max(l.end.Load()-l.mu.recoveryPoint, 0), now
	since, cause := l.Failure()
	l.mu.err = nil
	l.failed.Store(nil)
	l.fileErr.Store(nil)
	l.logger.Info("partition log writable again: tail recovered as after a crash", "dir", l.dir,
		"read_only_for", now.Sub(since).Round(time.Millisecond), "start_offset", l.start.Load(),
		"end_offset", l.end.Load(), "cause", cause)
	return nil
}

// probe writes, fsyncs and removes probeFile.
func (l *Log) probe() error {
	name := filepath.Join(l.dir, probeFile)
	f, err := l.fs.Create(name)
	if err != nil {
		return err
	}
	_, err = f.Write(make([]byte, probeBytes))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := l.fs.Remove(name); err == nil {
		err = rerr
	}
	return err
}

// pinRescannedIndexesLocked loads into memory the index files of the
// segments that reload will rescan (those past the recovery point), whose
// files it truncates and rewrites: readers still using the old segments
// then never read an index file mid-rewrite.
func (l *Log) pinRescannedIndexesLocked() error {
	for _, s := range *l.segs.Load() {
		if s.nextOffset <= l.mu.recoveryPoint {
			continue
		}
		for _, x := range []*sparseIndex{s.offIdx, s.timeIdx} {
			if x.inMem {
				continue
			}
			if err := x.load(); err != nil {
				return fmt.Errorf("read index of %s: %w", s.name(), err)
			}
		}
	}
	return nil
}

// reload opens the partition folder again as Open does, into a fresh Log
// whose state Recover adopts; l itself is not touched.
func (l *Log) reload() (*Log, error) {
	nl := &Log{dir: l.dir, fs: l.fs, files: l.files, fileErr: l.fileErr, logger: l.logger, now: l.now, reloading: true}
	nl.cfg.Store(l.cfg.Load())
	segs, err := nl.load()
	if err == nil && nl.mu.err != nil {
		err, segs = nl.mu.err, *nl.segs.Load()
	}
	if err != nil {
		for _, s := range segs {
			s.close()
		}
		return nil, err
	}
	return nl, nil
}
