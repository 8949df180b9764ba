package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/formats"
	"github.com/sluicehq/sluice/loader/fs"
)

// TestParquetWorker runs a worker with the real formats package: JSON with
// an inferred schema that grows a column at offset 300 (backward
// compatibility: a new file with the merged schema), malformed JSON
// dead-lettered, rows placed by their event_time field. The Parquet files
// are read back with parquet-go.
func TestParquetWorker(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	tp := TopicPartition{"events", 0}
	base := time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)
	const n = 600
	src := &memSource{records: map[TopicPartition][]*kgo.Record{}, logStart: map[TopicPartition]int64{}, chunk: 50}
	for i := range n {
		et := base.Add(time.Duration(i) * 10 * time.Second).UnixMilli() // 10:30 to 12:09
		v := fmt.Sprintf(`{"user_id":%d,"event":"click","event_time":%d}`, i, et)
		switch {
		case i%101 == 7:
			v = `{"user_id":` // truncated
		case i >= 300:
			v = fmt.Sprintf(`{"user_id":%d,"event":"click","event_time":%d,"country":"DE"}`, i, et)
		}
		src.records[tp] = append(src.records[tp], &kgo.Record{Topic: tp.Topic, Partition: 0, Offset: int64(i), Value: []byte(v), Timestamp: base})
	}
	fcfg := formats.Config{Type: formats.TypeJSON, JSON: formats.JSONConfig{Timestamps: map[string]string{"event_time": "epoch_ms"}}, Schema: formats.SchemaPolicy{Compatibility: formats.CompatBackward}}
	wopts := formats.WriterOptions{Codec: formats.CodecSnappy, MetaColumns: formats.DefaultMetaColumns()}
	var schemas []string
	cfg := testConfig(t, fs.NewLocal(), root, src)
	cfg.newFormat = newParquetFactory(mustCompile(t, fcfg), wopts, "event_time", time.Now, func(s *formats.Schema) { schemas = append(schemas, s.String()) }, formats.DecoderOptions{})
	cfg.codec = "snappy"
	cfg.roll = RollPolicy{Records: 1000}
	w := newWorker(cfg, tp)
	if err := w.run(ctx, n); err != nil {
		t.Fatal(err)
	}
	if w.stats.DeadLetters != 6 || w.stats.Records != n-6 {
		t.Fatalf("stats %+v", w.stats)
	}
	if len(schemas) < 2 || !strings.Contains(schemas[len(schemas)-1], "country") {
		t.Fatalf("file schemas %v: want the column added at offset 300", schemas)
	}
	// Read every data file back: each offset once, in the right hour.
	seen := map[int64]int{}
	files, _ := filepath.Glob(filepath.Join(root, "dt=*", "hr=*", "*.parquet"))
	sort.Strings(files)
	if len(files) < 3 {
		t.Fatalf("%d files: want at least one per hour 10, 11, 12", len(files))
	}
	for _, name := range files {
		hr := filepath.Base(filepath.Dir(name))
		for _, row := range readParquet(t, name) {
			off := row["_offset"].(int64)
			seen[off]++
			et := base.Add(time.Duration(off) * 10 * time.Second)
			if want := et.Format("hr=15"); hr != want {
				t.Fatalf("offset %d (event time %s) in %s", off, et, hr)
			}
			if row["user_id"].(int64) != off {
				t.Fatalf("offset %d holds user_id %v", off, row["user_id"])
			}
			if off >= 300 && row["country"] != "DE" {
				t.Fatalf("offset %d lost its country: %v", off, row)
			}
		}
	}
	for off := int64(0); off < n; off++ {
		want := 1
		if off%101 == 7 {
			want = 0
		}
		if seen[off] != want {
			t.Fatalf("offset %d landed %d times in data files, want %d", off, seen[off], want)
		}
	}
	t.Logf("%d data files, schemas %v", len(files), schemas)
	dead, _ := filepath.Glob(filepath.Join(root, errorsDir, "*.parquet"))
	deadRows := 0
	for _, name := range dead {
		for _, row := range readParquet(t, name) {
			deadRows++
			if !strings.Contains(row["error"].(string), "json") || row["value"] == nil {
				t.Fatalf("dead letter %v", row)
			}
		}
	}
	if deadRows != 6 {
		t.Fatalf("%d dead letters, want 6", deadRows)
	}
}

// readParquet returns a flat file's rows as maps of column name to value
// (int64, int32, string for byte arrays, bool, nil for null).
func readParquet(t *testing.T, name string) []map[string]any {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cols := pf.Schema().Columns()
	r := parquet.NewReader(pf)
	defer r.Close()
	var out []map[string]any
	buf := make([]parquet.Row, 64)
	for {
		k, err := r.ReadRows(buf)
		for _, row := range buf[:k] {
			m := map[string]any{}
			for _, v := range row {
				var x any
				switch {
				case v.IsNull():
				case v.Kind() == parquet.Int64:
					x = v.Int64()
				case v.Kind() == parquet.Int32:
					x = v.Int32()
				case v.Kind() == parquet.Boolean:
					x = v.Boolean()
				case v.Kind() == parquet.ByteArray:
					x = string(v.ByteArray())
				default:
					x = v.String()
				}
				m[strings.Join(cols[v.Column()], ".")] = x
			}
			out = append(out, m)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", name, err)
		}
	}
}
