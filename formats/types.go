package formats

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Kind is the kind of a column type.
type Kind uint8

// The kinds of values a row may hold. KindNull is only the kind of a null
// [Value]; no column has it.
const (
	KindNull      Kind = iota
	KindBoolean        // boolean
	KindInt32          // int32
	KindInt64          // int64
	KindFloat          // float (32-bit IEEE 754)
	KindDouble         // double (64-bit IEEE 754)
	KindString         // string (UTF-8)
	KindBinary         // binary (any bytes)
	KindDate           // date (days since 1970-01-01)
	KindTimestamp      // timestamp (microseconds since the epoch, UTC)
	KindDecimal        // decimal(p,s), an exact unscaled integer
	KindList           // list<T>
	KindMap            // map<string,T>
	KindStruct         // struct<name:T,...>
)

var kindNames = [...]string{
	KindNull:      "null",
	KindBoolean:   "boolean",
	KindInt32:     "int32",
	KindInt64:     "int64",
	KindFloat:     "float",
	KindDouble:    "double",
	KindString:    "string",
	KindBinary:    "binary",
	KindDate:      "date",
	KindTimestamp: "timestamp",
	KindDecimal:   "decimal",
	KindList:      "list",
	KindMap:       "map",
	KindStruct:    "struct",
}

// String returns the kind's name as written in schemas ("int64", "list", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MaxDecimalPrecision is the largest precision of a decimal column (Spark's
// and Hive's limit).
const MaxDecimalPrecision = 38

// Type is a column type. Types are immutable once built; share them freely.
type Type struct {
	Kind Kind
	// Precision and Scale of a decimal: 1 <= Precision <= 38,
	// 0 <= Scale <= Precision.
	Precision, Scale int
	// Elem is the element type of a list and the value type of a map (map
	// keys are always non-null strings). List elements and map values are
	// nullable.
	Elem *Type
	// Fields of a struct, in order.
	Fields []Field
}

// Field is a named column (or struct member).
type Field struct {
	Name string
	Type *Type
	// Required fields are never null; a message without a value for a
	// required field is a decode error. Fields are nullable by default.
	Required bool
	// TimeFormat says how a timestamp (or date) field is read from text or
	// numbers: "rfc3339" (default), "epoch_s", "epoch_ms", "epoch_us" (and
	// "date" for dates: YYYY-MM-DD, the default). Decoders that carry typed
	// timestamps (Avro) ignore it.
	TimeFormat string
}

// Time formats a timestamp field may declare in Field.TimeFormat.
const (
	TimeRFC3339 = "rfc3339"  // "2024-05-01T12:00:00.123456Z" (any offset; stored as UTC)
	TimeEpochS  = "epoch_s"  // seconds since the epoch (integer or fractional number)
	TimeEpochMS = "epoch_ms" // milliseconds since the epoch (integer)
	TimeEpochUS = "epoch_us" // microseconds since the epoch (integer)
)

// Primitive types, shared.
var (
	BooleanType   = &Type{Kind: KindBoolean}
	Int32Type     = &Type{Kind: KindInt32}
	Int64Type     = &Type{Kind: KindInt64}
	FloatType     = &Type{Kind: KindFloat}
	DoubleType    = &Type{Kind: KindDouble}
	StringType    = &Type{Kind: KindString}
	BinaryType    = &Type{Kind: KindBinary}
	DateType      = &Type{Kind: KindDate}
	TimestampType = &Type{Kind: KindTimestamp}
)

// DecimalOf returns the type decimal(precision, scale).
func DecimalOf(precision, scale int) *Type {
	return &Type{Kind: KindDecimal, Precision: precision, Scale: scale}
}

// ListOf returns the type list<elem>.
func ListOf(elem *Type) *Type { return &Type{Kind: KindList, Elem: elem} }

// MapOf returns the type map<string,value>.
func MapOf(value *Type) *Type { return &Type{Kind: KindMap, Elem: value} }

// StructOf returns the type struct<fields...>.
func StructOf(fields ...Field) *Type { return &Type{Kind: KindStruct, Fields: fields} }

// String renders the type in the syntax [ParseType] reads:
// "int64", "decimal(10,2)", "list<string>", "map<string,double>",
// "struct<a:int64,b:list<string>>". Required struct members get a "!"
// suffix on their name ("struct<id!:int64>").
func (t *Type) String() string {
	var b strings.Builder
	t.writeTo(&b)
	return b.String()
}

func (t *Type) writeTo(b *strings.Builder) {
	if t == nil {
		b.WriteString("<nil>")
		return
	}
	switch t.Kind {
	case KindDecimal:
		fmt.Fprintf(b, "decimal(%d,%d)", t.Precision, t.Scale)
	case KindList:
		b.WriteString("list<")
		t.Elem.writeTo(b)
		b.WriteByte('>')
	case KindMap:
		b.WriteString("map<string,")
		t.Elem.writeTo(b)
		b.WriteByte('>')
	case KindStruct:
		b.WriteString("struct<")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f.Name)
			if f.Required {
				b.WriteByte('!')
			}
			b.WriteByte(':')
			f.Type.writeTo(b)
		}
		b.WriteByte('>')
	default:
		b.WriteString(t.Kind.String())
	}
}

// Equal reports whether t and u are the same type (names, order,
// nullability and decimal parameters included).
func (t *Type) Equal(u *Type) bool {
	if t == u {
		return true
	}
	if t == nil || u == nil || t.Kind != u.Kind {
		return false
	}
	switch t.Kind {
	case KindDecimal:
		return t.Precision == u.Precision && t.Scale == u.Scale
	case KindList, KindMap:
		return t.Elem.Equal(u.Elem)
	case KindStruct:
		return fieldsEqual(t.Fields, u.Fields)
	}
	return true
}

