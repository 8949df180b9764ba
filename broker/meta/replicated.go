package meta

import (
	"context"
	"fmt"
)

// A replicated store: in a cluster the metadata log is the Raft log
// (broker/quorum), so an entry becomes part of the image only once the
// quorum has committed it, on every node in the same order. Store.Apply
// then validates against the current image (a fast refusal), proposes the
// entry and waits for it to be applied here; the quorum hands every
// committed entry, proposed here or on another node, to Replica.Apply,
// which validates it again against the image it lands on and applies it
// or refuses it. The refusal is the same on every node (Apply is a pure
// function of the image and the records), and it is what the proposer's
// Store.Apply returns: two brokers creating the same topic at once both
// propose, one entry wins, the other is refused everywhere with
// ErrTopicExists.

// Proposer is what a replicated store proposes entries through: the Raft
// node. Propose returns once the entry is committed and applied here,
// with Replica.Apply's error for it.
type Proposer interface {
	Propose(ctx context.Context, data []byte) error
}

// OpenReplicated returns a replicated store with the empty image. Its
// entries come from the quorum through Replica (restore the last snapshot
// with Replica.Restore, then every committed entry after it with
// Replica.Apply); Apply proposes through p. opts.Journal and opts.FS are
// not used: the quorum stores the log.
func OpenReplicated(p Proposer, opts Options) *Store {
	s := &Store{logger: opts.Logger, now: opts.Now, maxPartitions: opts.MaxPartitions, proposer: p}
	if s.logger == nil {
		s.logger = discardLogger()
	}
	if s.now == nil {
		s.now = timeNow
	}
	s.img.Store(NewImage())
	return s
}

// proposeApply is Store.Apply for a replicated store.
func (s *Store) proposeApply(ctx context.Context, recs []Record) error {
	s.mu.Lock()
	closed := s.mu.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if _, err := s.applyAll(s.Image(), recs); err != nil {
		return err
	}
	payload, err := EncodeEntry(Entry{Time: s.now(), Records: recs})
	if err != nil {
		return err
	}
	return s.proposer.Propose(ctx, payload)
}

// Replica is a replicated store as the quorum's state machine.
type Replica struct{ s *Store }

// Replica returns the store's state machine side.
func (s *Store) Replica() Replica { return Replica{s} }

// Apply applies one committed entry at Raft index index, in log order. An
// entry that does not decode or apply leaves the image as it was and
// returns the reason, for the proposer; it is not a failure of the log.
// Either way the image's Offset becomes index.
func (r Replica) Apply(index uint64, data []byte) error {
	s := r.s
	e, err := DecodeEntry(data)
	if err != nil {
		s.logger.Error("meta: committed metadata entry does not decode; skipped", "index", index, "err", err)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.img.Load()
	next, err := applyAll(old, e.Records)
	if err != nil {
		// Nothing changed, so nobody is told; the offset still moves on,
		// so that it is the last applied index, as a snapshot's is.
		s.img.Store(old.withOffset(int64(index)))
		return err
	}
	s.publishLocked(old, next.withOffset(int64(index)))
	return nil
}

// Snapshot encodes the current image for a Raft snapshot.
func (r Replica) Snapshot() ([]byte, error) {
	return EncodeSnapshot(r.s.Image(), r.s.now())
}

// Restore replaces the image with a Raft snapshot's at index; no data
// is the empty image (a new log).
func (r Replica) Restore(index uint64, data []byte) error {
	img := NewImage()
	if len(data) > 0 {
		var err error
		if img, err = DecodeSnapshot(data); err != nil {
			return fmt.Errorf("meta: restore snapshot at index %d: %w", index, err)
		}
	}
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishLocked(s.img.Load(), img.withOffset(int64(index)))
	return nil
}

// publishLocked makes next the image and tells the subscribers; s.mu is
// held.
func (s *Store) publishLocked(old, next *Image) {
	s.img.Store(next)
	for _, sub := range s.mu.subs {
		sub.fn(old, next)
	}
}
