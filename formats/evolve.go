package formats

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"time"
)

// Decision is what Resolve tells the loader to do with a row.
type Decision struct {
	// NewFile: close the open file and start a new one with Schema. False:
	// write the row to the open file (the Writer projects it if its schema
	// is an older version of the file's).
	NewFile bool
	// Schema is the schema of the file the row goes to.
	Schema *Schema
}

// Resolve decides, under policy, where a row with schema row goes when the
// open file has schema file (nil when no file is open):
//
//   - same schema: write it to the open file;
//   - none: any difference starts a new file with the row's schema;
//   - backward: the schemas are merged (Merge); if the merge is the open
//     file's schema the row is written there (projected), else a new file
//     with the merged schema is started. A type change Merge can't widen
//     is a *SchemaError naming the field and both types.
func Resolve(policy Compatibility, file, row *Schema) (Decision, error) {
	if file == nil {
		return Decision{NewFile: true, Schema: row}, nil
	}
	if file == row || file.Equal(row) {
		return Decision{Schema: file}, nil
	}
	switch policy {
	case CompatBackward:
		merged, err := Merge(file, row)
		if err != nil {
			return Decision{}, err
		}
		if merged.Equal(file) {
			return Decision{Schema: file}, nil
		}
		return Decision{NewFile: true, Schema: merged}, nil
	case CompatNone, "":
		return Decision{NewFile: true, Schema: row}, nil
	}
	return Decision{}, fmt.Errorf("formats: unknown schema compatibility %q", policy)
}

// Merge returns the schema that holds rows of both old and new: old's
// fields in order (widened where new widens them), then the fields only new
// has, all made nullable where one side lacks them. Allowed widenings:
// int32 -> int64 -> double, int32 -> double, float -> double, required ->
// nullable, decimal(p,s) -> decimal(p',s) with p' >= p, structs merge
// member-wise, lists and maps by element; and any primitive -> string when
// new was produced by a JSON decoder with widen_to_string. Anything else
// is a *SchemaError.
func Merge(old, new *Schema) (*Schema, error) {
	fields, err := mergeFields("", old.Fields, new.Fields, new.widenToString || old.widenToString)
	if err != nil {
		return nil, err
	}
	return &Schema{Fields: fields, widenToString: old.widenToString || new.widenToString}, nil
}

func mergeFields(prefix string, old, new []Field, toString bool) ([]Field, error) {
	out := make([]Field, 0, len(old)+len(new))
	newIdx := make(map[string]int, len(new))
	for i, f := range new {
		newIdx[f.Name] = i
	}
	used := make([]bool, len(new))
	for _, of := range old {
		j, ok := newIdx[of.Name]
		if !ok {
			of.Required = false
			out = append(out, of)
			continue
		}
		used[j] = true
		nf := new[j]
		t, err := mergeType(prefix+of.Name, of.Type, nf.Type, toString)
		if err != nil {
			return nil, err
		}
		f := of
		f.Type = t
		f.Required = of.Required && nf.Required
		out = append(out, f)
	}
	for j, nf := range new {
		if !used[j] {
			nf.Required = false
			out = append(out, nf)
		}
	}
	return out, nil
}

func mergeType(path string, old, new *Type, toString bool) (*Type, error) {
	if old.Equal(new) {
		return old, nil
	}
	bad := func(reason string) (*Type, error) {
		return nil, &SchemaError{Field: path, Old: old.String(), New: new.String(), Reason: reason}
	}
	switch {
	case old.Kind == KindStruct && new.Kind == KindStruct:
		fields, err := mergeFields(path+".", old.Fields, new.Fields, toString)
		if err != nil {
			return nil, err
		}
		return StructOf(fields...), nil
	case old.Kind == KindList && new.Kind == KindList:
		e, err := mergeType(path+"[]", old.Elem, new.Elem, toString)
		if err != nil {
			return nil, err
		}
		return ListOf(e), nil
	case old.Kind == KindMap && new.Kind == KindMap:
		e, err := mergeType(path+"{}", old.Elem, new.Elem, toString)
		if err != nil {
			return nil, err
		}
		return MapOf(e), nil
	case old.Kind == KindDecimal && new.Kind == KindDecimal:
		if old.Scale != new.Scale {
			return bad("a decimal's scale cannot change")
		}
		return DecimalOf(max(old.Precision, new.Precision), old.Scale), nil
	}
	if w := widerNumeric(old.Kind, new.Kind); w != nil {
		return w, nil
	}
	if toString && isPrimitive(old.Kind) && isPrimitive(new.Kind) && (old.Kind == KindString || new.Kind == KindString) {
		return StringType, nil
	}
	return bad("not a widening backward compatibility allows (int32 -> int64 -> double, float -> double, adding nullable fields)")
}

func isPrimitive(k Kind) bool { return k >= KindBoolean && k <= KindDecimal }

// widerNumeric returns the numeric type both kinds widen to, or nil:
// int32+int64 is int64; anything with a float or double is double (an
// int32 or int64 in a float would lose digits).
func widerNumeric(a, b Kind) *Type {
	rank := func(k Kind) int {
		switch k {
		case KindInt32:
			return 1
		case KindInt64:
			return 2
		case KindFloat, KindDouble:
			return 3
		}
		return 0
	}
	ra, rb := rank(a), rank(b)
	switch {
	case ra == 0 || rb == 0:
		return nil
	case max(ra, rb) == 3:
		return DoubleType
	case max(ra, rb) == 2:
		return Int64Type
	}
	return Int32Type
}

