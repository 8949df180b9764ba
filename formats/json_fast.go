package formats

import (
	"encoding/base64"
	"math"
	"strconv"
	"unsafe"
)

// The fast path of the JSON decoder: one strict pass over a message that
// is a flat object of plain ASCII (no escapes, no control bytes), for a
// schema of primitive columns. It validates the whole message (numbers
// against the JSON grammar, literals, structure, unknown fields included)
// while it records where each known field's value lies, then converts the
// values straight from the message bytes. Anything unusual (escapes,
// non-ASCII, nesting in a known field, a value that does not convert) makes
// it give up, and the general path (fastjson, its validator) decodes the
// message and words the error. A fuzz test checks both paths agree.

// jsonTok is one scanned value: its bytes and JSON type.
type jsonTok struct {
	start, end int32
	typ        byte // 's' string (without quotes), 'n' number, 't', 'f', 'l' (null), 'o' object, 'a' array; 0 absent
}

type fastScanner struct {
	b []byte
	i int
}

func (s *fastScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str scans a string body after the opening quote; plain text only.
func (s *fastScanner) str() (int, int, bool) {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			end := s.i
			s.i++
			return start, end, true
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return 0, 0, false
		}
		s.i++
	}
	return 0, 0, false
}

func (s *fastScanner) number() bool {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.i++
			continue
		}
		break
	}
	return jsonNumber(s.b[start:s.i])
}

func (s *fastScanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// value scans one value of any kind (strictly) and returns its token.
func (s *fastScanner) value(depth int) (jsonTok, bool) {
	if s.i >= len(s.b) || depth > 64 {
		return jsonTok{}, false
	}
	start := s.i
	switch c := s.b[s.i]; {
	case c == '"':
		s.i++
		a, z, ok := s.str()
		return jsonTok{start: int32(a), end: int32(z), typ: 's'}, ok
	case c == '-' || c >= '0' && c <= '9':
		ok := s.number()
		return jsonTok{start: int32(start), end: int32(s.i), typ: 'n'}, ok
	case c == 't':
		return jsonTok{typ: 't'}, s.literal("true")
	case c == 'f':
		return jsonTok{typ: 'f'}, s.literal("false")
	case c == 'n':
		return jsonTok{typ: 'l'}, s.literal("null")
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return jsonTok{typ: 'a'}, true
		}
		for {
			s.ws()
			if _, ok := s.value(depth + 1); !ok {
				return jsonTok{}, false
			}
			s.ws()
			if s.i >= len(s.b) {
				return jsonTok{}, false
			}
			if s.b[s.i] == ']' {
				s.i++
				return jsonTok{typ: 'a'}, true
			}
			if s.b[s.i] != ',' {
				return jsonTok{}, false
			}
			s.i++
		}
	case c == '{':
		s.i++
		ok := s.object(depth+1, nil)
		return jsonTok{typ: 'o'}, ok
	}
	return jsonTok{}, false
}

// object scans an object body after '{'. With visit, each key and value
// token of this level is handed over (nested values are only validated).
func (s *fastScanner) object(depth int, visit func(key []byte, t jsonTok) bool) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		s.i++
		ka, kz, ok := s.str()
		if !ok {
			return false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		t, ok := s.value(depth)
		if !ok {
			return false
		}
		if visit != nil && !visit(s.b[ka:kz], t) {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		if s.b[s.i] == '}' {
			s.i++
			return true
		}
		if s.b[s.i] != ',' {
			return false
		}
		s.i++
	}
}

// fastEligible reports whether the fast path can serve schema s: every
// column a primitive the fast converter handles.
func fastEligible(s *Schema) bool {
	if len(s.Fields) == 0 {
		return false
	}
	for _, f := range s.Fields {
		if !isPrimitive(f.Type.Kind) {
			return false
		}
	}
	return true
}

