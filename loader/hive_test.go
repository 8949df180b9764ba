package loader

import (
	"context"
	"io"
	"log/slog"
	"path"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/formats"
	"github.com/sluicehq/sluice/loader/fs"
)

// TestHiveCatalog: table.sql gets the CREATE TABLE, one ADD PARTITION per
// folder (once, across rewrites and restarts), and ADD COLUMNS when a later
// file adds a column.
func TestHiveCatalog(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	sink := NewSink(fs.NewLocal(), root)
	log := slog.New(slog.DiscardHandler)
	v1 := formats.NewSchema(formats.Field{Name: "id", Type: formats.Int64Type, Required: true})
	v2 := formats.NewSchema(formats.Field{Name: "id", Type: formats.Int64Type, Required: true}, formats.Field{Name: "country", Type: formats.StringType, Required: true})

	h := newHiveCatalog(sink, "default", "ev", "file://"+root, formats.DefaultMetaColumns(), log)
	h.setSchema(v1)
	h.addPartitions("dt=2026-11-25/hr=10", "dt=2026-11-25/hr=11")
	if err := h.flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A second catalog (the next run, or another follower) adds a folder
	// and a column; the first's statements stay.
	h2 := newHiveCatalog(sink, "default", "ev", "file://"+root, formats.DefaultMetaColumns(), log)
	h2.setSchema(v1)
	h2.setSchema(v2)
	h2.addPartitions("dt=2026-11-25/hr=11", "dt=2026-11-25/hr=12")
	if err := h2.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h2.flush(ctx); err != nil { // nothing new: no change
		t.Fatal(err)
	}
	r, err := fs.NewLocal().Open(ctx, path.Join(root, "_hive/table.sql"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r)
	r.Close()
	sql := string(data)
	for want, n := range map[string]int{
		"CREATE EXTERNAL TABLE IF NOT EXISTS `default`.`ev`":         1,
		"ADD IF NOT EXISTS PARTITION":                                3,
		"`hr`='11'":                                                  1,
		"ALTER TABLE `default`.`ev` ADD COLUMNS (`country` STRING);": 1,
	} {
		if got := strings.Count(sql, want); got != n {
			t.Errorf("%q appears %d times, want %d in:\n%s", want, got, n, sql)
		}
	}
}
