package loader

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/loader/fs"
)

// ErrFenced is returned by a commit when the partition has a newer owner
// (a later recovery claimed a newer epoch and withdrew or would withdraw
// this batch) or another owner committed a batch at or past this one's
// first offset: the caller must abandon its batch and recover the
// partition from the sink.
var ErrFenced = errors.New("loader: partition committed by another owner")

// ErrCorruptIntent is wrapped when an intent names a rename that can be
// neither done nor found done (source and destination both missing).
var ErrCorruptIntent = errors.New("loader: intent cannot be replayed")

// Sink is the commit protocol over a file system: temporary files,
// intents, publishing renames and recovery. Paths given to and returned by
// its methods are relative to the root unless said otherwise. A Sink is safe
// for concurrent use by workers of different partitions.
type Sink struct {
	fsys fs.FS
	root string
}

// NewSink returns the commit protocol over fsys, rooted at root.
func NewSink(fsys fs.FS, root string) *Sink { return &Sink{fsys: fsys, root: root} }

// FS returns the sink's file system.
func (s *Sink) FS() fs.FS { return s.fsys }

// Root returns the sink's root path in its file system.
func (s *Sink) Root() string { return s.root }

func (s *Sink) abs(rel string) string { return path.Join(s.root, rel) }

// rename is one publishing rename of a batch.
type rename struct {
	From, To string // relative to the root
}

// batch is the set of files one commit publishes.
type batch struct {
	TP          TopicPartition
	Epoch       int64 // ownership epoch of the committing owner
	First, Last int64 // offsets read by the batch (not all are in files)
	Renames     []rename
}

// newNonce returns a random suffix for temporary names.
func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CreateTemp creates a new temporary file for tp, owned by the owner of
// the given epoch (see [Position]), whose first row has the given offset,
// and returns it with its path relative to the root.
func (s *Sink) CreateTemp(ctx context.Context, tp TopicPartition, epoch, first int64) (fs.File, string, error) {
	rel := join(tmpDir, tmpName(tp, first, epoch, newNonce()))
	f, err := s.fsys.Create(ctx, s.abs(rel))
	if err != nil {
		return nil, "", fmt.Errorf("create temporary file %s: %w", s.abs(rel), err)
	}
	return f, rel, nil
}

const (
	intentHeader = "sluice-intent 1"
	intentEnd    = "end"
)

// encodeIntent renders b as an intent file: a header, the batch, one line
// per rename and an end line with the rename count, so a torn write is
// detected.
func encodeIntent(b *batch) ([]byte, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s\nbatch\t%s\t%d\t%d\t%d\n", intentHeader, b.TP.Topic, b.TP.Partition, b.First, b.Last)
	for _, r := range b.Renames {
		if strings.ContainsAny(r.From+r.To, "\t\n") {
			return nil, fmt.Errorf("loader: path %q holds a tab or newline", r.From+" -> "+r.To)
		}
		fmt.Fprintf(&sb, "rename\t%s\t%s\n", r.From, r.To)
	}
	fmt.Fprintf(&sb, "%s\t%d\n", intentEnd, len(b.Renames))
	return []byte(sb.String()), nil
}

// decodeIntent parses an intent; complete is false for a torn or foreign
// file.
func decodeIntent(data []byte) (b batch, complete bool) {
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() || sc.Text() != intentHeader {
		return b, false
	}
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		switch {
		case f[0] == "batch" && len(f) == 5:
			p, err1 := strconv.ParseInt(f[2], 10, 32)
			first, err2 := strconv.ParseInt(f[3], 10, 64)
			last, err3 := strconv.ParseInt(f[4], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil {
				return b, false
			}
			b.TP, b.First, b.Last = TopicPartition{f[1], int32(p)}, first, last
		case f[0] == "rename" && len(f) == 3:
			b.Renames = append(b.Renames, rename{f[1], f[2]})
		case f[0] == intentEnd && len(f) == 2:
			n, err := strconv.Atoi(f[1])
			return b, err == nil && n == len(b.Renames) && b.TP.Topic != ""
		default:
			return b, false
		}
	}
	return b, false
}

