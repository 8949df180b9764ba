package log

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestEncodeDecodeBatch(t *testing.T) {
	h := NewBatchHeader()
	recs := []Record{
		{Offset: 10, Timestamp: 1000, Key: []byte("a"), Value: []byte("1"), Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}},
		{Offset: 13, Timestamp: 1005, Key: []byte("b")}, // tombstone after a gap
		{Offset: 14, Timestamp: 999, Value: []byte("no key")},
	}
	b := EncodeBatch(h, recs)
	if _, err := ParseBatchHeader(b); err != nil {
		t.Fatalf("encoded batch: %v", err)
	}
	gh, got, err := DecodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if gh.BaseOffset != 10 || gh.LastOffset() != 14 || gh.NumRecords != 3 || gh.MaxTimestamp != 1005 {
		t.Fatalf("header %+v", gh)
	}
	for i, r := range got {
		w := recs[i]
		if r.Offset != w.Offset || r.Timestamp != w.Timestamp || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) ||
			(r.Value == nil) != (w.Value == nil) || (r.Key == nil) != (w.Key == nil) || len(r.Headers) != len(w.Headers) {
			t.Errorf("record %d: got %+v, want %+v", i, r, w)
		}
	}
	// Compressed batches from a producer decode too.
	for _, codec := range []int{1, 4} {
		s := spec("x", "y", "z")
		s.codec = codec
		_, got, err := DecodeBatch(makeBatch(t, s))
		if err != nil || len(got) != 3 || string(got[2].Value) != "z" {
			t.Fatalf("codec %d: %v %+v", codec, err, got)
		}
	}
	b[len(b)-1] ^= 0xff
	if _, _, err := DecodeBatch(b); err == nil {
		t.Fatal("corrupt batch decoded")
	}
	// Runs of consecutive offsets make batches that pass the append and
	// recovery checks (record count matches the offset span).
	// A run is also cut at maxBytes of keys and values.
	var out bytes.Buffer
	rw := runWriter{h: BatchHeader{ProducerID: 7, ProducerEpoch: 1, BaseSequence: 100, BaseOffset: 10}, w: &out, maxBytes: 2}
	for _, r := range append(recs, Record{Offset: 15, Timestamp: 1000, Key: []byte("c"), Value: []byte("3")}) {
		if err := rw.add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.flush(); err != nil {
		t.Fatal(err)
	}
	hs, err := ValidateBatches(out.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for i, h := range hs {
		bases = append(bases, h.BaseOffset)
		if want := int32(100 + (h.BaseOffset - 10)); h.BaseSequence != want {
			t.Errorf("run %d: base sequence %d, want %d", i, h.BaseSequence, want)
		}
	}
	if fmt.Sprint(bases) != "[10 13 15]" || hs[1].NumRecords != 2 {
		t.Errorf("batches at %v (second of %d records), want at [10 13 15], the second holding 13 and 14", bases, hs[1].NumRecords)
	}
}

// FuzzDecodeBatch: arbitrary bytes never panic the record decoder, and
// whatever decodes re-encodes to a batch that decodes to the same records.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(EncodeBatch(NewBatchHeader(), []Record{{Offset: 0, Timestamp: 1, Key: []byte("k"), Value: []byte("v")}}))
	f.Add(makeBatch(f, spec("a", "b")))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, recs, err := DecodeBatch(b)
		if err != nil || len(recs) == 0 {
			return
		}
		_, again, err := DecodeBatch(EncodeBatch(h, recs))
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-encoded batch: %v, %d records, want %d", err, len(again), len(recs))
		}
	})
}
