package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/client"
)

// MaxLatencyRecords bounds Rate × Duration of a latency run: every record
// keeps an 8-byte receive time until the run ends.
const MaxLatencyRecords = 20_000_000

// latencyHeader is the bytes each latency record's value starts with: the
// run's id (so records of other runs and producers are ignored) and the
// record's index in the schedule.
const latencyHeader = 16

// probeIndex is the index of the records that confirm the consumer ready.
const probeIndex = math.MaxUint64

// LatencyConfig says what Latency sends. Start from DefaultLatencyConfig
// and set Topic, Rate and Duration.
type LatencyConfig struct {
	Topic      string
	Partitions int32         // create the topic with this many if missing (0: 1); an existing topic must have as many (0: any)
	RecordSize int           // value bytes per record (>= 16: a run id and the record's index)
	Rate       float64       // records per second, sent on a fixed schedule (> 0)
	Duration   time.Duration // how long the schedule runs (> 0); Rate × Duration records in all
	Acks       client.Acks   // acknowledgements the producer waits for
	Idempotent bool          // idempotent producer; needs AcksAll
	Drain      time.Duration // how long after the schedule ends every record must have arrived (> 0)
}

// DefaultLatencyConfig is `sluice bench latency` without flags but --topic,
// --rate and --duration.
func DefaultLatencyConfig() LatencyConfig {
	return LatencyConfig{RecordSize: 100, Acks: client.AcksAll, Idempotent: true, Drain: 10 * time.Second}
}

// count is how many records the schedule sends.
func (c LatencyConfig) count() int64 { return int64(math.Round(c.Rate * c.Duration.Seconds())) }

// scheduled is when record i is due, after the schedule's start.
func (c LatencyConfig) scheduled(i int64) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / c.Rate)
}

// Validate reports the first field whose value cannot work.
func (c LatencyConfig) Validate() error {
	switch {
	case c.Topic == "":
		return &ConfigError{"Topic", `""`, "a topic name"}
	case c.Partitions < 0:
		return &ConfigError{"Partitions", c.Partitions, ">= 1"}
	case c.RecordSize < latencyHeader:
		return &ConfigError{"RecordSize", c.RecordSize, fmt.Sprintf(">= %d (each record carries a run id and its index)", latencyHeader)}
	case !(c.Rate > 0) || math.IsInf(c.Rate, 0):
		return &ConfigError{"Rate", c.Rate, "> 0 records per second"}
	case c.Duration <= 0:
		return &ConfigError{"Duration", c.Duration, "> 0"}
	case c.count() < 1:
		return &ConfigError{"Duration", c.Duration, fmt.Sprintf("long enough for one record at %g records/s", c.Rate)}
	case c.count() > MaxLatencyRecords:
		return &ConfigError{"Duration", c.Duration, fmt.Sprintf("rate × duration <= %d records", MaxLatencyRecords)}
	case c.Drain <= 0:
		return &ConfigError{"Drain", c.Drain, "> 0"}
	}
	return checkAcks(c.Acks, c.Idempotent)
}

// Latency measures end-to-end latency on one clock. It creates the topic
// if it is missing, starts a consumer at the end of every partition and
// waits until it has read one probe record from each, then sends
// Rate × Duration records, round-robin over the partitions, each when the
// fixed schedule says, with no linger. A record's latency is the time it
// was consumed minus the time it was scheduled. A record that fails, or
// is still missing c.Drain after the schedule ended, fails the run.
func Latency(ctx context.Context, cluster client.Cluster, c LatencyConfig) (Result, error) {
	if err := c.Validate(); err != nil {
		return Result{}, err
	}
	parts, err := ensureTopic(ctx, cluster, c.Topic, c.Partitions)
	if err != nil {
		return Result{}, err
	}
	_, ends, err := offsets(ctx, cluster, c.Topic)
	if err != nil {
		return Result{}, err
	}
	from := map[int32]kgo.Offset{}
	for p, end := range ends {
		from[p] = kgo.NewOffset().At(end)
	}
	consumer, err := cluster.NewClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.Topic: from}))
	if err != nil {
		return Result{}, err
	}
	defer consumer.Close()
	producer, err := cluster.NewClient(append(acksOpts(c.Acks, c.Idempotent),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(max(cluster.Timeout, time.Second)), // franz-go minimum: 1s
	)...)
	if err != nil {
		return Result{}, err
	}
	defer producer.Close()

	run := &latencyRun{
		cfg:     c,
		id:      rand.Uint64(),
		parts:   parts,
		n:       c.count(),
		base:    time.Now(),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	run.recv = make([]time.Duration, run.n)
	consumeCtx, stopConsumer := context.WithCancel(ctx)
	defer func() { stopConsumer(); <-run.stopped }()
	go run.consume(consumeCtx, consumer)

	sendCtx, stopSending := context.WithCancel(ctx) // a deadline is added once the schedule starts
	defer stopSending()
	promise := func(_ *kgo.Record, err error) {
		if err != nil && !(sendCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))) {
			run.failed.add(err)
		}
	}
	if err := run.probe(ctx, producer, promise, cluster.Timeout); err != nil {
		return Result{}, err
	}
	start := time.Now()
	sendCtx, stopSending = context.WithDeadline(sendCtx, start.Add(c.Duration+c.Drain))
	defer stopSending()
	sent := run.send(sendCtx, producer, start, promise)
	select {
	case <-run.done:
	case <-run.stopped:
	case <-sendCtx.Done():
	}
	stopConsumer()
	<-run.stopped
	stopSending()
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = producer.Flush(flushCtx) // what is left fails with sendCtx: missing, below

	res := run.result(start.Sub(run.base))
	switch {
	case run.failed.any():
		return res, run.failed.err(c.Topic)
	case run.err != nil:
		return res, fmt.Errorf("topic %q: %w", c.Topic, run.err)
	case ctx.Err() != nil:
		return res, ErrInterrupted
	case res.Records < run.n:
		return res, fmt.Errorf("topic %q: %d of %d records missing %s after the schedule ended (%d sent): the cluster did not sustain %g records/s",
			c.Topic, run.n-res.Records, run.n, c.Drain, sent, c.Rate)
	}
	return res, nil
}

