package formats

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// jsonDecoder decodes one JSON object per message with valyala/fastjson,
// driven by the schema (no reflection, no maps per row). Strings of a row
// are copied into one buffer the size of the message.
//
// With an explicit schema, fields the schema does not name are ignored and
// a value of the wrong type is a decode error. Without one, the schema is
// inferred (from DecoderOptions.Sample, then from each message): a field
// seen for the first time is appended as a nullable column, int64 widens
// to double, and, with widen_to_string, conflicting types widen to string;
// each change gives rows a new *Schema.
type jsonDecoder struct {
	log        *slog.Logger
	inferred   bool
	widen      bool
	timestamps map[string]string

	schema *Schema
	index  map[string]int // of schema's top-level fields

	fast  bool // explicit schema of primitives: try decodeFast first
	toks  []jsonTok
	p     fastjson.Parser
	slab  slab
	slots []*fastjson.Value
	buf   []byte // the current row's string bytes
	num   []byte // scratch for number text
}

func newJSONDecoder(c *Compiled, opts DecoderOptions) (*jsonDecoder, error) {
	j := c.cfg.JSON
	d := &jsonDecoder{log: opts.Logger, widen: j.WidenToString, timestamps: j.Timestamps}
	switch {
	case j.SchemaFile != "" && c.schemaFile == "":
		return nil, c.errSchemaFileUnread()
	case len(j.Schema) > 0 || j.SchemaFile != "":
		d.setSchema(NewSchema(slices.Clone(c.fields)...)) // each decoder owns its schema
		d.fast = fastEligible(d.schema)
	default:
		d.inferred = true
		d.setSchema(&Schema{widenToString: d.widen})
		for i := range opts.Sample {
			if i >= j.InferRows {
				break
			}
			m := &opts.Sample[i]
			if err := d.learn(m.Value); err != nil {
				d.log.Debug("json: sample message left out of schema inference", "offset", m.Offset, "err", err)
			}
		}
		if len(d.schema.Fields) > 0 {
			d.log.Info("json: schema inferred", "schema", d.schema.String(), "sample", min(len(opts.Sample), j.InferRows))
		}
	}
	return d, nil
}

func (d *jsonDecoder) setSchema(s *Schema) {
	d.schema = s
	d.index = make(map[string]int, len(s.Fields))
	for i, f := range s.Fields {
		d.index[f.Name] = i
	}
}

func (d *jsonDecoder) Schema() *Schema { return d.schema }

func (d *jsonDecoder) Decode(_ context.Context, m *Message) (*Row, error) {
	if d.fast && m.Value != nil {
		if row, ok := d.decodeFast(m); ok {
			return row, nil
		}
	}
	obj, derr := d.parse(m)
	if derr != nil {
		return nil, derr
	}
	row, err := d.decodeObject(m, obj)
	if err != nil && d.inferred {
		// The row may need a wider schema: learn from it and retry.
		old := d.schema
		if lerr := d.learnObject(obj); lerr != nil {
			var fe *fieldError
			if errors.As(lerr, &fe) {
				return nil, decodeErr(TypeJSON, m, fe.path, "%s", fe.reason)
			}
			return nil, decodeErr(TypeJSON, m, "", "%v", lerr)
		}
		if d.schema != old {
			d.log.Info("json: schema widened", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "schema", d.schema.String())
			row, err = d.decodeObject(m, obj)
		}
	}
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return nil, decodeErr(TypeJSON, m, fe.path, "%s", fe.reason)
		}
		return nil, decodeErr(TypeJSON, m, "", "%v", err)
	}
	return row, nil
}

