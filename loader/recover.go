package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/loader/fs"
)

// Position is where a partition stands in the sink.
type Position struct {
	// Landed is false when no file of the partition is published.
	Landed bool
	// Next is one past the highest published offset (0 if !Landed).
	Next int64
	// Epoch is the ownership epoch the recovery claimed for its caller.
	// The caller's temporary files and commits carry it; once a later
	// recovery of the partition claims a newer one, they are fenced.
	Epoch int64
}

// maxClaimAttempts bounds how often a recovery retries claiming an epoch
// that a concurrent recovery of the same partition took first.
const maxClaimAttempts = 100

// Recover makes its caller the newest owner of the given partitions, makes
// the sink consistent for them and returns where each stands.
//
// It claims a new ownership epoch for each partition, which fences every
// older owner's later commits; withdraws the intents older owners prepared
// but did not commit; rolls forward the newest committed intent; removes
// the other intents, stale done markers and the older owners' temporary
// files; then scans the published files. Temporary files and prepared
// intents of newer owners and of other partitions are left alone.
// dirs, if not nil, receives every folder (relative) holding a published
// data file of any partition.
func (s *Sink) Recover(ctx context.Context, tps []TopicPartition, dirs map[string]bool) (map[TopicPartition]Position, error) {
	epochs, err := s.claim(ctx, tps)
	if err != nil {
		return nil, err
	}
	// Withdraw the older owners' prepared intents. An owner commits its
	// prepared intent only if its fencing listing, made after preparing,
	// missed our claim; then our listing, made after the claim, sees the
	// prepared intent (or its committed name). Removing it makes the
	// owner's commit fail; if the commit came first, the committed intent
	// is rolled forward below.
	seen, err := s.fsys.List(ctx, s.abs(intentsDir))
	if err != nil {
		return nil, fmt.Errorf("recover: list %s: %w", s.abs(intentsDir), err)
	}
	for _, e := range seen {
		for _, tp := range tps {
			if ie, ok := parseIntentEntry(tp, path.Base(e.Path)); ok && ie.kind == kindPrepared && ie.epoch < epochs[tp] {
				if err := s.fsys.Remove(ctx, e.Path); err != nil {
					return nil, fmt.Errorf("recover %s: withdraw intent %s: %w", tp, e.Path, err)
				}
			}
		}
	}
	// List again: an intent committed while the first listing ran may be
	// in neither listing under either name (a listing is not atomic);
	// from here on, older owners commit nothing more.
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
			if epoch, ok := parseTmpName(tp, base); ok && epoch < epochs[tp] {
				if err := s.fsys.Remove(ctx, e.Path); err != nil {
					return nil, fmt.Errorf("recover: remove stale %s: %w", e.Path, err)
				}
				break
			}
		}
	}
	want := make(map[TopicPartition]bool, len(tps))
	for _, tp := range tps {
		want[tp] = true
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
			ie, ok := parseIntentEntry(tp, base)
			if ok && ie.kind == kindDone && ie.first >= pos[tp].Next {
				if err := s.fsys.Remove(ctx, e.Path); err != nil {
					return nil, fmt.Errorf("recover: remove %s: %w", e.Path, err)
				}
			}
		}
	}
	for _, tp := range tps {
		p := pos[tp]
		p.Epoch = epochs[tp]
		pos[tp] = p
	}
	return pos, nil
}

// claim creates, for each partition, an owner marker one epoch past the
// highest found, exclusively (retrying past concurrent claims), and removes
// the older markers: the newest is enough to fence.
func (s *Sink) claim(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	epochs := make(map[TopicPartition]int64, len(tps))
	for attempt := 0; len(epochs) < len(tps); attempt++ {
		if attempt == maxClaimAttempts {
			return nil, fmt.Errorf("recover: claim the partitions: %d attempts lost to concurrent recoveries", attempt)
		}
		entries, err := s.fsys.List(ctx, s.abs(intentsDir))
		if err != nil {
			return nil, fmt.Errorf("recover: list %s: %w", s.abs(intentsDir), err)
		}
		for _, tp := range tps {
			if _, ok := epochs[tp]; ok {
				continue
			}
			var top int64
			var older []string
			for _, e := range entries {
				if ie, ok := parseIntentEntry(tp, path.Base(e.Path)); ok && ie.kind == kindOwner {
					top = max(top, ie.epoch)
					older = append(older, e.Path)
				}
			}
			f, err := s.fsys.Create(ctx, s.abs(join(intentsDir, ownerName(tp, top+1))))
			if errors.Is(err, fs.ErrExist) {
				continue // claimed by a concurrent recovery: list again
			}
			if err != nil {
				return nil, fmt.Errorf("recover %s: claim epoch %d: %w", tp, top+1, err)
			}
			if err := f.Close(); err != nil {
				return nil, fmt.Errorf("recover %s: claim epoch %d: %w", tp, top+1, err)
			}
			epochs[tp] = top + 1
			for _, p := range older {
				if err := s.fsys.Remove(ctx, p); err != nil {
					return nil, fmt.Errorf("recover %s: remove old owner marker: %w", tp, err)
				}
			}
		}
	}
	return epochs, nil
}

// recoverIntents replays tp's newest committed intent (if newer than its
// last done marker) and removes tp's other committed intents.
func (s *Sink) recoverIntents(ctx context.Context, tp TopicPartition, entries []fs.Entry) error {
	type mark struct {
		first int64
		path  string
	}
	var live []mark
	maxDone := int64(-1)
	for _, e := range entries {
		ie, ok := parseIntentEntry(tp, path.Base(e.Path))
		switch {
		case !ok:
		case ie.kind == kindDone:
			maxDone = max(maxDone, ie.first)
		case ie.kind == kindIntent:
			live = append(live, mark{ie.first, e.Path})
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].first > live[j].first })
	for i, m := range live {
		if i == 0 && m.first > maxDone {
			data, err := s.readAll(ctx, m.path)
			if errors.Is(err, fs.ErrNotExist) {
				continue // finished by its owner since the listing
			}
			if err != nil {
				return fmt.Errorf("recover %s: read intent %s: %w", tp, m.path, err)
			}
			if b, complete := decodeIntent(data); complete && b.TP == tp && b.First == m.first {
				if err := s.replay(ctx, &b); err != nil {
					if !errors.Is(err, ErrCorruptIntent) || s.anyPublished(ctx, &b) {
						return fmt.Errorf("recover: %w", err)
					}
					// A temporary file is gone and nothing of the batch
					// was published (an intent of a loader from before
					// ownership epochs, whose temporaries a new owner
					// removed, or files removed by hand): the intent
					// describes nothing; drop it.
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
		// Superseded, or torn (written in place by a loader from before
		// prepared intents, which crashed before any rename): drop.
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