// projection maps rows of one schema onto another (the Writer's).
type projection struct {
	src, dst *Schema
	from     []int // dst field i comes from src field from[i], or -1 (null)
}

// projection returns the projection of rows of schema s onto the writer's
// schema, nil if s equals it.
func (w *Writer) projection(s *Schema) (*projection, error) {
	if p, ok := w.projs[s]; ok {
		return p, nil
	}
	if s.Equal(w.schema) {
		if w.projs == nil {
			w.projs = map[*Schema]*projection{}
		}
		w.projs[s] = nil
		return nil, nil
	}
	p := &projection{src: s, dst: w.schema, from: make([]int, len(w.schema.Fields))}
	for i, f := range w.schema.Fields {
		j := s.Index(f.Name)
		p.from[i] = j
		if j < 0 {
			if f.Required {
				return nil, &SchemaError{Field: f.Name, Old: f.Type.String(), New: "(missing)", Reason: "a required field cannot be missing"}
			}
			continue
		}
		if _, err := mergeType(f.Name, s.Fields[j].Type, f.Type, true); err != nil {
			return nil, err
		}
	}
	for _, f := range s.Fields {
		if w.schema.Index(f.Name) < 0 {
			return nil, &SchemaError{Field: f.Name, Old: "(missing)", New: f.Type.String(), Reason: "the open file has no such column; Resolve starts a new file for it"}
		}
	}
	if len(w.projs) > 64 {
		clear(w.projs)
	}
	if w.projs == nil {
		w.projs = map[*Schema]*projection{}
	}
	w.projs[s] = p
	return p, nil
}

// apply projects one row's values.
func (p *projection) apply(src []Value) ([]Value, error) {
	out := make([]Value, len(p.dst.Fields))
	for i, j := range p.from {
		if j < 0 {
			continue
		}
		v, err := convertValue(src[j], p.src.Fields[j].Type, p.dst.Fields[i].Type)
		if err != nil {
			return nil, fmt.Errorf("formats: field %s: %w", p.dst.Fields[i].Name, err)
		}
		out[i] = v
	}
	return out, nil
}

// convertValue converts v of type from to type to along a widening Merge
// allows.
func convertValue(v Value, from, to *Type) (Value, error) {
	if v.kind == KindNull || from.Equal(to) {
		return v, nil
	}
	switch to.Kind {
	case KindInt64:
		if v.kind == KindInt32 {
			return Int64Value(v.Int()), nil
		}
	case KindDouble:
		switch v.kind {
		case KindInt32, KindInt64:
			return DoubleValue(float64(v.Int())), nil
		case KindFloat:
			return DoubleValue(v.Float()), nil
		}
	case KindDecimal:
		if v.kind == KindDecimal && from.Scale == to.Scale {
			if to.Precision > 18 && from.Precision <= 18 {
				return DecimalValue(v.Unscaled(), to.Precision), nil
			}
			return v, nil
		}
	case KindString:
		if isPrimitive(v.kind) {
			return StringValue([]byte(textOf(v, from))), nil
		}
	case KindStruct:
		if v.kind == KindStruct && from.Kind == KindStruct {
			out := make([]Value, len(to.Fields))
			for i, f := range to.Fields {
				for j, g := range from.Fields {
					if g.Name == f.Name {
						c, err := convertValue(v.list()[j], g.Type, f.Type)
						if err != nil {
							return Value{}, fmt.Errorf("%s: %w", f.Name, err)
						}
						out[i] = c
					}
				}
				if out[i].kind == KindNull && f.Required {
					return Value{}, fmt.Errorf("%s: required but missing", f.Name)
				}
			}
			return StructValue(out...), nil
		}
	case KindList, KindMap:
		if v.kind == to.Kind && from.Kind == to.Kind {
			out := make([]Value, len(v.list()))
			for i, e := range v.list() {
				if to.Kind == KindMap && i%2 == 0 {
					out[i] = e
					continue
				}
				c, err := convertValue(e, from.Elem, to.Elem)
				if err != nil {
					return Value{}, fmt.Errorf("[%d]: %w", i, err)
				}
				out[i] = c
			}
			return elemsValue(to.Kind, out), nil
		}
	}
	return Value{}, fmt.Errorf("cannot convert %s to %s", from, to)
}

// textOf renders a primitive as the text widen_to_string stores.
func textOf(v Value, t *Type) string {
	switch v.kind {
	case KindString:
		return string(v.raw())
	case KindBinary:
		return base64.StdEncoding.EncodeToString(v.raw())
	case KindBoolean:
		return strconv.FormatBool(v.Bool())
	case KindInt32, KindInt64:
		return strconv.FormatInt(v.Int(), 10)
	case KindFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, 32)
	case KindDouble:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case KindDate:
		return v.Time().Format("2006-01-02")
	case KindTimestamp:
		return v.Time().Format(time.RFC3339Nano)
	case KindDecimal:
		return decimalText(v.Unscaled(), t.Scale)
	}
	return v.String()
}

// decimalText renders an unscaled integer with scale digits after the point.
func decimalText(x *big.Int, scale int) string {
	s := new(big.Int).Abs(x).String()
	if scale > 0 {
		for len(s) <= scale {
			s = "0" + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if x.Sign() < 0 {
		s = "-" + s
	}
	return s
}