// parse checks and parses the message value; the object is valid until
// the next parse.
func (d *jsonDecoder) parse(m *Message) (*fastjson.Object, *DecodeError) {
	if m.Value == nil {
		return nil, decodeErr(TypeJSON, m, "", "value is null (a tombstone), not a JSON object")
	}
	// fastjson's parser is lenient (bad escapes, control characters in
	// strings, 1.2.3, nan); its validator is not, but costs a second pass.
	// Messages that are plain ASCII without escapes or control bytes (most
	// machine-written JSON) only need their numbers checked after parsing;
	// the rest go through the validator.
	plain := plainASCII(m.Value)
	if !plain && !utf8.Valid(m.Value) {
		return nil, decodeErr(TypeJSON, m, "", "invalid UTF-8 at byte %d", invalidUTF8At(m.Value))
	}
	v, err := d.p.ParseBytes(m.Value)
	if err == nil {
		if plain {
			err = d.checkNumbers(v, 0)
		} else {
			err = fastjson.ValidateBytes(m.Value)
		}
	}
	if err != nil {
		return nil, decodeErr(TypeJSON, m, "", "invalid JSON: %v", err)
	}
	obj, err := v.Object()
	if err != nil {
		return nil, decodeErr(TypeJSON, m, "", "the value is a JSON %s, not an object", jsonTypeName(v))
	}
	return obj, nil
}

// fieldError is a conversion failure at a field path.
type fieldError struct {
	path   string
	reason string
}

func (e *fieldError) Error() string { return e.path + ": " + e.reason }

func fieldErrf(path, format string, args ...any) *fieldError {
	return &fieldError{path: path, reason: fmt.Sprintf(format, args...)}
}

// within prefixes a child error's path with seg.
func within(seg string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		p := seg
		if fe.path != "" {
			if fe.path[0] == '[' {
				p += fe.path
			} else {
				p += "." + fe.path
			}
		}
		return &fieldError{path: p, reason: fe.reason}
	}
	return err
}

func (d *jsonDecoder) decodeObject(m *Message, obj *fastjson.Object) (*Row, error) {
	s := d.schema
	n := len(s.Fields)
	if cap(d.slots) < n {
		d.slots = make([]*fastjson.Value, n)
	}
	slots := d.slots[:n]
	clear(slots)
	var err error
	next := 0 // fields usually come in schema order: try the next one first
	obj.Visit(func(key []byte, v *fastjson.Value) {
		var i int
		var ok bool
		if next < n && string(key) == s.Fields[next].Name {
			i, ok = next, true
		} else {
			i, ok = d.index[string(key)]
		}
		next = i + 1
		if !ok {
			if d.inferred && err == nil && v.Type() != fastjson.TypeNull {
				if t, _ := d.inferType(v); t != nil {
					err = fieldErrf(string(key), "field not in the inferred schema")
				}
			}
			return
		}
		if slots[i] != nil && err == nil {
			err = fieldErrf(string(key), "appears twice in the object")
		}
		slots[i] = v
	})
	if err != nil {
		return nil, err
	}
	row := d.slab.row(s, m, n)
	d.buf = d.slab.buf(len(m.Value))
	for i := range s.Fields {
		f := &s.Fields[i]
		v, err := d.convert(slots[i], f.Type, !f.Required, f.TimeFormat)
		if err != nil {
			return nil, within(f.Name, err)
		}
		row.Values[i] = v
	}
	return row, nil
}

// bytes copies b into the row's buffer.
func (d *jsonDecoder) bytes(b []byte) []byte {
	if len(d.buf)+len(b) > cap(d.buf) {
		return clone(b)
	}
	start := len(d.buf)
	d.buf = append(d.buf, b...)
	return d.buf[start:len(d.buf):len(d.buf)]
}

func jsonTypeName(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "boolean"
	}
	return v.Type().String()
}

// numText returns a number's literal text (valid until the next call).
func (d *jsonDecoder) numText(v *fastjson.Value) string {
	d.num = v.MarshalTo(d.num[:0])
	return string(d.num)
}

