package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// maxProducerBatches is how many recent batches per producer are kept for
// duplicate detection (Kafka's max.in.flight.requests.per.connection cap).
const maxProducerBatches = 5

type producerBatch struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
}

type producerEntry struct {
	epoch   int16
	batches []producerBatch // oldest first, at most maxProducerBatches
}

// producerState is the idempotent-producer state of one partition.
//
// Rules (Kafka's ProducerStateManager): a batch from an older epoch is
// ErrInvalidProducerEpoch; a newer epoch must start at sequence 0; within
// an epoch a batch equal to one of the last five is ErrDuplicateSequence
// (with the original offsets) and any other batch must continue the last
// sequence (wrapping at MaxInt32) or it is ErrOutOfOrderSequence. A
// producer id with no state is accepted at any sequence, as Kafka does
// since KIP-360: its state may have been removed with the segments that
// held it.
type producerState struct {
	m map[int64]*producerEntry
}

// check validates the producer batches of one append against the state and
// returns the updated entries to commit.
func (ps *producerState) check(hs []BatchHeader, _ int64) (map[int64]*producerEntry, *producerBatch, error) {
	var staged map[int64]*producerEntry
	for i := range hs {
		h := &hs[i]
		if h.ProducerID < 0 {
			continue
		}
		e, ok := staged[h.ProducerID]
		if !ok {
			if cur := ps.m[h.ProducerID]; cur != nil {
				e = &producerEntry{epoch: cur.epoch, batches: append([]producerBatch(nil), cur.batches...)}
			}
			if staged == nil {
				staged = make(map[int64]*producerEntry)
			}
			staged[h.ProducerID] = e
		}
		if e == nil {
			e = &producerEntry{epoch: h.ProducerEpoch}
			e.batches = appendBatch(nil, producerBatch{firstSeq: h.BaseSequence, lastSeq: h.LastSequence(), firstOffset: -1})
			staged[h.ProducerID] = e
			continue
		}
		switch {
		case h.ProducerEpoch < e.epoch:
			return nil, nil, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
		case h.ProducerEpoch > e.epoch:
			if h.BaseSequence != 0 {
				return nil, nil, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d, not 0", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
			}
			e.epoch = h.ProducerEpoch
			e.batches = appendBatch(nil, producerBatch{firstSeq: 0, lastSeq: h.LastSequence(), firstOffset: -1})
			continue
		}
		last := h.LastSequence()
		for j := range e.batches {
			if b := e.batches[j]; b.firstSeq == h.BaseSequence && b.lastSeq == last {
				return nil, &b, fmt.Errorf("%w: producer %d epoch %d sequence %d..%d", ErrDuplicateSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, last)
			}
		}
		if n := len(e.batches); n > 0 {
			if want := addSequence(e.batches[n-1].lastSeq, 1); h.BaseSequence != want {
				return nil, nil, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, want)
			}
		}
		// Record the batch so a later batch of the same append is checked
		// against it; offsets are filled in by commit.
		e.batches = appendBatch(e.batches, producerBatch{firstSeq: h.BaseSequence, lastSeq: last, firstOffset: -1})
	}
	return staged, nil, nil
}

func appendBatch(bs []producerBatch, b producerBatch) []producerBatch {
	if len(bs) == maxProducerBatches {
		bs = append(bs[:0], bs[1:]...)
	}
	return append(bs, b)
}

// commit installs staged entries with the offsets now assigned to hs.
func (ps *producerState) commit(staged map[int64]*producerEntry, hs []BatchHeader) {
	if staged == nil {
		return
	}
	for pid, e := range staged {
		e.batches = e.batches[:0]
		if cur := ps.m[pid]; cur != nil && cur.epoch == e.epoch {
			e.batches = append(e.batches, cur.batches...)
		}
		if ps.m == nil {
			ps.m = make(map[int64]*producerEntry)
		}
		ps.m[pid] = e
	}
	for i := range hs {
		ps.apply(&hs[i])
	}
}

// apply records a stored batch without checks (commit and the rebuild scan).
func (ps *producerState) apply(h *BatchHeader) {
	if h.ProducerID < 0 {
		return
	}
	if ps.m == nil {
		ps.m = make(map[int64]*producerEntry)
	}
	e := ps.m[h.ProducerID]
	if e == nil || h.ProducerEpoch != e.epoch {
		e = &producerEntry{epoch: h.ProducerEpoch}
		ps.m[h.ProducerID] = e
	}
	e.batches = appendBatch(e.batches, producerBatch{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOffset: h.BaseOffset, lastOffset: h.LastOffset(),
	})
}

