package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Format types accepted in Config.Type.
const (
	TypeJSON = "json"
	TypeCSV  = "csv"
	TypeAvro = "avro"
	TypeRaw  = "raw"
)

// Raw value representations accepted in RawConfig.As.
const (
	RawBytes  = "bytes"
	RawString = "string"
)

// Compatibility is the schema-evolution policy (the names Kafka Connect
// uses for schema.compatibility).
type Compatibility string

const (
	// CompatNone starts a new file whenever a row's schema differs from the
	// open file's schema.
	CompatNone Compatibility = "none"
	// CompatBackward widens the file schema: columns a row adds are appended
	// as nullable columns (a new file with the merged schema is started),
	// rows with older schemas are projected onto the merged schema (missing
	// columns null), numeric types widen (int32 -> int64 -> double, float ->
	// double). Any other type change is a *SchemaError.
	CompatBackward Compatibility = "backward"
)

// DefaultInferRows is how many messages a JSON decoder without a schema
// samples to infer one, unless JSONConfig.InferRows says otherwise.
const DefaultInferRows = 1000

// Config is the pipeline's `format:` section. It is meant to be embedded
// inline in the pipeline spec and decoded with yaml KnownFields(true):
//
//	format:
//	  type: json                  # json | csv | avro | raw
//	  json:
//	    schema:                   # or schema_file: fields.yaml; or neither to infer
//	      - {name: user_id, type: int64, required: true}
//	      - {name: price, type: "decimal(10,2)"}
//	      - {name: tags, type: "list<string>"}
//	      - {name: event_time, type: timestamp, format: epoch_ms}
//	    infer_rows: 1000
//	    widen_to_string: false
//	  schema:
//	    compatibility: backward   # none (default) | backward
//
// The zero Config is type json with an inferred schema. Call Validate to
// check it; NewDecoder applies defaults and validates again.
type Config struct {
	// Type is json (default), csv, avro or raw.
	Type string `yaml:"type"`
	// JSON options, for type json.
	JSON JSONConfig `yaml:"json"`
	// CSV options, for type csv.
	CSV CSVConfig `yaml:"csv"`
	// Avro options, for type avro.
	Avro AvroConfig `yaml:"avro"`
	// Raw options, for type raw.
	Raw RawConfig `yaml:"raw"`
	// Schema holds the schema-evolution policy.
	Schema SchemaPolicy `yaml:"schema"`
}

// SchemaPolicy is `format.schema`.
type SchemaPolicy struct {
	// Compatibility is none (default) or backward.
	Compatibility Compatibility `yaml:"compatibility"`
}

// FieldSpec is one column as users write it in YAML:
// {name: user_id, type: int64, required: true}. Type uses the syntax of
// [ParseType]; Format is the TimeFormat of a timestamp field (rfc3339,
// epoch_s, epoch_ms, epoch_us).
type FieldSpec struct {
	Name     string `yaml:"name"`
	Type     string `yaml:"type"`
	Required bool   `yaml:"required"`
	Format   string `yaml:"format"`
}

// JSONConfig is `format.json`: one JSON object per message.
type JSONConfig struct {
	// Schema is the list of columns. Fields the schema does not name are
	// ignored; a value of the wrong type is a decode error.
	Schema []FieldSpec `yaml:"schema"`
	// SchemaFile is a YAML file holding the same list; exclusive with Schema.
	SchemaFile string `yaml:"schema_file"`
	// InferRows is how many messages the loader samples to infer a schema
	// when neither Schema nor SchemaFile is given (DecoderOptions.Sample);
	// default 1000. Fields first seen later extend the schema (see
	// Compatibility).
	InferRows int `yaml:"infer_rows"`
	// WidenToString lets inference widen a field seen with conflicting
	// types to string (the JSON text of the value). Off by default: a
	// conflict that numeric widening can't resolve is then an error.
	WidenToString bool `yaml:"widen_to_string"`
	// Timestamps declares, for an inferred schema, fields read as
	// timestamps and their format: {event_time: epoch_ms}.
	Timestamps map[string]string `yaml:"timestamps"`
}