func (d *jsonDecoder) convert(v *fastjson.Value, t *Type, optional bool, timeFormat string) (Value, error) {
	if v == nil || v.Type() == fastjson.TypeNull {
		if !optional {
			if v == nil {
				return Value{}, fieldErrf("", "required but missing")
			}
			return Value{}, fieldErrf("", "required but null")
		}
		return Value{}, nil
	}
	jt := v.Type()
	mismatch := func() (Value, error) {
		return Value{}, fieldErrf("", "expected %s, got %s", t, jsonTypeName(v))
	}
	switch t.Kind {
	case KindBoolean:
		switch jt {
		case fastjson.TypeTrue:
			return BooleanValue(true), nil
		case fastjson.TypeFalse:
			return BooleanValue(false), nil
		}
		return mismatch()
	case KindInt32, KindInt64:
		if jt != fastjson.TypeNumber {
			return mismatch()
		}
		n, err := v.Int64()
		if err != nil {
			txt := d.numText(v)
			if _, ferr := strconv.ParseFloat(txt, 64); ferr == nil && isIntegerLiteral(txt) {
				return Value{}, fieldErrf("", "%s is out of the %s range", txt, t)
			}
			return Value{}, fieldErrf("", "expected %s, got number %s", t, txt)
		}
		if t.Kind == KindInt32 {
			if n < math.MinInt32 || n > math.MaxInt32 {
				return Value{}, fieldErrf("", "%d is out of the int32 range", n)
			}
			return Int32Value(int32(n)), nil
		}
		return Int64Value(n), nil
	case KindFloat, KindDouble:
		if jt != fastjson.TypeNumber {
			return mismatch()
		}
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return Value{}, fieldErrf("", "%s is out of the %s range", d.numText(v), t)
		}
		if t.Kind == KindFloat {
			if math.Abs(f) > math.MaxFloat32 {
				return Value{}, fieldErrf("", "%s is out of the float range", d.numText(v))
			}
			return FloatValue(float32(f)), nil
		}
		return DoubleValue(f), nil
	case KindString:
		if jt == fastjson.TypeString {
			b, _ := v.StringBytes()
			return StringValue(d.bytes(b)), nil
		}
		if d.inferred && d.widen {
			// widen_to_string: the JSON text of the value.
			start := len(d.buf)
			d.buf = v.MarshalTo(d.buf)
			return StringValue(d.buf[start:len(d.buf):len(d.buf)]), nil
		}
		return mismatch()
	case KindBinary:
		if jt != fastjson.TypeString {
			return mismatch()
		}
		b, _ := v.StringBytes()
		out, err := decodeBase64Text(string(b))
		if err != nil {
			return Value{}, fieldErrf("", "%v", err)
		}
		return BinaryValue(out), nil
	case KindDate:
		if jt != fastjson.TypeString {
			return mismatch()
		}
		b, _ := v.StringBytes()
		out, err := parseDateText(string(b))
		if err != nil {
			return Value{}, fieldErrf("", "%v", err)
		}
		return out, nil
	case KindTimestamp:
		var text string
		switch timeFormat {
		case "", TimeRFC3339:
			if jt != fastjson.TypeString {
				return Value{}, fieldErrf("", "expected an RFC 3339 timestamp string, got %s", jsonTypeName(v))
			}
			b, _ := v.StringBytes()
			us, ok := fastRFC3339(string(b))
			if ok {
				return TimestampMicros(us), nil
			}
			text = string(b)
		default:
			if jt != fastjson.TypeNumber {
				return Value{}, fieldErrf("", "expected a number (%s), got %s", timeFormat, jsonTypeName(v))
			}
			text = d.numText(v)
		}
		out, err := parseTimestampText(text, timeFormat)
		if err != nil {
			return Value{}, fieldErrf("", "%v", err)
		}
		return out, nil
	case KindDecimal:
		var text []byte
		switch jt {
		case fastjson.TypeNumber:
			d.num = v.MarshalTo(d.num[:0])
			text = d.num
		case fastjson.TypeString:
			text, _ = v.StringBytes()
		default:
			return mismatch()
		}
		if out, ok := smallDecimal(text, t.Precision, t.Scale); ok {
			return out, nil
		}
		out, err := parseDecimalText(string(text), t.Precision, t.Scale)
		if err != nil {
			return Value{}, fieldErrf("", "%v", err)
		}
		return out, nil
	case KindList:
		if jt != fastjson.TypeArray {
			return mismatch()
		}
		arr, _ := v.Array()
		elems := make([]Value, len(arr))
		for i, e := range arr {
			ev, err := d.convert(e, t.Elem, true, "")
			if err != nil {
				return Value{}, within("["+strconv.Itoa(i)+"]", err)
			}
			elems[i] = ev
		}
		return ListValue(elems...), nil
	case KindMap:
		if jt != fastjson.TypeObject {
			return mismatch()
		}
		o, _ := v.Object()
		kv := make([]Value, 0, 2*o.Len())
		var err error
		o.Visit(func(key []byte, e *fastjson.Value) {
			if err != nil {
				return
			}
			ev, cerr := d.convert(e, t.Elem, true, "")
			if cerr != nil {
				err = within(string(key), cerr)
				return
			}
			kv = append(kv, StringValue(d.bytes(key)), ev)
		})
		if err != nil {
			return Value{}, err
		}
		return MapValue(kv...), nil
	case KindStruct:
		if jt != fastjson.TypeObject {
			return mismatch()
		}
		o, _ := v.Object()
		members := make([]Value, len(t.Fields))
		if d.inferred {
			var err error
			o.Visit(func(key []byte, e *fastjson.Value) {
				if err != nil || e.Type() == fastjson.TypeNull || structIndex(t, string(key)) >= 0 {
					return
				}
				if et, _ := d.inferType(e); et != nil {
					err = fieldErrf(string(key), "field not in the inferred schema")
				}
			})
			if err != nil {
				return Value{}, err
			}
		}
		for i := range t.Fields {
			f := &t.Fields[i]
			mv, err := d.convert(o.Get(f.Name), f.Type, !f.Required, f.TimeFormat)
			if err != nil {
				return Value{}, within(f.Name, err)
			}
			members[i] = mv
		}
		return StructValue(members...), nil
	}
	return Value{}, fieldErrf("", "cannot decode into %s", t)
}

