package formats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

func activityDecoder(t testing.TB) Decoder {
	t.Helper()
	d, err := NewDecoder(Config{Type: TypeJSON, JSON: JSONConfig{Schema: activitySpecs}}, DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func openParquet(t *testing.T, b []byte) *pq.File {
	t.Helper()
	f, err := pq.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("parquet-go cannot open what we wrote: %v", err)
	}
	return f
}

// TestWriterLayout checks what every reader needs: V1 data pages, only
// PLAIN / dictionary encodings, the codec asked for, several row groups
// when RowGroupBytes is small, and the row count.
func TestWriterLayout(t *testing.T) {
	for _, codec := range []Codec{CodecSnappy, CodecZstd, CodecGzip, CodecLZ4, CodecNone} {
		t.Run(string(codec), func(t *testing.T) {
			d := activityDecoder(t)
			var buf bytes.Buffer
			w, err := NewWriter(&buf, d.Schema(), WriterOptions{Codec: codec, RowGroupBytes: 1 << 20, PageBytes: 64 << 10, MetaColumns: DefaultMetaColumns()})
			if err != nil {
				t.Fatal(err)
			}
			msgs := activityEvents(20_000)
			for i := range msgs {
				row, err := d.Decode(context.Background(), &msgs[i])
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Write(row); err != nil {
					t.Fatal(err)
				}
			}
			est := w.Bytes()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Rows() != 20_000 {
				t.Errorf("Rows() = %d", w.Rows())
			}
			if got := int64(buf.Len()); est < got/2 || est > got*2 {
				t.Errorf("Bytes() before close = %d, file is %d: estimate off by more than 2x", est, got)
			}
			f := openParquet(t, buf.Bytes())
			if f.NumRows() != 20_000 {
				t.Errorf("file rows = %d", f.NumRows())
			}
			md := f.Metadata()
			if len(md.RowGroups) < 3 {
				t.Errorf("row groups = %d, want several with 1 MiB row groups", len(md.RowGroups))
			}
			wantCodec := map[Codec]format.CompressionCodec{CodecSnappy: format.Snappy, CodecZstd: format.Zstd, CodecGzip: format.Gzip, CodecLZ4: format.Lz4Raw, CodecNone: format.Uncompressed}[codec]
			for _, rg := range md.RowGroups {
				for _, cc := range rg.Columns {
					if cc.MetaData.Codec != wantCodec {
						t.Fatalf("column %v codec %v, want %v", cc.MetaData.PathInSchema, cc.MetaData.Codec, wantCodec)
					}
					for _, st := range cc.MetaData.EncodingStats {
						if st.PageType == format.DataPageV2 {
							t.Fatalf("column %v has V2 data pages", cc.MetaData.PathInSchema)
						}
						switch st.Encoding {
						case format.Plain, format.RLEDictionary, format.RLE:
						default:
							t.Fatalf("column %v uses encoding %v; readers need PLAIN or dictionary", cc.MetaData.PathInSchema, st.Encoding)
						}
					}
				}
			}
			// The schema as readers see it: timestamps INT64 TIMESTAMP(MICROS, UTC), never INT96.
			ts := fieldByPath(f.Schema(), "event_time")
			if ts == nil || ts.Type().Kind() != pq.Int64 || ts.Type().LogicalType().String() != "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)" {
				t.Errorf("event_time is %v %v, want INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true)", ts.Type().Kind(), ts.Type().LogicalType())
			}
			// Declared order is kept (parquet-go's Group would sort by name).
			var names []string
			for _, fl := range f.Schema().Fields() {
				names = append(names, fl.Name())
			}
			if got := strings.Join(names, ","); got != "event_id,user_id,session_id,event_type,page,referrer,duration_ms,price,is_mobile,event_time,_topic,_partition,_offset,_timestamp" {
				t.Errorf("column order %s", got)
			}
		})
	}
}

func fieldByPath(s *pq.Schema, name string) pq.Field {
	for _, f := range s.Fields() {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// TestWriterMemoryBounded writes 400,000 events (generated as they go)
// with 4 MiB row groups and checks the live heap stays bounded by the
// row-group size, not by the input.
func TestWriterMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 400,000 rows; skipped with -short")
	}
	d := activityDecoder(t)
	var out countWriter
	w, err := NewWriter(&out, d.Schema(), WriterOptions{RowGroupBytes: 4 << 20, MetaColumns: DefaultMetaColumns()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 400_000
	var peak uint64
	batch := activityEvents(10_000)
	for i := 0; i < n; i++ {
		m := batch[i%len(batch)]
		m.Offset = int64(i)
		row, err := d.Decode(context.Background(), &m)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
		if i%50_000 == 49_999 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows, %d bytes of Parquet, peak live heap %.1f MiB", n, out.n, float64(peak)/(1<<20))
	// 400,000 rows are ~130 MiB of JSON; the live heap must stay near a
	// few row groups' worth plus the 10,000-message input.
	if peak > 48<<20 {
		t.Errorf("peak live heap %.1f MiB with 4 MiB row groups: memory is not bounded by the row group", float64(peak)/(1<<20))
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

// TestWriterStickyError: after the io.Writer fails, every later call
// returns that error.
func TestWriterStickyError(t *testing.T) {
	d := activityDecoder(t)
	w, err := NewWriter(&failWriter{after: 1}, d.Schema(), WriterOptions{RowGroupBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	msgs := activityEvents(5_000)
	var first error
	for i := range msgs {
		row, _ := d.Decode(context.Background(), &msgs[i])
		if err := w.Write(row); err != nil {
			first = err
			break
		}
	}
	if first == nil || !strings.Contains(first.Error(), "disk full") {
		t.Fatalf("write error = %v, want the io.Writer's error", first)
	}
	row, _ := d.Decode(context.Background(), &msgs[0])
	if err := w.Write(row); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("write after failure = %v, want the same error", err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed write should fail")
	}
	if err := w.Close(); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("second Close = %v, want ErrWriterClosed", err)
	}
}

// TestWriterRequiredNull: a null in a required column is an error naming
// the field, and the writer stays usable.
func TestWriterRequiredNull(t *testing.T) {
	s := NewSchema(Field{Name: "id", Type: Int64Type, Required: true}, Field{Name: "s", Type: StructOf(Field{Name: "x", Type: Int32Type, Required: true})})
	var buf bytes.Buffer
	w, err := NewWriter(&buf, s, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(&Row{Schema: s, Values: []Value{NullValue(), NullValue()}, Offset: 3})
	if err == nil || err.Error() != "formats: field id at offset 3: required but null" {
		t.Errorf("err = %v", err)
	}
	err = w.Write(&Row{Schema: s, Values: []Value{Int64Value(1), StructValue(NullValue())}, Offset: 4})
	if err == nil || err.Error() != "formats: field s at offset 4: x: required but null" {
		t.Errorf("err = %v", err)
	}
	if err := w.Write(&Row{Schema: s, Values: []Value{Int64Value(1), StructValue(Int32Value(2))}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if f := openParquet(t, buf.Bytes()); f.NumRows() != 1 {
		t.Errorf("rows = %d, want 1", f.NumRows())
	}
}

// TestEvolutionProjection: under backward, rows of an older schema are
// written into the merged file schema (missing columns null, int32
// widened to int64); an added column in the row needs a new file.
func TestEvolutionProjection(t *testing.T) {
	v1 := NewSchema(Field{Name: "id", Type: Int32Type, Required: true}, Field{Name: "name", Type: StringType})
	v2 := NewSchema(Field{Name: "id", Type: Int64Type, Required: true}, Field{Name: "name", Type: StringType}, Field{Name: "tags", Type: ListOf(StringType)})
	dcs, err := Resolve(CompatBackward, v1, v2)
	if err != nil || !dcs.NewFile {
		t.Fatalf("Resolve = %+v, %v", dcs, err)
	}
	if got := dcs.Schema.String(); got != "<id!:int64,name:string,tags:list<string>>" {
		t.Fatalf("merged = %s", got)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, dcs.Schema, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&Row{Schema: v1, Values: []Value{Int32Value(1), StringValue([]byte("old"))}}); err != nil {
		t.Fatalf("projected write: %v", err)
	}
	if err := w.Write(&Row{Schema: v2, Values: []Value{Int64Value(1 << 40), NullValue(), ListValue(StringValue([]byte("t")))}}); err != nil {
		t.Fatal(err)
	}
	// A row with a column the file lacks is refused (Resolve says new file).
	v3 := NewSchema(Field{Name: "id", Type: Int64Type, Required: true}, Field{Name: "extra", Type: BooleanType})
	var se *SchemaError
	if err := w.Write(&Row{Schema: v3, Values: []Value{Int64Value(1), BooleanValue(true)}}); !errors.As(err, &se) || se.Field != "extra" {
		t.Errorf("write of an unknown column = %v, want a SchemaError naming extra", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, buf.Bytes())
	if want := "[[1 old <nil>] [1099511627776 <nil> [t]]]"; fmt.Sprint(rows) != want {
		t.Errorf("rows = %v, want %s", rows, want)
	}
	// Required -> missing is not backward compatible for the file: merged
	// columns that one side lacks become nullable.
	m, err := Merge(v2, NewSchema(Field{Name: "name", Type: StringType}))
	if err != nil || m.String() != "<id:int64,name:string,tags:list<string>>" {
		t.Errorf("Merge(drop id) = %v, %v", m, err)
	}
	// Decimal scale changes are refused.
	_, err = Merge(NewSchema(Field{Name: "p", Type: DecimalOf(10, 2)}), NewSchema(Field{Name: "p", Type: DecimalOf(10, 3)}))
	if !errors.As(err, &se) || se.Old != "decimal(10,2)" || se.New != "decimal(10,3)" {
		t.Errorf("decimal scale change: %v", err)
	}
}

// readAll reads a file's rows as Go values (struct columns as lists).
func readAll(t *testing.T, b []byte) [][]any {
	t.Helper()
	f := openParquet(t, b)
	r := pq.NewReader(f)
	defer r.Close()
	var out [][]any
	for {
		m := map[string]any{}
		if err := r.Read(&m); err != nil {
			if err == io.EOF {
				break
			}
			t.Fatal(err)
		}
		var row []any
		for _, fl := range f.Schema().Fields() {
			row = append(row, flatten(m[fl.Name()]))
		}
		out = append(out, row)
	}
	return out
}

func flatten(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case []any:
		var s []string
		for _, e := range x {
			if mm, ok := e.(map[string]any); ok {
				e = mm["element"]
			}
			s = append(s, fmt.Sprint(flatten(e)))
		}
		return s
	case map[string]any:
		if l, ok := x["list"]; ok {
			return flatten(l)
		}
	}
	return v
}

func TestDDL(t *testing.T) {
	ty, err := ParseType("struct<a!:int64, `b`: list<decimal(12,3)>>")
	if err == nil {
		t.Fatalf("backquotes are not part of the type syntax: %v", ty)
	}
	ty, err = ParseType("struct<a!:int64,b:list<decimal(12,3)>>")
	if err != nil {
		t.Fatal(err)
	}
	data := NewSchema(Field{Name: "select", Type: ty}, Field{Name: "Odd Name", Type: MapOf(DateType)}, Field{Name: "t", Type: TimestampType})
	s, err := WithMetaColumns(data, []string{MetaTopic, MetaPartition, MetaOffset, MetaTimestamp, MetaKey})
	if err != nil {
		t.Fatal(err)
	}
	got, err := CreateTableDDL(Table{Database: "web", Name: "page`views", Schema: s, PartitionColumns: []string{"dt", "hr"}, Location: "hdfs://127.0.0.1:8020/w/it's"})
	if err != nil {
		t.Fatal(err)
	}
	want := "CREATE EXTERNAL TABLE IF NOT EXISTS `web`.`page``views` (\n" +
		"  `select` STRUCT<`a`:BIGINT,`b`:ARRAY<DECIMAL(12,3)>>,\n" +
		"  `Odd Name` MAP<STRING,DATE>,\n" +
		"  `t` TIMESTAMP,\n" +
		"  `_topic` STRING,\n  `_partition` INT,\n  `_offset` BIGINT,\n  `_timestamp` TIMESTAMP,\n  `_key` BINARY\n" +
		")\nPARTITIONED BY (`dt` STRING, `hr` STRING)\nSTORED AS PARQUET\nLOCATION 'hdfs://127.0.0.1:8020/w/it\\'s'"
	if got != want {
		t.Errorf("DDL:\n%s\nwant:\n%s", got, want)
	}
	got, err = AddPartitionDDL("", "pv", []PartitionValue{{"dt", "2024-05-01"}, {"hr", "03"}}, "/w/pv/dt=2024-05-01/hr=03")
	if want := "ALTER TABLE `default`.`pv` ADD IF NOT EXISTS PARTITION (`dt`='2024-05-01', `hr`='03') LOCATION '/w/pv/dt=2024-05-01/hr=03'"; err != nil || got != want {
		t.Errorf("ADD PARTITION = %q, %v\nwant %q", got, err, want)
	}
	// Case-insensitive collisions are errors.
	_, err = CreateTableDDL(Table{Name: "x", Schema: NewSchema(Field{Name: "dt", Type: StringType}), PartitionColumns: []string{"DT"}, Location: "/x"})
	if err == nil || err.Error() != `formats: hive table x: partition column "DT" collides with "dt" (Hive names are case-insensitive)` {
		t.Errorf("collision err = %v", err)
	}
	pv, err := ParsePartitionPath("/dt=2024-05-01/hr=03/")
	if err != nil || fmt.Sprint(pv) != "[{dt 2024-05-01} {hr 03}]" {
		t.Errorf("ParsePartitionPath = %v, %v", pv, err)
	}
	if _, err := ParsePartitionPath("dt=1/oops"); err == nil {
		t.Error("ParsePartitionPath accepted a folder without =")
	}
}

func TestRowTime(t *testing.T) {
	d, err := NewDecoder(Config{JSON: JSONConfig{Schema: []FieldSpec{{Name: "at", Type: "timestamp", Format: "epoch_ms"}, {Name: "day", Type: "date"}, {Name: "s", Type: "string"}, {Name: "n", Type: "int64"}}}}, DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	row, err := d.Decode(context.Background(), &Message{Offset: 9, Timestamp: rec, Value: []byte(`{"at":1714557600123,"day":"2024-05-01","s":"2024-05-01T10:00:00+02:00","n":5}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ field, want string }{
		{"_timestamp", "2024-01-02T03:04:05Z"},
		{"at", "2024-05-01T10:00:00.123Z"},
		{"day", "2024-05-01T00:00:00Z"},
		{"s", "2024-05-01T08:00:00Z"},
	} {
		got, err := row.Time(tc.field)
		if err != nil || got.Format(time.RFC3339Nano) != tc.want {
			t.Errorf("Time(%s) = %v, %v; want %s", tc.field, got, err, tc.want)
		}
	}
	if _, err := row.Time("n"); err == nil || err.Error() != `formats: time field "n" is int64, not a timestamp, date or RFC 3339 string` {
		t.Errorf("Time(n) err = %v", err)
	}
	if _, err := row.Time("nope"); !errors.Is(err, ErrNoTime) {
		t.Errorf("Time(nope) err = %v", err)
	}
	row2, _ := d.Decode(context.Background(), &Message{Offset: 10, Value: []byte(`{}`)})
	if _, err := row2.Time("at"); !errors.Is(err, ErrNoTime) || err.Error() != `formats: time field "at": formats: no time value: it is null at offset 10` {
		t.Errorf("Time(null) err = %v", err)
	}
}

func TestDeadLetterWriter(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewDeadLetterWriter(&buf, WriterOptions{Codec: CodecZstd, MetaColumns: DefaultMetaColumns()})
	if err != nil {
		t.Fatal(err)
	}
	m := &Message{Topic: "t", Partition: 1, Offset: 7, Timestamp: time.UnixMilli(1000).UTC(), Key: []byte("k"), Value: []byte{0xff}}
	cause := &DecodeError{Format: TypeJSON, Topic: "t", Partition: 1, Offset: 7, Reason: "invalid UTF-8 at byte 0 \xff"}
	if err := w.Write(m, cause); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&Message{Topic: "t", Offset: 8}, errors.New("tombstone")); err != nil {
		t.Fatal(err)
	}
	if w.Rows() != 2 {
		t.Errorf("Rows() = %d", w.Rows())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(readAll(t, buf.Bytes()))
	want := "[[t 1 7 1000000 json: t[1]@7: invalid UTF-8 at byte 0 \uFFFD k \xff] [t 0 8 -62135596800000000 tombstone <nil> <nil>]]"
	if got != want {
		t.Errorf("rows = %q\nwant   %q", got, want)
	}
}

// TestEmptyFile: a writer closed without rows still leaves a valid file.
func TestEmptyFile(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, NewSchema(Field{Name: "a", Type: Int64Type}), WriterOptions{MetaColumns: DefaultMetaColumns()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if f := openParquet(t, buf.Bytes()); f.NumRows() != 0 || len(f.Schema().Fields()) != 5 {
		t.Errorf("empty file: %d rows, %d columns", f.NumRows(), len(f.Schema().Fields()))
	}
	if _, err := NewWriter(&buf, NewSchema(), WriterOptions{}); err == nil {
		t.Error("a file with no columns should be refused")
	}
	if _, err := NewWriter(&buf, NewSchema(Field{Name: "_offset", Type: Int64Type}), WriterOptions{MetaColumns: DefaultMetaColumns()}); err == nil ||
		err.Error() != `formats: metadata column "_offset" clashes with a data field of that name` {
		t.Errorf("clash: %v", err)
	}
}

// TestWriterFlushRowGroup: FlushRowGroup writes what Buffered counts as a
// row group before RowGroupBytes is reached, does nothing with nothing
// held, and is refused after Close.
func TestWriterFlushRowGroup(t *testing.T) {
	d := activityDecoder(t)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, d.Schema(), WriterOptions{Codec: CodecSnappy, RowGroupBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range activityEvents(300) {
		writeMessage(t, d, w, &m)
		if i%100 == 99 {
			if w.Buffered() == 0 {
				t.Fatalf("Buffered() = 0 after %d rows", i+1)
			}
			if err := w.FlushRowGroup(); err != nil {
				t.Fatal(err)
			}
			if w.Buffered() != 0 {
				t.Fatalf("Buffered() = %d after FlushRowGroup", w.Buffered())
			}
			if err := w.FlushRowGroup(); err != nil { // nothing held: no empty row group
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.FlushRowGroup(); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("FlushRowGroup after Close: %v, want ErrWriterClosed", err)
	}
	f := openParquet(t, buf.Bytes())
	if got := len(f.Metadata().RowGroups); got != 3 || f.NumRows() != 300 {
		t.Errorf("%d row groups, %d rows; want 3 of 100", got, f.NumRows())
	}
}

// writeMessage decodes m with d and writes the row to w.
func writeMessage(t *testing.T, d Decoder, w *Writer, m *Message) {
	t.Helper()
	row, err := d.Decode(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(row); err != nil {
		t.Fatal(err)
	}
}
