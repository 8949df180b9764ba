package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/client"
)

// ConsumeConfig says what Consume reads.
type ConsumeConfig struct {
	Topic     string
	Consumers int // independent clients, each reading its share of the partitions on its own goroutine (>= 1)
}

// Validate reports the first field whose value cannot work.
func (c ConsumeConfig) Validate() error {
	switch {
	case c.Topic == "":
		return &ConfigError{"Topic", `""`, "a topic name"}
	case c.Consumers < 1:
		return &ConfigError{"Consumers", c.Consumers, ">= 1"}
	}
	return nil
}

// Consume reads every partition of the topic from its start offset to the
// end offset it had when Consume began, without a consumer group. The
// partitions that hold records are dealt out to c.Consumers clients in
// turn; there must be at least as many such partitions as consumers. The
// clock starts at the first fetch and stops at the last record. A
// partition that makes no progress for cluster.Timeout fails the run.
func Consume(ctx context.Context, cluster client.Cluster, c ConsumeConfig) (Result, error) {
	if err := c.Validate(); err != nil {
		return Result{}, err
	}
	starts, ends, err := offsets(ctx, cluster, c.Topic)
	if err != nil {
		return Result{}, err
	}
	var parts []int32
	var want int64
	for p, end := range ends {
		if end > starts[p] {
			parts = append(parts, p)
			want += end - starts[p]
		}
	}
	switch {
	case len(parts) == 0:
		return Result{}, fmt.Errorf("topic %q: no records to read (produce some first)", c.Topic)
	case len(parts) < c.Consumers:
		return Result{}, &ConfigError{"Consumers", c.Consumers,
			fmt.Sprintf("at most the %d partition(s) of topic %q that hold records", len(parts), c.Topic)}
	}
	slices.Sort(parts)

	clients := make([]*kgo.Client, c.Consumers)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	shares := make([]map[int32]int64, c.Consumers) // partition -> end offset
	for i, p := range parts {
		if shares[i%c.Consumers] == nil {
			shares[i%c.Consumers] = map[int32]int64{}
		}
		shares[i%c.Consumers][p] = ends[p]
	}
	for i, share := range shares {
		from := map[int32]kgo.Offset{}
		for p := range share {
			from[p] = kgo.NewOffset().At(starts[p])
		}
		cl, err := cluster.NewClient(
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.Topic: from}),
			kgo.FetchMaxBytes(64<<20),
			kgo.FetchMaxPartitionBytes(16<<20),
		)
		if err != nil {
			return Result{}, err
		}
		clients[i] = cl
	}

	var records, bytes atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	start := time.Now()
	var mu sync.Mutex
	last := start // time of the last record, guarded by mu
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, b, err := consumeShare(ctx, cl, shares[i], cluster.Timeout)
			records.Add(n)
			bytes.Add(b)
			errs[i] = err
			mu.Lock()
			if now := time.Now(); now.After(last) {
				last = now
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res := newResult("consume", c.Topic, records.Load(), bytes.Load(), last.Sub(start))
	if ctx.Err() != nil {
		return res, ErrInterrupted
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("topic %q: %w", c.Topic, err)
	}
	return res, nil
}

// consumeShare polls cl until every partition of share has reached its end
// offset, and returns the records and key and value bytes read.
func consumeShare(ctx context.Context, cl *kgo.Client, share map[int32]int64, timeout time.Duration) (records, bytes int64, err error) {
	pending := maps.Clone(share)
	for len(pending) > 0 {
		pollCtx, cancel := context.WithTimeout(ctx, timeout)
		fs := cl.PollFetches(pollCtx)
		stalled := pollCtx.Err() == context.DeadlineExceeded
		cancel()
		if ctx.Err() != nil {
			return records, bytes, ctx.Err()
		}
		if err := fetchErr(fs); err != nil {
			return records, bytes, err
		}
		if stalled && fs.NumRecords() == 0 {
			left := slices.Sorted(maps.Keys(pending))
			return records, bytes, fmt.Errorf("partition(s) %v: no records for %s, short of the end offsets seen at start (raise --timeout?)", left, timeout)
		}
		fs.EachRecord(func(r *kgo.Record) {
			records++
			bytes += int64(len(r.Value) + len(r.Key))
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
		})
	}
	return records, bytes, nil
}