func fieldsEqual(a, b []Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Required != b[i].Required || !a[i].Type.Equal(b[i].Type) {
			return false
		}
	}
	return true
}

// Schema is the ordered list of top-level columns of a row. A decoder hands
// out the same *Schema for every row until the schema changes, so pointer
// equality is the fast path of [Resolve].
type Schema struct {
	Fields []Field

	// widenToString is set by a JSON decoder configured with
	// widen_to_string: [Merge] may then widen a primitive column to string.
	widenToString bool

	indexOnce sync.Once
	index     map[string]int
}

// NewSchema returns a schema with the given columns.
func NewSchema(fields ...Field) *Schema { return &Schema{Fields: fields} }

// Index returns the position of the top-level field name, or -1.
func (s *Schema) Index(name string) int {
	s.indexOnce.Do(func() {
		s.index = make(map[string]int, len(s.Fields))
		for i, f := range s.Fields {
			s.index[f.Name] = i
		}
	})
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// Field returns the top-level field name and whether it exists.
func (s *Schema) Field(name string) (Field, bool) {
	i := s.Index(name)
	if i < 0 {
		return Field{}, false
	}
	return s.Fields[i], true
}

// Equal reports whether s and o have the same columns (names, order, types
// and nullability).
func (s *Schema) Equal(o *Schema) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil {
		return false
	}
	return fieldsEqual(s.Fields, o.Fields)
}

// String renders the schema as a struct type without the "struct" keyword:
// "<user_id!:int64,name:string>".
func (s *Schema) String() string {
	return strings.TrimPrefix(StructOf(s.Fields...).String(), "struct")
}

// ParseType reads a type written as in pipeline YAML: boolean, int32 (or
// int), int64 (or long, bigint), float, double, string, binary (or bytes),
// date, timestamp, decimal(p,s), list<T>, map<string,T>, and
// struct<name:T,...> (a "!" after a member name makes it required).
// Whitespace between tokens is allowed.
func ParseType(s string) (*Type, error) {
	p := typeParser{src: s}
	t, err := p.parse()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, p.errorf("unexpected %q after the type", p.src[p.pos:])
	}
	return t, nil
}

type typeParser struct {
	src string
	pos int
}

func (p *typeParser) errorf(format string, args ...any) error {
	return fmt.Errorf("formats: type %q at offset %d: %s", p.src, p.pos, fmt.Sprintf(format, args...))
}

func (p *typeParser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *typeParser) ident() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '_' || c == '-' || c == '.' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 {
			p.pos++
			continue
		}
		break
	}
	return p.src[start:p.pos]
}

func (p *typeParser) expect(c byte) error {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return p.errorf("expected %q, got the end", c)
	}
	if p.src[p.pos] != c {
		return p.errorf("expected %q, got %q", c, p.src[p.pos])
	}
	p.pos++
	return nil
}

func (p *typeParser) peek() byte {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return 0
	}
	return p.src[p.pos]
}

func (p *typeParser) number() (int, error) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if start == p.pos || p.pos-start > 4 {
		return 0, p.errorf("expected a small number")
	}
	n, _ := strconv.Atoi(p.src[start:p.pos])
	return n, nil
}

func (p *typeParser) parse() (*Type, error) {
	start := p.pos
	name := strings.ToLower(p.ident())
	switch name {
	case "boolean", "bool":
		return BooleanType, nil
	case "int32", "int", "integer":
		return Int32Type, nil
	case "int64", "long", "bigint":
		return Int64Type, nil
	case "float", "float32":
		return FloatType, nil
	case "double", "float64":
		return DoubleType, nil
	case "string":
		return StringType, nil
	case "binary", "bytes":
		return BinaryType, nil
	case "date":
		return DateType, nil
	case "timestamp":
		return TimestampType, nil
	case "decimal":
		if err := p.expect('('); err != nil {
			return nil, err
		}
		prec, err := p.number()
		if err != nil {
			return nil, err
		}
		scale := 0
		if p.peek() == ',' {
			p.pos++
			if scale, err = p.number(); err != nil {
				return nil, err
			}
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		if prec < 1 || prec > MaxDecimalPrecision {
			return nil, p.errorf("decimal precision %d out of range 1..%d", prec, MaxDecimalPrecision)
		}
		if scale > prec {
			return nil, p.errorf("decimal scale %d greater than precision %d", scale, prec)
		}
		return DecimalOf(prec, scale), nil
	case "list", "array":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		elem, err := p.parse()
		if err != nil {
			return nil, err
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
		return ListOf(elem), nil
	case "map":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		key, err := p.parse()
		if err != nil {
			return nil, err
		}
		if key.Kind != KindString {
			return nil, p.errorf("map keys must be string, got %s", key)
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
		val, err := p.parse()
		if err != nil {
			return nil, err
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
		return MapOf(val), nil
	case "struct":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		var fields []Field
		seen := map[string]bool{}
		for {
			fname := p.ident()
			if fname == "" {
				return nil, p.errorf("expected a struct member name")
			}
			req := false
			if p.peek() == '!' {
				p.pos++
				req = true
			}
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			ft, err := p.parse()
			if err != nil {
				return nil, err
			}
			if seen[fname] {
				return nil, p.errorf("struct member %q appears twice", fname)
			}
			seen[fname] = true
			fields = append(fields, Field{Name: fname, Type: ft, Required: req})
			if p.peek() == ',' {
				p.pos++
				continue
			}
			break
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
		return StructOf(fields...), nil
	case "":
		p.pos = start
		return nil, p.errorf("expected a type name")
	}
	p.pos = start
	return nil, p.errorf("unknown type %q (want boolean, int32, int64, float, double, string, binary, date, timestamp, decimal(p,s), list<T>, map<string,T> or struct<...>)", name)
}
