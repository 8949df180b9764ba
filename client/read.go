package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/bounded"
)

// ReadOptions say what a Reader reads.
type ReadOptions struct {
	Topic     string
	Partition int32    // only this partition; -1 for all of them
	From      Position // where to start in each partition
	Limit     int64    // stop after this many records; 0 for no limit
	UntilEnd  bool     // stop once every partition is read up to the end it had at start
}

// Reader reads a topic without a consumer group: nothing is committed and
// no other reader is affected.
type Reader struct {
	opts      ReadOptions
	cl        *kgo.Client // nil when there was nothing to read
	dec       *bounded.Decompressor
	tracker   *endTracker
	remaining int64 // records left before Limit; 0 for no limit
	done      bool
	// pending is an error that came with records, returned by the next
	// Poll once those records are the caller's.
	pending error
}

// UnknownPartitionError is a partition the topic does not have.
type UnknownPartitionError struct {
	Topic      string
	Partition  int32
	Partitions int // how many partitions the topic has
}

func (e *UnknownPartitionError) Error() string {
	return fmt.Sprintf("topic %q has no partition %d (it has %d)", e.Topic, e.Partition, e.Partitions)
}

// NewReader checks that the topic (and partition) exists, since a consumer
// of a missing topic would otherwise wait silently forever, and, with
// UntilEnd, learns where each partition starts and ends, so that a reader
// with nothing to read is Done at once. Close it when finished.
func (c Cluster) NewReader(ctx context.Context, opts ReadOptions) (*Reader, error) {
	adm, err := c.NewAdmin()
	if err != nil {
		return nil, err
	}
	r := &Reader{opts: opts, remaining: opts.Limit}
	err = func() error {
		defer adm.Close()
		ctx, cancel := adm.bound(ctx)
		defer cancel()
		partitions, ends, err := adm.readTargets(ctx, opts.Topic, opts.Partition, opts.UntilEnd)
		if err != nil {
			return err
		}
		r.tracker = newEndTracker(partitions, ends)
		if opts.UntilEnd && !r.tracker.done() {
			return r.tracker.seedStarts(ctx, adm, opts.Topic, opts.From)
		}
		return nil
	}()
	if err != nil {
		return nil, err
	}
	if opts.UntilEnd && r.tracker.done() {
		r.done = true
		return r, nil
	}

	// A budget on top of the cluster's per-batch bound: all batches
	// decompressed between two polls take at most twice it (Poll calls
	// Polled), however many bombs one fetch response holds.
	r.dec = bounded.NewBudgeted(c.MaxDecompressedBatchBytes)
	kopts := []kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithDecompressor(r.dec)}
	if opts.UntilEnd {
		// Transaction markers take offsets too; seeing them lets the reader
		// reach the end.
		kopts = append(kopts, kgo.KeepControlRecords())
	}
	if opts.Partition >= 0 {
		kopts = append(kopts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			opts.Topic: {opts.Partition: opts.From.kgoOffset()},
		}))
	} else {
		kopts = append(kopts, kgo.ConsumeTopics(opts.Topic), kgo.ConsumeStartOffset(opts.From.kgoOffset()))
	}
	if r.cl, err = c.NewClient(kopts...); err != nil {
		return nil, err
	}
	return r, nil
}

// Done reports whether the read is complete: Limit records returned, or
// with UntilEnd every partition read to its end at start.
func (r *Reader) Done() bool { return r.done }

// Poll waits for the next records and returns them in offset order per
// partition; control records (transaction markers) are left out. Once ctx
// is done it returns ctx's error; after the read is complete, io.EOF. A
// batch that decompresses to more than the cluster's
// MaxDecompressedBatchBytes is a *bounded.TooLargeError naming its topic,
// partition and offset, returned once the records before it are.
func (r *Reader) Poll(ctx context.Context) ([]*kgo.Record, error) {
	if r.done {
		return nil, io.EOF
	}
	if err := r.pending; err != nil {
		r.pending = nil
		return nil, err
	}
	maxRecs := -1
	if r.remaining > 0 {
		maxRecs = int(min(r.remaining, 1<<20))
	}
	fetches := r.cl.PollRecords(ctx, maxRecs)
	r.dec.Polled()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if fetches.IsClientClosed() {
		return nil, kgo.ErrClientClosed
	}
	var ferr error
	fetches.EachError(func(t string, p int32, err error) {
		if ferr != nil || errors.Is(err, context.Canceled) || errors.Is(err, bounded.ErrBudget) {
			return
		}
		if tooLarge, ok := r.dec.TooLarge(err); ok {
			ferr = tooLarge
		} else {
			ferr = fmt.Errorf("topic %q partition %d: %w", t, p, err)
		}
	})
	if ferr != nil && fetches.NumRecords() == 0 {
		return nil, ferr
	}
	r.pending = ferr
	var recs []*kgo.Record
	for it := fetches.RecordIter(); !it.Done(); {
		rec := it.Next()
		r.tracker.consumed(rec.Partition, rec.Offset)
		if rec.Attrs.IsControl() {
			continue
		}
		recs = append(recs, rec)
		if r.remaining > 0 {
			r.remaining--
			if r.remaining == 0 {
				r.done = true
				return recs, nil
			}
		}
	}
	if r.opts.UntilEnd && r.tracker.done() {
		r.done = true
	}
	return recs, nil
}

