package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

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
			for _, pv := range formats.PartitionValues(h.mu.parts[0]) {
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
		stmt, err := formats.AddPartitionDDL(h.db, h.table, formats.PartitionValues(d), loc)
		if err != nil {
			return fmt.Errorf("hive DDL: %w", err)
		}
		add.WriteString(strings.TrimRight(stmt, ";\n") + ";\n")
	}
	content += add.String()
	cols, err := formats.AddColumnsDDL(content, h.db, h.table, h.mu.newCols)
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
