package loader

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec"
)

// Bounding what franz-go decompresses.
//
// franz-go decompresses every batch of a fetch response before the records
// reach the loader, each batch into one slice the records then point into.
// Its own bound (kgo.MaxDecompressBatchBytes, 1 GiB by default) is per
// batch, so a response of many small compression bombs from a foreign
// cluster (a 45 KB zstd batch can expand to 200 MiB) could still hold
// gigabytes. Each partition's client therefore decompresses through a
// boundedDecompressor (package batchcodec), with two bounds:
//
//   - one batch may decompress to at most Config.MaxDecompressedBatchBytes
//     (128 MiB by default). A larger one stops the partition: franz-go
//     reports kgo.ErrDecompressTooLarge and the run fails for that partition
//     with an error naming the batch's offset (consumeError).
//   - all batches decompressed between two polls of a client may take at
//     most twice that. Past it, the batch is refused with errBudget, which
//     is not fatal: franz-go returns the records decoded before it, and the
//     next fetch after the worker's next poll starts at that batch with a
//     fresh budget. The first batch after a poll is held to the per-batch
//     bound only, so the budget never stops progress.

// DefaultMaxDecompressedBatchBytes is the default of
// Config.MaxDecompressedBatchBytes.
const DefaultMaxDecompressedBatchBytes = 128 << 20

// errBudget refuses a batch that would take a client past its
// decompression budget until the next poll; the batch is fetched again.
var errBudget = errors.New("loader: decompression budget of this poll spent; the batch is fetched again after the next poll")

// boundedDecompressor is a kgo.Decompressor with a per-batch bound and a
// budget per poll (see above).
type boundedDecompressor struct {
	maxBatch int64
	used     atomic.Int64 // bytes decompressed since the last poll
}

// polled starts a new budget: the records of the previous one are the
// worker's now and will be dropped once written.
func (d *boundedDecompressor) polled() { d.used.Store(0) }

// Decompress implements kgo.Decompressor.
func (d *boundedDecompressor) Decompress(src []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	if codec == kgo.CodecNone {
		return src, nil
	}
	used := d.used.Load()
	limit := d.maxBatch
	if used > 0 {
		limit = min(limit, 2*d.maxBatch-used)
	}
	if limit <= 0 {
		return nil, errBudget
	}
	out, err := batchcodec.Decode(nil, int(codec), src, limit)
	switch {
	case errors.Is(err, batchcodec.ErrTooLarge) && limit < d.maxBatch:
		return nil, errBudget
	case errors.Is(err, batchcodec.ErrTooLarge):
		// franz-go stops the partition and reports ErrDecompressTooLarge.
		return nil, fmt.Errorf("%w: %v", kgo.ErrMaxDecompress, err)
	case err != nil:
		return nil, err
	}
	d.used.Add(int64(len(out)))
	return fitted(out), nil
}

// fitted returns b in a slice of its own length when b's spare capacity
// is more than an eighth of it. batchcodec.Decode doubles its buffer as it
// goes, so a batch may hold up to twice its bytes, and the records point
// into it until the worker has written them all: one copy here costs less
// than the memory it frees.
func fitted(b []byte) []byte {
	if cap(b)-len(b) <= len(b)/8 {
		return b
	}
	return append(make([]byte, 0, len(b)), b...)
}
