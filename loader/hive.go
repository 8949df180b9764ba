package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/formats"
	"github.com/sluicehq/sluice/loader/fs"
)

// hiveCatalog keeps <sink>/_hive/table.sql: the CREATE TABLE statement,
// then one ALTER TABLE ... ADD IF NOT EXISTS PARTITION per time partition,
// appended after the partition's first commit. The file is rewritten
// whole (temporary name, then rename), since sinks cannot append; if a
// crash loses it, the next run rebuilds it from the published folders.
type hiveCatalog struct {
	sink     *Sink
	db       string
	table    string
	location string // URL of the sink root
	meta     []string
	log      *slog.Logger

	mu struct {
		sync.Mutex
		schema  *formats.Schema // file schema with meta columns
		newCols []formats.Field // columns later files added
		added   map[string]bool
		parts   []string // partition folders, in order added
		known   map[string]bool
		dirty   bool
	}
}

func newHiveCatalog(sink *Sink, db, table, location string, meta []string, log *slog.Logger) *hiveCatalog {
	h := &hiveCatalog{sink: sink, db: db, table: table, location: strings.TrimSuffix(location, "/"), meta: meta, log: log}
	h.mu.known = map[string]bool{}
	return h
}

func (h *hiveCatalog) rel() string { return join(hiveDir, "table.sql") }

// load checks that an existing table.sql can be read, before any work.
func (h *hiveCatalog) load(ctx context.Context) error {
	_, err := h.read(ctx)
	return err
}

// read returns table.sql as the sink holds it now ("" if absent).
func (h *hiveCatalog) read(ctx context.Context) (string, error) {
	r, err := h.sink.fsys.Open(ctx, h.sink.abs(h.rel()))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil // rebuilt on the next write
		}
		return "", fmt.Errorf("read %s: %w", h.sink.abs(h.rel()), err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", h.sink.abs(h.rel()), err)
	}
	return string(data), nil
}

// setSchema records the data schema of a file: the first one is the
// table's; top-level columns a later one adds (schema evolution) become an
// ALTER TABLE ... ADD COLUMNS statement.
func (h *hiveCatalog) setSchema(s *formats.Schema) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.schema == nil {
		full, err := formats.WithMetaColumns(s, h.meta)
		if err != nil {
			h.log.Warn("hive DDL: no table schema", "err", err)
			return
		}
		h.mu.schema = full
		h.mu.dirty = true
		return
	}
	for _, f := range s.Fields {
		if h.mu.schema.Index(f.Name) < 0 && !h.mu.added[f.Name] {
			if h.mu.added == nil {
				h.mu.added = map[string]bool{}
			}
			h.mu.added[f.Name] = true
			f.Required = false // older files lack it
			h.mu.newCols = append(h.mu.newCols, f)
			h.mu.dirty = true
		}
	}
}

// addColumnsDDL renders ALTER TABLE ... ADD COLUMNS for the columns of cols
// that content does not mention yet ("" if none).
func (h *hiveCatalog) addColumnsDDL(content string, cols []formats.Field) (string, error) {
	q := func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
	var defs []string
	for _, f := range cols {
		if strings.Contains(content, q(f.Name)) {
			continue
		}
		typ, err := formats.HiveType(f.Type)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", f.Name, err)
		}
		defs = append(defs, q(f.Name)+" "+typ)
	}
	if len(defs) == 0 {
		return "", nil
	}
	return fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMNS (%s);\n", q(h.db), q(h.table), strings.Join(defs, ", ")), nil
}

// addPartitions notes published folders.
func (h *hiveCatalog) addPartitions(dirs ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range dirs {
		if d == "" || d == "." || h.mu.known[d] {
			continue
		}
		h.mu.known[d] = true
		h.mu.parts = append(h.mu.parts, d)
		h.mu.dirty = true
	}
}

// partitionValues splits a folder into Hive partition columns: name=value
// components keep their name, others are named part<i>.
func partitionValues(dir string) []formats.PartitionValue {
	var out []formats.PartitionValue
	for i, c := range strings.Split(dir, "/") {
		if name, value, ok := strings.Cut(c, "="); ok && name != "" {
			out = append(out, formats.PartitionValue{Name: name, Value: value})
		} else {
			out = append(out, formats.PartitionValue{Name: "part" + strconv.Itoa(i), Value: c})
		}
	}
	return out
}

// flush rewrites table.sql if it lacks the table or a known partition.
func (h *hiveCatalog) flush(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.mu.dirty || h.mu.schema == nil {
		return nil
	}
	// Start from the file as it is now: another loader of the pipeline
	// may have added partitions since we last read it.
	base, err := h.read(ctx)
	if err != nil {
		return err
	}
	content := base
	if !strings.Contains(content, "CREATE EXTERNAL TABLE") {
		var cols []string
		if len(h.mu.parts) > 0 {
			for _, pv := range partitionValues(h.mu.parts[0]) {
				cols = append(cols, pv.Name)
			}
		}
		ddl, err := formats.CreateTableDDL(formats.Table{Database: h.db, Name: h.table, Schema: h.mu.schema, PartitionColumns: cols, Location: h.location})
		if err != nil {
			return fmt.Errorf("hive DDL: %w", err)
		}
		content = strings.TrimRight(ddl, ";\n") + ";\n" + content
	}
	parts := append([]string(nil), h.mu.parts...)
	sort.Strings(parts)
	var add strings.Builder
	for _, d := range parts {
		loc := h.location + "/" + d
		if strings.Contains(content, "LOCATION '"+loc+"'") {
			continue
		}
		stmt, err := formats.AddPartitionDDL(h.db, h.table, partitionValues(d), loc)
		if err != nil {
			return fmt.Errorf("hive DDL: %w", err)
		}
		add.WriteString(strings.TrimRight(stmt, ";\n") + ";\n")
	}
	content += add.String()
	cols, err := h.addColumnsDDL(content, h.mu.newCols)
	if err != nil {
		return fmt.Errorf("hive DDL: %w", err)
	}
	content += cols
	if content == base {
		h.mu.dirty = false
		return nil
	}
	if err := h.write(ctx, content); err != nil {
		return err
	}
	h.mu.dirty = false
	return nil
}

func (h *hiveCatalog) write(ctx context.Context, content string) error {
	tmp := h.sink.abs(join(hiveDir, "table.sql."+newNonce()+".tmp"))
	f, err := h.sink.fsys.Create(ctx, tmp)
	if err != nil {
		return fmt.Errorf("hive DDL: %w", err)
	}
	if _, err := io.WriteString(f, content); err != nil {
		_ = f.Abort()
		return fmt.Errorf("hive DDL: write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		_ = h.sink.fsys.Remove(ctx, tmp)
		return fmt.Errorf("hive DDL: close %s: %w", tmp, err)
	}
	final := h.sink.abs(h.rel())
	if err := h.sink.fsys.Remove(ctx, final); err != nil {
		return fmt.Errorf("hive DDL: replace %s: %w", final, err)
	}
	if err := h.sink.fsys.Rename(ctx, tmp, final); err != nil {
		return fmt.Errorf("hive DDL: replace %s: %w", final, err)
	}
	return nil
}

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
