package formats

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// avroDecoder reads Avro binary with a reader of its own, driven by the
// writer schema (hamba/avro parses the schema): every length and count is
// checked against the bytes left, so a bad message is a decode error with
// the field path, never a panic or a huge allocation.
//
// Mapping: null unions ["null", T] are nullable T; other unions become
// struct<member0,member1,...> (Spark's mapping); enum and uuid are
// strings; fixed is binary; int/long are int32/int64; time-millis and
// time-micros stay int32/int64; date, timestamp-millis/micros and the
// local- variants map to date and timestamp; decimal (bytes or fixed) to
// decimal(p,s). A top-level schema that is not a record is one column
// named "value".
type avroDecoder struct {
	log      *slog.Logger
	fixed    *avroCodec            // schema given in the config
	registry *registryClient       // or schemas by id
	byID     map[uint32]*avroCodec // cache, including failures
	badID    map[uint32]error
	current  *Schema
	slab     slab
}

// avroCodec is a parsed writer schema: its reading plan and row schema.
type avroCodec struct {
	root   *avroNode
	schema *Schema
	record bool // root is a record (else one "value" column)
}

type avroNode struct {
	kind     avro.Type
	logical  avro.LogicalType
	t        *Type
	fields   []*avroNode // record members
	names    []string
	items    *avroNode   // array items, map values
	branches []*avroNode // union
	nullable int         // for a [null, T] union: index of the T branch; -1 otherwise
	symbols  []string
	size     int
}

// canBeNull reports whether values of n may be null.
func (n *avroNode) canBeNull() bool {
	if n.kind == avro.Null {
		return true
	}
	for _, b := range n.branches {
		if b.canBeNull() {
			return true
		}
	}
	return false
}

func newAvroDecoder(compiled *Compiled, opts DecoderOptions) (*avroDecoder, error) {
	a := compiled.cfg.Avro
	d := &avroDecoder{log: opts.Logger, byID: map[uint32]*avroCodec{}, badID: map[uint32]error{}}
	if compiled.avro != nil {
		d.fixed = compiled.avro
		d.current = compiled.avro.schema
		return d, nil
	}
	if a.SchemaFile != "" {
		return nil, compiled.errSchemaFileUnread()
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultRegistryTimeout}
	}
	d.registry = &registryClient{base: strings.TrimRight(a.RegistryURL, "/"), http: client}
	return d, nil
}

func newAvroCodec(text string) (*avroCodec, error) {
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("bad Avro schema: %w", err)
	}
	root, err := avroPlan(s, "", map[string]bool{})
	if err != nil {
		return nil, err
	}
	c := &avroCodec{root: root}
	if root.kind == avro.Record {
		c.record = true
		fields := make([]Field, len(root.fields))
		for i, f := range root.fields {
			fields[i] = Field{Name: root.names[i], Type: f.t, Required: !f.canBeNull()}
		}
		c.schema = NewSchema(fields...)
	} else {
		c.schema = NewSchema(Field{Name: "value", Type: root.t, Required: !root.canBeNull()})
	}
	return c, nil
}

