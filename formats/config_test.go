package formats

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// pipelineFormat is how the loader embeds Config: inline, beside its own
// keys, decoded with KnownFields(true).
type pipelineFormat struct {
	Config  `yaml:",inline"`
	OnError string `yaml:"on_error"`
}

func decodeFormat(t *testing.T, text string) (pipelineFormat, error) {
	t.Helper()
	var pf pipelineFormat
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	err := dec.Decode(&pf)
	return pf, err
}

func TestConfigYAML(t *testing.T) {
	pf, err := decodeFormat(t, `
type: json
on_error: dead_letter
json:
  schema:
    - {name: user_id, type: int64, required: true}
    - {name: price, type: "decimal(10,2)"}
    - {name: tags, type: "list<string>"}
    - {name: event_time, type: timestamp, format: epoch_ms}
schema:
  compatibility: backward
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := pf.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := NewDecoder(pf.Config, DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Schema().String(); got != "<user_id!:int64,price:decimal(10,2),tags:list<string>,event_time:timestamp>" {
		t.Errorf("schema = %s", got)
	}
	// A misspelt key is the YAML decoder's error, with its line.
	if _, err := decodeFormat(t, "type: csv\ncsv:\n  delimeter: ';'\n"); err == nil || !strings.Contains(err.Error(), "line 3: field delimeter not found") {
		t.Errorf("misspelt key: %v", err)
	}
	if _, err := decodeFormat(t, "type: json\njson:\n  schema:\n    - {name: a, typ: int64}\n"); err == nil || !strings.Contains(err.Error(), "field typ not found") {
		t.Errorf("misspelt field spec key: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // every line, joined by "\n"
	}{
		{"zero is json inferred", Config{}, ""},
		{"unknown type", Config{Type: "xml"}, `format.type: unknown format "xml" (want json, csv, avro or raw)`},
		{"bad field type", Config{JSON: JSONConfig{Schema: []FieldSpec{{Name: "a", Type: "int65"}}}},
			`format.json.schema[0] (a).type: formats: type "int65" at offset 0: unknown type "int65" (want boolean, int32, int64, float, double, string, binary, date, timestamp, decimal(p,s), list<T>, map<string,T> or struct<...>)`},
		{"decimal range", Config{JSON: JSONConfig{Schema: []FieldSpec{{Name: "p", Type: "decimal(40,2)"}}}},
			`format.json.schema[0] (p).type: formats: type "decimal(40,2)" at offset 13: decimal precision 40 out of range 1..38`},
		{"format on a non-timestamp", Config{JSON: JSONConfig{Schema: []FieldSpec{{Name: "a", Type: "int64", Format: "epoch_ms"}}}},
			`format.json.schema[0] (a).format: only for timestamp fields, this one is int64`},
		{"duplicate and missing", Config{JSON: JSONConfig{Schema: []FieldSpec{{Name: "a", Type: "int64"}, {Name: "a", Type: "string"}, {Type: "string"}, {Name: "b"}}}},
			"format.json.schema[1] (a).name: field \"a\" appears twice\nformat.json.schema[2].name: missing\nformat.json.schema[3] (b).type: missing"},
		{"both schema and file", Config{JSON: JSONConfig{Schema: []FieldSpec{{Name: "a", Type: "int64"}}, SchemaFile: "x.yaml"}},
			"format.json.schema_file: give schema or schema_file, not both"},
		{"timestamps with schema", Config{JSON: JSONConfig{Schema: []FieldSpec{{Name: "a", Type: "int64"}}, Timestamps: map[string]string{"a": "epoch_ms"}}},
			"format.json.timestamps: only for an inferred schema; declare format: on the schema's fields instead"},
		{"bad timestamp format", Config{JSON: JSONConfig{Timestamps: map[string]string{"at": "epoch_ns"}}},
			`format.json.timestamps.at: unknown time format "epoch_ns" (want rfc3339, epoch_s, epoch_ms or epoch_us)`},
		{"avro needs a schema", Config{Type: TypeAvro}, "format.avro.schema: give schema, schema_file or registry_url"},
		{"avro bad registry", Config{Type: TypeAvro, Avro: AvroConfig{RegistryURL: "localhost:8081"}},
			`format.avro.registry_url: want an http:// or https:// URL, got "localhost:8081"`},
		{"raw as", Config{Type: TypeRaw, Raw: RawConfig{As: "text"}}, `format.raw.as: unknown representation "text" (want bytes or string)`},
		{"csv duplicate column", Config{Type: TypeCSV, CSV: CSVConfig{Columns: []string{"a", "a", ""}}},
			"format.csv.columns[1]: column \"a\" appears twice\nformat.csv.columns[2]: empty column name"},
		{"options of another type", Config{Type: TypeRaw, CSV: CSVConfig{Header: true}}, "format.csv: options given but format.type is raw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestSchemaFile: CompileFiles reads and parses a schema file once (a
// relative path in the given folder); each problem with the file is one
// line naming the key and the file; Compiled.NewDecoder reads no file.
func TestSchemaFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("f.yaml", "- {name: a, type: int64, required: true}\n- {name: b, type: \"map<string,list<double>>\"}\n")
	c, err := Config{JSON: JSONConfig{SchemaFile: "f.yaml"}}.CompileFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SchemaFile(); got != filepath.Join(dir, "f.yaml") {
		t.Errorf("SchemaFile() = %q", got)
	}
	if err := os.Remove(filepath.Join(dir, "f.yaml")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // every decoder from the one parse, the file gone
		d, err := c.NewDecoder(DecoderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Schema().String(); got != "<a!:int64,b:map<string,list<double>>>" {
			t.Errorf("schema = %s", got)
		}
	}
	if _, err := (Config{JSON: JSONConfig{SchemaFile: "f.yaml"}}).Compile(); err != nil {
		t.Fatalf("Compile reads no file: %v", err)
	}

	write("bad.yaml", "- {name: a, kind: int64}\n")
	write("badtype.yaml", "- {name: a, type: varchar}\n")
	write("nested.yaml", "- {name: b, type: \"list<int64>\"}\n")
	write("empty.yaml", "")
	write("bad.avsc", `{"type": "record", "name": "r", "fields": [{"name": "a", "type": "nope"}]}`)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Type: TypeCSV, CSV: CSVConfig{SchemaFile: "bad.yaml"}},
			"format.csv.schema_file: " + filepath.Join(dir, "bad.yaml") + ": not a YAML list of fields ({name: ..., type: ...}): line 1: field kind not found in type formats.FieldSpec"},
		{Config{JSON: JSONConfig{SchemaFile: "missing.yaml"}},
			"format.json.schema_file: open " + filepath.Join(dir, "missing.yaml") + ": no such file or directory"},
		{Config{Type: TypeCSV, CSV: CSVConfig{SchemaFile: "badtype.yaml"}},
			"format.csv.schema_file: " + filepath.Join(dir, "badtype.yaml") + ": [0] (a).type: "},
		{Config{Type: TypeCSV, CSV: CSVConfig{SchemaFile: "nested.yaml"}},
			"format.csv.schema_file: " + filepath.Join(dir, "nested.yaml") + ": column b is list<int64>; CSV columns must be primitive types"},
		{Config{JSON: JSONConfig{SchemaFile: "empty.yaml"}},
			"format.json.schema_file: " + filepath.Join(dir, "empty.yaml") + ": no fields"},
		{Config{Type: TypeAvro, Avro: AvroConfig{SchemaFile: "bad.avsc"}},
			"format.avro.schema_file: " + filepath.Join(dir, "bad.avsc") + ": bad Avro schema: "},
	} {
		_, err := tc.cfg.CompileFiles(dir)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("CompileFiles(%+v) = %v\nwant %s...", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("a schema file's problem takes more than one line: %q", err)
		}
	}

	// A Compiled from Compile has not read the file: its decoders refuse.
	c, err = Config{Type: TypeAvro, Avro: AvroConfig{SchemaFile: "bad.avsc"}}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewDecoder(DecoderOptions{}); err == nil || !strings.Contains(err.Error(), "format.avro.schema_file: bad.avsc was not read") {
		t.Errorf("decoder of an unread schema file: %v", err)
	}
}

