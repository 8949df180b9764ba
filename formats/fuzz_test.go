package formats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
)

// fuzzDecode decodes value with d; a message must give a row or a
// *DecodeError (never a panic, never another error), and every row must be
// writable to Parquet with the decoder's schema.
func fuzzDecode(t *testing.T, d Decoder, value []byte) {
	m := &Message{Topic: "fuzz", Value: value}
	row, err := d.Decode(context.Background(), m)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("error is not a *DecodeError: %v", err)
		}
		if de.Reason == "" {
			t.Fatalf("DecodeError without a reason: %v", err)
		}
		return
	}
	if row == nil {
		return // a CSV header line
	}
	w, err := NewWriter(io.Discard, row.Schema, WriterOptions{MetaColumns: DefaultMetaColumns()})
	if err != nil {
		t.Fatalf("writer for %s: %v", row.Schema, err)
	}
	if err := w.Write(row); err != nil {
		t.Fatalf("decoded row does not write: %v (row %s, schema %s)", err, StructValue(row.Values...), row.Schema)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"name":"x","tags":["a",null],"attrs":{"k":2},"user":{"uid":1,"langs":[]},"price":"1.25","ts":"2024-05-01T00:00:00Z","day":"2024-01-01","blob":"AA=="}`,
		`{"id":1}`, `{"id":"1"}`, `{`, `[]`, `null`, `{"id":1,"id":2}`, `{"id":1e400}`, `{"price":1e-7}`, "{\"name\":\"\xff\"}",
		`{"id":1,"ts_ms":99999999999999999}`, `{"id":1,"ts_s":-1.5}`, `{"a":{"b":{"c":[[1],[2.5],[]]}}}`,
		`{"id":5,"name":"n","price":1.5,"ts":"2024-05-01T00:00:00.5Z","ts_ms":17,"day":"2024-01-01","blob":"AA==","f":1.5,"n":-3,"ok":true,"x":1e3}`,
		`{"id":5,"extra":{"deep":[1,{"a":null}],"s":"x"},"ok":false}`, ` {"id" : 6 , "n" : 2147483648 } `, `{"id":7,"price":"12.345"}`,
	} {
		f.Add([]byte(s))
	}
	cfg := Config{Type: TypeJSON, JSON: JSONConfig{Schema: []FieldSpec{
		{Name: "id", Type: "int64", Required: true}, {Name: "name", Type: "string"}, {Name: "tags", Type: "list<string>"},
		{Name: "attrs", Type: "map<string,int64>"}, {Name: "user", Type: "struct<uid!:int64,langs:list<string>>"},
		{Name: "price", Type: "decimal(10,2)"}, {Name: "ts", Type: "timestamp"}, {Name: "ts_ms", Type: "timestamp", Format: "epoch_ms"},
		{Name: "ts_s", Type: "timestamp", Format: "epoch_s"}, {Name: "day", Type: "date"}, {Name: "blob", Type: "binary"},
		{Name: "big", Type: "decimal(38,10)"}, {Name: "f", Type: "float"}, {Name: "n", Type: "int32"},
	}}}
	explicit, err := NewDecoder(cfg, DecoderOptions{})
	if err != nil {
		f.Fatal(err)
	}
	// A schema of primitives takes the fast path; a twin with the fast
	// path off must agree with it on every input.
	flat := Config{Type: TypeJSON, JSON: JSONConfig{Schema: []FieldSpec{
		{Name: "id", Type: "int64", Required: true}, {Name: "name", Type: "string"}, {Name: "price", Type: "decimal(10,2)"},
		{Name: "ts", Type: "timestamp"}, {Name: "ts_ms", Type: "timestamp", Format: "epoch_ms"}, {Name: "day", Type: "date"},
		{Name: "blob", Type: "binary"}, {Name: "f", Type: "float"}, {Name: "n", Type: "int32"}, {Name: "ok", Type: "boolean"}, {Name: "x", Type: "double"},
	}}}
	fast, err := NewDecoder(flat, DecoderOptions{})
	if err != nil {
		f.Fatal(err)
	}
	slow, err := NewDecoder(flat, DecoderOptions{})
	if err != nil {
		f.Fatal(err)
	}
	slow.(*jsonDecoder).fast = false
	if !fast.(*jsonDecoder).fast {
		f.Fatal("the flat schema should take the fast path")
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		fuzzDecode(t, explicit, value)
		fuzzDecode(t, fast, value)
		m := &Message{Topic: "fuzz", Value: value}
		r1, e1 := fast.Decode(context.Background(), m)
		r2, e2 := slow.Decode(context.Background(), m)
		if fmt.Sprint(e1) != fmt.Sprint(e2) || (r1 == nil) != (r2 == nil) || r1 != nil && StructValue(r1.Values...).String() != StructValue(r2.Values...).String() {
			t.Fatalf("fast and general paths disagree on %q:\nfast    %v %v\ngeneral %v %v", value, rowString(r1), e1, rowString(r2), e2)
		}
		// A fresh inferring decoder per input, with and without widening.
		for _, widen := range []bool{false, true} {
			d, err := NewDecoder(Config{Type: TypeJSON, JSON: JSONConfig{WidenToString: widen}}, DecoderOptions{Sample: []Message{{Value: value}}})
			if err != nil {
				t.Fatal(err)
			}
			fuzzDecode(t, d, value)
		}
	})
}

func FuzzCSVDecode(f *testing.F) {
	for _, s := range []string{
		"1,plain,1.50,true,1714557600000001,2024-05-01", `2,"quoted, ""q""",-2,false,0,1970-01-01`, `3,\N,\N,\N,\N,\N`,
		"id,name,price,ok,ts,day", "6,short", `11,x"y,1,true,1,2024-05-01`, "\"open,1", "a\nb", "1,2,3,4,5,6\r\n", "",
	} {
		f.Add([]byte(s))
	}
	d, err := NewDecoder(Config{Type: TypeCSV, CSV: CSVConfig{Header: true, NullValue: `\N`, Schema: []FieldSpec{
		{Name: "id", Type: "int64", Required: true}, {Name: "name", Type: "string"}, {Name: "price", Type: "decimal(8,2)"},
		{Name: "ok", Type: "boolean"}, {Name: "ts", Type: "timestamp", Format: "epoch_us"}, {Name: "day", Type: "date"},
	}}}, DecoderOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) { fuzzDecode(t, d, value) })
}

func FuzzAvroDecode(f *testing.F) {
	schema, err := os.ReadFile("testdata/decode/event.avsc")
	if err != nil {
		f.Fatal(err)
	}
	seeds, err := os.ReadFile("testdata/decode/avro_file.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range hexLines(string(seeds)) {
		f.Add(v)
	}
	d, err := NewDecoder(Config{Type: TypeAvro, Avro: AvroConfig{Schema: string(schema)}}, DecoderOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) { fuzzDecode(t, d, value) })
}

func rowString(r *Row) string {
	if r == nil {
		return "<no row>"
	}
	return StructValue(r.Values...).String()
}
