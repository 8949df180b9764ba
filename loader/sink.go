package loader

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/loader/fs"
)

// ErrFenced is returned by a commit when another owner of the partition
// committed a batch at or past this one's first offset: the caller must
// abandon its batch and recover the partition from the sink.
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
	First, Last int64 // offsets read by the batch (not all are in files)
	Renames     []rename
}

// newNonce returns a random suffix for temporary names.
func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CreateTemp creates a new temporary file for tp whose first row has the
// given offset and returns it with its path relative to the root.
func (s *Sink) CreateTemp(ctx context.Context, tp TopicPartition, first int64) (fs.File, string, error) {
	rel := join(tmpDir, tmpName(tp, first, newNonce()))
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

// Commit publishes b's temporary files, which must be closed, by the
// intent protocol (see the package comment). On an error before the intent
// is durable the temporaries are removed; after that point they are left
// for recovery to replay. ErrFenced means another owner won.
func (s *Sink) commit(ctx context.Context, b *batch) error {
	data, err := encodeIntent(b)
	if err != nil {
		return err
	}
	intentRel := join(intentsDir, intentName(b.TP, b.First, false))
	discard := func() {
		for _, r := range b.Renames {
			_ = s.fsys.Remove(ctx, s.abs(r.From))
		}
	}
	f, err := s.fsys.Create(ctx, s.abs(intentRel))
	if err != nil {
		discard()
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: batch from offset %d: %w", b.TP, b.First, ErrFenced)
		}
		return fmt.Errorf("%s: create intent: %w", b.TP, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Abort()
		discard()
		return fmt.Errorf("%s: write intent %s: %w", b.TP, s.abs(intentRel), err)
	}
	if err := f.Close(); err != nil {
		// The intent may or may not be durable; if it is, recovery
		// replays it, else recovery drops it. Either way the
		// temporaries must stay for it.
		return fmt.Errorf("%s: close intent %s: %w", b.TP, s.abs(intentRel), err)
	}
	// Fencing: a newer intent or done marker means another owner
	// committed past our start while we were writing.
	entries, err := s.fsys.List(ctx, s.abs(intentsDir))
	if err != nil {
		return fmt.Errorf("%s: list intents: %w", b.TP, err)
	}
	var prevDone []string
	for _, e := range entries {
		first, done, ok := parseIntentName(b.TP, path.Base(e.Path))
		if !ok {
			continue
		}
		// A newer batch, or a committed one from the same offset, means
		// another owner got there first.
		if first > b.First || done && first == b.First {
			_ = s.fsys.Remove(ctx, s.abs(intentRel))
			discard()
			return fmt.Errorf("%s: batch from offset %d, found one from %d: %w", b.TP, b.First, first, ErrFenced)
		}
		if done && first < b.First {
			prevDone = append(prevDone, e.Path)
		}
	}
	if err := ctx.Err(); err != nil {
		return err // revoked or cancelled: recovery decides
	}
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

// finishIntent turns tp's intent for first into its done marker.
func (s *Sink) finishIntent(ctx context.Context, tp TopicPartition, first int64) error {
	from := s.abs(join(intentsDir, intentName(tp, first, false)))
	to := s.abs(join(intentsDir, intentName(tp, first, true)))
	if err := s.fsys.Rename(ctx, from, to); err != nil {
		if _, serr := s.fsys.Stat(ctx, to); serr == nil {
			return s.fsys.Remove(ctx, from)
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

// Position is where a partition stands in the sink.
type Position struct {
	// Landed is false when no file of the partition is published.
	Landed bool
	// Next is one past the highest published offset (0 if !Landed).
	Next int64
}

// Recover makes the sink consistent for the given partitions and returns
// where each stands: it replays each partition's newest complete intent,
// removes its other intents, stale done markers and temporary files, then
// scans the published files. Only the given partitions' files under _tmp
// are touched, so other owners' work in progress is left alone.
// dirs, if not nil, receives every folder (relative) holding a published
// data file of any partition.
func (s *Sink) Recover(ctx context.Context, tps []TopicPartition, dirs map[string]bool) (map[TopicPartition]Position, error) {
	want := make(map[TopicPartition]bool, len(tps))
	for _, tp := range tps {
		want[tp] = true
	}
	intents, err := s.fsys.List(ctx, s.abs(intentsDir))
	if err != nil {
		return nil, fmt.Errorf("recover: list %s: %w", s.abs(intentsDir), err)
	}
	for _, tp := range tps {
		if err := s.recoverIntents(ctx, tp, intents); err != nil {
			return nil, err
		}
	}
	temps, err := s.fsys.List(ctx, s.abs(tmpDir))
	if err != nil {
		return nil, fmt.Errorf("recover: list %s: %w", s.abs(tmpDir), err)
	}
	for _, e := range temps {
		if e.IsDir {
			continue
		}
		base := path.Base(e.Path)
		for _, tp := range tps {
			if strings.HasPrefix(base, tp.prefix()) && strings.HasSuffix(base, ".tmp") {
				if err := s.fsys.Remove(ctx, e.Path); err != nil {
					return nil, fmt.Errorf("recover: remove stale %s: %w", e.Path, err)
				}
				break
			}
		}
	}
	pos, err := s.scan(ctx, want, dirs)
	if err != nil {
		return nil, err
	}
	// Done markers at or past the resume offset describe files no longer
	// in the sink (deleted by an operator to reload): drop them, or they
	// would fence this owner forever.
	for _, e := range intents {
		base := path.Base(e.Path)
		for _, tp := range tps {
			first, done, ok := parseIntentName(tp, base)
			if ok && done && first >= pos[tp].Next {
				if err := s.fsys.Remove(ctx, e.Path); err != nil {
					return nil, fmt.Errorf("recover: remove %s: %w", e.Path, err)
				}
			}
		}
	}
	return pos, nil
}

// recoverIntents replays tp's newest complete intent (if newer than its
// last done marker) and removes tp's other intents.
func (s *Sink) recoverIntents(ctx context.Context, tp TopicPartition, entries []fs.Entry) error {
	type mark struct {
		first int64
		path  string
	}
	var live []mark
	maxDone := int64(-1)
	for _, e := range entries {
		first, done, ok := parseIntentName(tp, path.Base(e.Path))
		if !ok {
			continue
		}
		if done {
			maxDone = max(maxDone, first)
		} else {
			live = append(live, mark{first, e.Path})
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].first > live[j].first })
	for i, m := range live {
		if i == 0 && m.first > maxDone {
			data, err := s.readAll(ctx, m.path)
			if err != nil {
				return fmt.Errorf("recover %s: read intent %s: %w", tp, m.path, err)
			}
			if b, complete := decodeIntent(data); complete && b.TP == tp && b.First == m.first {
				if err := s.replay(ctx, &b); err != nil {
					if !errors.Is(err, ErrCorruptIntent) || s.anyPublished(ctx, &b) {
						return fmt.Errorf("recover: %w", err)
					}
					// A temporary file is gone and nothing of the batch
					// was published (an owner that lost the partition
					// kept writing after the new owner cleaned up): the
					// intent describes nothing; drop it.
					if err := s.fsys.Remove(ctx, m.path); err != nil {
						return fmt.Errorf("recover %s: remove intent %s: %w", tp, m.path, err)
					}
					continue
				}
				if err := s.finishIntent(ctx, tp, m.first); err != nil {
					return fmt.Errorf("recover: %w", err)
				}
				continue
			}
		}
		// Torn (crashed before any rename) or superseded: drop.
		if err := s.fsys.Remove(ctx, m.path); err != nil {
			return fmt.Errorf("recover %s: remove intent %s: %w", tp, m.path, err)
		}
	}
	return nil
}

// anyPublished reports whether any destination of b exists (or cannot be
// checked).
func (s *Sink) anyPublished(ctx context.Context, b *batch) bool {
	for _, r := range b.Renames {
		if _, err := s.fsys.Stat(ctx, s.abs(r.To)); !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

func (s *Sink) readAll(ctx context.Context, p string) ([]byte, error) {
	r, err := s.fsys.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 64<<20))
}

// scan walks the published files (data and dead letters, not _tmp) and
// returns the position of every partition in want.
func (s *Sink) scan(ctx context.Context, want map[TopicPartition]bool, dirs map[string]bool) (map[TopicPartition]Position, error) {
	pos := make(map[TopicPartition]Position, len(want))
	for tp := range want {
		pos[tp] = Position{}
	}
	rootPrefix := strings.TrimSuffix(s.root, "/") + "/"
	err := s.fsys.Walk(ctx, s.root, func(e fs.Entry) error {
		if e.IsDir {
			return nil
		}
		rel := strings.TrimPrefix(e.Path, rootPrefix)
		if strings.HasPrefix(rel, tmpDir+"/") {
			return nil
		}
		n, ok := ParseFileName(path.Base(rel))
		if !ok {
			return nil
		}
		if dirs != nil && !strings.HasPrefix(rel, "_") {
			dirs[path.Dir(rel)] = true
		}
		if want[n.TopicPartition] {
			p := pos[n.TopicPartition]
			if !p.Landed || n.Last+1 > p.Next {
				p = Position{Landed: true, Next: n.Last + 1}
			}
			pos[n.TopicPartition] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recover: scan %s: %w", s.root, err)
	}
	return pos, nil
}