// decodeFast tries the fast path; ok is false when the general path must
// decode the message (it then also words any error).
func (d *jsonDecoder) decodeFast(m *Message) (*Row, bool) {
	s := d.schema
	n := len(s.Fields)
	if cap(d.toks) < n {
		d.toks = make([]jsonTok, n)
	}
	toks := d.toks[:n]
	clear(toks)
	sc := fastScanner{b: m.Value}
	sc.ws()
	if sc.i >= len(sc.b) || sc.b[sc.i] != '{' {
		return nil, false
	}
	sc.i++
	next := 0
	ok := sc.object(1, func(key []byte, t jsonTok) bool {
		var i int
		if next < n && string(key) == s.Fields[next].Name {
			i = next
		} else if j, found := d.index[string(key)]; found {
			i = j
		} else {
			return true // not in the schema: validated, ignored
		}
		next = i + 1
		if toks[i].typ != 0 {
			return false // a duplicate key: the general path says so
		}
		toks[i] = t
		return true
	})
	if !ok {
		return nil, false
	}
	sc.ws()
	if sc.i != len(sc.b) {
		return nil, false
	}
	row := d.slab.row(s, m, n)
	d.buf = d.slab.buf(len(m.Value))
	for i := range s.Fields {
		f := &s.Fields[i]
		t := toks[i]
		if t.typ == 0 || t.typ == 'l' {
			if f.Required {
				return nil, false
			}
			continue
		}
		v, ok := d.fastConvert(f, t, m.Value[t.start:t.end])
		if !ok {
			return nil, false
		}
		row.Values[i] = v
	}
	return row, true
}

// str views b as a string without copying; only for immediate parsing.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (d *jsonDecoder) fastConvert(f *Field, t jsonTok, b []byte) (Value, bool) {
	switch f.Type.Kind {
	case KindString:
		if t.typ == 's' {
			return StringValue(d.bytes(b)), true
		}
	case KindBoolean:
		switch t.typ {
		case 't':
			return BooleanValue(true), true
		case 'f':
			return BooleanValue(false), true
		}
	case KindInt64, KindInt32:
		if t.typ != 'n' {
			break
		}
		x, err := strconv.ParseInt(str(b), 10, 64)
		if err != nil {
			break
		}
		if f.Type.Kind == KindInt32 {
			if x < math.MinInt32 || x > math.MaxInt32 {
				break
			}
			return Int32Value(int32(x)), true
		}
		return Int64Value(x), true
	case KindDouble, KindFloat:
		if t.typ != 'n' {
			break
		}
		x, err := strconv.ParseFloat(str(b), 64)
		if err != nil || math.IsInf(x, 0) {
			break
		}
		if f.Type.Kind == KindFloat {
			if math.Abs(x) > math.MaxFloat32 {
				break
			}
			return FloatValue(float32(x)), true
		}
		return DoubleValue(x), true
	case KindDecimal:
		if t.typ == 'n' || t.typ == 's' {
			return smallDecimal(b, f.Type.Precision, f.Type.Scale)
		}
	case KindTimestamp:
		switch f.TimeFormat {
		case "", TimeRFC3339:
			if t.typ == 's' {
				us, ok := fastRFC3339(str(b))
				return TimestampMicros(us), ok
			}
		case TimeEpochMS, TimeEpochUS:
			if t.typ != 'n' {
				break
			}
			x, err := strconv.ParseInt(str(b), 10, 64)
			if err != nil {
				break
			}
			if f.TimeFormat == TimeEpochUS {
				return TimestampMicros(x), true
			}
			if x > math.MaxInt64/1000 || x < math.MinInt64/1000 {
				break
			}
			return TimestampMicros(x * 1000), true
		}
	case KindDate:
		if t.typ == 's' {
			v, err := parseDateText(str(b))
			return v, err == nil
		}
	case KindBinary:
		if t.typ == 's' {
			out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
			n, err := base64.StdEncoding.Decode(out, b)
			return BinaryValue(out[:n]), err == nil
		}
	}
	return Value{}, false
}
