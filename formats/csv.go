package formats

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"unicode/utf8"
)

// csvDecoder decodes one CSV record per message. A quoted field may hold
// delimiters, line breaks and doubled quotes; a quoted field never equals
// the null marker (so "" quoted is an empty string even when the null
// marker is empty).
type csvDecoder struct {
	delim, quote byte
	header       bool
	null         string
	schema       *Schema

	slab   slab
	fields []csvField
	buf    []byte
}

type csvField struct {
	text   []byte
	quoted bool
}

func newCSVDecoder(compiled *Compiled, opts DecoderOptions) (*csvDecoder, error) {
	c := compiled.cfg.CSV
	d := &csvDecoder{delim: c.Delimiter[0], quote: c.Quote[0], header: c.Header, null: c.NullValue}
	var fields []Field
	switch {
	case len(c.Columns) > 0:
		for _, name := range c.Columns {
			fields = append(fields, Field{Name: name, Type: StringType})
		}
	case c.SchemaFile != "" && compiled.schemaFile == "":
		return nil, compiled.errSchemaFileUnread()
	default: // schema or schema_file, parsed and checked by Compile(Files)
		fields = slices.Clone(compiled.fields) // each decoder owns its schema
	}
	d.schema = NewSchema(fields...)
	return d, nil
}

func (d *csvDecoder) Schema() *Schema { return d.schema }

func (d *csvDecoder) Decode(_ context.Context, m *Message) (*Row, error) {
	if m.Value == nil {
		return nil, decodeErr(TypeCSV, m, "", "value is null (a tombstone), not a CSV record")
	}
	d.buf = d.slab.buf(len(m.Value))
	if err := d.split(m.Value); err != nil {
		return nil, decodeErr(TypeCSV, m, "", "%v", err)
	}
	s := d.schema
	if len(d.fields) != len(s.Fields) {
		if len(d.fields) == 1 && len(d.fields[0].text) == 0 && !d.fields[0].quoted {
			return nil, decodeErr(TypeCSV, m, "", "empty record, want %d fields", len(s.Fields))
		}
		return nil, decodeErr(TypeCSV, m, "", "record has %d fields, want %d (%s)", len(d.fields), len(s.Fields), columnList(s))
	}
	if d.header && d.isHeader() {
		return nil, nil
	}
	row := d.slab.row(s, m, len(s.Fields))
	for i := range s.Fields {
		f := &s.Fields[i]
		cf := d.fields[i]
		if !cf.quoted && string(cf.text) == d.null {
			if f.Required {
				return nil, decodeErr(TypeCSV, m, f.Name, "required but null (%q)", d.null)
			}
			continue
		}
		v, err := d.convert(f, cf.text)
		if err != nil {
			return nil, decodeErr(TypeCSV, m, f.Name, "%v", err)
		}
		row.Values[i] = v
	}
	return row, nil
}

func columnList(s *Schema) string {
	var b bytes.Buffer
	for i, f := range s.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 8 && len(s.Fields) > 10 {
			fmt.Fprintf(&b, "... %d more", len(s.Fields)-8)
			break
		}
		b.WriteString(f.Name)
	}
	return b.String()
}

func (d *csvDecoder) isHeader() bool {
	for i, f := range d.schema.Fields {
		if string(d.fields[i].text) != f.Name {
			return false
		}
	}
	return true
}

// split cuts one record into fields. Field texts alias b (unquoted) or
// d.buf (quoted, with doubled quotes undone).
func (d *csvDecoder) split(b []byte) error {
	d.fields = d.fields[:0]
	// One trailing line break ends the record.
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
		if end > 0 && b[end-1] == '\r' {
			end--
		}
	}
	i := 0
	for {
		if i < end && b[i] == d.quote {
			start := len(d.buf)
			i++
			closed := false
			for i < end {
				c := b[i]
				if c == d.quote {
					if i+1 < end && b[i+1] == d.quote {
						d.buf = append(d.buf, d.quote)
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				d.buf = append(d.buf, c)
				i++
			}
			if !closed {
				return fmt.Errorf("field %d: quoted field not closed", len(d.fields)+1)
			}
			d.fields = append(d.fields, csvField{text: d.buf[start:len(d.buf):len(d.buf)], quoted: true})
			if i == end {
				return nil
			}
			if b[i] != d.delim {
				return fmt.Errorf("field %d: unexpected %q after the closing quote at byte %d", len(d.fields), b[i], i)
			}
			i++
			continue
		}
		start := i
		for i < end && b[i] != d.delim {
			switch b[i] {
			case '\n', '\r':
				return fmt.Errorf("line break at byte %d outside quotes: one message must hold one record", i)
			case d.quote:
				return fmt.Errorf("field %d: quote %q inside an unquoted field at byte %d", len(d.fields)+1, d.quote, i)
			}
			i++
		}
		d.fields = append(d.fields, csvField{text: b[start:i:i]})
		if i == end {
			return nil
		}
		i++ // the delimiter
		if i == end {
			d.fields = append(d.fields, csvField{text: b[i:i:i]})
			return nil
		}
	}
}

func (d *csvDecoder) convert(f *Field, text []byte) (Value, error) {
	s := str(text) // not kept: parsers read it, errors copy it
	switch f.Type.Kind {
	case KindString:
		if !utf8.Valid(text) {
			return Value{}, fmt.Errorf("invalid UTF-8 at byte %d of the field", invalidUTF8At(text))
		}
		return StringValue(d.copyBytes(text)), nil
	case KindBinary:
		b, err := decodeBase64Text(s)
		if err != nil {
			return Value{}, err
		}
		return BinaryValue(b), nil
	case KindBoolean:
		b, err := parseBoolText(s)
		return BooleanValue(b), err
	case KindInt32:
		n, err := parseInt32Text(s)
		return Int32Value(n), err
	case KindInt64:
		n, err := parseInt64Text(s)
		return Int64Value(n), err
	case KindFloat:
		x, err := parseFloatText(s, 32)
		return FloatValue(float32(x)), err
	case KindDouble:
		x, err := parseFloatText(s, 64)
		return DoubleValue(x), err
	case KindDate:
		return parseDateText(s)
	case KindTimestamp:
		return parseTimestampText(s, f.TimeFormat)
	case KindDecimal:
		return parseDecimalText(s, f.Type.Precision, f.Type.Scale)
	}
	return Value{}, fmt.Errorf("cannot decode CSV text into %s", f.Type)
}

// copyBytes copies b into the row's buffer unless it already lives there.
func (d *csvDecoder) copyBytes(b []byte) []byte {
	if len(d.buf)+len(b) > cap(d.buf) {
		return clone(b)
	}
	start := len(d.buf)
	d.buf = append(d.buf, b...)
	return d.buf[start:len(d.buf):len(d.buf)]
}
