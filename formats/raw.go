package formats

import (
	"context"
	"unicode/utf8"
)

// rawDecoder puts the whole value in one column named "value".
type rawDecoder struct {
	asString bool
	schema   *Schema
}

func newRawDecoder(cfg Config) *rawDecoder {
	d := &rawDecoder{asString: cfg.Raw.As == RawString}
	t := BinaryType
	if d.asString {
		t = StringType
	}
	d.schema = NewSchema(Field{Name: "value", Type: t})
	return d
}

func (d *rawDecoder) Schema() *Schema { return d.schema }

func (d *rawDecoder) Decode(_ context.Context, m *Message) (*Row, error) {
	r := newRow(d.schema, m, 1)
	switch {
	case m.Value == nil:
		// A tombstone: null, not an empty value.
	case d.asString:
		if !utf8.Valid(m.Value) {
			return nil, decodeErr(TypeRaw, m, "", "value is not valid UTF-8 at byte %d", invalidUTF8At(m.Value))
		}
		r.Values[0] = StringValue(clone(m.Value))
	default:
		r.Values[0] = BinaryValue(clone(m.Value))
	}
	return r, nil
}
