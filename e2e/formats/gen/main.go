// Command gen writes Parquet files of every column type through package
// formats, for independent readers (pyarrow, DuckDB, Spark) to check:
//
//	gen -out DIR
//
// DIR/events/dt=.../hr=.../*.parquet   JSON-decoded rows of every type, one
//
//	codec per partition, Hive layout
//
// DIR/csv/*.parquet, DIR/avro/*.parquet, DIR/raw/*.parquet
//
//	rows from the other decoders
//
// DIR/expected.json   every row of every table in a canonical form
// DIR/events.sql      CREATE EXTERNAL TABLE + ADD PARTITION statements,
//
//	separated by ";\n"
//
// Expected values come from the generator's own Go values, not from the
// decoders, so the readers check decode and write together.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/sluicehq/sluice/formats"
)

func main() {
	out := flag.String("out", "", "output folder")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen: -out is required")
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// canonical forms in expected.json: binary as base64, decimals as text,
// dates as YYYY-MM-DD, timestamps as microseconds since the epoch, maps as
// {"__map__": [[k, v], ...]}, structs as objects.
type mapPairs struct {
	Pairs [][2]any `json:"__map__"`
}

func run(dir string) error {
	expected := map[string][]map[string]any{}
	if err := events(dir, expected); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if err := csvTable(dir, expected); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	if err := avroTable(dir, expected); err != nil {
		return fmt.Errorf("avro: %w", err)
	}
	if err := rawTable(dir, expected); err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	if err := deadLetters(dir, expected); err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	b, err := json.MarshalIndent(expected, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "expected.json"), b, 0o644)
}

var eventSpecs = []formats.FieldSpec{
	{Name: "b", Type: "boolean"},
	{Name: "i32", Type: "int32"},
	{Name: "i64", Type: "int64", Required: true},
	{Name: "f32", Type: "float"},
	{Name: "f64", Type: "double"},
	{Name: "s", Type: "string"},
	{Name: "bin", Type: "binary"},
	{Name: "d", Type: "date"},
	{Name: "ts", Type: "timestamp"},
	{Name: "ts_ms", Type: "timestamp", Format: "epoch_ms"},
	{Name: "dec", Type: "decimal(10,2)"},
	{Name: "bigdec", Type: "decimal(30,4)"},
	{Name: "tags", Type: "list<string>"},
	{Name: "attrs", Type: "map<string,int64>"},
	{Name: "user", Type: "struct<uid!:int64,langs:list<string>>"},
	{Name: "items", Type: "list<struct<sku:string,qty:int32>>"},
}

var codecs = []formats.Codec{formats.CodecSnappy, formats.CodecZstd, formats.CodecGzip, formats.CodecNone, formats.CodecLZ4}

const rows = 60

// events writes JSON-decoded rows of every type into a Hive layout.
func events(dir string, expected map[string][]map[string]any) error {
	dec, err := formats.NewDecoder(formats.Config{Type: formats.TypeJSON, JSON: formats.JSONConfig{Schema: eventSpecs}}, formats.DecoderOptions{})
	if err != nil {
		return err
	}
	meta := []string{formats.MetaTopic, formats.MetaPartition, formats.MetaOffset, formats.MetaTimestamp, formats.MetaKey}
	base := time.Date(2024, 5, 1, 20, 0, 0, 0, time.UTC)
	type open struct {
		w      *formats.Writer
		f      *os.File
		folder string
	}
	files := map[string]*open{}
	var order []string
	for i := 0; i < rows; i++ {
		rec := base.Add(time.Duration(i) * 20 * time.Minute)
		obj, want := eventRow(i)
		value, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		var key []byte
		if i%5 != 0 {
			key = fmt.Appendf(nil, "k-%d", i)
		}
		m := formats.Message{Topic: "events", Partition: int32(i % 2), Offset: int64(i), Timestamp: rec, Key: key, Value: value}
		row, err := dec.Decode(context.Background(), &m)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		folder := fmt.Sprintf("dt=%s/hr=%s", rec.Format("2006-01-02"), rec.Format("15"))
		o := files[folder]
		if o == nil {
			codec := codecs[len(order)%len(codecs)]
			path := filepath.Join(dir, "events", folder, fmt.Sprintf("events+0+%020d.%s.parquet", i, codec))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			w, err := formats.NewWriter(f, dec.Schema(), formats.WriterOptions{Codec: codec, MetaColumns: meta})
			if err != nil {
				return err
			}
			o = &open{w: w, f: f, folder: folder}
			files[folder] = o
			order = append(order, folder)
		}
		if err := o.w.Write(row); err != nil {
			return err
		}
		want["_topic"] = "events"
		want["_partition"] = i % 2
		want["_offset"] = i
		want["_timestamp"] = rec.UnixMicro()
		if key != nil {
			want["_key"] = base64.StdEncoding.EncodeToString(key)
		} else {
			want["_key"] = nil
		}
		want["dt"] = rec.Format("2006-01-02")
		want["hr"] = rec.Format("15")
		expected["events"] = append(expected["events"], want)
	}
	for _, folder := range order {
		o := files[folder]
		if err := o.w.Close(); err != nil {
			return err
		}
		if err := o.f.Close(); err != nil {
			return err
		}
	}
	// The Hive DDL over the tree, as the loader writes it.
	abs, err := filepath.Abs(filepath.Join(dir, "events"))
	if err != nil {
		return err
	}
	schema, err := formats.WithMetaColumns(dec.Schema(), meta)
	if err != nil {
		return err
	}
	ddl, err := formats.CreateTableDDL(formats.Table{Database: "sluice_e2e", Name: "events", Schema: schema, PartitionColumns: []string{"dt", "hr"}, Location: "file://" + abs})
	if err != nil {
		return err
	}
	stmts := []string{"CREATE DATABASE IF NOT EXISTS `sluice_e2e`", ddl}
	for _, folder := range order {
		pv, err := formats.ParsePartitionPath(folder)
		if err != nil {
			return err
		}
		s, err := formats.AddPartitionDDL("sluice_e2e", "events", pv, "file://"+abs+"/"+folder)
		if err != nil {
			return err
		}
		stmts = append(stmts, s)
	}
	return os.WriteFile(filepath.Join(dir, "events.sql"), []byte(strings.Join(stmts, ";\n")+";\n"), 0o644)
}

