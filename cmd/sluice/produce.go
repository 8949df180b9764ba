package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
)

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
	def := client.DefaultProduceOptions()
	fs := cmd.Flags()
	fs.StringVar(&pf.keySep, "key-sep", "", "split each line at the first SEP into key and value (default: no key)")
	fs.Int32Var(&pf.partition, "partition", -1, "produce every record to this partition (-1: hash the key, or spread keyless records)")
	fs.StringVar(&pf.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0 (all is idempotent)")
	fs.StringVar(&pf.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&pf.linger, "linger", def.Linger, "how long a partition's batch waits for more records")
	fs.Int32Var(&pf.batchBytes, "batch-bytes", def.BatchBytes, "maximum bytes of one record batch (keep <= the topic's max.message.bytes)")
	return cmd
}

// options turns the produce flags into the library's options.
func (pf *produceFlags) options(topic string) (client.ProduceOptions, error) {
	o := client.DefaultProduceOptions()
	o.Topic, o.KeySep, o.Partition, o.Linger, o.BatchBytes = topic, pf.keySep, pf.partition, pf.linger, pf.batchBytes
	var err error
	if o.Acks, err = client.ParseAcks(pf.acks); err != nil {
		return o, fmt.Errorf("--acks %q: %w", pf.acks, err)
	}
	if o.Compression, err = client.ParseCompression(pf.compression); err != nil {
		return o, fmt.Errorf("--compression %q: %w", pf.compression, err)
	}
	switch {
	case pf.partition < -1:
		return o, fmt.Errorf("--partition %d: want a partition number >= 0, or -1", pf.partition)
	case pf.batchBytes <= 0:
		return o, fmt.Errorf("--batch-bytes %d: want > 0", pf.batchBytes)
	case pf.linger < 0:
		return o, fmt.Errorf("--linger %s: want >= 0", pf.linger)
	}
	return o, nil
}

func runProduce(ctx context.Context, cf *clientFlags, pf *produceFlags, topic string, in io.Reader, errOut io.Writer) error {
	opts, err := pf.options(topic)
	if err != nil {
		return err
	}
	c, err := cf.cluster()
	if err != nil {
		return err
	}
	res, err := c.ProduceLines(ctx, opts, in)
	for _, f := range res.Failures {
		fmt.Fprintf(errOut, "sluice: line %d: %v\n", f.Line, f.Err)
	}
	if extra := res.Failed - int64(len(res.Failures)); extra > 0 {
		fmt.Fprintf(errOut, "sluice: ... and %d more failed lines\n", extra)
	}
	return err
}
