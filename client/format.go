package client

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RecordFormat is a compiled record template: literal runs and % verbs, in
// order, written once per record. The verbs are kcat's -f verbs, with %v
// beside %s for the value:
//
//	%t topic      %p partition      %o offset      %T timestamp (Unix ms)
//	%k key        %v or %s value    %K key length  %S value length
//	%h headers as k=v,k=v           %% a literal %
//
// Lengths are -1 for a null key or value. The escapes \n \t \r and \\ are
// understood. A newline ends each record unless the template already ends
// with one.
type RecordFormat struct {
	parts []formatPart
}

// formatVerb is one % verb of a RecordFormat.
type formatVerb byte

type formatPart struct {
	lit  []byte
	verb formatVerb // 0 for a literal
}

// ParseRecordFormat compiles a template, rejecting unknown verbs and
// escapes with their byte position.
func ParseRecordFormat(s string) (*RecordFormat, error) {
	f := &RecordFormat{}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			f.parts = append(f.parts, formatPart{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			if i+1 == len(s) {
				return nil, fmt.Errorf("%% at the end (write %%%% for a literal %%)")
			}
			i++
			switch v := s[i]; v {
			case '%':
				lit = append(lit, '%')
			case 't', 'p', 'o', 'T', 'k', 'v', 's', 'K', 'S', 'h':
				flush()
				if v == 's' {
					v = 'v'
				}
				f.parts = append(f.parts, formatPart{verb: formatVerb(v)})
			default:
				return nil, fmt.Errorf("unknown verb %%%c at byte %d (want %%t %%p %%o %%T %%k %%v %%s %%K %%S %%h %%%%)", v, i)
			}
		case '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("\\ at the end (write \\\\ for a backslash)")
			}
			i++
			switch e := s[i]; e {
			case 'n':
				lit = append(lit, '\n')
			case 't':
				lit = append(lit, '\t')
			case 'r':
				lit = append(lit, '\r')
			case '\\':
				lit = append(lit, '\\')
			default:
				return nil, fmt.Errorf("unknown escape \\%c at byte %d (want \\n \\t \\r \\\\)", e, i)
			}
		default:
			lit = append(lit, c)
		}
	}
	if !strings.HasSuffix(string(lit), "\n") {
		lit = append(lit, '\n')
	}
	flush()
	return f, nil
}

// Append writes r formatted by f to dst and returns the extended slice.
func (f *RecordFormat) Append(dst []byte, r *kgo.Record) []byte {
	for _, p := range f.parts {
		switch p.verb {
		case 0:
			dst = append(dst, p.lit...)
		case 't':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 'T':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		case 'k':
			dst = append(dst, r.Key...)
		case 'v':
			dst = append(dst, r.Value...)
		case 'K':
			dst = appendLen(dst, r.Key)
		case 'S':
			dst = appendLen(dst, r.Value)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = append(dst, h.Value...)
			}
		}
	}
	return dst
}

// appendLen writes len(b), or -1 for a null (nil) key or value.
func appendLen(dst, b []byte) []byte {
	if b == nil {
		return append(dst, "-1"...)
	}
	return strconv.AppendInt(dst, int64(len(b)), 10)
}