// avroPlan maps an Avro schema to a reading plan and our type.
func avroPlan(s avro.Schema, path string, open map[string]bool) (*avroNode, error) {
	n := &avroNode{kind: s.Type(), nullable: -1}
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		n.logical = ls.Logical().Type()
	}
	at := func() string {
		if path == "" {
			return "the schema"
		}
		return path
	}
	switch x := s.(type) {
	case *avro.RefSchema:
		return avroPlan(x.Schema(), path, open)
	case *avro.NullSchema:
		n.t = StringType // only ever null
	case *avro.PrimitiveSchema:
		switch x.Type() {
		case avro.Null:
			n.t = StringType // only ever null
		case avro.Boolean:
			n.t = BooleanType
		case avro.Int:
			n.t = Int32Type
			if n.logical == avro.Date {
				n.t = DateType
			}
		case avro.Long:
			n.t = Int64Type
			switch n.logical {
			case avro.TimestampMillis, avro.TimestampMicros, avro.LocalTimestampMillis, avro.LocalTimestampMicros:
				n.t = TimestampType
			}
		case avro.Float:
			n.t = FloatType
		case avro.Double:
			n.t = DoubleType
		case avro.String:
			n.t = StringType
		case avro.Bytes:
			n.t = BinaryType
			if d, ok := x.Logical().(*avro.DecimalLogicalSchema); ok && n.logical == avro.Decimal {
				if d.Precision() < 1 || d.Precision() > MaxDecimalPrecision {
					return nil, fmt.Errorf("%s: decimal precision %d is outside 1..%d", at(), d.Precision(), MaxDecimalPrecision)
				}
				n.t = DecimalOf(d.Precision(), d.Scale())
			}
		default:
			return nil, fmt.Errorf("%s: unsupported Avro type %s", at(), x.Type())
		}
	case *avro.RecordSchema:
		if open[x.FullName()] {
			return nil, fmt.Errorf("%s: recursive record %s cannot be a Parquet column", at(), x.FullName())
		}
		open[x.FullName()] = true
		defer delete(open, x.FullName())
		var fields []Field
		for _, f := range x.Fields() {
			p := f.Name()
			if path != "" {
				p = path + "." + f.Name()
			}
			c, err := avroPlan(f.Type(), p, open)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, c)
			n.names = append(n.names, f.Name())
			fields = append(fields, Field{Name: f.Name(), Type: c.t, Required: !c.canBeNull()})
		}
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s: record %s has no fields", at(), x.FullName())
		}
		n.t = StructOf(fields...)
	case *avro.EnumSchema:
		n.symbols = x.Symbols()
		n.t = StringType
	case *avro.FixedSchema:
		n.size = x.Size()
		n.t = BinaryType
		if d, ok := x.Logical().(*avro.DecimalLogicalSchema); ok && n.logical == avro.Decimal {
			if d.Precision() < 1 || d.Precision() > MaxDecimalPrecision {
				return nil, fmt.Errorf("%s: decimal precision %d is outside 1..%d", at(), d.Precision(), MaxDecimalPrecision)
			}
			n.t = DecimalOf(d.Precision(), d.Scale())
		}
	case *avro.ArraySchema:
		c, err := avroPlan(x.Items(), path+"[]", open)
		if err != nil {
			return nil, err
		}
		n.items = c
		n.t = ListOf(c.t)
	case *avro.MapSchema:
		c, err := avroPlan(x.Values(), path+"{}", open)
		if err != nil {
			return nil, err
		}
		n.items = c
		n.t = MapOf(c.t)
	case *avro.UnionSchema:
		var nonNull []int
		for i, b := range x.Types() {
			c, err := avroPlan(b, path, open)
			if err != nil {
				return nil, err
			}
			n.branches = append(n.branches, c)
			if c.kind != avro.Null {
				nonNull = append(nonNull, i)
			}
		}
		switch len(nonNull) {
		case 0:
			n.t = StringType
		case 1:
			n.t = n.branches[nonNull[0]].t
			if len(n.branches) > 1 {
				n.nullable = nonNull[0]
			}
		default:
			var fields []Field
			for k, i := range nonNull {
				fields = append(fields, Field{Name: fmt.Sprintf("member%d", k), Type: n.branches[i].t})
			}
			n.t = StructOf(fields...)
			if len(nonNull) < len(n.branches) {
				n.nullable = -2 // nullable struct of members
			}
		}
	default:
		return nil, fmt.Errorf("%s: unsupported Avro schema %T", at(), s)
	}
	return n, nil
}

func (d *avroDecoder) Schema() *Schema { return d.current }

func (d *avroDecoder) Decode(ctx context.Context, m *Message) (*Row, error) {
	if m.Value == nil {
		return nil, decodeErr(TypeAvro, m, "", "value is null (a tombstone), not an Avro record")
	}
	c := d.fixed
	data := m.Value
	if c == nil {
		if len(data) < 5 || data[0] != 0 {
			if len(data) == 0 {
				return nil, decodeErr(TypeAvro, m, "", "empty value, not in the Confluent wire format (magic byte 0, 4-byte schema id)")
			}
			if data[0] != 0 {
				return nil, decodeErr(TypeAvro, m, "", "magic byte is 0x%02x, not 0: not in the Confluent wire format", data[0])
			}
			return nil, decodeErr(TypeAvro, m, "", "value of %d bytes is shorter than the 5-byte Confluent wire-format header", len(data))
		}
		id := binary.BigEndian.Uint32(data[1:5])
		var err error
		if c, err = d.codec(ctx, id); err != nil {
			if errors.Is(err, ErrUnknownSchemaID) {
				de := decodeErr(TypeAvro, m, "", "%v", err)
				de.Err = ErrUnknownSchemaID
				return nil, de
			}
			return nil, err
		}
		data = data[5:]
	}
	r := avroReader{buf: data, slab: &d.slab, out: d.slab.buf(len(data))}
	var row *Row
	if c.record {
		row = d.slab.row(c.schema, m, len(c.schema.Fields))
		for i, f := range c.root.fields {
			v, err := r.read(f)
			if err != nil {
				return nil, decodeErr(TypeAvro, m, joinPath(c.root.names[i], r.path), "%v", err)
			}
			row.Values[i] = v
		}
	} else {
		row = d.slab.row(c.schema, m, 1)
		v, err := r.read(c.root)
		if err != nil {
			return nil, decodeErr(TypeAvro, m, joinPath("value", r.path), "%v", err)
		}
		row.Values[0] = v
	}
	if len(r.buf) > 0 {
		return nil, decodeErr(TypeAvro, m, "", "%d bytes left after the record", len(r.buf))
	}
	d.current = c.schema
	return row, nil
}

