package loader

import (
	"github.com/sluicehq/sluice/batchcodec/bounded"
)

// Bounding what franz-go decompresses.
//
// franz-go decompresses every batch of a fetch response before the records
// reach the loader, each batch into one slice the records then point into.
// Its own bound (kgo.MaxDecompressBatchBytes, 1 GiB by default) is per
// batch, so a response of many small compression bombs from a foreign
// cluster (a 45 KB zstd batch can expand to 200 MiB) could still hold
// gigabytes. Each partition's client therefore decompresses through a
// budgeted bounded.Decompressor (package batchcodec/bounded, shared with
// the CLI's consumer and the scheduler), with two bounds:
//
//   - one batch may decompress to at most Config.MaxDecompressedBatchBytes
//     (128 MiB by default). A larger one stops the partition: franz-go
//     reports kgo.ErrDecompressTooLarge and the run fails for that partition
//     with an error naming the batch's offset (consumeError).
//   - all batches decompressed between two polls of a client may take at
//     most twice that. Past it, the batch is refused with
//     bounded.ErrBudget, which is not fatal: franz-go returns the records
//     decoded before it, and the next fetch after the worker's next poll
//     starts at that batch with a fresh budget. The first batch after a
//     poll is held to the per-batch bound only, so the budget never stops
//     progress.
//
// The other clients of a run (admin calls, the paused group member of a
// follower) get the per-batch bound alone.

// DefaultMaxDecompressedBatchBytes is the default of
// Config.MaxDecompressedBatchBytes.
const DefaultMaxDecompressedBatchBytes = bounded.DefaultMaxBatchBytes
