// Package bounded gives the franz-go clients Sluice builds a
// kgo.Decompressor that decompresses fetched record batches through package
// batchcodec in bounded memory, and explains a batch it refuses.
//
// franz-go decompresses every batch of a fetch response before the records
// reach the caller, each batch into one slice the records then point into.
// Its own decompressor bounds a batch at kgo.MaxDecompressBatchBytes, 1 GiB
// by default, so one 45 KB zstd batch from a cluster could make a consumer
// hold a gigabyte, and a response of many such batches several. A
// [Decompressor] holds each batch to a bound of its own (128 MiB by
// default, twice what a Sluice broker accepts with Kafka's default
// max.message.bytes), and a budgeted one ([NewBudgeted]) also holds all
// batches decompressed between two polls of its client to twice that:
//
//   - a batch over the per-batch bound stops its partition: franz-go
//     reports a *kgo.ErrDecompressTooLarge for it, which [Decompressor.TooLarge]
//     turns into a [*TooLargeError] naming the topic, the partition, the
//     batch's offset and the bound. A zstd frame that declares a larger
//     size is refused before anything is allocated; any other is refused
//     once it passes the bound, having cost about twice the bound.
//   - past the budget, a batch is refused with [ErrBudget], which is not
//     fatal: franz-go returns the records decoded before it, and fetches
//     the batch again once the owner has polled ([Decompressor.Polled])
//     and the budget is fresh. The first batch after a poll is held to the
//     per-batch bound only, so the budget never stops progress.
package bounded

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec"
)

// DefaultMaxBatchBytes is the bound of one batch when none is given: 128
// MiB, about twice the most a Sluice broker lets a batch decompress to
// under Kafka's default max.message.bytes (64 times it), and the largest
// zstd window batchcodec decodes.
const DefaultMaxBatchBytes = 128 << 20

// ErrBudget refuses a batch that would take a budgeted client past its
// budget until the next poll; franz-go fetches the batch again. A caller
// of PollFetches skips it.
var ErrBudget = errors.New("decompression budget of this poll spent; the batch is fetched again after the next poll")

// Decompressor is a kgo.Decompressor with a per-batch bound and, if made
// by NewBudgeted, a budget per poll (see the package doc). Give it to one
// client with kgo.WithDecompressor.
type Decompressor struct {
	maxBatch int64
	budgeted bool
	used     atomic.Int64 // bytes decompressed since the last poll
}

// New returns a Decompressor holding each batch to maxBatch bytes
// (DefaultMaxBatchBytes if maxBatch <= 0), with no budget: for a client
// whose owner does not poll it in a loop (admin calls, a paused group
// member), or that keeps nothing of what it polls.
func New(maxBatch int64) *Decompressor {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatchBytes
	}
	return &Decompressor{maxBatch: maxBatch}
}

// NewBudgeted returns a Decompressor holding each batch to maxBatch bytes
// (DefaultMaxBatchBytes if maxBatch <= 0) and all batches between two
// calls of Polled to twice that. Its client's owner must call Polled after
// every poll, and skip ErrBudget among the fetch errors.
func NewBudgeted(maxBatch int64) *Decompressor {
	d := New(maxBatch)
	d.budgeted = true
	return d
}

// MaxBatch is the most one batch may decompress to.
func (d *Decompressor) MaxBatch() int64 { return d.maxBatch }

// Polled starts a new budget: the records of the previous one are the
// caller's now and will be dropped once used.
func (d *Decompressor) Polled() { d.used.Store(0) }

// Decompress implements kgo.Decompressor.
func (d *Decompressor) Decompress(src []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	if codec == kgo.CodecNone {
		return src, nil
	}
	limit := d.maxBatch
	if used := d.used.Load(); d.budgeted && used > 0 {
		limit = min(limit, 2*d.maxBatch-used)
	}
	if limit <= 0 {
		return nil, ErrBudget
	}
	out, err := batchcodec.Decode(nil, int(codec), src, limit)
	switch {
	case errors.Is(err, batchcodec.ErrTooLarge) && limit < d.maxBatch:
		return nil, ErrBudget
	case errors.Is(err, batchcodec.ErrTooLarge):
		// franz-go stops the partition and reports ErrDecompressTooLarge.
		return nil, fmt.Errorf("%w: %v", kgo.ErrMaxDecompress, err)
	case err != nil:
		return nil, err
	}
	if d.budgeted {
		d.used.Add(int64(len(out)))
	}
	return fitted(out), nil
}

// fitted returns b in a slice of its own length when b's spare capacity
// is more than an eighth of it. batchcodec.Decode doubles its buffer as it
// goes, so a batch may hold up to twice its bytes, and the records point
// into it until the caller has dropped them all: one copy here costs less
// than the memory it frees.
func fitted(b []byte) []byte {
	if cap(b)-len(b) <= len(b)/8 {
		return b
	}
	return append(make([]byte, 0, len(b)), b...)
}

// TooLargeError is a batch a client refused to decompress because it
// decompresses to more than Limit bytes: a compression bomb, or a
// producer batch far beyond Kafka's defaults. Its partition is not read
// past it by that client.
type TooLargeError struct {
	Topic     string
	Partition int32
	Offset    int64 // the batch's first offset
	Next      int64 // the offset after the batch, where reading could resume
	Limit     int64 // the most one batch may decompress to
	Err       error // franz-go's *kgo.ErrDecompressTooLarge
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("topic %q partition %d: the batch at offset %d decompresses to more than %s, the most this client decompresses per batch "+
		"(a compression bomb, or a producer batch far beyond Kafka's defaults); reading of this partition stops before it (the next batch starts at offset %d)",
		e.Topic, e.Partition, e.Offset, size(e.Limit), e.Next)
}

// Unwrap returns franz-go's error, which wraps kgo.ErrMaxDecompress.
func (e *TooLargeError) Unwrap() error { return e.Err }

// TooLarge explains err, an error PollFetches reported for a partition of
// a client decompressing through d, if it is a batch over d's bound.
func (d *Decompressor) TooLarge(err error) (*TooLargeError, bool) {
	var tl *kgo.ErrDecompressTooLarge
	if !errors.As(err, &tl) {
		return nil, false
	}
	return &TooLargeError{Topic: tl.Topic, Partition: tl.Partition, Offset: tl.Offset, Next: tl.NextOffset, Limit: d.maxBatch, Err: tl}, true
}

// size names a byte count in MiB when it is a whole number of them.
func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
