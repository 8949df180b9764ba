package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
)

// consumeFlags are the flags of `sluice consume`.
type consumeFlags struct {
	from      string
	count     int64
	partition int32
	format    string
	exitAtEnd bool
}

const consumeFormatHelp = `--format is a template written once per record; % verbs are replaced:
  %t topic       %p partition     %o offset        %T timestamp (Unix ms)
  %k key         %v value (or %s) %K key length    %S value length
  %h headers as k=v,k=v           %% a literal %   (lengths are -1 for null)
Escapes \n \t \r and \\ are understood. A newline is added after each record
unless the template already ends with one. The default is "%v" (the value).
Example: --format '%p:%o %k=%v' (the verbs of kcat -f, with %v as well as %s).`

func newConsumeCmd() *cobra.Command {
	cf := &clientFlags{}
	kf := &consumeFlags{}
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic to stdout",
		Long: "Read TOPIC from any Kafka cluster without a consumer group and print\n" +
			"each record with --format. --from is earliest (default), latest, an\n" +
			"offset N, -N (N before the end of each partition) or @MS (the first\n" +
			"record at or after Unix time MS milliseconds). Stops after -n records,\n" +
			"at the end of every partition with -e, else follows until SIGINT.\n\n" +
			consumeFormatHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runConsume(ctx, cf, kf, args[0], cmd.OutOrStdout())
		},
	}
	cf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&kf.from, "from", "earliest", "where to start: earliest, latest, OFFSET, -N or @UNIX_MS")
	fs.Int64VarP(&kf.count, "count", "n", -1, "stop after N records (-1: no limit)")
	fs.Int32Var(&kf.partition, "partition", -1, "consume only this partition (-1: all)")
	fs.StringVar(&kf.format, "format", "%v", "output template per record, see above")
	fs.BoolVarP(&kf.exitAtEnd, "exit-at-end", "e", false, "stop once every partition is read up to its end at start time")
	return cmd
}

func runConsume(ctx context.Context, cf *clientFlags, kf *consumeFlags, topic string, out io.Writer) error {
	tmpl, err := client.ParseRecordFormat(kf.format)
	if err != nil {
		return fmt.Errorf("--format %q: %w", kf.format, err)
	}
	from, err := client.ParseFrom(kf.from)
	if err != nil {
		return fmt.Errorf("--from %q: %w", kf.from, err)
	}
	if kf.count == 0 {
		return nil
	}
	if kf.count < -1 {
		return fmt.Errorf("-n %d: want a count >= 0, or -1 for no limit", kf.count)
	}
	c, err := cf.cluster()
	if err != nil {
		return err
	}
	r, err := c.NewReader(ctx, client.ReadOptions{
		Topic: topic, Partition: kf.partition, From: from, Limit: max(kf.count, 0), UntilEnd: kf.exitAtEnd,
	})
	var pe *client.UnknownPartitionError
	if errors.As(err, &pe) {
		return fmt.Errorf("topic %q: --partition %d does not exist (the topic has %d partitions)", pe.Topic, pe.Partition, pe.Partitions)
	}
	if err != nil {
		return err
	}
	defer r.Close()

	w := bufio.NewWriterSize(out, 256<<10)
	defer w.Flush()
	var buf []byte
	for !r.Done() {
		recs, err := r.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for _, rec := range recs {
			buf = tmpl.Append(buf[:0], rec)
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
	return nil
}
