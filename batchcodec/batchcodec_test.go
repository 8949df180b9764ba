package batchcodec

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/sluicehq/sluice/batchcodec/batchtest"
)

var data = bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog "), 4000) // 176 KB

// compressed returns data compressed every way Kafka's clients write it.
func compressed() map[string]struct {
	codec int
	b     []byte
} {
	return map[string]struct {
		codec int
		b     []byte
	}{
		"gzip":   {Gzip, batchtest.Compress(Gzip, data)},
		"snappy": {Snappy, batchtest.Compress(Snappy, data)},
		"xerial": {Snappy, batchtest.XerialSnappy(data, 3)},
		"lz4":    {Lz4, batchtest.Compress(Lz4, data)},
		"zstd":   {Zstd, batchtest.Compress(Zstd, data)},
	}
}

func TestDecode(t *testing.T) {
	for name, c := range compressed() {
		got, err := Decode([]byte("prefix"), c.codec, c.b, int64(len(data)))
		if err != nil || !bytes.Equal(got[6:], data) || string(got[:6]) != "prefix" {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
		// One byte short of the data is too large.
		got, err = Decode(nil, c.codec, c.b, int64(len(data)-1))
		if !errors.Is(err, ErrTooLarge) || len(got) != 0 {
			t.Errorf("%s at a limit 1 byte short: %d bytes, %v; want ErrTooLarge", name, len(got), err)
		}
		// Garbage does not decompress; nor does a cut stream.
		if _, err := Decode(nil, c.codec, []byte("not compressed at all"), 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s garbage: %v, want ErrCorrupt", name, err)
		}
		if _, err := Decode(nil, c.codec, c.b[:len(c.b)/2], 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s cut in half: %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := Decode(nil, 7, data, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Errorf("codec 7: %v, want ErrCorrupt", err)
	}
}

// TestDecodeBombBounded: decoding a bomb stops at the limit, having
// allocated about the limit, not what the bomb expands to; a frame or a
// block that declares more than the limit is refused before allocating.
func TestDecodeBombBounded(t *testing.T) {
	bomb := batchtest.ZstdBomb(0, 200, 1<<20)[61:] // the records data: 200 MiB
	var err error
	if alloc := batchtest.Allocated(func() { _, err = Decode(nil, Zstd, bomb, 16<<20) }); alloc > 48<<20 {
		t.Errorf("decoding 16 MiB of a 200 MiB bomb allocated %d MiB", alloc>>20)
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bomb: %v, want ErrTooLarge", err)
	}
	big := make([]byte, 8<<20)
	for name, c := range map[string]struct {
		codec int
		b     []byte
	}{"zstd": {Zstd, batchtest.Compress(Zstd, big)}, "snappy": {Snappy, batchtest.Compress(Snappy, big)}} {
		var err error
		if alloc := batchtest.Allocated(func() { _, err = Decode(nil, c.codec, c.b, 1<<20) }); alloc > 256<<10 {
			t.Errorf("%s declaring 8 MiB under a 1 MiB limit: allocated %d KiB", name, alloc>>10)
		}
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s declaring 8 MiB under a 1 MiB limit: %v, want ErrTooLarge", name, err)
		}
	}
}

// FuzzDecode: arbitrary bytes under every codec never panic, never return
// more than the limit, and fail only with ErrCorrupt or ErrTooLarge.
func FuzzDecode(f *testing.F) {
	for _, c := range compressed() {
		f.Add(c.codec, c.b[:min(len(c.b), 4096)])
	}
	f.Fuzz(func(t *testing.T, codec int, b []byte) {
		const limit = 1 << 20
		out, err := Decode(nil, codec&7, b, limit)
		if len(out) > limit {
			t.Fatalf("decoded %d bytes, limit %d", len(out), limit)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v is neither ErrCorrupt nor ErrTooLarge", err)
		}
		if r, err := NewReader(codec&7, b, limit); err == nil {
			io.Copy(io.Discard, io.LimitReader(r, limit+1))
			r.Close()
		}
	})
}
