package client

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseRecordFormat(t *testing.T) {
	r := &kgo.Record{
		Topic: "t", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("v%1"),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
	}
	null := &kgo.Record{Topic: "t"}
	for _, tc := range []struct {
		format string
		rec    *kgo.Record
		want   string
	}{
		{"%v", r, "v%1\n"},
		{"%s", r, "v%1\n"},
		{`%t %p %o %k %v %T`, r, "t 3 42 k v%1 1700000000123\n"},
		{`%K %S|%h`, r, "1 3|a=1,b=2\n"},
		{`%K %S [%k] [%v]`, null, "-1 -1 [] []\n"},
		{`100%% %v\n`, r, "100% v%1\n"},
		{`%k\t%v\r\n`, r, "k\tv%1\r\n"},
		{`a\\b`, r, "a\\b\n"},
		{`no verbs`, r, "no verbs\n"},
		{`%v\n\n`, r, "v%1\n\n"},
		{``, r, "\n"},
	} {
		f, err := ParseRecordFormat(tc.format)
		if err != nil {
			t.Errorf("ParseRecordFormat(%q): %v", tc.format, err)
			continue
		}
		if got := string(f.Append(nil, tc.rec)); got != tc.want {
			t.Errorf("format %q = %q, want %q", tc.format, got, tc.want)
		}
	}
	for _, tc := range []struct{ format, want string }{
		{"%x", "unknown verb %x at byte 1 (want %t %p %o %T %k %v %s %K %S %h %%)"},
		{"abc%", "% at the end (write %% for a literal %)"},
		{`\q`, `unknown escape \q at byte 1 (want \n \t \r \\)`},
		{`x\`, `\ at the end (write \\ for a backslash)`},
	} {
		_, err := ParseRecordFormat(tc.format)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseRecordFormat(%q) error = %v, want %q", tc.format, err, tc.want)
		}
	}
}

// Append extends dst, so one buffer serves every record.
func TestRecordFormatAppendReusesBuffer(t *testing.T) {
	f, err := ParseRecordFormat("%o:%v")
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("kept|")
	buf = f.Append(buf, &kgo.Record{Offset: 1, Value: []byte("a")})
	buf = f.Append(buf, &kgo.Record{Offset: 2, Value: []byte("b")})
	if got, want := string(buf), "kept|1:a\n2:b\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if strings.Contains(string(f.Append(nil, &kgo.Record{})), "kept") {
		t.Error("a nil dst carries old bytes")
	}
}
