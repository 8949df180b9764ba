package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/batchcodec/batchtest"
)

// rawRecord encodes one record with the given offset delta.
func encodeRecord(delta int32, key, value []byte) []byte {
	r := kmsg.Record{OffsetDelta: delta, Key: key, Value: value}
	body := r.AppendTo(nil)[1:]
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

// recordsBatch wraps record bytes, compressed with codec, in a batch that
// declares n records.
func recordsBatch(t testing.TB, codec int, recs []byte, n int32) []byte {
	t.Helper()
	s := spec()
	recs, s.codec = compressRecords(t, codec, recs)
	return wrapRecords(s, recs, n, n-1, s.firstTs)
}

var codecs = []struct {
	name string
	id   int // batchSpec codec
}{{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"xerial", 5}, {"lz4", 3}, {"zstd", 4}, {"franz-snappy", 12}, {"franz-lz4", 13}}

// TestAppendChecksRecords: Append reads through the records of every batch,
// decompressing if needed, and refuses what Kafka's record iterator and
// LogValidator refuse, with Kafka's error classes.
func TestAppendChecksRecords(t *testing.T) {
	r0 := encodeRecord(0, []byte("a"), []byte("one"))
	r1 := encodeRecord(1, []byte("b"), []byte("two"))
	r2 := encodeRecord(2, nil, []byte("three"))
	longer := bytes.Clone(r1)
	longer[0] += 2 // the length says 1 byte more than the fields hold (zigzag)
	badKey := encodeRecord(1, bytes.Repeat([]byte("k"), 10), nil)
	badKey[4] = 0x7e // key length 63, more than the record holds
	cases := []struct {
		name string
		recs []byte
		n    int32
		want error
		msg  string
	}{
		{"valid", cat(r0, r1, r2), 3, nil, ""},
		{"fewer records than declared", cat(r0, r1), 3, ErrInvalidRecord, "ends inside record 2"},
		{"more records than declared", cat(r0, r1, r2), 2, ErrInvalidRecord, "bytes follow the 2 records"},
		{"offset delta beyond the span", cat(r0, encodeRecord(2, nil, nil)), 2, ErrInvalidRecord, "offset delta 2 after 0"},
		{"offset deltas out of order", cat(encodeRecord(1, nil, nil), r0), 2, ErrInvalidRecord, "offset delta 0 after 1"},
		{"repeated offset delta", cat(r0, r0), 2, ErrInvalidRecord, "offset delta 0 after 0"},
		{"length longer than the fields", cat(r0, longer), 2, ErrInvalidRecord, "record 1"},
		{"key longer than the record", cat(r0, badKey), 2, ErrInvalidRecord, "key length 63"},
	}
	for _, c := range codecs {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				l := newEnv(t).open(DefaultConfig())
				_, err := l.Append(recordsBatch(t, c.id, tc.recs, tc.n))
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Fatalf("append: %v, want %v", err, tc.want)
				}
				if err != nil && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				if err != nil && l.EndOffset() != 0 {
					t.Errorf("refused batch moved the end offset to %d", l.EndOffset())
				}
			})
		}
	}
	// Data that does not decompress is CORRUPT_MESSAGE.
	for _, codec := range []int{codecGzip, codecSnappy, codecLz4, codecZstd} {
		l := newEnv(t).open(DefaultConfig())
		_, err := l.Append(recordsBatchOf(codec, []byte("this is text, not compressed records"), 2))
		if !errors.Is(err, ErrCorruptMessage) || !strings.Contains(err.Error(), codecName(codec)) {
			t.Errorf("%s: garbage: %v, want CORRUPT_MESSAGE naming the codec", codecName(codec), err)
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestAppendRefusesUnknownCodec: a batch whose attributes name a codec
// Kafka does not define (5, 6, 7) is refused with CORRUPT_MESSAGE naming
// the codec, instead of being stored and stopping every consumer.
func TestAppendRefusesUnknownCodec(t *testing.T) {
	for _, codec := range []int{5, 6, 7} {
		e := newEnv(t)
		l := e.open(DefaultConfig())
		s := spec("a", "b")
		b := makeBatch(t, s)
		b[22] |= byte(codec) // attributes, low byte
		stampCRC(b, int64(len(b)))
		_, err := l.Append(b)
		if !errors.Is(err, ErrCorruptMessage) {
			t.Fatalf("codec %d: append: %v, want CORRUPT_MESSAGE", codec, err)
		}
		if want := "unknown compression codec " + string(rune('0'+codec)); !strings.Contains(err.Error(), want) {
			t.Errorf("codec %d: error %q does not say %q", codec, err, want)
		}
		mustAppend(t, l, makeBatch(t, spec("c")))
		if got := values(readAll(t, l, 1<<20)); len(got) != 1 || got[0] != "c" {
			t.Errorf("codec %d: log holds %v, want [c]", codec, got)
		}
	}
}

// TestAppendRefusesCompressionBomb: a small compressed batch that expands
// far beyond what a producer sends is refused while streaming through it,
// in bounded memory, and what a real producer sends is accepted.
func TestAppendRefusesCompressionBomb(t *testing.T) {
	e := newEnv(t)
	cfg := DefaultConfig() // 64 MiB of decompressed records per batch
	l := e.open(cfg)

	// 200 records of 1 MiB of zeros: 200 MiB from a few KB of zstd.
	bomb := batchtest.ZstdBomb(0, 200, 1<<20)
	if len(bomb) > 256<<10 {
		t.Fatalf("bomb is %d bytes, want a small one", len(bomb))
	}
	var err error
	alloc := batchtest.Allocated(func() { _, err = l.Append(bomb) })
	if !errors.Is(err, ErrMessageTooLarge) || !strings.Contains(err.Error(), "64 times max.message.bytes") {
		t.Fatalf("bomb of %d bytes: %v, want MESSAGE_TOO_LARGE naming the limit", len(bomb), err)
	}
	// The decoder's window (8 MiB) and buffers, not the 64 MiB read.
	if alloc > 24<<20 {
		t.Errorf("refusing the bomb allocated %d MiB", alloc>>20)
	}

	// Within the limit, a batch that compresses very well is fine.
	mustAppend(t, l, batchtest.ZstdBomb(0, 4, 1<<20))

	// A frame that declares its size is refused from its header alone.
	small := cfg
	small.MaxMessageBytes = 64 << 10 // 4 MiB decompressed
	if err := l.SetConfig(small); err != nil {
		t.Fatal(err)
	}
	recs := cat(encodeRecord(0, nil, make([]byte, 5<<20)))
	for _, codec := range []int{codecZstd, codecSnappy} {
		b := recordsBatch(t, codec, recs, 1)
		if codec == codecSnappy {
			b = recordsBatchOf(codecSnappy, s2.EncodeSnappy(nil, recs), 1)
		}
		alloc := batchtest.Allocated(func() { _, err = l.Append(b) })
		if !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("%s frame declaring 5 MiB: %v, want MESSAGE_TOO_LARGE", codecName(codec), err)
		}
		if alloc > 1<<20 {
			t.Errorf("%s frame declaring 5 MiB: allocated %d KiB before refusing it", codecName(codec), alloc>>10)
		}
	}
}

func recordsBatchOf(codec int, compressed []byte, n int32) []byte {
	s := spec()
	s.codec = codec
	return wrapRecords(s, compressed, n, n-1, s.firstTs)
}

// TestAppendMaxDecompressedMessageBytes: as in Kafka, a record of a
// compressed batch longer than max.decompressed.message.bytes is
// INVALID_RECORD; an uncompressed record of the same size is bounded by
// max.message.bytes alone.
func TestAppendMaxDecompressedMessageBytes(t *testing.T) {
	e := newEnv(t)
	cfg := DefaultConfig()
	cfg.MaxDecompressedMessageBytes = 512
	l := e.open(cfg)
	big := cat(encodeRecord(0, []byte("key"), make([]byte, 4096)))
	_, err := l.Append(recordsBatch(t, 1, big, 1))
	if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "max.decompressed.message.bytes 512") {
		t.Fatalf("4 KiB gzip record: %v, want INVALID_RECORD naming max.decompressed.message.bytes", err)
	}
	mustAppend(t, l, recordsBatch(t, 1, cat(encodeRecord(0, []byte("key"), make([]byte, 64))), 1))
	mustAppend(t, l, recordsBatch(t, 0, big, 1))
}