func structIndex(t *Type, name string) int {
	for i, f := range t.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

func isIntegerLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || i == 0 && c == '-') {
			return false
		}
	}
	return len(s) > 0
}

// learn widens the inferred schema with one raw message.
func (d *jsonDecoder) learn(value []byte) error {
	if value == nil || !utf8.Valid(value) {
		return errors.New("not UTF-8 JSON")
	}
	v, err := d.p.ParseBytes(value)
	if err != nil {
		return err
	}
	if err := fastjson.ValidateBytes(value); err != nil {
		return err
	}
	obj, err := v.Object()
	if err != nil {
		return err
	}
	return d.learnObject(obj)
}

// learnObject merges the types of obj's fields into the inferred schema.
func (d *jsonDecoder) learnObject(obj *fastjson.Object) error {
	fields := append([]Field(nil), d.schema.Fields...)
	changed := false
	var err error
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		name := string(key)
		if tf, ok := d.timestamps[name]; ok {
			if _, known := d.index[name]; !known && structFieldsIndex(fields, name) < 0 {
				fields = append(fields, Field{Name: name, Type: TimestampType, TimeFormat: tf})
				changed = true
			}
			return
		}
		t, ierr := d.inferType(v)
		if ierr != nil {
			err = within(name, ierr)
			return
		}
		if t == nil {
			return
		}
		i := structFieldsIndex(fields, name)
		if i < 0 {
			fields = append(fields, Field{Name: name, Type: t})
			changed = true
			return
		}
		merged, merr := d.mergeInferred(fields[i].Type, t)
		if merr != nil {
			err = within(name, merr)
			return
		}
		if merged != fields[i].Type && !merged.Equal(fields[i].Type) {
			fields[i].Type = merged
			changed = true
		}
	})
	if err != nil {
		return err
	}
	if changed {
		d.setSchema(&Schema{Fields: fields, widenToString: d.widen})
	}
	return nil
}

func structFieldsIndex(fields []Field, name string) int {
	for i := range fields {
		if fields[i].Name == name {
			return i
		}
	}
	return -1
}

