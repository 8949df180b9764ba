package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// maxLineBytes bounds one input line, so a file without newlines cannot
// exhaust memory; Kafka's own limit (message.max.bytes) is far lower.
const maxLineBytes = 64 << 20

// maxReportedFailures bounds how many failed lines are listed one by one.
const maxReportedFailures = 20

// produceFlags are the flags of `sluice produce`.
type produceFlags struct {
	keySep      string
	partition   int32
	acks        string
	compression string
	linger      time.Duration
	batchBytes  int32
}

func newProduceCmd() *cobra.Command {
	cf := &clientFlags{}
	pf := &produceFlags{}
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce lines from stdin as records, one record per line",
		Long: "Read stdin and produce one record per line to TOPIC on any Kafka\n" +
			"cluster. The newline ends the line and is not part of the record; all\n" +
			"other bytes (including \\r) are kept. An empty line is an empty record.\n" +
			"With --key-sep the line is split at the first SEP into key and value;\n" +
			"a line without SEP is an error. Records are batched (--linger,\n" +
			"--batch-bytes) and sent asynchronously. Prints nothing on success;\n" +
			"at the first failed record it stops reading, waits for the records\n" +
			"already sent, lists the failed lines and exits non-zero.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runProduce(ctx, cf, pf, args[0], cmd.InOrStdin(), cmd.ErrOrStderr())
		},
	}
	cf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&pf.keySep, "key-sep", "", "split each line at the first SEP into key and value (default: no key)")
	fs.Int32Var(&pf.partition, "partition", -1, "produce every record to this partition (-1: hash the key, or spread keyless records)")
	fs.StringVar(&pf.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0 (all is idempotent)")
	fs.StringVar(&pf.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&pf.linger, "linger", 10*time.Millisecond, "how long a partition's batch waits for more records")
	fs.Int32Var(&pf.batchBytes, "batch-bytes", 1000012, "maximum bytes of one record batch (keep <= the topic's max.message.bytes)")
	return cmd
}

// producerOpts turns the produce flags into franz-go options.
func (pf *produceFlags) producerOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.AllowAutoTopicCreation(), // the broker's auto.create.topics.enable decides
		kgo.ProducerLinger(pf.linger),
		kgo.ProducerBatchMaxBytes(pf.batchBytes),
		kgo.MaxBufferedRecords(100_000),
	}
	switch pf.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("--acks %q: want all, 1 or 0", pf.acks)
	}
	codec, err := compressionCodec(pf.compression)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if pf.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	} else if pf.partition != -1 {
		return nil, fmt.Errorf("--partition %d: want a partition number >= 0, or -1", pf.partition)
	}
	if pf.batchBytes <= 0 {
		return nil, fmt.Errorf("--batch-bytes %d: want > 0", pf.batchBytes)
	}
	if pf.linger < 0 {
		return nil, fmt.Errorf("--linger %s: want >= 0", pf.linger)
	}
	return opts, nil
}

// compressionCodec maps a --compression name to a franz-go codec.
func compressionCodec(name string) (kgo.CompressionCodec, error) {
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
	default:
		return kgo.CompressionCodec{}, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", name)
	}
}

// lineFailure is one input line that did not become an acknowledged record.
type lineFailure struct {
	line int64
	err  error
}

// produceRun holds the state of one `sluice produce`: the failures seen by
// the promises (which run on franz-go's goroutines) and the stop flag that
// ends reading at the first failure.
type produceRun struct {
	topic   string
	flags   *produceFlags
	cl      *kgo.Client
	stopped atomic.Bool

	mu struct {
		sync.Mutex
		failed   int64
		failures []lineFailure // the first maxReportedFailures, in arrival order
	}
}

func (r *produceRun) fail(line int64, err error) {
	r.stopped.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.failed++
	if len(r.mu.failures) < maxReportedFailures {
		r.mu.failures = append(r.mu.failures, lineFailure{line, err})
	}
}

func runProduce(ctx context.Context, cf *clientFlags, pf *produceFlags, topic string, in io.Reader, errOut io.Writer) error {
	opts, err := pf.producerOpts()
	if err != nil {
		return err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(max(cf.timeout, time.Second)), // franz-go minimum: 1s
	)
	cl, err := cf.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	run := &produceRun{topic: topic, flags: pf, cl: cl}

	// Reading runs on its own goroutine so that SIGINT is honoured even while
	// a read from a terminal or a pipe blocks.
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
		res         readResult
		interrupted bool
	)
	select {
	case res = <-done:
	case <-ctx.Done():
		interrupted = true
		run.stopped.Store(true)
	}

	// Records fail on their own after --timeout (RecordDeliveryTimeout) with
	// the real cause; the flush deadline is only a backstop beyond that.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cf.timeout+10*time.Second)
	defer cancel()
	flushErr := cl.Flush(flushCtx)

	run.mu.Lock()
	defer run.mu.Unlock()
	failures := slices.Clone(run.mu.failures)
	slices.SortFunc(failures, func(a, b lineFailure) int { return int(a.line - b.line) })
	for _, f := range failures {
		fmt.Fprintf(errOut, "sluice: line %d: %v\n", f.line, f.err)
	}
	if extra := run.mu.failed - int64(len(failures)); extra > 0 {
		fmt.Fprintf(errOut, "sluice: ... and %d more failed lines\n", extra)
	}
	switch {
	case interrupted:
		return fmt.Errorf("topic %q: interrupted; records read so far were flushed", topic)
	case res.err != nil:
		return fmt.Errorf("topic %q: %w", topic, res.err)
	case run.mu.failed > 0:
		return fmt.Errorf("topic %q: %d failed record(s); stopped reading at the first failure, after line %d",
			topic, run.mu.failed, res.lines)
	case flushErr != nil:
		return cf.requestErr(fmt.Sprintf("topic %q: flush", topic), flushErr)
	}
	return nil
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
		sep  = []byte(r.flags.keySep)
	)
	for !r.stopped.Load() {
		data, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], data...)
			for errors.Is(err, bufio.ErrBufferFull) {
				if len(long) > maxLineBytes {
					return line, fmt.Errorf("line %d: longer than %d bytes", line+1, maxLineBytes)
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

		rec := &kgo.Record{Value: owned, Partition: r.flags.partition}
		if len(sep) > 0 {
			k, v, ok := bytes.Cut(owned, sep)
			if !ok {
				r.fail(line, fmt.Errorf("no key separator %q in the line", r.flags.keySep))
				return line, nil
			}
			rec.Key, rec.Value = k, v
		}
		n := line
		r.cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
			switch {
			case err == nil:
			case errors.Is(err, context.Canceled) && ctx.Err() != nil:
				// Interrupted: runProduce reports that once, not per line.
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