func TestParseType(t *testing.T) {
	for _, s := range []string{"boolean", "int32", "int64", "float", "double", "string", "binary", "date", "timestamp", "decimal(38,10)",
		"list<list<string>>", "map<string,struct<a!:int64,b:list<date>>>", "struct<x:decimal(5,0)>"} {
		ty, err := ParseType(s)
		if err != nil {
			t.Errorf("ParseType(%q): %v", s, err)
			continue
		}
		if ty.String() != s {
			t.Errorf("ParseType(%q).String() = %q", s, ty)
		}
	}
	for s, want := range map[string]string{
		"map<int64,string>":   `formats: type "map<int64,string>" at offset 9: map keys must be string, got int64`,
		"list<string":         `formats: type "list<string" at offset 11: expected '>', got the end`,
		"struct<a:int64,a:x>": `formats: type "struct<a:int64,a:x>" at offset 17: unknown type "x" (want boolean, int32, int64, float, double, string, binary, date, timestamp, decimal(p,s), list<T>, map<string,T> or struct<...>)`,
		"decimal(5,6)":        `formats: type "decimal(5,6)" at offset 12: decimal scale 6 greater than precision 5`,
		"int64 extra":         `formats: type "int64 extra" at offset 6: unexpected "extra" after the type`,
	} {
		if _, err := ParseType(s); err == nil || err.Error() != want {
			t.Errorf("ParseType(%q) = %v\nwant %s", s, err, want)
		}
	}
}
