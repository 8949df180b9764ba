package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/loader/fs"
)

// partSpan is the time a partition folder covers.
type partSpan struct{ start, end time.Time }

// successTracker writes _SUCCESS into a time partition once the watermark
// (the latest row time published) of every worker that loaded data is past
// the partition's end plus the grace.
type successTracker struct {
	sink   *Sink
	layout timeLayout
	src    string // the layout string, to read folder names back
	loc    *time.Location
	grace  time.Duration
	log    *slog.Logger

	mu struct {
		sync.Mutex
		dirs       map[string]partSpan // folder -> its time span
		watermarks map[TopicPartition]time.Time
		done       map[string]bool
	}
}

func newSuccessTracker(sink *Sink, layout timeLayout, src string, loc *time.Location, grace time.Duration, log *slog.Logger) *successTracker {
	s := &successTracker{sink: sink, layout: layout, src: src, loc: loc, grace: grace, log: log}
	s.mu.dirs = map[string]partSpan{}
	s.mu.watermarks = map[TopicPartition]time.Time{}
	s.mu.done = map[string]bool{}
	return s
}

// addDir notes a folder holding published files.
func (s *successTracker) addDir(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.dirs[dir]; ok {
		return
	}
	t, ok := parseLayoutDir(s.src, dir, s.loc)
	if !ok {
		return
	}
	start := s.layout.Truncate(t)
	end := s.layout.End(start)
	// When clocks fall back, two partitions share a folder name (hr=01
	// twice): the folder is complete at the end of the last one.
	for i := 0; i < 4 && end.After(start) && s.layout.Format(end.In(s.loc)) == dir; i++ {
		end = s.layout.End(end)
	}
	s.mu.dirs[dir] = partSpan{start, end}
}

// watermark raises tp's watermark to t.
func (s *successTracker) watermark(tp TopicPartition, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.After(s.mu.watermarks[tp]) {
		s.mu.watermarks[tp] = t
	}
}

// untrack stops counting tp (revoked).
func (s *successTracker) untrack(tp TopicPartition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.watermarks, tp)
}

// flush writes every _SUCCESS now due.
func (s *successTracker) flush(ctx context.Context) error {
	s.mu.Lock()
	var low time.Time
	n := 0
	for _, wm := range s.mu.watermarks {
		if n == 0 || wm.Before(low) {
			low = wm
		}
		n++
	}
	var due []string
	for dir, span := range s.mu.dirs {
		if n > 0 && span.end.After(span.start) && !s.mu.done[dir] && !low.Before(span.end.Add(s.grace)) {
			due = append(due, dir)
		}
	}
	s.mu.Unlock()
	sort.Strings(due)
	for _, dir := range due {
		p := s.sink.abs(join(dir, successFile))
		if _, err := s.sink.fsys.Stat(ctx, p); err != nil {
			f, err := s.sink.fsys.Create(ctx, p)
			if err == nil {
				err = f.Close()
			}
			if err != nil && !isExist(err) {
				return fmt.Errorf("write %s: %w", p, err)
			}
			s.log.Info("time partition complete", "partition", dir)
		}
		s.mu.Lock()
		s.mu.done[dir] = true
		s.mu.Unlock()
	}
	return nil
}

func lowerAt(s string, i int) bool { return i >= 0 && i < len(s) && s[i] >= 'a' && s[i] <= 'z' }

func isExist(err error) bool { return errors.Is(err, fs.ErrExist) }

// parseLayoutDir reads a folder written by a layout back into the start
// time of its partition; ok is false if dir does not match the layout.
func parseLayoutDir(layout, dir string, loc *time.Location) (time.Time, bool) {
	year, month, day, hour, minute := 1970, 1, 1, 0, 0
	i, j := 0, 0
	tokens := []struct {
		tok string
		dst *int
	}{{"YYYY", &year}, {"MM", &month}, {"DD", &day}, {"HH", &hour}, {"mm", &minute}}
next:
	for i < len(layout) {
		for _, t := range tokens {
			if strings.HasPrefix(layout[i:], t.tok) && (t.tok != "mm" || !lowerAt(layout, i-1) && !lowerAt(layout, i+2)) {
				n := len(t.tok)
				if j+n > len(dir) {
					return time.Time{}, false
				}
				v, err := strconv.Atoi(dir[j : j+n])
				if err != nil {
					return time.Time{}, false
				}
				*t.dst = v
				i, j = i+n, j+n
				continue next
			}
		}
		if j >= len(dir) || layout[i] != dir[j] {
			return time.Time{}, false
		}
		i, j = i+1, j+1
	}
	if j != len(dir) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, 0, 0, loc)
	// Reject what time.Date had to normalise (month 13, hour 24, a
	// wall time skipped by a DST change).
	if t.Year() != year || int(t.Month()) != month || t.Day() != day || t.Hour() != hour || t.Minute() != minute {
		return time.Time{}, false
	}
	return t, path.Clean(dir) == dir
}