// expire forgets producers whose last batch is below the log start offset.
func (ps *producerState) expire(start int64) {
	for pid, e := range ps.m {
		if n := len(e.batches); n == 0 || e.batches[n-1].lastOffset < start {
			delete(ps.m, pid)
		}
	}
}

// Snapshot file (<offset>.snapshot, offset = end offset it covers):
//
//	"SLPS" | version uint16 = 1 | crc32c uint32 of the rest | count uint32
//	per producer: id int64 | epoch int16 | n uint8
//	   n times:   firstSeq int32 | lastSeq int32 | firstOffset int64 | lastOffset int64
const (
	snapshotMagic   = "SLPS"
	snapshotVersion = 1
	snapshotHdrLen  = 4 + 2 + 4 + 4
)

func (ps *producerState) encode() []byte {
	pids := make([]int64, 0, len(ps.m))
	for pid := range ps.m {
		pids = append(pids, pid)
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	be := binary.BigEndian
	b := make([]byte, snapshotHdrLen, snapshotHdrLen+len(pids)*(11+maxProducerBatches*24))
	copy(b, snapshotMagic)
	be.PutUint16(b[4:], snapshotVersion)
	be.PutUint32(b[10:], uint32(len(pids)))
	for _, pid := range pids {
		e := ps.m[pid]
		b = be.AppendUint64(b, uint64(pid))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = append(b, byte(len(e.batches)))
		for _, x := range e.batches {
			b = be.AppendUint32(b, uint32(x.firstSeq))
			b = be.AppendUint32(b, uint32(x.lastSeq))
			b = be.AppendUint64(b, uint64(x.firstOffset))
			b = be.AppendUint64(b, uint64(x.lastOffset))
		}
	}
	be.PutUint32(b[6:], crc32.Checksum(b[10:], castagnoli))
	return b
}

var errBadSnapshot = errors.New("log: bad producer state snapshot")

func decodeSnapshot(b []byte) (producerState, error) {
	be := binary.BigEndian
	if len(b) < snapshotHdrLen || string(b[:4]) != snapshotMagic {
		return producerState{}, fmt.Errorf("%w: no header", errBadSnapshot)
	}
	if v := be.Uint16(b[4:]); v != snapshotVersion {
		return producerState{}, fmt.Errorf("%w: version %d", errBadSnapshot, v)
	}
	if crc32.Checksum(b[10:], castagnoli) != be.Uint32(b[6:]) {
		return producerState{}, fmt.Errorf("%w: crc mismatch", errBadSnapshot)
	}
	n := be.Uint32(b[10:])
	ps := producerState{m: make(map[int64]*producerEntry)}
	p := b[snapshotHdrLen:]
	for i := uint32(0); i < n; i++ {
		if len(p) < 11 {
			return producerState{}, fmt.Errorf("%w: truncated", errBadSnapshot)
		}
		pid, e := int64(be.Uint64(p)), &producerEntry{epoch: int16(be.Uint16(p[8:]))}
		nb := int(p[10])
		p = p[11:]
		if nb > maxProducerBatches || len(p) < nb*24 {
			return producerState{}, fmt.Errorf("%w: truncated", errBadSnapshot)
		}
		for j := 0; j < nb; j++ {
			e.batches = append(e.batches, producerBatch{
				firstSeq: int32(be.Uint32(p)), lastSeq: int32(be.Uint32(p[4:])),
				firstOffset: int64(be.Uint64(p[8:])), lastOffset: int64(be.Uint64(p[16:])),
			})
			p = p[24:]
		}
		ps.m[pid] = e
	}
	if len(p) != 0 {
		return producerState{}, fmt.Errorf("%w: %d trailing bytes", errBadSnapshot, len(p))
	}
	return ps, nil
}

// writeSnapshotLocked writes <offset>.snapshot and removes older ones
// beyond the newest two.
func (l *Log) writeSnapshotLocked(offset int64) error {
	l.mu.producers.expire(l.start.Load())
	if err := vfs.WriteFileAtomic(l.fs, fileName(l.dir, offset, snapshotSuffix), l.mu.producers.encode(), false); err != nil {
		return err
	}
	l.removeStaleSnapshots()
	return nil
}

// removeStaleSnapshots keeps the newest two snapshots.
func (l *Log) removeStaleSnapshots() {
	offs, err := l.listSnapshots()
	if err != nil {
		return
	}
	for i := 0; i+2 < len(offs); i++ {
		_ = l.fs.Remove(fileName(l.dir, offs[i], snapshotSuffix))
	}
}

func (l *Log) listSnapshots() ([]int64, error) {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return nil, err
	}
	var offs []int64
	for _, n := range names {
		if b, sfx, ok, err := parseBaseName(n); ok && err == nil && sfx == snapshotSuffix {
			offs = append(offs, b)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	return offs, nil
}
