package formats

import (
	"fmt"
	"unicode/utf8"
)

// newRow returns a row for m with n values, all null.
func newRow(s *Schema, m *Message, n int) *Row {
	return &Row{
		Schema:    s,
		Values:    make([]Value, n),
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Timestamp: m.Timestamp,
		Key:       m.Key,
	}
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
