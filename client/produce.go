package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// MaxLineBytes bounds one input line of ProduceLines, so that input without
// newlines cannot exhaust memory; Kafka's own limit (message.max.bytes) is
// far lower.
const MaxLineBytes = 64 << 20

// MaxReportedFailures bounds how many failed lines ProduceResult lists one
// by one.
const MaxReportedFailures = 20

// Acks is how many acknowledgements a produce waits for.
type Acks int

// The Acks settings. The zero value is AcksAll.
const (
	AcksAll    Acks = iota // every in-sync replica; the producer is idempotent
	AcksLeader             // the leader alone
	AcksNone               // none: records may be lost unseen
)

// ParseAcks parses all (or -1), 1 or 0.
func ParseAcks(s string) (Acks, error) {
	switch s {
	case "all", "-1":
		return AcksAll, nil
	case "1":
		return AcksLeader, nil
	case "0":
		return AcksNone, nil
	}
	return 0, errors.New("want all, 1 or 0")
}

// ParseCompression maps a codec name (none, gzip, snappy, lz4, zstd, in any
// case; empty is none) to a franz-go codec.
func ParseCompression(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, errors.New("want none, gzip, snappy, lz4 or zstd")
}

// ProduceOptions say how ProduceLines produces. Start from
// DefaultProduceOptions: the zero Partition is partition 0.
type ProduceOptions struct {
	Topic       string
	KeySep      string               // split each line at the first KeySep into key and value; empty: no key
	Partition   int32                // every record to this partition; -1: hash the key, or spread keyless records
	Acks        Acks                 // acknowledgements to wait for
	Compression kgo.CompressionCodec // batch compression
	Linger      time.Duration        // how long a partition's batch waits for more records (>= 0)
	BatchBytes  int32                // maximum bytes of one record batch (> 0; keep <= the topic's max.message.bytes)
}

// DefaultProduceOptions are the options of `sluice produce` without flags.
func DefaultProduceOptions() ProduceOptions {
	return ProduceOptions{
		Partition:   -1,
		Acks:        AcksAll,
		Compression: kgo.NoCompression(),
		Linger:      10 * time.Millisecond,
		BatchBytes:  1000012, // Kafka's default max.message.bytes
	}
}

// kgoOpts turns the options into franz-go producer options.
func (o ProduceOptions) kgoOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.AllowAutoTopicCreation(), // the broker's auto.create.topics.enable decides
		kgo.ProducerLinger(o.Linger),
		kgo.ProducerBatchMaxBytes(o.BatchBytes),
		kgo.MaxBufferedRecords(100_000),
		kgo.ProducerBatchCompression(o.Compression),
		kgo.DefaultProduceTopic(o.Topic),
	}
	switch o.Acks {
	case AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if o.Partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	return opts
}

// LineFailure is one input line that did not become an acknowledged record.
type LineFailure struct {
	Line int64 // 1-based
	Err  error
}

// ProduceResult is what ProduceLines did, also when it returns an error.
type ProduceResult struct {
	Lines    int64         // lines read
	Failed   int64         // lines that did not become acknowledged records
	Failures []LineFailure // the first MaxReportedFailures failures to arrive, sorted by line
}

