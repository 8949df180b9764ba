package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// JournalFileName is the journal's file name inside the store's directory.
const JournalFileName = "journal.log"

// Options configures Open.
type Options struct {
	// Logger receives replay and recovery messages; nil discards them.
	Logger *slog.Logger
	// Now stamps journal entries; nil means time.Now.
	Now func() time.Time
	// Journal replaces the local file journal (a Raft log, or a test
	// journal). The store closes it on Close. When set, dir is not used.
	Journal Journal
	// MaxPartitions (max.broker.partitions) makes Apply and Validate
	// refuse, with ErrPolicyViolation, a change that leaves more partitions
	// than this and more than before. Replay never refuses: a data dir
	// holding more stays usable. 0 means no limit.
	MaxPartitions int64
	// FS is the file system the metadata folder and its journal live on
	// (the broker's vfs, so crash tests run it on errorfs); nil is the
	// operating system's.
	FS vfs.FS
}

// Store is the one applier of metadata changes: it validates records
// against the current Image, appends them to the Journal, applies them and
// publishes the new Image, all under one mutex. Image is lock-free.
type Store struct {
	logger        *slog.Logger
	now           func() time.Time
	maxPartitions int64
	// proposer is the quorum of a replicated store (replicated.go); nil
	// for a local journal.
	proposer Proposer
	img      atomic.Pointer[Image]
	// failed mirrors mu.failed for lock-free Failure calls.
	failed atomic.Pointer[storeFailure]
	mu     struct {
		sync.Mutex
		journal Journal
		subs    []subscriber
		nextSub int
		closed  bool
		failed  error // the journal append that made the store read-only
	}
}

type storeFailure struct {
	err   error
	since time.Time
}

// recoverableJournal is a Journal that can leave its failed state in place
// (FileJournal); other journals need the store reopened.
type recoverableJournal interface {
	Recover() error
}

type subscriber struct {
	id int
	fn func(old, new *Image)
}

// Open opens the store in dir (created if missing), replaying its journal
// into the Image. A record that does not decode or apply on replay fails
// Open with an error naming its journal offset.
func Open(dir string, opts Options) (*Store, error) {
	s := &Store{logger: opts.Logger, now: opts.Now, maxPartitions: opts.MaxPartitions}
	if s.logger == nil {
		s.logger = discardLogger()
	}
	if s.now == nil {
		s.now = timeNow
	}
	j := opts.Journal
	if j == nil {
		fs := opts.FS
		if fs == nil {
			fs = vfs.Default
		}
		_, statErr := fs.List(dir)
		if err := fs.MkdirAll(dir); err != nil {
			return nil, fmt.Errorf("meta: create metadata dir: %w", err)
		}
		if errors.Is(statErr, os.ErrNotExist) {
			if err := fs.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
				return nil, fmt.Errorf("meta: create metadata dir: %w", err)
			}
		}
		fj, err := OpenFileJournal(filepath.Join(dir, JournalFileName), FileJournalOptions{Logger: s.logger, FS: fs})
		if err != nil {
			return nil, err
		}
		j = fj
	}
	img, entries, err := replay(j)
	if err != nil {
		_ = j.Close()
		return nil, err
	}
	s.img.Store(img)
	s.mu.journal = j
	s.logger.Info("meta: metadata replayed", "entries", entries, "offset", img.Offset(), "topics", img.NumTopics())
	return s, nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func timeNow() time.Time { return time.Now() }

// replay rebuilds the image from every journal entry.
func replay(j Journal) (*Image, int, error) {
	img := NewImage()
	entries := 0
	err := j.Replay(func(off int64, payload []byte) error {
		e, err := DecodeEntry(payload)
		if err != nil {
			return fmt.Errorf("meta: replay journal offset %d: %w", off, err)
		}
		next := img
		for i, r := range e.Records {
			if next, err = Apply(next, r); err != nil {
				return fmt.Errorf("meta: replay journal offset %d record %d (%s): %w", off, i, r.Type(), err)
			}
		}
		if off <= img.offset {
			return fmt.Errorf("%w: replay journal offset %d does not follow %d", ErrInvalidRecord, off, img.offset)
		}
		img = next.withOffset(off)
		entries++
		return nil
	})
	return img, entries, err
}

// Image returns the current image. It never blocks.
func (s *Store) Image() *Image { return s.img.Load() }

