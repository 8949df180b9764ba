package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/client/bench"
)

// benchFlagNames maps the fields of a bench config error to the flag that
// sets them.
var benchFlagNames = map[string]string{
	"Topic":      "--topic",
	"Partitions": "--partitions",
	"RecordSize": "--record-size",
	"Producers":  "--producers",
	"Consumers":  "--consumers",
	"Idempotent": "--idempotent",
	"Duration":   "--duration",
	"Records":    "--records",
	"Linger":     "--linger",
	"BatchBytes": "--batch-bytes",
	"Rate":       "--rate",
	"Drain":      "--drain",
}

// newBenchCmd is `sluice bench`: a franz-go load generator for any
// Kafka-protocol cluster, so that Sluice and Kafka are measured by the
// same client (bench/run.sh).
func newBenchCmd() *cobra.Command {
	cf := &clientFlags{}
	var output string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a Kafka-protocol cluster: produce and consume throughput, end-to-end latency",
		Long: "Load generators built on franz-go that work against any Kafka-protocol\n" +
			"cluster (Sluice, Apache Kafka, Redpanda), so their numbers compare.\n" +
			"Each prints a short summary, or with -o json exactly one JSON object:\n" +
			"mode, topic, records, bytes (payload bytes moved), seconds,\n" +
			"records_per_s, mb_per_s (MB = 2^20 bytes) and for latency also rate,\n" +
			"p50_ms, p90_ms, p99_ms, p999_ms and max_ms. Ctrl-C stops a run; what\n" +
			"it measured so far is printed and the exit status is non-zero.",
	}
	cf.register(cmd)
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "output: table (a short summary) or json")
	run := func(cmd *cobra.Command, fn func(context.Context, client.Cluster) (bench.Result, error)) error {
		if output != "table" && output != "json" {
			return fmt.Errorf("-o %q: want table or json", output)
		}
		c, err := cf.cluster()
		if err != nil {
			return err
		}
		if cf.timeout <= 0 {
			return fmt.Errorf("--timeout %s: want > 0", cf.timeout)
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		res, err := fn(ctx, c)
		var ce *bench.ConfigError
		switch {
		case errors.As(err, &ce):
			return benchFlagErr(ce)
		case err != nil && !errors.Is(err, bench.ErrInterrupted):
			return err
		}
		if werr := writeBenchResult(cmd.OutOrStdout(), output, res); werr != nil {
			return werr
		}
		if err != nil {
			return errors.New("interrupted: the result above is partial")
		}
		return nil
	}
	cmd.AddCommand(newBenchProduceCmd(run), newBenchConsumeCmd(run), newBenchLatencyCmd(run))
	return cmd
}

// benchRunner runs one bench mode with the flags of `sluice bench`.
type benchRunner func(*cobra.Command, func(context.Context, client.Cluster) (bench.Result, error)) error

func newBenchProduceCmd(run benchRunner) *cobra.Command {
	c := bench.DefaultProduceConfig()
	var sf benchSendFlags
	var compression string
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce fixed-size records as fast as the cluster acknowledges them",
		Long: "Send keyless records of --record-size bytes to --topic from --producers\n" +
			"independent clients for --duration, or until --records were sent (with\n" +
			"both, whichever comes first), and wait for every acknowledgement. The\n" +
			"topic is created with --partitions if it is missing. Any failed record\n" +
			"fails the run. --acks all is idempotent, as Kafka's default producer.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			if err := sf.apply(fs, &c.Partitions, &c.Acks, &c.Idempotent); err != nil {
				return err
			}
			if fs.Changed("records") && !fs.Changed("duration") {
				c.Duration = 0
			}
			var err error
			if c.Compression, err = client.ParseCompression(compression); err != nil {
				return fmt.Errorf("--compression %q: %w", compression, err)
			}
			return run(cmd, func(ctx context.Context, cl client.Cluster) (bench.Result, error) {
				return bench.Produce(ctx, cl, c)
			})
		},
	}
	fs := cmd.Flags()
	sf.register(fs, &c.Topic, &c.Partitions, &c.RecordSize, "topic to produce to (required)", "value bytes per record")
	fs.IntVar(&c.Producers, "producers", c.Producers, "independent producer clients, each on its own goroutine")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long to produce (0: until --records were sent)")
	fs.Int64Var(&c.Records, "records", 0, "how many records to send in all (0: no count limit; alone, it replaces --duration)")
	fs.DurationVar(&c.Linger, "linger", c.Linger, "how long a partition's batch waits for more records")
	fs.Int32Var(&c.BatchBytes, "batch-bytes", c.BatchBytes, "maximum bytes of one record batch")
	fs.StringVar(&compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	return cmd
}

