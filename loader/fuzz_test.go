package loader

import (
	"testing"
	"time"
)

// FuzzParseFileName: any base name either fails to parse or round-trips.
func FuzzParseFileName(f *testing.F) {
	f.Add("events+0+00000000000000000000+00000000000000019999.snappy.parquet")
	f.Add("a.b-c+17+00000000000000000005+00000001099511627776.zstd.parquet")
	f.Add("x+1+2+3.snappy.parquet")
	f.Add("_SUCCESS")
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseFileName(s)
		if !ok {
			return
		}
		if n.First < 0 || n.Last < n.First || n.Partition < 0 {
			t.Fatalf("%q parsed to %+v", s, n)
		}
		if back, ok := ParseFileName(n.String()); !ok || back != n {
			t.Fatalf("%q -> %+v -> %q -> %+v", s, n, n.String(), back)
		}
	})
}

// FuzzDecodeIntent: intent files (possibly torn or foreign) never panic,
// and a decoded intent re-encodes to an intent that decodes the same.
func FuzzDecodeIntent(f *testing.F) {
	good, _ := encodeIntent(&batch{TP: TopicPartition{"t", 3}, First: 10, Last: 99, Renames: []rename{{"_tmp/a.tmp", "dt=x/a.parquet"}}})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("sluice-intent 1\nend\t0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, ok := decodeIntent(data)
		if !ok {
			return
		}
		again, err := encodeIntent(&b)
		if err != nil {
			return // a path with a tab cannot be encoded; never written
		}
		b2, ok := decodeIntent(again)
		if !ok || b2.TP != b.TP || b2.First != b.First || b2.Last != b.Last || len(b2.Renames) != len(b.Renames) {
			t.Fatalf("re-encoded intent differs: %+v vs %+v", b, b2)
		}
	})
}

// FuzzParseLayoutDir: folder names never panic the _SUCCESS scanner and
// parse only to real times.
func FuzzParseLayoutDir(f *testing.F) {
	f.Add("dt=YYYY-MM-DD/hr=HH", "dt=2026-11-25/hr=07")
	f.Add("year=YYYY/mm", "year=2026/59")
	f.Add("dt=YYYYMMDD", "dt=2026112")
	f.Fuzz(func(t *testing.T, layout, dir string) {
		tm, ok := parseLayoutDir(layout, dir, time.UTC)
		if ok && (tm.Year() > 9999 || tm.Location() != time.UTC) {
			t.Fatalf("(%q, %q) parsed to %v", layout, dir, tm)
		}
	})
}