func joinPath(head, tail string) string {
	if tail == "" {
		return head
	}
	if tail[0] == '[' {
		return head + tail
	}
	return head + "." + tail
}

// codec returns the codec of a registry schema id, fetching it once.
func (d *avroDecoder) codec(ctx context.Context, id uint32) (*avroCodec, error) {
	if c, ok := d.byID[id]; ok {
		return c, nil
	}
	if err, ok := d.badID[id]; ok {
		return nil, err
	}
	text, err := d.registry.schema(ctx, id)
	if err != nil {
		if errors.Is(err, ErrUnknownSchemaID) {
			d.badID[id] = err
		}
		return nil, err
	}
	c, err := newAvroCodec(text)
	if err != nil {
		err = fmt.Errorf("%w %d: registry %s: %v", ErrUnknownSchemaID, id, d.registry.base, err)
		d.badID[id] = err
		return nil, err
	}
	d.log.Info("avro: schema fetched from registry", "id", id, "schema", c.schema.String())
	d.byID[id] = c
	return c, nil
}

// avroReader reads Avro binary from buf. path is set on error to where
// inside the current column it happened.
type avroReader struct {
	buf  []byte
	path string
	slab *slab
	out  []byte // the row's string and binary bytes
}

var errAvroTruncated = errors.New("truncated: the value ends inside this field")

func (r *avroReader) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if len(r.buf) == 0 {
			return 0, errAvroTruncated
		}
		b := r.buf[0]
		r.buf = r.buf[1:]
		u |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errors.New("varint longer than 10 bytes")
}

func (r *avroReader) bytes() ([]byte, error) {
	n, err := r.long()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("negative length %d", n)
	}
	if n > int64(len(r.buf)) {
		return nil, fmt.Errorf("length %d but only %d bytes left", n, len(r.buf))
	}
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b, nil
}