// Close closes the reader's connections.
func (r *Reader) Close() {
	if r.cl != nil {
		r.cl.Close()
	}
}

// readTargets checks that topic (and partition, if >= 0) exists and returns
// the partitions to read; with wantEnds it also returns each partition's end
// offset (high watermark) at start.
func (a *Admin) readTargets(ctx context.Context, topic string, partition int32, wantEnds bool) ([]int32, map[int32]int64, error) {
	topics, err := a.adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, nil, a.cluster.requestErr("metadata", err)
	}
	t, ok := topics[topic]
	if !ok {
		return nil, nil, fmt.Errorf("topic %q: missing from the metadata response", topic)
	}
	if t.Err != nil {
		return nil, nil, topicErr(topic, t.Err, "")
	}
	parts := t.Partitions.Numbers()
	if partition >= 0 {
		if _, ok := t.Partitions[partition]; !ok {
			return nil, nil, &UnknownPartitionError{Topic: topic, Partition: partition, Partitions: len(parts)}
		}
		parts = []int32{partition}
	}
	if !wantEnds {
		return parts, nil, nil
	}
	listed, err := a.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, nil, a.cluster.requestErr("list end offsets", err)
	}
	ends := make(map[int32]int64, len(parts))
	for _, p := range parts {
		o, ok := listed.Lookup(topic, p)
		if !ok || o.Err != nil {
			return nil, nil, fmt.Errorf("topic %q partition %d: end offset: %w", topic, p, errOrMissing(o.Err, "ListOffsets"))
		}
		ends[p] = o.Offset
	}
	return parts, ends, nil
}

// endTracker knows, for UntilEnd, which partitions still have records below
// the end offset seen at start. A nil ends map tracks nothing.
type endTracker struct {
	ends    map[int32]int64 // partition -> end offset at start
	pending map[int32]bool  // partitions not yet read to their end
}

func newEndTracker(partitions []int32, ends map[int32]int64) *endTracker {
	t := &endTracker{ends: ends, pending: make(map[int32]bool)}
	if ends == nil {
		return t
	}
	for _, p := range partitions {
		if ends[p] > 0 {
			t.pending[p] = true
		}
	}
	return t
}

// seedStarts drops the partitions whose start position is already at or
// past their end: latest, an offset past the end, a time after the last
// record, or an empty log whose start equals its end.
func (t *endTracker) seedStarts(ctx context.Context, a *Admin, topic string, from Position) error {
	if from.Kind == Latest {
		t.pending = map[int32]bool{}
		return nil
	}
	var (
		listed kadm.ListedOffsets
		err    error
	)
	if from.Kind == AtTime {
		listed, err = a.adm.ListOffsetsAfterMilli(ctx, from.N, topic)
	} else {
		listed, err = a.adm.ListStartOffsets(ctx, topic)
	}
	if err != nil {
		return a.cluster.requestErr("list offsets", err)
	}
	for p := range t.pending {
		o, ok := listed.Lookup(topic, p)
		if !ok || o.Err != nil {
			return fmt.Errorf("topic %q partition %d: start offset: %w", topic, p, errOrMissing(o.Err, "ListOffsets"))
		}
		// o is the log start, or for AtTime the first offset at or after it.
		if end := t.ends[p]; from.in(o.Offset, end, o.Offset) >= end {
			delete(t.pending, p)
		}
	}
	return nil
}

// consumed notes that the record at offset of partition was read.
func (t *endTracker) consumed(partition int32, offset int64) {
	if t.pending[partition] && offset+1 >= t.ends[partition] {
		delete(t.pending, partition)
	}
}

func (t *endTracker) done() bool { return len(t.pending) == 0 }