// eventRow returns the JSON object of row i and its canonical expected
// values; nulls follow different patterns per column.
func eventRow(i int) (map[string]any, map[string]any) {
	obj := map[string]any{}
	want := map[string]any{}
	set := func(name string, null bool, jsonVal, canon any) {
		if null {
			want[name] = nil
			if i%2 == 0 {
				obj[name] = nil // explicit null; odd rows leave it out
			}
			return
		}
		obj[name] = jsonVal
		want[name] = canon
	}
	set("b", i%3 == 0, i%2 == 0, i%2 == 0)
	set("i32", i%5 == 1, int32(i*1000-7), i*1000-7)
	i64 := int64(i)*1_000_000_000_000 + 3
	obj["i64"], want["i64"] = i64, i64
	set("f32", i%4 == 3, float32(i)+0.25, float64(i)+0.25)
	set("f64", i%6 == 4, float64(i)/8, float64(i)/8)
	s := fmt.Sprintf("zoë \"%d\" ✓", i)
	if i == 4 {
		s = ""
	}
	set("s", i%7 == 3, s, s)
	bin := []byte{0, byte(i), 255}
	set("bin", i%8 == 5, base64.StdEncoding.EncodeToString(bin), base64.StdEncoding.EncodeToString(bin))
	day := time.Date(2021, 12, 31, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i*17)
	set("d", i%9 == 2, day.Format("2006-01-02"), day.Format("2006-01-02"))
	ts := time.UnixMicro(1714557600123456 + int64(i)*3_600_000_001).UTC()
	set("ts", i%6 == 5, ts.Format(time.RFC3339Nano), ts.UnixMicro())
	tsMs := int64(1714557600123) + int64(i)*86_400_000
	set("ts_ms", i%10 == 7, tsMs, tsMs*1000)
	unscaled := int64(i)*12345 - 50000
	set("dec", i%11 == 6, json.Number(decText(big.NewInt(unscaled), 2)), decText(big.NewInt(unscaled), 2))
	bigU, _ := new(big.Int).SetString(fmt.Sprintf("%d123456789012345678901234", i), 10)
	if i%2 == 1 {
		bigU.Neg(bigU)
	}
	set("bigdec", i%12 == 8, decText(bigU, 4), decText(bigU, 4))
	switch i % 4 {
	case 0:
		set("tags", true, nil, nil)
	case 1:
		set("tags", false, []any{}, []any{})
	default:
		tags := []any{}
		for k := 0; k <= i%3; k++ {
			tags = append(tags, fmt.Sprintf("t%d", k))
		}
		if i%5 == 0 {
			tags = append(tags, nil)
		}
		set("tags", false, tags, tags)
	}
	if i%4 == 2 {
		set("attrs", true, nil, nil)
	} else {
		set("attrs", false, map[string]any{"k": i, "n": nil}, mapPairs{Pairs: [][2]any{{"k", i}, {"n", nil}}})
	}
	if i%3 == 2 {
		set("user", true, nil, nil)
	} else {
		langs := []any{"en", fmt.Sprintf("l%d", i)}
		set("user", false, map[string]any{"uid": i, "langs": langs}, map[string]any{"uid": i, "langs": langs})
	}
	items := []any{}
	for k := 0; k < i%3; k++ {
		items = append(items, map[string]any{"sku": fmt.Sprintf("sku-%d-%d", i, k), "qty": k + 1})
	}
	set("items", i%7 == 6, items, items)
	// Key order in the JSON object does not matter; json.Marshal sorts.
	return obj, want
}

