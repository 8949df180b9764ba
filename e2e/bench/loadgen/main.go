// Command loadgen is the franz-go load generator of e2e/bench: the same
// client drives Sluice and Apache Kafka so their numbers compare.
//
//	loadgen -brokers 127.0.0.1:9092 -mode produce -topic t -record-size 100 -duration 10s
//	loadgen -brokers 127.0.0.1:9092 -mode consume -topic t
//
// produce creates the topic if needed and sends fixed-size records with no
// key for -duration (or -records), waiting for every acknowledgement;
// consume reads every partition from the start to the end offsets seen at
// start. Each prints one line of key=value results (MB is 2^20 bytes, as
// Kafka's perf tools count), then exits; errors go to stderr with exit 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	brokers    string
	mode       string
	topic      string
	partitions int
	recordSize int
	duration   time.Duration
	records    int64
	acks       string
	linger     time.Duration
	batchBytes int
}

func main() {
	var c config
	flag.StringVar(&c.brokers, "brokers", "127.0.0.1:9092", "seed broker")
	flag.StringVar(&c.mode, "mode", "produce", "produce or consume")
	flag.StringVar(&c.topic, "topic", "bench", "topic")
	flag.IntVar(&c.partitions, "partitions", 1, "partitions when creating the topic")
	flag.IntVar(&c.recordSize, "record-size", 100, "value bytes per record")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to produce")
	flag.Int64Var(&c.records, "records", 0, "stop producing after this many records (0: only -duration)")
	flag.StringVar(&c.acks, "acks", "all", "all, 1 or 0")
	flag.DurationVar(&c.linger, "linger", 5*time.Millisecond, "producer linger")
	flag.IntVar(&c.batchBytes, "batch-bytes", 1000000, "maximum record batch bytes")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch c.mode {
	case "produce":
		err = produce(ctx, c)
	case "consume":
		err = consume(ctx, c)
	default:
		err = fmt.Errorf("-mode %q: want produce or consume", c.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func ensureTopic(ctx context.Context, cl *kgo.Client, c config) error {
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, int32(c.partitions), -1, nil, c.topic)
	if err != nil {
		return fmt.Errorf("create topic %q: %w", c.topic, err)
	}
	if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %q: %w", c.topic, resp.Err)
	}
	return nil
}

func produce(ctx context.Context, c config) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.brokers),
		kgo.DefaultProduceTopic(c.topic),
		kgo.ProducerLinger(c.linger),
		kgo.ProducerBatchMaxBytes(int32(c.batchBytes)),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1 << 20),
		kgo.MaxBufferedBytes(256 << 20),
		kgo.RecordDeliveryTimeout(time.Minute),
	}
	switch c.acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return fmt.Errorf("-acks %q: want all, 1 or 0", c.acks)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := ensureTopic(ctx, cl, c); err != nil {
		return err
	}

	value := make([]byte, c.recordSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			if failed.Add(1) == 1 {
				firstErr.Store(err)
			}
			return
		}
		acked.Add(1)
	}
	start := time.Now()
	deadline := start.Add(c.duration)
	var sent int64
	for ctx.Err() == nil && failed.Load() == 0 {
		if c.records > 0 && sent >= c.records {
			break
		}
		// Check the clock once per 1024 records.
		if sent&1023 == 0 && time.Now().After(deadline) {
			break
		}
		cl.Produce(ctx, &kgo.Record{Value: value}, promise)
		sent++
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	elapsed := time.Since(start).Seconds()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d records failed, first: %v", n, firstErr.Load())
	}
	n := acked.Load()
	bytes := float64(n) * float64(c.recordSize)
	fmt.Printf("mode=produce records=%d record_size=%d seconds=%.2f records_per_s=%.0f mb_per_s=%.1f\n",
		n, c.recordSize, elapsed, float64(n)/elapsed, bytes/elapsed/(1<<20))
	return nil
}

func consume(ctx context.Context, c config) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers))
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, c.topic)
	cl.Close()
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	offsets := map[int32]kgo.Offset{}
	pending := map[int32]int64{}
	var want int64
	ends.Each(func(o kadm.ListedOffset) {
		offsets[o.Partition] = kgo.NewOffset().AtStart()
		if o.Offset > 0 {
			pending[o.Partition] = o.Offset
			want += o.Offset
		}
	})
	if ends.Error() != nil {
		return fmt.Errorf("list end offsets: %w", ends.Error())
	}
	if len(pending) == 0 {
		return fmt.Errorf("topic %q is empty", c.topic)
	}
	cl, err = kgo.NewClient(
		kgo.SeedBrokers(c.brokers),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: offsets}),
		kgo.FetchMaxBytes(64<<20),
		kgo.FetchMaxPartitionBytes(16<<20),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	var records, bytes int64
	start := time.Now()
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			records++
			bytes += int64(len(r.Value) + len(r.Key))
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
		})
	}
	elapsed := time.Since(start).Seconds()
	fmt.Printf("mode=consume records=%d want=%d seconds=%.2f records_per_s=%.0f mb_per_s=%.1f\n",
		records, want, elapsed, float64(records)/elapsed, float64(bytes)/elapsed/(1<<20))
	return nil
}