// count reads an array or map block count (the block size that follows a
// negative count is skipped).
func (r *avroReader) count() (int64, error) {
	n, err := r.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, fmt.Errorf("bad block count %d", n)
		}
		n = -n
		if _, err := r.long(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (r *avroReader) read(n *avroNode) (Value, error) {
	switch n.kind {
	case avro.Null:
		return Value{}, nil
	case avro.Boolean:
		if len(r.buf) == 0 {
			return Value{}, errAvroTruncated
		}
		b := r.buf[0]
		r.buf = r.buf[1:]
		if b > 1 {
			return Value{}, fmt.Errorf("boolean byte is %d, not 0 or 1", b)
		}
		return BooleanValue(b == 1), nil
	case avro.Int:
		x, err := r.long()
		if err != nil {
			return Value{}, err
		}
		if x < math.MinInt32 || x > math.MaxInt32 {
			return Value{}, fmt.Errorf("int %d is out of the int32 range", x)
		}
		if n.t.Kind == KindDate {
			return DateValue(int32(x)), nil
		}
		return Int32Value(int32(x)), nil
	case avro.Long:
		x, err := r.long()
		if err != nil {
			return Value{}, err
		}
		switch n.logical {
		case avro.TimestampMillis, avro.LocalTimestampMillis:
			if x > math.MaxInt64/1000 || x < math.MinInt64/1000 {
				return Value{}, fmt.Errorf("timestamp-millis %d is out of range", x)
			}
			return TimestampMicros(x * 1000), nil
		case avro.TimestampMicros, avro.LocalTimestampMicros:
			return TimestampMicros(x), nil
		}
		return Int64Value(x), nil
	case avro.Float:
		if len(r.buf) < 4 {
			return Value{}, errAvroTruncated
		}
		f := math.Float32frombits(binary.LittleEndian.Uint32(r.buf))
		r.buf = r.buf[4:]
		return FloatValue(f), nil
	case avro.Double:
		if len(r.buf) < 8 {
			return Value{}, errAvroTruncated
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(r.buf))
		r.buf = r.buf[8:]
		return DoubleValue(f), nil
	case avro.String:
		b, err := r.bytes()
		if err != nil {
			return Value{}, err
		}
		if !utf8.Valid(b) {
			return Value{}, fmt.Errorf("string is not valid UTF-8 at byte %d", invalidUTF8At(b))
		}
		return StringValue(r.copy(b)), nil
	case avro.Bytes:
		b, err := r.bytes()
		if err != nil {
			return Value{}, err
		}
		if n.t.Kind == KindDecimal {
			return decimalFromTwos(b, n.t)
		}
		return BinaryValue(r.copy(b)), nil
	case avro.Fixed:
		if len(r.buf) < n.size {
			return Value{}, errAvroTruncated
		}
		b := r.buf[:n.size:n.size]
		r.buf = r.buf[n.size:]
		if n.t.Kind == KindDecimal {
			return decimalFromTwos(b, n.t)
		}
		return BinaryValue(r.copy(b)), nil
	case avro.Enum:
		i, err := r.long()
		if err != nil {
			return Value{}, err
		}
		if i < 0 || i >= int64(len(n.symbols)) {
			return Value{}, fmt.Errorf("enum index %d out of range 0..%d", i, len(n.symbols)-1)
		}
		return StringValue([]byte(n.symbols[i])), nil
	case avro.Record:
		members := r.slab.vals(len(n.fields))
		for i, f := range n.fields {
			v, err := r.read(f)
			if err != nil {
				r.path = joinPath(n.names[i], r.path)
				return Value{}, err
			}
			members[i] = v
		}
		return StructValue(members...), nil
	case avro.Array, avro.Map:
		var elems []Value
		idx := 0
		for {
			cnt, err := r.count()
			if err != nil {
				return Value{}, err
			}
			if cnt == 0 {
				break
			}
			// Every item takes at least one byte except nulls; refuse
			// counts the bytes left cannot hold.
			if cnt > int64(len(r.buf))+1 && !(n.items.kind == avro.Null && n.kind == avro.Array && cnt <= 1<<16) {
				return Value{}, fmt.Errorf("block count %d but only %d bytes left", cnt, len(r.buf))
			}
			for k := int64(0); k < cnt; k++ {
				if n.kind == avro.Map {
					key, err := r.bytes()
					if err != nil {
						r.path = fmt.Sprintf("[%d]", idx)
						return Value{}, fmt.Errorf("map key: %w", err)
					}
					if !utf8.Valid(key) {
						r.path = fmt.Sprintf("[%d]", idx)
						return Value{}, fmt.Errorf("map key is not valid UTF-8")
					}
					elems = append(elems, StringValue(r.copy(key)))
				}
				v, err := r.read(n.items)
				if err != nil {
					r.path = joinPath(fmt.Sprintf("[%d]", idx), r.path)
					return Value{}, err
				}
				elems = append(elems, v)
				idx++
			}
		}
		if n.kind == avro.Map {
			return MapValue(elems...), nil
		}
		return ListValue(elems...), nil
	case avro.Union:
		i, err := r.long()
		if err != nil {
			return Value{}, err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			return Value{}, fmt.Errorf("union branch %d out of range 0..%d", i, len(n.branches)-1)
		}
		b := n.branches[i]
		v, err := r.read(b)
		if err != nil || b.kind == avro.Null || n.t.Kind != KindStruct || len(n.branches) == 1 || n.nullable >= 0 {
			return v, err
		}
		// A union of several types: a struct with the taken member set.
		members := make([]Value, len(n.t.Fields))
		k := 0
		for j := range n.branches[:i] {
			if n.branches[j].kind != avro.Null {
				k++
			}
		}
		members[k] = v
		return StructValue(members...), nil
	}
	return Value{}, fmt.Errorf("unsupported Avro type %s", n.kind)
}

// copy copies b out of the message into the row's buffer.
func (r *avroReader) copy(b []byte) []byte {
	if len(r.out)+len(b) > cap(r.out) {
		return clone(b)
	}
	start := len(r.out)
	r.out = append(r.out, b...)
	return r.out[start:len(r.out):len(r.out)]
}

// decimalFromTwos reads a big-endian two's complement unscaled decimal and
// checks it fits the precision.
func decimalFromTwos(b []byte, t *Type) (Value, error) {
	if len(b) == 0 {
		return Value{}, errors.New("empty decimal bytes")
	}
	x := twosToBig(b)
	if len(new(big.Int).Abs(x).String()) > t.Precision && x.Sign() != 0 {
		return Value{}, fmt.Errorf("unscaled value %s has more digits than %s allows", x, t)
	}
	return DecimalValue(x, t.Precision), nil
}

// checkRegistryURL checks a schema registry URL (for Config.Validate).
func checkRegistryURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL, got %q", s)
	}
	return nil
}