func decText(x *big.Int, scale int) string {
	neg := x.Sign() < 0
	s := new(big.Int).Abs(x).String()
	for len(s) <= scale {
		s = "0" + s
	}
	s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

func writeTable(dir, table string, dec formats.Decoder, msgs []formats.Message) error {
	if err := os.MkdirAll(filepath.Join(dir, table), 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, table, table+".parquet"))
	if err != nil {
		return err
	}
	defer f.Close()
	var w *formats.Writer
	for i := range msgs {
		row, err := dec.Decode(context.Background(), &msgs[i])
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if row == nil {
			continue
		}
		if w == nil {
			if w, err = formats.NewWriter(f, row.Schema, formats.WriterOptions{MetaColumns: []string{formats.MetaOffset}}); err != nil {
				return err
			}
		}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}

func csvTable(dir string, expected map[string][]map[string]any) error {
	dec, err := formats.NewDecoder(formats.Config{Type: formats.TypeCSV, CSV: formats.CSVConfig{Header: true, NullValue: `\N`, Schema: []formats.FieldSpec{
		{Name: "id", Type: "int64", Required: true}, {Name: "name", Type: "string"}, {Name: "price", Type: "decimal(8,2)"},
		{Name: "ok", Type: "boolean"}, {Name: "at", Type: "timestamp"}, {Name: "day", Type: "date"}, {Name: "ratio", Type: "double"},
	}}}, formats.DecoderOptions{})
	if err != nil {
		return err
	}
	lines := []string{
		"id,name,price,ok,at,day,ratio",
		`1,plain,1.50,true,2024-05-01T10:00:00Z,2024-05-01,0.5`,
		`2,"comma, ""quoted""",-2,false,2024-05-01T10:00:00.000001+02:00,1970-01-01,-1e3`,
		`3,\N,\N,\N,\N,\N,\N`,
		`4,"",0.01,1,1999-12-31T23:59:59.999999Z,2000-02-29,0`,
		"5,\"two\nlines\",999999.99,0,2038-01-19T03:14:08Z,2038-01-19,1.25",
	}
	var msgs []formats.Message
	for i, l := range lines {
		msgs = append(msgs, formats.Message{Topic: "csv", Offset: int64(i), Value: []byte(l)})
	}
	us := func(s string) int64 { t, _ := time.Parse(time.RFC3339Nano, s); return t.UnixMicro() }
	expected["csv"] = []map[string]any{
		{"id": 1, "name": "plain", "price": "1.50", "ok": true, "at": us("2024-05-01T10:00:00Z"), "day": "2024-05-01", "ratio": 0.5, "_offset": 1},
		{"id": 2, "name": `comma, "quoted"`, "price": "-2.00", "ok": false, "at": us("2024-05-01T08:00:00.000001Z"), "day": "1970-01-01", "ratio": -1000.0, "_offset": 2},
		{"id": 3, "name": nil, "price": nil, "ok": nil, "at": nil, "day": nil, "ratio": nil, "_offset": 3},
		{"id": 4, "name": "", "price": "0.01", "ok": true, "at": us("1999-12-31T23:59:59.999999Z"), "day": "2000-02-29", "ratio": 0.0, "_offset": 4},
		{"id": 5, "name": "two\nlines", "price": "999999.99", "ok": false, "at": us("2038-01-19T03:14:08Z"), "day": "2038-01-19", "ratio": 1.25, "_offset": 5},
	}
	return writeTable(dir, "csv", dec, msgs)
}

const avroSchema = `{"type":"record","name":"Order","namespace":"sluice.e2e","fields":[
 {"name":"id","type":"long"},
 {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},
 {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":3}},
 {"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"note","type":["null","string"],"default":null},
 {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"},{"name":"n","type":"int"}]}}},
 {"name":"props","type":{"type":"map","values":"string"}},
 {"name":"hash","type":{"type":"fixed","name":"H","size":4}}
]}`

func avroTable(dir string, expected map[string][]map[string]any) error {
	dec, err := formats.NewDecoder(formats.Config{Type: formats.TypeAvro, Avro: formats.AvroConfig{Schema: avroSchema}}, formats.DecoderOptions{})
	if err != nil {
		return err
	}
	s := avro.MustParse(avroSchema)
	var msgs []formats.Message
	for i := 0; i < 4; i++ {
		placed := time.UnixMilli(1714557600123 + int64(i)*1000).UTC()
		var note any
		if i%2 == 0 {
			note = map[string]any{"string": fmt.Sprintf("note %d ✓", i)}
		}
		lines := []any{}
		wantLines := []any{}
		for k := 0; k < i; k++ {
			lines = append(lines, map[string]any{"sku": fmt.Sprintf("s%d", k), "n": k})
			wantLines = append(wantLines, map[string]any{"sku": fmt.Sprintf("s%d", k), "n": k})
		}
		hash := [4]byte{byte(i), 1, 2, 3}
		rec := map[string]any{"id": int64(i), "status": []string{"NEW", "PAID"}[i%2], "amount": big.NewRat(int64(i)*1001-1500, 1000),
			"placed": placed, "note": note, "lines": lines, "props": map[string]any{"p": fmt.Sprint(i)}, "hash": hash}
		body, err := avro.Marshal(s, rec)
		if err != nil {
			return err
		}
		msgs = append(msgs, formats.Message{Topic: "avro", Offset: int64(i), Value: body})
		var wantNote any
		if i%2 == 0 {
			wantNote = fmt.Sprintf("note %d ✓", i)
		}
		expected["avro"] = append(expected["avro"], map[string]any{
			"id": i, "status": []string{"NEW", "PAID"}[i%2], "amount": decText(big.NewInt(int64(i)*1001-1500), 3), "placed": placed.UnixMicro(),
			"note": wantNote, "lines": wantLines, "props": mapPairs{Pairs: [][2]any{{"p", fmt.Sprint(i)}}},
			"hash": base64.StdEncoding.EncodeToString(hash[:]), "_offset": i,
		})
	}
	return writeTable(dir, "avro", dec, msgs)
}

func rawTable(dir string, expected map[string][]map[string]any) error {
	dec, err := formats.NewDecoder(formats.Config{Type: formats.TypeRaw, Raw: formats.RawConfig{As: formats.RawString}}, formats.DecoderOptions{})
	if err != nil {
		return err
	}
	vals := [][]byte{[]byte("plain"), nil, {}, []byte("ünïcödé")}
	var msgs []formats.Message
	for i, v := range vals {
		msgs = append(msgs, formats.Message{Topic: "raw", Offset: int64(i), Value: v})
		var want any
		if v != nil {
			want = string(v)
		}
		expected["raw"] = append(expected["raw"], map[string]any{"value": want, "_offset": i})
	}
	return writeTable(dir, "raw", dec, msgs)
}

// deadLetters writes the messages a JSON decoder rejects to a dead-letter
// file, as the loader does with on_error: dead_letter.
func deadLetters(dir string, expected map[string][]map[string]any) error {
	dec, err := formats.NewDecoder(formats.Config{Type: formats.TypeJSON, JSON: formats.JSONConfig{Schema: []formats.FieldSpec{{Name: "id", Type: "int64", Required: true}}}}, formats.DecoderOptions{})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "deadletter"), 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "deadletter", "errors.parquet"))
	if err != nil {
		return err
	}
	w, err := formats.NewDeadLetterWriter(f, formats.WriterOptions{})
	if err != nil {
		return err
	}
	values := [][]byte{[]byte(`{"id":1}`), []byte(`{"id":"x"}`), []byte(`{"id":`), {0xff, 0xfe}, nil}
	for i, v := range values {
		m := formats.Message{Topic: "bad", Partition: 3, Offset: int64(100 + i), Timestamp: time.UnixMilli(1714557600000 + int64(i)).UTC(), Value: v}
		if i%2 == 1 {
			m.Key = []byte{byte(i), 0}
		}
		_, derr := dec.Decode(context.Background(), &m)
		if derr == nil {
			continue
		}
		if err := w.Write(&m, derr); err != nil {
			return err
		}
		row := map[string]any{"topic": "bad", "partition": 3, "offset": 100 + i, "timestamp": m.Timestamp.UnixMicro(), "error": derr.Error(), "key": nil, "value": nil}
		if m.Key != nil {
			row["key"] = base64.StdEncoding.EncodeToString(m.Key)
		}
		if v != nil {
			row["value"] = base64.StdEncoding.EncodeToString(v)
		}
		expected["deadletter"] = append(expected["deadletter"], row)
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}