// latencyRun is the state of one Latency run.
type latencyRun struct {
	cfg   LatencyConfig
	id    uint64 // the run's id, in every record's value
	parts int32
	n     int64
	base  time.Time // the clock's zero, taken before the consumer started

	recv    []time.Duration // since base, when record i was consumed (0: not yet); the consumer's until stopped
	err     error           // why the consumer stopped early, read after stopped
	ready   chan struct{}   // closed once a probe of every partition was consumed
	done    chan struct{}   // closed once every record was consumed
	stopped chan struct{}   // closed when the consumer returns

	failed failures
}

// value is the value of record i.
func (r *latencyRun) value(i uint64) []byte {
	v := make([]byte, r.cfg.RecordSize)
	binary.BigEndian.PutUint64(v, r.id)
	binary.BigEndian.PutUint64(v[8:], i)
	for j := latencyHeader; j < len(v); j++ {
		v[j] = 'a' + byte(j%26)
	}
	return v
}

// consume reads the records of the run until ctx ends, noting when each
// arrived; records of other runs are skipped.
func (r *latencyRun) consume(ctx context.Context, cl *kgo.Client) {
	defer close(r.stopped)
	probed := map[int32]bool{}
	var got int64
	for {
		fs := cl.PollFetches(ctx)
		now := time.Since(r.base)
		if ctx.Err() != nil {
			return
		}
		if r.err = fetchErr(fs); r.err != nil {
			return
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if len(rec.Value) < latencyHeader || binary.BigEndian.Uint64(rec.Value) != r.id {
				return
			}
			i := binary.BigEndian.Uint64(rec.Value[8:])
			switch {
			case i == probeIndex:
				if !probed[rec.Partition] {
					probed[rec.Partition] = true
					if len(probed) == int(r.parts) {
						close(r.ready)
					}
				}
			case i < uint64(r.n) && r.recv[i] == 0:
				r.recv[i] = max(now, 1)
				if got++; got == r.n {
					close(r.done)
				}
			}
		})
	}
}

// probe sends one probe record to each partition and waits until the
// consumer has read them all.
func (r *latencyRun) probe(ctx context.Context, cl *kgo.Client, promise func(*kgo.Record, error), timeout time.Duration) error {
	for p := range r.parts {
		cl.Produce(ctx, &kgo.Record{Partition: p, Value: r.value(probeIndex)}, promise)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.ready:
		return nil
	case <-r.stopped:
		return fmt.Errorf("topic %q: consumer: %w", r.cfg.Topic, r.err)
	case <-ctx.Done():
		return ErrInterrupted
	case <-t.C:
		if err := r.failed.err(r.cfg.Topic); err != nil {
			return fmt.Errorf("probe records: %w", err)
		}
		return fmt.Errorf("topic %q: the consumer did not read a probe record of each of the %d partition(s) within %s",
			r.cfg.Topic, r.parts, timeout)
	}
}

// send produces the scheduled records until all were sent, ctx ends, the
// consumer stops or a record fails, and returns how many it sent. A record
// is sent at its time or, when the sender is behind, at once.
func (r *latencyRun) send(ctx context.Context, cl *kgo.Client, start time.Time, promise func(*kgo.Record, error)) int64 {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var i int64
	for ; i < r.n && !r.failed.any(); i++ {
		if wait := r.cfg.scheduled(i) - time.Since(start); wait > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				return i
			case <-r.stopped:
				return i
			}
		}
		if ctx.Err() != nil {
			return i
		}
		cl.Produce(ctx, &kgo.Record{Partition: int32(i % int64(r.parts)), Value: r.value(uint64(i))}, promise)
	}
	return i
}

// result computes the latencies of the records received; start is when the
// schedule began, after base.
func (r *latencyRun) result(start time.Duration) Result {
	samples := make([]time.Duration, 0, r.n)
	var last time.Duration
	for i, at := range r.recv {
		if at == 0 {
			continue
		}
		samples = append(samples, max(at-start-r.cfg.scheduled(int64(i)), 0))
		last = max(last, at-start)
	}
	got := int64(len(samples))
	res := newResult("latency", r.cfg.Topic, got, got*int64(r.cfg.RecordSize), last)
	res.LatencyStats = latencyStats(r.cfg.Rate, samples)
	return res
}