// ProduceLines produces one record per line of in to o.Topic until EOF, the
// first failed record, or ctx is done; then it waits for the records already
// sent. The newline ends a line and is not part of the record; every other
// byte (\r too) is kept, and an empty line is an empty record. With KeySep
// a line without it is a failure. Lines are read on their own goroutine, so
// that a cancelled ctx ends ProduceLines even while a read from a terminal
// or a pipe blocks.
func (c Cluster) ProduceLines(ctx context.Context, o ProduceOptions, in io.Reader) (ProduceResult, error) {
	opts := append(o.kgoOpts(), kgo.RecordDeliveryTimeout(max(c.Timeout, time.Second))) // franz-go minimum: 1s
	cl, err := c.NewClient(opts...)
	if err != nil {
		return ProduceResult{}, err
	}
	defer cl.Close()
	run := &produceRun{opts: o, cl: cl}

	type readResult struct {
		lines int64
		err   error
	}
	done := make(chan readResult, 1)
	go func() {
		n, err := run.readLines(ctx, in)
		done <- readResult{n, err}
	}()
	var (
		read        readResult
		interrupted bool
	)
	select {
	case read = <-done:
	case <-ctx.Done():
		interrupted = true
		run.stopped.Store(true)
	}

	// Records fail on their own after Timeout (RecordDeliveryTimeout) with
	// the real cause; the flush deadline is only a backstop beyond that.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.Timeout+10*time.Second)
	defer cancel()
	flushErr := cl.Flush(flushCtx)

	run.mu.Lock()
	defer run.mu.Unlock()
	res := ProduceResult{Lines: read.lines, Failed: run.mu.failed, Failures: slices.Clone(run.mu.failures)}
	slices.SortFunc(res.Failures, func(a, b LineFailure) int { return int(a.Line - b.Line) })
	switch {
	case interrupted:
		return res, fmt.Errorf("topic %q: interrupted; records read so far were flushed", o.Topic)
	case read.err != nil:
		return res, fmt.Errorf("topic %q: %w", o.Topic, read.err)
	case res.Failed > 0:
		return res, fmt.Errorf("topic %q: %d failed record(s); stopped reading at the first failure, after line %d",
			o.Topic, res.Failed, res.Lines)
	case flushErr != nil:
		return res, c.requestErr(fmt.Sprintf("topic %q: flush", o.Topic), flushErr)
	}
	return res, nil
}

// produceRun holds the state of one ProduceLines: the failures seen by the
// promises (which run on franz-go's goroutines) and the stop flag that ends
// reading at the first failure.
type produceRun struct {
	opts    ProduceOptions
	cl      *kgo.Client
	stopped atomic.Bool

	mu struct {
		sync.Mutex
		failed   int64
		failures []LineFailure // the first MaxReportedFailures, in arrival order
	}
}

func (r *produceRun) fail(line int64, err error) {
	r.stopped.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.failed++
	if len(r.mu.failures) < MaxReportedFailures {
		r.mu.failures = append(r.mu.failures, LineFailure{line, err})
	}
}

// readLines produces one record per line of in until EOF or the first
// failure, and returns how many lines it read. Line bytes are copied into
// large shared slabs rather than one allocation per record.
func (r *produceRun) readLines(ctx context.Context, in io.Reader) (int64, error) {
	br := bufio.NewReaderSize(in, 1<<20)
	var (
		slab []byte
		long []byte // accumulates a line longer than the reader's buffer
		line int64
		sep  = []byte(r.opts.KeySep)
	)
	for !r.stopped.Load() {
		data, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], data...)
			for errors.Is(err, bufio.ErrBufferFull) {
				if len(long) > MaxLineBytes {
					return line, fmt.Errorf("line %d: longer than %d bytes", line+1, MaxLineBytes)
				}
				data, err = br.ReadSlice('\n')
				long = append(long, data...)
			}
			data = long
		}
		if len(data) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return line, nil
			}
			return line, fmt.Errorf("reading stdin after line %d: %w", line, err)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return line, fmt.Errorf("reading stdin after line %d: %w", line, err)
		}
		line++
		data = bytes.TrimSuffix(data, []byte{'\n'})

		if cap(slab)-len(slab) < len(data) {
			slab = make([]byte, 0, max(1<<20, len(data)))
		}
		start := len(slab)
		slab = append(slab, data...)
		owned := slab[start:len(slab):len(slab)]

		rec := &kgo.Record{Value: owned, Partition: r.opts.Partition}
		if len(sep) > 0 {
			k, v, ok := bytes.Cut(owned, sep)
			if !ok {
				r.fail(line, fmt.Errorf("no key separator %q in the line", r.opts.KeySep))
				return line, nil
			}
			rec.Key, rec.Value = k, v
		}
		n := line
		r.cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
			switch {
			case err == nil:
			case errors.Is(err, context.Canceled) && ctx.Err() != nil:
				// Interrupted: ProduceLines reports that once, not per line.
			default:
				r.fail(n, recordErr(rec, err))
			}
		})
		if errors.Is(err, io.EOF) {
			return line, nil
		}
	}
	return line, nil
}

// recordErr names the record's topic, and its partition once one was chosen.
func recordErr(rec *kgo.Record, err error) error {
	if rec.Partition < 0 {
		return fmt.Errorf("topic %q: %w", rec.Topic, err)
	}
	return fmt.Errorf("topic %q partition %d: %w", rec.Topic, rec.Partition, err)
}