// CSVConfig is `format.csv`: one CSV record per message.
type CSVConfig struct {
	// Delimiter is one character; default ",".
	Delimiter string `yaml:"delimiter"`
	// Quote is one character; default `"`. A quote inside a quoted field is
	// doubled.
	Quote string `yaml:"quote"`
	// Header says that messages holding the header line (the column names)
	// appear in the stream; they decode to no row.
	Header bool `yaml:"header"`
	// Columns names the columns, all of type string. Give Columns, or
	// Schema / SchemaFile for typed columns.
	Columns []string `yaml:"columns"`
	// Schema is the list of typed columns, in record order.
	Schema []FieldSpec `yaml:"schema"`
	// SchemaFile is a YAML file holding the same list.
	SchemaFile string `yaml:"schema_file"`
	// NullValue is the text of a null field; default "" (an empty field
	// is null). A quoted field is never null. (The key is not "null": YAML
	// reads a bare null key as a null, not as a name.)
	NullValue string `yaml:"null_value"`
}

// AvroConfig is `format.avro`.
type AvroConfig struct {
	// Schema is the writer schema as Avro JSON, for plain Avro binary
	// values.
	Schema string `yaml:"schema"`
	// SchemaFile is an .avsc file; exclusive with Schema.
	SchemaFile string `yaml:"schema_file"`
	// RegistryURL is a Confluent Schema Registry base URL. Values are then
	// in the Confluent wire format (magic byte 0, 4-byte big-endian schema
	// id, Avro binary); schemas are fetched by id and cached.
	RegistryURL string `yaml:"registry_url"`
}

// RawConfig is `format.raw`: the value in one column named "value".
type RawConfig struct {
	// As is bytes (default; a binary column) or string (UTF-8 checked).
	As string `yaml:"as"`
}

// WithDefaults returns c with every unset option at its default.
func (c Config) WithDefaults() Config {
	if c.Type == "" {
		c.Type = TypeJSON
	}
	if c.Schema.Compatibility == "" {
		c.Schema.Compatibility = CompatNone
	}
	if c.JSON.InferRows == 0 {
		c.JSON.InferRows = DefaultInferRows
	}
	if c.CSV.Delimiter == "" {
		c.CSV.Delimiter = ","
	}
	if c.CSV.Quote == "" {
		c.CSV.Quote = `"`
	}
	if c.Raw.As == "" {
		c.Raw.As = RawBytes
	}
	return c
}

// Validate checks c (after defaults) without reading files. It returns
// every problem found, joined; each names its key as
// "format.<section>.<key>: ...".
func (c Config) Validate() error {
	_, err := c.Compile()
	return err
}

// Compiled is a Config with defaults applied and validated, with its
// declared schema parsed once: what decoders are built from, so nothing is
// parsed or validated again per worker.
type Compiled struct {
	cfg Config
	// fields is the declared json.schema or csv.schema (or, once read, its
	// schema_file), parsed.
	fields []Field
	// avro is the avro.schema (or, once read, its schema_file), parsed.
	avro *avroCodec
	// schemaFile is the schema file read by CompileFiles, its path
	// resolved; "" when none was read.
	schemaFile string
}

// SchemaFile returns the path of the schema file CompileFiles read and
// parsed (relative names resolved in its dir), or "" if the configuration
// names none or the Compiled came from Compile. A watcher that reloads the
// configuration when files change watches this one too.
func (c *Compiled) SchemaFile() string { return c.schemaFile }

// namedSchemaFile returns the schema_file the configuration names and its
// key, or "" when it names none.
func (c Config) namedSchemaFile() (path, key string) {
	switch c.Type {
	case TypeJSON:
		return c.JSON.SchemaFile, "json.schema_file"
	case TypeCSV:
		return c.CSV.SchemaFile, "csv.schema_file"
	case TypeAvro:
		return c.Avro.SchemaFile, "avro.schema_file"
	}
	return "", ""
}

// CompileFiles is Compile that also reads and parses the schema file the
// configuration names (json.schema_file, csv.schema_file or
// avro.schema_file; a relative path is taken in dir, or in the working
// directory when dir is empty), once, so that decoders read no file and a
// bad schema file is an error here rather than when the first decoder is
// made. Each problem with the file is one line, "format.<section>
// .schema_file: <path>: ...".
func (c Config) CompileFiles(dir string) (*Compiled, error) {
	out, err := c.Compile()
	if err != nil {
		return nil, err
	}
	path, key := out.cfg.namedSchemaFile()
	if path == "" {
		return out, nil
	}
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	switch out.cfg.Type {
	case TypeJSON, TypeCSV:
		fields, err := readFieldSpecs(path, key)
		if err == nil && out.cfg.Type == TypeCSV {
			err = csvPrimitive(fields, "format."+key+": "+path)
		}
		if err != nil {
			return nil, err
		}
		out.fields = fields
	case TypeAvro:
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("format.%s: %w", key, err)
		}
		codec, err := newAvroCodec(string(b))
		if err != nil {
			return nil, fmt.Errorf("format.%s: %s: %s", key, path, oneLine(err.Error()))
		}
		out.avro = codec
	}
	out.schemaFile = path
	return out, nil
}

