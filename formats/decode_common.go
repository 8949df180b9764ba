package formats

import (
	"fmt"
	"unicode/utf8"
)

// newRow returns a row for m with n values, all null.
func newRow(s *Schema, m *Message, n int) *Row {
	r := &Row{Values: make([]Value, n)}
	fillRow(r, s, m)
	return r
}

func fillRow(r *Row, s *Schema, m *Message) {
	r.Schema = s
	r.Topic = m.Topic
	r.Partition = m.Partition
	r.Offset = m.Offset
	r.Timestamp = m.Timestamp
	r.Key = m.Key
}

// slab hands out rows, values and bytes carved from larger allocations, so
// a decoder makes a few allocations per hundreds of rows instead of several
// per row. Carved memory is never handed out twice; the garbage collector
// frees a chunk once no row refers to it.
type slab struct {
	rows   []Row
	values []Value
	bytes  []byte
}

const (
	slabRows   = 256
	slabValues = 4096
	slabBytes  = 64 << 10
)

// row returns a row for m with n null values.
func (s *slab) row(sc *Schema, m *Message, n int) *Row {
	if len(s.rows) == 0 {
		s.rows = make([]Row, slabRows)
	}
	r := &s.rows[0]
	s.rows = s.rows[1:]
	r.Values = s.vals(n)
	fillRow(r, sc, m)
	return r
}

// vals returns n null values.
func (s *slab) vals(n int) []Value {
	if n > slabValues/8 {
		return make([]Value, n)
	}
	if len(s.values) < n {
		s.values = make([]Value, slabValues)
	}
	v := s.values[:n:n]
	s.values = s.values[n:]
	return v
}

// buf returns an empty byte slice with capacity n, for one row's strings.
func (s *slab) buf(n int) []byte {
	if n > slabBytes/8 {
		return make([]byte, 0, n)
	}
	if len(s.bytes) < n {
		s.bytes = make([]byte, slabBytes)
	}
	b := s.bytes[:0:n]
	s.bytes = s.bytes[n:]
	return b
}

func decodeErr(format string, m *Message, path, reason string, args ...any) *DecodeError {
	return &DecodeError{
		Format:    format,
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Path:      path,
		Reason:    fmt.Sprintf(reason, args...),
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// invalidUTF8At returns the offset of the first invalid UTF-8 byte of b.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}