// commit publishes b's temporary files, which must be closed, by the
// intent protocol (see the package comment). Until the intent is committed
// the batch is this owner's alone, and any failure removes its prepared
// intent and temporaries; once committed, or when committing has an
// unknown outcome, everything is left for recovery, which rolls a
// committed intent forward. ErrFenced means a newer or another owner won.
func (s *Sink) commit(ctx context.Context, b *batch) error {
	data, err := encodeIntent(b)
	if err != nil {
		return err
	}
	prepared := s.abs(join(intentsDir, preparedName(b.TP, b.First, b.Epoch)))
	intent := s.abs(join(intentsDir, intentName(b.TP, b.First, false)))
	discard := func() {
		_ = s.fsys.Remove(ctx, prepared)
		for _, r := range b.Renames {
			_ = s.fsys.Remove(ctx, s.abs(r.From))
		}
	}
	f, err := s.fsys.Create(ctx, prepared)
	if err != nil {
		discard()
		return fmt.Errorf("%s: create intent: %w", b.TP, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Abort()
		discard()
		return fmt.Errorf("%s: write intent %s: %w", b.TP, prepared, err)
	}
	if err := f.Close(); err != nil {
		discard()
		return fmt.Errorf("%s: close intent %s: %w", b.TP, prepared, err)
	}
	// Fencing, after the prepared intent is durable. A newer owner's
	// recovery claims its epoch before it lists the intents, and this
	// owner lists after preparing: so either this listing sees the newer
	// epoch, or that recovery's listing sees the prepared intent and
	// withdraws (removes) it, which makes the commit below fail unless
	// the commit came first, and then the recovery rolls the batch
	// forward before it scans the sink.
	entries, err := s.fsys.List(ctx, s.abs(intentsDir))
	if err != nil {
		discard()
		return fmt.Errorf("%s: list intents: %w", b.TP, err)
	}
	var prevDone []string
	owner := false // this owner's marker is still there
	for _, e := range entries {
		ie, ok := parseIntentEntry(b.TP, path.Base(e.Path))
		if !ok {
			continue
		}
		var fenced error
		switch {
		case ie.kind == kindOwner && ie.epoch == b.Epoch:
			owner = true
		case ie.kind == kindOwner && ie.epoch > b.Epoch:
			fenced = fmt.Errorf("%s: batch from offset %d: the partition has a newer owner (epoch %d, this one %d): %w", b.TP, b.First, ie.epoch, b.Epoch, ErrFenced)
		case (ie.kind == kindIntent || ie.kind == kindDone) && ie.first > b.First,
			ie.kind == kindDone && ie.first == b.First:
			// A newer batch, or a committed one from the same offset.
			fenced = fmt.Errorf("%s: batch from offset %d, found one from %d: %w", b.TP, b.First, ie.first, ErrFenced)
		case ie.kind == kindDone:
			prevDone = append(prevDone, e.Path)
		}
		if fenced != nil {
			discard()
			return fenced
		}
	}
	if !owner {
		// Removed by a newer owner's claim (or with _tmp by hand).
		discard()
		return fmt.Errorf("%s: batch from offset %d: the owner marker of epoch %d is gone: %w", b.TP, b.First, b.Epoch, ErrFenced)
	}
	if err := ctx.Err(); err != nil {
		discard()
		return err // revoked or cancelled before committing
	}
	// Commit: one rename, which a newer owner's recovery withdrawing the
	// prepared intent (removing it) excludes.
	if err := s.fsys.Rename(ctx, prepared, intent); err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			discard()
			return fmt.Errorf("%s: batch from offset %d: intent withdrawn by a newer owner: %w", b.TP, b.First, ErrFenced)
		case errors.Is(err, fs.ErrExist):
			discard()
			return fmt.Errorf("%s: batch from offset %d: committed by another owner: %w", b.TP, b.First, ErrFenced)
		}
		// It may have happened: recovery rolls the intent forward if so,
		// else withdraws it.
		return fmt.Errorf("%s: commit intent %s: %w", b.TP, intent, err)
	}
	// Committed: the files are the sink's now, whatever happens to ctx.
	// Finish the renames (as recovery would) rather than report a
	// committed batch as failed: a run cut off by its timeout here used to
	// leave its last batch counted by no run at all.
	ctx = context.WithoutCancel(ctx)
	if err := s.replay(ctx, b); err != nil {
		return err
	}
	if err := s.finishIntent(ctx, b.TP, b.First); err != nil {
		return err
	}
	for _, p := range prevDone {
		if err := s.fsys.Remove(ctx, p); err != nil {
			return fmt.Errorf("%s: remove old done marker: %w", b.TP, err)
		}
	}
	return nil
}

// finishIntent turns tp's intent for first, whose renames are all done,
// into its done marker.
func (s *Sink) finishIntent(ctx context.Context, tp TopicPartition, first int64) error {
	from := s.abs(join(intentsDir, intentName(tp, first, false)))
	to := s.abs(join(intentsDir, intentName(tp, first, true)))
	if err := s.fsys.Rename(ctx, from, to); err != nil {
		if _, serr := s.fsys.Stat(ctx, to); serr == nil {
			return s.fsys.Remove(ctx, from)
		}
		if _, serr := s.fsys.Stat(ctx, from); errors.Is(serr, fs.ErrNotExist) {
			// Another owner rolled the intent forward and finished it,
			// and its next commit already removed the done marker.
			return nil
		}
		return fmt.Errorf("%s: mark intent done: %w", tp, err)
	}
	return nil
}

// replay does b's renames idempotently: a rename whose source is gone and
// whose destination exists is already done.
func (s *Sink) replay(ctx context.Context, b *batch) error {
	for _, r := range b.Renames {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.fsys.Rename(ctx, s.abs(r.From), s.abs(r.To))
		if err == nil {
			continue
		}
		if _, serr := s.fsys.Stat(ctx, s.abs(r.From)); errors.Is(serr, fs.ErrNotExist) {
			if _, derr := s.fsys.Stat(ctx, s.abs(r.To)); derr == nil {
				continue // done by an earlier attempt
			} else if errors.Is(derr, fs.ErrNotExist) {
				return fmt.Errorf("%s: rename %s -> %s: both missing: %w", b.TP, r.From, r.To, ErrCorruptIntent)
			}
		}
		return fmt.Errorf("%s: publish %s: %w", b.TP, s.abs(r.To), err)
	}
	return nil
}