// Apply validates recs in order against the current image (each against the
// result of the ones before), appends them to the journal as one entry, and
// publishes the resulting image; then it calls every subscriber. Either all
// records are applied or none. A CreateTopic with a zero ID gets a random
// one (read it back from Image). Validation errors wrap the package's
// sentinels (see ErrorCode). A journal failure (other than a cancelled
// ctx or an oversized entry) makes the store read-only, logged once: this
// and every later Apply fail with an error wrapping ErrStorage and the
// journal's, until Recover succeeds or the store is reopened.
func (s *Store) Apply(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	recs = fillTopicIDs(recs)
	if s.proposer != nil {
		return s.proposeApply(ctx, recs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	if s.mu.failed != nil {
		return fmt.Errorf("%w: read-only after a failed write (until the disk takes writes again): %w", ErrStorage, s.mu.failed)
	}
	old := s.img.Load()
	next, err := s.applyAll(old, recs)
	if err != nil {
		return err
	}
	payload, err := EncodeEntry(Entry{Time: s.now(), Records: recs})
	if err != nil {
		return err
	}
	off, err := s.mu.journal.Append(ctx, payload)
	switch {
	case err == nil:
	case ctx.Err() != nil && errors.Is(err, ctx.Err()), errors.Is(err, ErrFrameSize), errors.Is(err, ErrClosed):
		return fmt.Errorf("meta: append metadata change: %w", err)
	default:
		s.mu.failed = err
		s.failed.Store(&storeFailure{err: err, since: s.now()})
		s.logger.Error("metadata journal read-only: a write failed; metadata changes are refused until the disk takes writes again", "err", err)
		return fmt.Errorf("%w: append metadata change: %w", ErrStorage, err)
	}
	s.publishLocked(old, next.withOffset(off))
	return nil
}

// Failure reports why the store refuses changes: err is nil while it
// accepts them; since is when it stopped. It never blocks.
func (s *Store) Failure() (since time.Time, err error) {
	if f := s.failed.Load(); f != nil {
		return f.since, f.err
	}
	return time.Time{}, nil
}

// Recover makes a read-only store (see Failure) accept changes again if
// its journal recovers in place (FileJournal.Recover: the refused entry is
// dropped and a probe write succeeds). It returns nil if the store accepts
// changes afterwards, and the error that keeps it read-only otherwise; on
// a store that has not failed it does nothing.
func (s *Store) Recover() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.mu.closed:
		return ErrClosed
	case s.mu.failed == nil:
		return nil
	}
	rj, ok := s.mu.journal.(recoverableJournal)
	if !ok {
		return fmt.Errorf("%w: this journal cannot recover in place; restart the broker", ErrStorage)
	}
	if err := rj.Recover(); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	since, cause := s.Failure()
	s.mu.failed = nil
	s.failed.Store(nil)
	s.logger.Info("metadata journal writable again", "read_only_for", s.now().Sub(since).Round(time.Millisecond), "cause", cause)
	return nil
}

// Validate reports whether Apply would accept recs against the current
// image, without changing anything (CreateTopics with validate_only).
func (s *Store) Validate(recs ...Record) error {
	_, err := s.applyAll(s.Image(), fillTopicIDs(recs))
	return err
}

// applyAll applies recs to img and checks the store's limits.
func (s *Store) applyAll(img *Image, recs []Record) (*Image, error) {
	next, err := applyAll(img, recs)
	if err != nil {
		return nil, err
	}
	if n := next.NumPartitions(); s.maxPartitions > 0 && n > s.maxPartitions && n > img.NumPartitions() {
		return nil, invalid(ErrPolicyViolation, "%s would bring this broker to %d partitions, above its limit max.broker.partitions=%d (it holds %d)",
			describeGrowth(img, recs), n, s.maxPartitions, img.NumPartitions())
	}
	return next, nil
}

// describeGrowth names what recs add, for a limit's error message.
func describeGrowth(img *Image, recs []Record) string {
	var parts []string
	for _, r := range recs {
		r, err := deref(r)
		if err != nil {
			continue
		}
		switch r := r.(type) {
		case CreateTopic:
			parts = append(parts, fmt.Sprintf("creating topic %q with %d partitions", r.Name, r.Partitions))
		case CreatePartitions:
			name := r.ID.String()
			if t, ok := img.TopicByID(r.ID); ok {
				name = t.Name
			}
			parts = append(parts, fmt.Sprintf("growing topic %q to %d partitions", name, r.Count))
		}
	}
	if len(parts) == 0 {
		return "this change"
	}
	return strings.Join(parts, " and ")
}

func applyAll(img *Image, recs []Record) (*Image, error) {
	next := img
	for i, r := range recs {
		var err error
		if next, err = Apply(next, r); err != nil {
			if len(recs) > 1 {
				return nil, fmt.Errorf("record %d of %d: %w", i+1, len(recs), err)
			}
			return nil, err
		}
	}
	return next, nil
}

// fillTopicIDs returns recs with a random ID in every CreateTopic that has
// none, without modifying the caller's records.
func fillTopicIDs(recs []Record) []Record {
	out := recs
	for i, r := range recs {
		var ct CreateTopic
		switch v := r.(type) {
		case CreateTopic:
			ct = v
		case *CreateTopic:
			if v == nil {
				continue
			}
			ct = *v
		default:
			continue
		}
		if !ct.ID.IsZero() {
			continue
		}
		if &out[0] == &recs[0] {
			out = append([]Record(nil), recs...)
		}
		ct.ID = NewTopicID()
		out[i] = ct
	}
	return out
}

// Subscribe registers fn to be called after every applied change with the
// images before and after it, in order, synchronously inside Apply (so when
// Apply returns, fn has run). fn may read images but must not call Apply,
// Subscribe or Close (they would deadlock). The returned function
// unregisters fn.
func (s *Store) Subscribe(fn func(old, new *Image)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.mu.nextSub
	s.mu.nextSub++
	s.mu.subs = append(s.mu.subs, subscriber{id: id, fn: fn})
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, sub := range s.mu.subs {
			if sub.id == id {
				s.mu.subs = append(s.mu.subs[:i:i], s.mu.subs[i+1:]...)
				return
			}
		}
	}
}

// Close closes the journal. Image keeps returning the last image.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	s.mu.closed = true
	if s.mu.journal == nil {
		return nil
	}
	if err := s.mu.journal.Close(); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}
