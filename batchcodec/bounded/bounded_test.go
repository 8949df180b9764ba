package bounded

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec"
	"github.com/sluicehq/sluice/batchcodec/batchtest"
)

// TestBudgeted: one batch may decompress to maxBatch, all batches between
// two polls to twice that; past the budget a batch is refused for now
// (ErrBudget, fetched again), past maxBatch for good (kgo.ErrMaxDecompress),
// and a bomb costs about the bound, not what it expands to.
func TestBudgeted(t *testing.T) {
	d := NewBudgeted(8 << 20)
	six := batchtest.Compress(batchcodec.Zstd, bytes.Repeat([]byte("x"), 6<<20))
	for i, want := range []error{nil, nil, ErrBudget} {
		out, err := d.Decompress(six, kgo.CodecZstd)
		if !errors.Is(err, want) || (err == nil && len(out) != 6<<20) {
			t.Fatalf("batch %d of 6 MiB: %d bytes, %v; want %v", i, len(out), err, want)
		}
	}
	d.Polled()
	if _, err := d.Decompress(six, kgo.CodecZstd); err != nil {
		t.Fatalf("after a poll: %v", err)
	}
	d.Polled()
	bomb := batchtest.ZstdBomb(0, 200, 1<<20)[61:] // 200 MiB
	var err error
	if alloc := batchtest.Allocated(func() { _, err = d.Decompress(bomb, kgo.CodecZstd) }); alloc > 40<<20 {
		t.Errorf("refusing a 200 MiB bomb under an 8 MiB bound allocated %d MiB", alloc>>20)
	}
	if !errors.Is(err, kgo.ErrMaxDecompress) {
		t.Fatalf("bomb: %v, want kgo.ErrMaxDecompress", err)
	}
	if out, err := d.Decompress([]byte("raw"), kgo.CodecNone); err != nil || string(out) != "raw" {
		t.Errorf("uncompressed: %q, %v", out, err)
	}
}

// TestUnbudgeted: without a budget every batch under the bound
// decompresses, however many come between polls, and a bomb whose zstd
// frame declares its size is refused before anything is allocated for it.
func TestUnbudgeted(t *testing.T) {
	d := New(0)
	if d.MaxBatch() != DefaultMaxBatchBytes {
		t.Fatalf("New(0) bounds a batch at %d, want %d", d.MaxBatch(), DefaultMaxBatchBytes)
	}
	six := batchtest.Compress(batchcodec.Zstd, bytes.Repeat([]byte("x"), 6<<20))
	d = New(8 << 20)
	for i := range 4 {
		if out, err := d.Decompress(six, kgo.CodecZstd); err != nil || len(out) != 6<<20 {
			t.Fatalf("batch %d of 6 MiB with no budget: %d bytes, %v", i, len(out), err)
		}
	}
	declared := batchtest.ZstdBombDeclared(0, 200, 1<<20)[61:]
	var err error
	if alloc := batchtest.Allocated(func() { _, err = d.Decompress(declared, kgo.CodecZstd) }); alloc > 1<<20 {
		t.Errorf("refusing a zstd frame declaring 200 MiB allocated %d KiB", alloc>>10)
	}
	if !errors.Is(err, kgo.ErrMaxDecompress) {
		t.Fatalf("declared bomb: %v, want kgo.ErrMaxDecompress", err)
	}
}

// TestTooLarge: franz-go's error for a batch over the bound is explained
// with the topic, the partition, the batch's offset, the bound and where
// the next batch starts; any other error is not.
func TestTooLarge(t *testing.T) {
	d := New(4 << 20)
	fe := &kgo.ErrDecompressTooLarge{Topic: "events", Partition: 3, Offset: 26, NextOffset: 76}
	tl, ok := d.TooLarge(fe)
	if !ok {
		t.Fatal("a *kgo.ErrDecompressTooLarge is not explained")
	}
	want := `topic "events" partition 3: the batch at offset 26 decompresses to more than 4 MiB`
	if msg := tl.Error(); !strings.HasPrefix(msg, want) || !strings.Contains(msg, "next batch starts at offset 76") {
		t.Errorf("message %q, want it to start %q and name offset 76", msg, want)
	}
	if !errors.Is(tl, kgo.ErrMaxDecompress) {
		t.Error("the explained error does not wrap kgo.ErrMaxDecompress")
	}
	if _, ok := d.TooLarge(errors.New("other")); ok {
		t.Error("an unrelated error is explained as a batch over the bound")
	}
	if got := size(1000); got != "1000 bytes" {
		t.Errorf("size(1000) = %q", got)
	}
}
