package log

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// LeaderEpochFile is Kafka's leader-epoch-checkpoint: for every leader
// epoch the log has had, the offset its first batch got, so that
// OffsetForLeaderEpoch can say where an epoch ended (a follower returning
// after a leader change truncates its divergent tail there, KIP-101).
const LeaderEpochFile = "leader-epoch-checkpoint"

// Kafka's text layout: a version line (0), a count line, then one
// "<epoch> <start offset>" line per epoch, ascending.
const leaderEpochVersion = "0"

// EpochStart is one leader epoch and the first offset appended in it.
type EpochStart struct {
	Epoch int32
	Start int64
}

// epochCache is a log's epochs, ascending in both fields; guarded by the
// log's mu.
type epochCache struct{ entries []EpochStart }

func (c *epochCache) latest() int32 {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].Epoch
}

// assign records that epoch starts at offset, if epoch is newer than the
// latest (Kafka's maybeAssignEpochStartOffset): batches of an epoch
// already known, or older, change nothing. It reports a change.
func (c *epochCache) assign(epoch int32, offset int64) bool {
	if epoch < 0 || epoch <= c.latest() {
		return false
	}
	c.entries = append(c.entries, EpochStart{epoch, offset})
	return true
}

// truncateFromEnd drops the epochs that start at or after end (the log was
// cut at end).
func (c *epochCache) truncateFromEnd(end int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].Start >= end {
		n--
	}
	changed := n < len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops the epochs wholly below start and moves the one
// holding start to begin there (the log start moved to start).
func (c *epochCache) truncateFromStart(start int64) bool {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].Start <= start {
		i++
	}
	changed := i > 0
	c.entries = c.entries[i:]
	if len(c.entries) > 0 && c.entries[0].Start < start {
		c.entries[0].Start, changed = start, true
	}
	return changed
}

// endOffsetFor answers OffsetForLeaderEpoch for epoch as Kafka's
// LeaderEpochFileCache does: the latest epoch ends at the log end; an
// older one at the start of the next epoch the log has, reported with the
// largest epoch at or below it (or itself, below the first); an epoch
// newer than every epoch, or a log with none, gets (-1, -1).
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	if epoch < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	if epoch == c.latest() {
		return epoch, logEnd
	}
	for i, e := range c.entries {
		if e.Epoch > epoch {
			if i == 0 {
				return epoch, e.Start
			}
			return c.entries[i-1].Epoch, e.Start
		}
	}
	return -1, -1
}

func (c *epochCache) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n", leaderEpochVersion, len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.Start)
	}
	return b.Bytes()
}

// parseEpochs reads Kafka's layout, refusing anything out of order.
func parseEpochs(b []byte) ([]EpochStart, error) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 2 || lines[0] != leaderEpochVersion {
		return nil, fmt.Errorf("want version %s and a count on the first two lines", leaderEpochVersion)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("count line %q does not match the %d entries", lines[1], len(lines)-2)
	}
	out := make([]EpochStart, 0, n)
	for i, l := range lines[2:] {
		es, offs, ok := strings.Cut(l, " ")
		e, err1 := strconv.ParseInt(es, 10, 32)
		o, err2 := strconv.ParseInt(offs, 10, 64)
		if !ok || err1 != nil || err2 != nil || e < 0 || o < 0 {
			return nil, fmt.Errorf("line %d: %q is not \"<epoch> <offset>\"", i+3, l)
		}
		if k := len(out); k > 0 && (int32(e) <= out[k-1].Epoch || o < out[k-1].Start) {
			return nil, fmt.Errorf("line %d: %q does not follow epoch %d at %d", i+3, l, out[k-1].Epoch, out[k-1].Start)
		}
		out = append(out, EpochStart{int32(e), o})
	}
	return out, nil
}

// loadEpochs reads the folder's checkpoint: absent is (nil, false, nil).
func loadEpochs(fs vfs.FS, dir string) ([]EpochStart, bool, error) {
	b, err := vfs.ReadFile(fs, filepath.Join(dir, LeaderEpochFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	es, err := parseEpochs(b)
	if err != nil {
		return nil, true, fmt.Errorf("log: %s: %w", filepath.Join(dir, LeaderEpochFile), err)
	}
	return es, true, nil
}

// settleEpochs fits the epochs loaded and scanned at Open to the log's
// recovered range and writes the checkpoint if that changed anything.
// Without a checkpoint a log holding data gets epoch 0 from its start: a
// log written before the checkpoint existed was only ever written at
// epoch 0 (a single node's). The epoch Append stamps (0 until
// SetLeaderEpoch) starts at the end if it is newer than every one; a log
// that has a newer one stamps that (LeaderEpoch).
func (l *Log) settleEpochs(had bool, start, end int64) {
	c := &l.mu.epochs
	changed := false
	if !had && end > start && (len(c.entries) == 0 || c.entries[0].Start > start) {
		if len(c.entries) > 0 && c.entries[0].Epoch == 0 {
			c.entries[0].Start = start // epoch 0 was scanned from the tail only
		} else {
			c.entries = append([]EpochStart{{0, start}}, c.entries...)
		}
		changed = true
	}
	changed = c.truncateFromEnd(end) || changed
	changed = c.truncateFromStart(start) || changed
	changed = c.assign(l.epoch.Load(), end) || changed
	l.followEpochsLocked()
	if changed || !had {
		// Not fatal: the broker starts on a full disk, and the next open
		// settles the same way from the same log.
		if err := l.writeEpochs(); err != nil {
			l.logger.Warn("leader epoch checkpoint not written", "dir", l.dir, "err", err)
		}
	}
}

func (l *Log) writeEpochs() error {
	return vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, LeaderEpochFile), l.mu.epochs.encode(), true)
}

// persistEpochsLocked writes the checkpoint (durably: a lost epoch would
// make a later OffsetForLeaderEpoch answer past a divergence).
func (l *Log) persistEpochsLocked() error {
	if err := l.writeEpochs(); err != nil {
		return l.failLocked(fmt.Errorf("log: persist leader epochs: %w", err))
	}
	return nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the epoch at or below
// epoch that the log has and the offset where it ended (the log end for
// the current epoch), or (-1, -1) for an epoch newer than every one.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.epochs.endOffsetFor(epoch, l.end.Load())
}

// LeaderEpochs lists the log's leader epochs and where each started.
func (l *Log) LeaderEpochs() []EpochStart {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]EpochStart(nil), l.mu.epochs.entries...)
}

// LeaderEpoch is the epoch Append stamps on batches: the one SetLeaderEpoch
// set, or the latest epoch the log has (after Open, AppendReplicated and
// TruncateTo), at least 0. A follower asks its leader where this epoch
// ends (OffsetForLeaderEpoch) to find its divergent tail.
func (l *Log) LeaderEpoch() int32 { return l.epoch.Load() }

// followEpochsLocked makes LeaderEpoch at least the latest epoch the log
// has.
func (l *Log) followEpochsLocked() {
	if latest := l.mu.epochs.latest(); latest > l.epoch.Load() {
		l.epoch.Store(latest)
	}
}
