package formats

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
