// Package clusterfault holds the cluster's fault tests (issue 12's "tests
// that must exist") and the little they need outside a test file: reading
// a replica's partition log the way the tests compare replicas.
//
// The tests (package clusterfault_test) run three real `sluice server`
// processes, each a metadata quorum voter and a broker, in network
// namespaces of their own (internal/netfault), with idempotent acks=all
// producers (franz-go and sarama), a raw acks=all producer that knows
// which broker answered each write, and a consumer running throughout.
// Each test injects one kind of fault for several rounds (SIGKILL of a
// partition leader, SIGSTOP past broker.session.timeout.ms, the Jepsen
// 2013 Kafka scenario, SIGKILL of the active controller, a leader isolated
// or cut one way from its followers); TestSchedule mixes them, for as
// long as SLUICE_SOAK_DURATION says under make soak. After the rounds
// every test heals the cluster, waits for full replication and checks,
// with internal/history, that every acknowledged record is in the final
// logs exactly once, at the offset it was acknowledged at, in its
// producer's order, that no consumer read a record that did not stay,
// that no two brokers accepted writes for a partition in one leader epoch,
// and, after a clean stop, that every replica's log is byte-identical up
// to the high watermark.
//
// The tests need root (network namespaces); without it they skip, loudly,
// as internal/netfault does (SLUICE_NETFAULT_REQUIRED=1 fails them
// instead). They build cmd/sluice once per run. go test ./broker/clusterfault/
// runs them all in two to three minutes on two cores; -run TestJepsen2013
// one kind. SLUICE_CLUSTERFAULT_LOGS=DIR keeps every node's log and the
// franz-go producer's (a test that fails prints their last lines anyway);
// SLUICE_CLUSTERFAULT_SEED replays a TestSchedule; soak.sh runs the
// schedule for SLUICE_SOAK_DURATION (10m by default).
package clusterfault

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// batchHeaderLen is the length of a Kafka v2 record batch header, up to
// and including its record count.
const batchHeaderLen = 61

// Batch is one record batch of a partition log, as its header says.
type Batch struct {
	BaseOffset, LastOffset int64
	// LeaderEpoch is the batch's partitionLeaderEpoch: the epoch of the
	// leader that appended it.
	LeaderEpoch int32
	// Pos and Len place the whole batch in Log.Data.
	Pos, Len int
}

// Log is one replica's partition log: its segment files back to back, and
// the batches they hold.
type Log struct {
	Data    []byte
	Batches []Batch
	// Tail is how many bytes after the last whole batch are not one (a
	// batch being written as the files were read, or a torn write).
	Tail int
}

// ReadLog reads a partition folder's segment files (*.log, in name order,
// which is offset order) and parses their batches.
func ReadLog(dir string) (*Log, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, err
		}
	}
	sort.Strings(names)
	var data []byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		data = append(data, b...)
	}
	return ParseLog(data), nil
}

// ParseLog splits data into record batches by their headers, stopping at
// the first bytes that are not a whole v2 batch.
func ParseLog(data []byte) *Log {
	l := &Log{Data: data}
	pos := 0
	for len(data)-pos >= batchHeaderLen {
		b := data[pos:]
		length := int(int32(binary.BigEndian.Uint32(b[8:12])))
		total := 12 + length
		if length < batchHeaderLen-12 || b[16] != 2 || total > len(b) {
			break
		}
		base := int64(binary.BigEndian.Uint64(b[0:8]))
		l.Batches = append(l.Batches, Batch{
			BaseOffset:  base,
			LastOffset:  base + int64(int32(binary.BigEndian.Uint32(b[23:27]))),
			LeaderEpoch: int32(binary.BigEndian.Uint32(b[12:16])),
			Pos:         pos,
			Len:         total,
		})
		pos += total
	}
	l.Tail = len(data) - pos
	return l
}

// End is the offset after the last whole batch: the replica's log end.
func (l *Log) End() int64 {
	if len(l.Batches) == 0 {
		return 0
	}
	return l.Batches[len(l.Batches)-1].LastOffset + 1
}

// Prefix is the bytes of the batches below offset end, which must be a
// batch boundary of this log (a high watermark is one on every replica
// that has reached it).
func (l *Log) Prefix(end int64) ([]byte, error) {
	if end == 0 {
		return nil, nil
	}
	for _, b := range l.Batches {
		switch {
		case b.LastOffset+1 == end:
			return l.Data[:b.Pos+b.Len], nil
		case b.LastOffset+1 > end:
			return nil, fmt.Errorf("offset %d is inside the batch at offsets %d-%d, not a batch boundary", end, b.BaseOffset, b.LastOffset)
		}
	}
	return nil, fmt.Errorf("the log ends at offset %d, before %d", l.End(), end)
}

// BatchAt is the batch holding offset.
func (l *Log) BatchAt(offset int64) (Batch, bool) {
	i := sort.Search(len(l.Batches), func(i int) bool { return l.Batches[i].LastOffset >= offset })
	if i == len(l.Batches) || l.Batches[i].BaseOffset > offset {
		return Batch{}, false
	}
	return l.Batches[i], true
}

// CheckEpochs is an error naming the first batch whose leader epoch is
// lower than an earlier one's, or whose offsets do not follow the
// previous batch's: a replica's log never goes back in epochs, and its
// offsets are contiguous (nothing here compacts or deletes records).
func (l *Log) CheckEpochs() error {
	var errs []error
	for i := 1; i < len(l.Batches); i++ {
		prev, b := l.Batches[i-1], l.Batches[i]
		if b.LeaderEpoch < prev.LeaderEpoch {
			errs = append(errs, fmt.Errorf("batch at offset %d has leader epoch %d, after epoch %d at offset %d", b.BaseOffset, b.LeaderEpoch, prev.LeaderEpoch, prev.BaseOffset))
		}
		if b.BaseOffset != prev.LastOffset+1 {
			errs = append(errs, fmt.Errorf("batch at offset %d follows the batch ending at offset %d", b.BaseOffset, prev.LastOffset))
		}
		if len(errs) >= 5 {
			break
		}
	}
	return errors.Join(errs...)
}

// FirstDifference describes where a and b, each a log's bytes up to the
// same offset, first differ (by the batch of a holding that byte), or is
// "" if they are equal.
func FirstDifference(a, b *Log, end int64) string {
	pa, erra := a.Prefix(end)
	pb, errb := b.Prefix(end)
	if erra != nil || errb != nil {
		return fmt.Sprintf("below offset %d: %v / %v", end, erra, errb)
	}
	n := min(len(pa), len(pb))
	for i := 0; i < n; i++ {
		if pa[i] == pb[i] {
			continue
		}
		for _, bt := range a.Batches {
			if i < bt.Pos+bt.Len {
				other := "none"
				if ob, ok := b.BatchAt(bt.BaseOffset); ok {
					other = fmt.Sprintf("offsets %d-%d epoch %d", ob.BaseOffset, ob.LastOffset, ob.LeaderEpoch)
				}
				return fmt.Sprintf("byte %d differs, in the batch at offsets %d-%d epoch %d (the other log's batch there: %s)",
					i, bt.BaseOffset, bt.LastOffset, bt.LeaderEpoch, other)
			}
		}
		return fmt.Sprintf("byte %d differs", i)
	}
	if len(pa) != len(pb) {
		return fmt.Sprintf("%d bytes against %d below offset %d", len(pa), len(pb), end)
	}
	return ""
}