func newBenchConsumeCmd(run benchRunner) *cobra.Command {
	c := bench.ConsumeConfig{Consumers: 1}
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Read a topic from its start to the end offsets it had when the run began",
		Long: "Read every partition of --topic, without a consumer group, from its\n" +
			"start offset to the end offset seen when the run began, with\n" +
			"--consumers independent clients that split the partitions.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(ctx context.Context, cl client.Cluster) (bench.Result, error) {
				return bench.Consume(ctx, cl, c)
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&c.Topic, "topic", "", "topic to read (required)")
	fs.IntVar(&c.Consumers, "consumers", c.Consumers, "independent consumer clients (at most the partitions that hold records)")
	return cmd
}

func newBenchLatencyCmd(run benchRunner) *cobra.Command {
	c := bench.DefaultLatencyConfig()
	c.Rate, c.Duration = 1000, 10*time.Second
	var sf benchSendFlags
	cmd := &cobra.Command{
		Use:   "latency",
		Short: "Measure end-to-end latency at a fixed rate, producer and consumer on one clock",
		Long: "Start a consumer at the end of --topic and wait until it is confirmed\n" +
			"positioned, then send --rate records/s for --duration on a fixed\n" +
			"schedule with no linger. A record's latency is the time it was consumed\n" +
			"minus the time it was scheduled to be sent, so a stalled cluster cannot\n" +
			"hide the stall by slowing the sender (coordinated omission).\n" +
			"Percentiles are exact, from every record. A record still missing\n" +
			"--drain after the schedule ended fails the run.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sf.apply(cmd.Flags(), &c.Partitions, &c.Acks, &c.Idempotent); err != nil {
				return err
			}
			return run(cmd, func(ctx context.Context, cl client.Cluster) (bench.Result, error) {
				return bench.Latency(ctx, cl, c)
			})
		},
	}
	fs := cmd.Flags()
	sf.register(fs, &c.Topic, &c.Partitions, &c.RecordSize, "topic to send through (required)", "value bytes per record (>= 16)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "records per second, on a fixed schedule")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long the schedule runs: rate × duration records")
	fs.DurationVar(&c.Drain, "drain", c.Drain, "how long after the schedule every record must have arrived")
	return cmd
}

// benchSendFlags are the flags that produce and latency share beyond
// their config fields: --acks and --idempotent, resolved by apply.
type benchSendFlags struct {
	acks       string
	idempotent bool
}

// register adds --topic, --partitions, --record-size, --acks and
// --idempotent to fs.
func (sf *benchSendFlags) register(fs *pflag.FlagSet, topic *string, partitions *int32, recordSize *int, topicUsage, sizeUsage string) {
	fs.StringVar(topic, "topic", "", topicUsage)
	fs.Int32Var(partitions, "partitions", 1, "create the topic with this many partitions if it is missing; if given, an existing topic must have as many")
	fs.IntVar(recordSize, "record-size", *recordSize, sizeUsage)
	fs.StringVar(&sf.acks, "acks", "all", "acknowledgements the producer waits for: all, 1 or 0")
	fs.BoolVar(&sf.idempotent, "idempotent", true, "idempotent producer (needs --acks all; default: true with --acks all, false otherwise)")
}

// apply parses --acks, makes the producer idempotent with acks=all (as
// Kafka's default producer) unless --idempotent says otherwise, and
// applies --partitions only if it was given: without it a missing topic
// gets 1 partition and an existing one may have any number.
func (sf *benchSendFlags) apply(fs *pflag.FlagSet, partitions *int32, acks *client.Acks, idempotent *bool) error {
	if fs.Changed("partitions") && *partitions < 1 {
		return fmt.Errorf("--partitions %d: want >= 1", *partitions)
	}
	if !fs.Changed("partitions") {
		*partitions = 0
	}
	a, err := client.ParseAcks(sf.acks)
	if err != nil {
		return fmt.Errorf("--acks %q: %w", sf.acks, err)
	}
	*acks, *idempotent = a, a == client.AcksAll
	if fs.Changed("idempotent") {
		*idempotent = sf.idempotent
	}
	return nil
}

// benchFlagErr restates a bench config error in terms of the flag to change.
func benchFlagErr(ce *bench.ConfigError) error {
	if name, ok := benchFlagNames[ce.Field]; ok {
		if ce.Field == "Topic" {
			return fmt.Errorf("--topic: required")
		}
		return fmt.Errorf("%s %v: want %s", name, ce.Value, ce.Want)
	}
	return ce
}

// writeBenchResult prints res as a summary (table) or one JSON object.
func writeBenchResult(w io.Writer, output string, res bench.Result) error {
	if output == "json" {
		return json.NewEncoder(w).Encode(res)
	}
	return res.WriteSummary(w)
}