// inferType returns the type a JSON value suggests, nil when it says
// nothing (null, empty array, empty object).
func (d *jsonDecoder) inferType(v *fastjson.Value) (*Type, error) {
	switch v.Type() {
	case fastjson.TypeNull:
		return nil, nil
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return BooleanType, nil
	case fastjson.TypeNumber:
		if _, err := v.Int64(); err == nil {
			return Int64Type, nil
		}
		return DoubleType, nil
	case fastjson.TypeString:
		return StringType, nil
	case fastjson.TypeArray:
		arr, _ := v.Array()
		var elem *Type
		for i, e := range arr {
			et, err := d.inferType(e)
			if err != nil {
				return nil, within("["+strconv.Itoa(i)+"]", err)
			}
			if et == nil {
				continue
			}
			if elem == nil {
				elem = et
				continue
			}
			if elem, err = d.mergeInferred(elem, et); err != nil {
				return nil, within("["+strconv.Itoa(i)+"]", err)
			}
		}
		if elem == nil {
			return nil, nil
		}
		return ListOf(elem), nil
	case fastjson.TypeObject:
		o, _ := v.Object()
		var fields []Field
		var err error
		o.Visit(func(key []byte, e *fastjson.Value) {
			if err != nil {
				return
			}
			et, ierr := d.inferType(e)
			if ierr != nil {
				err = within(string(key), ierr)
				return
			}
			if et == nil {
				return
			}
			if i := structFieldsIndex(fields, string(key)); i >= 0 {
				err = fieldErrf(string(key), "appears twice in the object")
				return
			}
			fields = append(fields, Field{Name: string(key), Type: et})
		})
		if err != nil || len(fields) == 0 {
			return nil, err
		}
		return StructOf(fields...), nil
	}
	return nil, nil
}

// mergeInferred widens a to hold b as well.
func (d *jsonDecoder) mergeInferred(a, b *Type) (*Type, error) {
	if a.Equal(b) {
		return a, nil
	}
	switch {
	case (a.Kind == KindInt64 || a.Kind == KindDouble) && (b.Kind == KindInt64 || b.Kind == KindDouble):
		return DoubleType, nil
	case a.Kind == KindList && b.Kind == KindList:
		e, err := d.mergeInferred(a.Elem, b.Elem)
		if err != nil {
			return nil, within("[]", err)
		}
		return ListOf(e), nil
	case a.Kind == KindStruct && b.Kind == KindStruct:
		fields := append([]Field(nil), a.Fields...)
		for _, bf := range b.Fields {
			i := structFieldsIndex(fields, bf.Name)
			if i < 0 {
				fields = append(fields, bf)
				continue
			}
			t, err := d.mergeInferred(fields[i].Type, bf.Type)
			if err != nil {
				return nil, within(bf.Name, err)
			}
			fields[i].Type = t
		}
		return StructOf(fields...), nil
	case a.Kind == KindTimestamp:
		return nil, fieldErrf("", "expected a timestamp, got %s", b)
	case d.widen:
		return StringType, nil
	}
	return nil, fieldErrf("", "seen as %s, now %s; set format.json.widen_to_string to keep such fields as strings", a, b)
}

// plainASCII reports whether b has only ASCII bytes from 0x20 up, and no
// backslash: then every JSON string in it is valid as written. Eight bytes
// at a time.
func plainASCII(b []byte) bool {
	const (
		lo   = 0x0101010101010101
		hi   = 0x8080808080808080
		back = 0x5c5c5c5c5c5c5c5c
	)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		// A byte >= 0x80, a byte < 0x20, or a byte == '\\'.
		if w&hi != 0 || (w-0x2020202020202020)&^w&hi != 0 || ((w^back)-lo)&^(w^back)&hi != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c >= 0x80 || c < 0x20 || c == '\\' {
			return false
		}
	}
	return true
}

// checkNumbers checks every number literal in v against the JSON grammar
// (fastjson's parser accepts 1.2.3, +1, 01 and nan).
func (d *jsonDecoder) checkNumbers(v *fastjson.Value, depth int) error {
	switch v.Type() {
	case fastjson.TypeNumber:
		d.num = v.MarshalTo(d.num[:0])
		if !jsonNumber(d.num) {
			return fmt.Errorf("invalid number %q", d.num)
		}
	case fastjson.TypeArray:
		arr, _ := v.Array()
		for _, e := range arr {
			if err := d.checkNumbers(e, depth+1); err != nil {
				return err
			}
		}
	case fastjson.TypeObject:
		o, _ := v.Object()
		var err error
		o.Visit(func(_ []byte, e *fastjson.Value) {
			if err == nil {
				err = d.checkNumbers(e, depth+1)
			}
		})
		return err
	}
	return nil
}

// jsonNumber reports whether b is a number as RFC 8259 writes them.
func jsonNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(b)
}
