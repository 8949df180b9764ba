package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/bounded"
)

// kafkaSource reads partitions from a Kafka-protocol cluster with
// franz-go. Each open gives the worker its own client consuming one
// partition directly (no group), so workers fetch and decode in parallel.
type kafkaSource struct {
	brokers []string
	opts    []kgo.Opt
	// maxBatch bounds what one fetched batch may decompress to
	// (decompress.go).
	maxBatch int64
	adm      *kadm.Client
	cl       *kgo.Client
	group    string
	log      *slog.Logger
}

// fetchBytes is what one fetch of a worker's client may return (compressed:
// a broker still returns a first batch larger than it). A worker holds at
// most two fetches, the one it is writing and the one franz-go buffers
// meanwhile, and each costs its decompressed bytes plus a kgo.Record
// (about 200 bytes) per record: at 1 MiB a JSON fetch is 5-10 MiB of
// memory, small against a row group, where 8 MiB fetches cost 40-80 MiB
// each and were most of a worker's memory. At about 450,000 records/s a
// worker makes 10-20 fetches a second, far from round-trip bound.
const fetchBytes = 1 << 20

// requestTimeout bounds one admin round trip (listing offsets), so an
// unreachable cluster is an error, not a hang.
const requestTimeout = 30 * time.Second

func newKafkaSource(brokers []string, group string, maxBatch int64, log *slog.Logger) (*kafkaSource, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DialTimeout(5 * time.Second),
		kgo.RequestRetries(3),
		kgo.RetryTimeout(requestTimeout),
		kgo.ClientID("sluice-loader"),
		// Each partition's client replaces this with a budgeted one
		// (open); the others get the per-batch bound (decompress.go).
		kgo.WithDecompressor(bounded.New(maxBatch)),
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("source.brokers %v: %w", brokers, err)
	}
	return &kafkaSource{brokers: brokers, opts: opts, maxBatch: maxBatch, cl: cl, adm: kadm.NewClient(cl), group: group, log: log}, nil
}

func (k *kafkaSource) close() { k.cl.Close() }

// brokerError explains a failed admin call.
func (k *kafkaSource) brokerError(what string, err error) error {
	return fmt.Errorf("%s from brokers %v: %w (is the cluster reachable?)", what, k.brokers, err)
}

// partitions lists every partition of topics with its high watermark (the
// end a batch run loads up to).
func (k *kafkaSource) partitions(ctx context.Context, topics []string) (map[TopicPartition]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	ends, err := k.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, k.brokerError("list end offsets", err)
	}
	out := make(map[TopicPartition]int64)
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				errs = append(errs, fmt.Errorf("topic %q: %w (does the topic exist?)", o.Topic, o.Err))
			} else {
				errs = append(errs, fmt.Errorf("topic %q partition %d: %w", o.Topic, o.Partition, o.Err))
			}
			return
		}
		out[TopicPartition{o.Topic, o.Partition}] = o.Offset
	})
	for _, t := range topics {
		found := false
		for tp := range out {
			found = found || tp.Topic == t
		}
		if !found && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("topic %q: not found on brokers %v", t, k.brokers))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (k *kafkaSource) offsets(ctx context.Context, tp TopicPartition) (int64, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	starts, err := k.adm.ListStartOffsets(ctx, tp.Topic)
	if err != nil {
		return 0, 0, k.brokerError("list start offsets", err)
	}
	ends, err := k.adm.ListEndOffsets(ctx, tp.Topic)
	if err != nil {
		return 0, 0, k.brokerError("list end offsets", err)
	}
	s, ok1 := starts.Lookup(tp.Topic, tp.Partition)
	e, ok2 := ends.Lookup(tp.Topic, tp.Partition)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("topic %q partition %d: not found on brokers %v", tp.Topic, tp.Partition, k.brokers)
	}
	if s.Err != nil || e.Err != nil {
		return 0, 0, fmt.Errorf("topic %q partition %d: list offsets: %w", tp.Topic, tp.Partition, errors.Join(s.Err, e.Err))
	}
	return s.Offset, e.Offset, nil
}

func (k *kafkaSource) committed(ctx context.Context, tp TopicPartition) (int64, bool, error) {
	if k.group == "" {
		return 0, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := k.adm.FetchOffsets(ctx, k.group)
	if err != nil {
		return 0, false, k.brokerError(fmt.Sprintf("fetch offsets of group %q", k.group), err)
	}
	o, ok := resp.Lookup(tp.Topic, tp.Partition)
	if !ok || o.Err != nil || o.At < 0 {
		return 0, false, nil
	}
	return o.At, true, nil
}

func (k *kafkaSource) open(_ context.Context, tp TopicPartition, from int64) (recordSource, error) {
	dec := bounded.NewBudgeted(k.maxBatch)
	opts := append(append([]kgo.Opt(nil), k.opts...),
		kgo.WithDecompressor(dec),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp.Topic: {tp.Partition: kgo.NewOffset().At(from)}}),
		// An offset deleted by retention is an error (a gap), never a
		// silent jump.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(fetchBytes),
		kgo.FetchMaxPartitionBytes(fetchBytes),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: consumer: %w", tp, err)
	}
	return &kafkaReader{cl: cl, tp: tp, dec: dec}, nil
}

// commit records next as the group's committed offset of each partition,
// for lag monitoring; the sink stays the truth.
func (k *kafkaSource) commit(ctx context.Context, next map[TopicPartition]int64) error {
	if k.group == "" || len(next) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	os := make(kadm.Offsets)
	for tp, at := range next {
		os.Add(kadm.Offset{Topic: tp.Topic, Partition: tp.Partition, At: at, LeaderEpoch: -1})
	}
	resp, err := k.adm.CommitOffsets(ctx, k.group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("commit offsets of group %q: %w", k.group, err)
	}
	return nil
}

type kafkaReader struct {
	cl  *kgo.Client
	tp  TopicPartition
	dec *bounded.Decompressor
	// pending is an error that came with records, returned by the next
	// fetch (the partition may not be fetched again after it).
	pending error
}

func (r *kafkaReader) fetch(ctx context.Context) ([]*kgo.Record, error) {
	if err := r.pending; err != nil {
		r.pending = nil
		return nil, err
	}
	fetches := r.cl.PollFetches(ctx)
	r.dec.Polled()
	var ferr error
	fetches.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, bounded.ErrBudget) || ferr != nil {
			return
		}
		ferr = consumeError(t, p, err, r.dec)
	})
	recs := fetches.Records()
	if ferr != nil && len(recs) > 0 {
		r.pending, ferr = ferr, nil
	}
	if ferr != nil {
		return nil, ferr
	}
	if err := ctx.Err(); err != nil && len(recs) == 0 {
		return nil, err
	}
	return recs, nil
}

func (r *kafkaReader) close() { r.cl.Close() }

// consumeError explains a fetch error of one partition.
func consumeError(topic string, partition int32, err error, dec *bounded.Decompressor) error {
	if errors.Is(err, kerr.OffsetOutOfRange) {
		return fmt.Errorf("topic %q partition %d: %w (retention deleted records not yet loaded?)", topic, partition, err)
	}
	if tooLarge, ok := dec.TooLarge(err); ok {
		return tooLarge
	}
	return fmt.Errorf("topic %q partition %d: fetch: %w", topic, partition, err)
}

// sortedTPs returns the keys of m in topic, partition order.
func sortedTPs[V any](m map[TopicPartition]V) []TopicPartition {
	out := make([]TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}
