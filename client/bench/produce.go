package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/client"
)

// ProduceConfig says what Produce sends. Start from DefaultProduceConfig.
type ProduceConfig struct {
	Topic       string
	Partitions  int32                // create the topic with this many if missing (0: 1); an existing topic must have as many (0: any)
	RecordSize  int                  // value bytes per record, no key (>= 0)
	Producers   int                  // independent clients, each producing on its own goroutine (>= 1)
	Acks        client.Acks          // acknowledgements to wait for
	Idempotent  bool                 // idempotent producers; needs AcksAll
	Duration    time.Duration        // stop producing after this long (0: no time limit)
	Records     int64                // stop after this many records in all (0: no count limit); Duration or Records must be set
	Linger      time.Duration        // how long a partition's batch waits for more records (>= 0)
	BatchBytes  int32                // maximum bytes of one record batch (> 0)
	Compression kgo.CompressionCodec // batch compression
}

// DefaultProduceConfig is `sluice bench produce` without flags but --topic.
func DefaultProduceConfig() ProduceConfig {
	return ProduceConfig{
		RecordSize:  100,
		Producers:   1,
		Acks:        client.AcksAll,
		Idempotent:  true,
		Duration:    10 * time.Second,
		Linger:      5 * time.Millisecond,
		BatchBytes:  1000000,
		Compression: kgo.NoCompression(),
	}
}

// Validate reports the first field whose value cannot work.
func (c ProduceConfig) Validate() error {
	switch {
	case c.Topic == "":
		return &ConfigError{"Topic", `""`, "a topic name"}
	case c.Partitions < 0:
		return &ConfigError{"Partitions", c.Partitions, ">= 1"}
	case c.RecordSize < 0:
		return &ConfigError{"RecordSize", c.RecordSize, ">= 0"}
	case c.Producers < 1:
		return &ConfigError{"Producers", c.Producers, ">= 1"}
	case c.Duration < 0:
		return &ConfigError{"Duration", c.Duration, "> 0"}
	case c.Records < 0:
		return &ConfigError{"Records", c.Records, "> 0"}
	case c.Duration == 0 && c.Records == 0:
		return &ConfigError{"Duration", c.Duration, "> 0, or a record count"}
	case c.Linger < 0:
		return &ConfigError{"Linger", c.Linger, ">= 0"}
	case c.BatchBytes <= 0:
		return &ConfigError{"BatchBytes", c.BatchBytes, "> 0"}
	}
	return checkAcks(c.Acks, c.Idempotent)
}

// Produce creates the topic if it is missing and sends fixed-size records
// to it from c.Producers clients until c.Duration has passed or c.Records
// were sent, then waits for every acknowledgement. The clock starts once
// the topic has a leader for every partition and stops at the last
// acknowledgement. Any failed record fails the run, naming how many failed
// and the first error.
func Produce(ctx context.Context, cluster client.Cluster, c ProduceConfig) (Result, error) {
	if err := c.Validate(); err != nil {
		return Result{}, err
	}
	if _, err := ensureTopic(ctx, cluster, c.Topic, c.Partitions); err != nil {
		return Result{}, err
	}
	opts := append(acksOpts(c.Acks, c.Idempotent),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.ProducerLinger(c.Linger),
		kgo.ProducerBatchMaxBytes(c.BatchBytes),
		kgo.ProducerBatchCompression(c.Compression),
		kgo.MaxBufferedRecords(max(1<<20/c.Producers, 10_000)),
		kgo.MaxBufferedBytes(256<<20/c.Producers),
		kgo.RecordDeliveryTimeout(max(cluster.Timeout, time.Second)), // franz-go minimum: 1s
	)
	clients := make([]*kgo.Client, c.Producers)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	for i := range clients {
		cl, err := cluster.NewClient(opts...)
		if err != nil {
			return Result{}, err
		}
		clients[i] = cl
	}

	value := make([]byte, c.RecordSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	run := produceRun{cfg: c, value: value}
	start := time.Now()
	if c.Duration > 0 {
		run.deadline = start.Add(c.Duration)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run.produce(ctx, cl, cluster.Timeout)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	n := run.acked.Load()
	res := newResult("produce", c.Topic, n, n*int64(c.RecordSize), elapsed)
	if err := run.failed.err(c.Topic); err != nil {
		return res, err
	}
	if ctx.Err() != nil {
		return res, ErrInterrupted
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("topic %q: %w", c.Topic, err)
	}
	return res, nil
}

// produceRun is the state the producers of one Produce share.
type produceRun struct {
	cfg      ProduceConfig
	value    []byte
	deadline time.Time // zero: no time limit

	sent   atomic.Int64 // records handed to a client
	acked  atomic.Int64
	failed failures
}

// take claims the next record to send, or reports that the run is over.
func (r *produceRun) take(ctx context.Context, n int64) bool {
	if ctx.Err() != nil || r.failed.any() {
		return false
	}
	if r.cfg.Records > 0 && r.sent.Add(1) > r.cfg.Records {
		return false
	}
	// Read the clock once per 1024 records of this producer.
	return r.deadline.IsZero() || n&1023 != 0 || time.Now().Before(r.deadline)
}

// produce sends records with cl until the run is over, then waits for their
// acknowledgements, at most timeout beyond the records' own delivery
// timeout.
func (r *produceRun) produce(ctx context.Context, cl *kgo.Client, timeout time.Duration) error {
	promise := func(_ *kgo.Record, err error) {
		switch {
		case err == nil:
			r.acked.Add(1)
		case ctx.Err() != nil && errors.Is(err, context.Canceled):
			// Interrupted: reported once, by Produce.
		default:
			r.failed.add(err)
		}
	}
	for n := int64(0); r.take(ctx, n); n++ {
		cl.Produce(ctx, &kgo.Record{Value: r.value}, promise)
	}
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(timeout, time.Second)+10*time.Second)
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}