// errSchemaFileUnread is NewDecoder's answer for a Compiled that names a
// schema file Compile did not read.
func (c *Compiled) errSchemaFileUnread() error {
	path, key := c.cfg.namedSchemaFile()
	return fmt.Errorf("format.%s: %s was not read: compile the configuration with CompileFiles", key, path)
}

// csvPrimitive checks that every CSV column is of a primitive type; where
// names the schema in the error ("format.csv.schema").
func csvPrimitive(fields []Field, where string) error {
	var errs []error
	for _, f := range fields {
		if !isPrimitive(f.Type.Kind) {
			errs = append(errs, fmt.Errorf("%s: column %s is %s; CSV columns must be primitive types", where, f.Name, f.Type))
		}
	}
	return errors.Join(errs...)
}

// Config returns the configuration, defaults applied.
func (c *Compiled) Config() Config { return c.cfg }

// Compile applies defaults, checks c without reading files (every problem
// found, joined; each names its key as "format.<section>.<key>: ...") and
// parses the declared schema.
func (c Config) Compile() (*Compiled, error) {
	c = c.WithDefaults()
	out := &Compiled{cfg: c}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("format.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch c.Type {
	case TypeJSON, TypeCSV, TypeAvro, TypeRaw:
	default:
		bad("type", "unknown format %q (want json, csv, avro or raw)", c.Type)
	}
	switch c.Schema.Compatibility {
	case CompatNone, CompatBackward:
	default:
		bad("schema.compatibility", "unknown policy %q (want none or backward)", c.Schema.Compatibility)
	}
	// Options of another type are a mistake worth naming.
	if c.Type != TypeJSON && !isZeroJSON(c.JSON) {
		bad("json", "options given but format.type is %s", c.Type)
	}
	if c.Type != TypeCSV && !isZeroCSV(c.CSV) {
		bad("csv", "options given but format.type is %s", c.Type)
	}
	if c.Type != TypeAvro && c.Avro != (AvroConfig{}) {
		bad("avro", "options given but format.type is %s", c.Type)
	}
	if c.Type != TypeRaw && c.Raw.As != RawBytes {
		bad("raw", "options given but format.type is %s", c.Type)
	}
	switch c.Type {
	case TypeJSON:
		j := c.JSON
		if len(j.Schema) > 0 && j.SchemaFile != "" {
			bad("json.schema_file", "give schema or schema_file, not both")
		}
		if j.InferRows < 1 {
			bad("json.infer_rows", "must be at least 1, got %d", j.InferRows)
		}
		fields, err := fieldsFromSpecs(j.Schema, "json.schema")
		if err != nil {
			errs = append(errs, err)
		}
		if len(j.Schema) > 0 {
			out.fields = fields
		}
		for name, f := range j.Timestamps {
			if !validTimeFormat(f) {
				bad("json.timestamps."+name, "unknown time format %q (want rfc3339, epoch_s, epoch_ms or epoch_us)", f)
			}
		}
		if (len(j.Schema) > 0 || j.SchemaFile != "") && len(j.Timestamps) > 0 {
			bad("json.timestamps", "only for an inferred schema; declare format: on the schema's fields instead")
		}
	case TypeCSV:
		s := c.CSV
		if !csvChar(s.Delimiter) {
			bad("csv.delimiter", "must be one ASCII character other than a line break, got %q", s.Delimiter)
		}
		if !csvChar(s.Quote) || s.Quote == s.Delimiter {
			bad("csv.quote", "must be one ASCII character other than the delimiter and a line break, got %q", s.Quote)
		}
		n := 0
		for _, given := range []bool{len(s.Columns) > 0, len(s.Schema) > 0, s.SchemaFile != ""} {
			if given {
				n++
			}
		}
		switch {
		case n == 0:
			bad("csv.columns", "give columns, schema or schema_file (a header line alone is not enough: a loader resuming mid-topic never sees it)")
		case n > 1:
			bad("csv.columns", "give only one of columns, schema and schema_file")
		}
		seen := map[string]bool{}
		for i, name := range s.Columns {
			if name == "" {
				bad(fmt.Sprintf("csv.columns[%d]", i), "empty column name")
			} else if seen[name] {
				bad(fmt.Sprintf("csv.columns[%d]", i), "column %q appears twice", name)
			}
			seen[name] = true
		}
		fields, err := fieldsFromSpecs(s.Schema, "csv.schema")
		if err == nil {
			err = csvPrimitive(fields, "format.csv.schema")
		}
		if err != nil {
			errs = append(errs, err)
		}
		if len(s.Schema) > 0 {
			out.fields = fields
		}
	case TypeAvro:
		a := c.Avro
		if a.Schema != "" && a.SchemaFile != "" {
			bad("avro.schema_file", "give schema or schema_file, not both")
		}
		if a.Schema == "" && a.SchemaFile == "" && a.RegistryURL == "" {
			bad("avro.schema", "give schema, schema_file or registry_url")
		}
		if (a.Schema != "" || a.SchemaFile != "") && a.RegistryURL != "" {
			bad("avro.registry_url", "give a schema or a registry_url, not both")
		}
		if a.Schema != "" {
			codec, err := newAvroCodec(a.Schema)
			if err != nil {
				bad("avro.schema", "%v", err)
			}
			out.avro = codec
		}
		if a.RegistryURL != "" {
			if err := checkRegistryURL(a.RegistryURL); err != nil {
				bad("avro.registry_url", "%v", err)
			}
		}
	case TypeRaw:
		if c.Raw.As != RawBytes && c.Raw.As != RawString {
			bad("raw.as", "unknown representation %q (want bytes or string)", c.Raw.As)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func isZeroJSON(j JSONConfig) bool {
	return len(j.Schema) == 0 && j.SchemaFile == "" && (j.InferRows == 0 || j.InferRows == DefaultInferRows) &&
		!j.WidenToString && len(j.Timestamps) == 0
}

func isZeroCSV(s CSVConfig) bool {
	return (s.Delimiter == "" || s.Delimiter == ",") && (s.Quote == "" || s.Quote == `"`) && !s.Header &&
		len(s.Columns) == 0 && len(s.Schema) == 0 && s.SchemaFile == "" && s.NullValue == ""
}

func csvChar(s string) bool {
	return len(s) == 1 && s[0] < utf8.RuneSelf && s[0] != '\n' && s[0] != '\r'
}

func validTimeFormat(f string) bool {
	switch f {
	case TimeRFC3339, TimeEpochS, TimeEpochMS, TimeEpochUS:
		return true
	}
	return false
}

// fieldsFromSpecs turns YAML field specs into fields; key names the list in
// errors ("json.schema").
func fieldsFromSpecs(specs []FieldSpec, key string) ([]Field, error) {
	return fieldsAt(specs, "format."+key)
}

// fieldsAt is fieldsFromSpecs with errors starting with prefix and the
// field's index, as "<prefix>[2] (user_id).type: ...".
func fieldsAt(specs []FieldSpec, prefix string) ([]Field, error) {
	var errs []error
	fields := make([]Field, 0, len(specs))
	seen := map[string]bool{}
	for i, s := range specs {
		at := fmt.Sprintf("%s[%d]", prefix, i)
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: missing", at))
			continue
		}
		at = fmt.Sprintf("%s[%d] (%s)", prefix, i, s.Name)
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s.name: field %q appears twice", at, s.Name))
			continue
		}
		seen[s.Name] = true
		if s.Type == "" {
			errs = append(errs, fmt.Errorf("%s.type: missing", at))
			continue
		}
		t, err := ParseType(s.Type)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.type: %w", at, err))
			continue
		}
		if s.Format != "" {
			if t.Kind != KindTimestamp {
				errs = append(errs, fmt.Errorf("%s.format: only for timestamp fields, this one is %s", at, t))
				continue
			}
			if !validTimeFormat(s.Format) {
				errs = append(errs, fmt.Errorf("%s.format: unknown time format %q (want rfc3339, epoch_s, epoch_ms or epoch_us)", at, s.Format))
				continue
			}
		}
		fields = append(fields, Field{Name: s.Name, Type: t, Required: s.Required, TimeFormat: s.Format})
	}
	return fields, errors.Join(errs...)
}

// readFieldSpecs reads a schema_file at path: a YAML list of field specs.
// Each problem is one line, "format.<key>: <path>: ...".
func readFieldSpecs(path, key string) ([]Field, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("format.%s: %w", key, err)
	}
	var specs []FieldSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&specs); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msg = strings.Join(te.Errors, "; ")
		}
		return nil, fmt.Errorf("format.%s: %s: not a YAML list of fields ({name: ..., type: ...}): %s", key, path, oneLine(msg))
	}
	fields, err := fieldsAt(specs, "format."+key+": "+path+": ")
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("format.%s: %s: no fields", key, path)
	}
	return fields, nil
}

// oneLine joins the lines of a message with "; ".
func oneLine(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}
