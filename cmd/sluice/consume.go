package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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

// fromKind says what --from names.
type fromKind int

const (
	fromEarliest fromKind = iota
	fromLatest
	fromOffset  // an exact offset n
	fromBackEnd // n records before the end
	fromTime    // the first record at or after Unix ms n
)

// startSpec is a parsed --from.
type startSpec struct {
	kind fromKind
	n    int64
}

// parseFrom parses --from.
func parseFrom(s string) (startSpec, error) {
	switch {
	case s == "earliest" || s == "beginning":
		return startSpec{kind: fromEarliest}, nil
	case s == "latest" || s == "end":
		return startSpec{kind: fromLatest}, nil
	case strings.HasPrefix(s, "@"):
		ms, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || ms < 0 {
			return startSpec{}, fmt.Errorf("--from %q: want @ followed by Unix milliseconds", s)
		}
		return startSpec{kind: fromTime, n: ms}, nil
	case strings.HasPrefix(s, "-"):
		n, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || n <= 0 {
			return startSpec{}, fmt.Errorf("--from %q: want -N with N > 0 records before the end", s)
		}
		return startSpec{kind: fromBackEnd, n: n}, nil
	default:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return startSpec{}, fmt.Errorf("--from %q: want earliest, latest, an offset >= 0, -N or @UNIX_MS", s)
		}
		return startSpec{kind: fromOffset, n: n}, nil
	}
}

// offset is the franz-go start offset for the spec.
func (f startSpec) offset() kgo.Offset {
	switch f.kind {
	case fromLatest:
		return kgo.NewOffset().AtEnd()
	case fromOffset:
		return kgo.NewOffset().At(f.n)
	case fromBackEnd:
		return kgo.NewOffset().AtEnd().Relative(-f.n)
	case fromTime:
		return kgo.NewOffset().AfterMilli(f.n)
	default:
		return kgo.NewOffset().AtStart()
	}
}

func runConsume(ctx context.Context, cf *clientFlags, kf *consumeFlags, topic string, out io.Writer) error {
	tmpl, err := parseRecordFormat(kf.format)
	if err != nil {
		return err
	}
	from, err := parseFrom(kf.from)
	if err != nil {
		return err
	}
	if kf.count == 0 {
		return nil
	}
	if kf.count < -1 {
		return fmt.Errorf("-n %d: want a count >= 0, or -1 for no limit", kf.count)
	}

	// Check the topic (and partition) first: a consumer of a missing topic
	// would otherwise wait silently forever. For -e, also learn where each
	// partition ends and starts, so an empty range ends at once.
	var tracker *endTracker
	err = cf.withAdmin(ctx, func(ctx context.Context, adm *kadm.Client) error {
		partitions, ends, err := consumeTargets(ctx, cf, adm, topic, kf.partition, kf.exitAtEnd)
		if err != nil {
			return err
		}
		tracker = newEndTracker(partitions, ends)
		if kf.exitAtEnd && !tracker.done() {
			return tracker.seedStarts(ctx, cf, adm, topic, from)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if kf.exitAtEnd && tracker.done() {
		return nil
	}

	opts := []kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if kf.exitAtEnd {
		// Transaction markers take offsets too; seeing them lets -e reach the end.
		opts = append(opts, kgo.KeepControlRecords())
	}
	if kf.partition >= 0 {
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			topic: {kf.partition: from.offset()},
		}))
	} else {
		opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeStartOffset(from.offset()))
	}
	cl, err := cf.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	w := bufio.NewWriterSize(out, 256<<10)
	defer w.Flush()

	var buf []byte
	remaining := kf.count
	for {
		maxRecs := -1
		if remaining > 0 {
			maxRecs = int(min(remaining, 1<<20))
		}
		fetches := cl.PollRecords(ctx, maxRecs)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("topic %q partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			if r.Attrs.IsControl() {
				tracker.consumed(r.Partition, r.Offset)
				continue
			}
			buf = tmpl.append(buf[:0], r)
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
			tracker.consumed(r.Partition, r.Offset)
			if remaining > 0 {
				remaining--
				if remaining == 0 {
					return w.Flush()
				}
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		if kf.exitAtEnd && tracker.done() {
			return nil
		}
	}
}

// consumeTargets checks that topic (and partition, if >= 0) exists and
// returns the partitions to read; with wantEnds it also returns each
// partition's end offset (high watermark) at start.
func consumeTargets(ctx context.Context, cf *clientFlags, adm *kadm.Client, topic string, partition int32, wantEnds bool) ([]int32, map[int32]int64, error) {
	topics, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, nil, cf.requestErr("metadata", err)
	}
	t, ok := topics[topic]
	if !ok {
		return nil, nil, fmt.Errorf("topic %q: missing from the metadata response", topic)
	}
	if t.Err != nil {
		return nil, nil, topicErr(topic, t.Err, "")
	}
	parts := t.Partitions.Numbers()
	if partition >= 0 {
		if _, ok := t.Partitions[partition]; !ok {
			return nil, nil, fmt.Errorf("topic %q: --partition %d does not exist (the topic has %d partitions)",
				topic, partition, len(parts))
		}
		parts = []int32{partition}
	}
	if !wantEnds {
		return parts, nil, nil
	}
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, nil, cf.requestErr("list end offsets", err)
	}
	ends := make(map[int32]int64, len(parts))
	for _, p := range parts {
		o, ok := listed.Lookup(topic, p)
		if !ok || o.Err != nil {
			return nil, nil, fmt.Errorf("topic %q partition %d: end offset: %w", topic, p, errOrMissing(o.Err))
		}
		ends[p] = o.Offset
	}
	return parts, ends, nil
}

func errOrMissing(err error) error {
	if err != nil {
		return err
	}
	return errors.New("missing from the ListOffsets response")
}

// endTracker knows, for -e, which partitions still have records below the
// end offset seen at start. A nil ends map tracks nothing.
type endTracker struct {
	ends    map[int32]int64 // partition -> end offset at start
	pending map[int32]bool  // partitions not yet read to their end
}

func newEndTracker(partitions []int32, ends map[int32]int64) *endTracker {
	t := &endTracker{ends: ends, pending: make(map[int32]bool)}
	if ends == nil {
		return t
	}
	for _, p := range partitions {
		if ends[p] > 0 {
			t.pending[p] = true
		}
	}
	return t
}

// seedStarts drops the partitions whose start position is already at or
// past their end: latest, an offset past the end, a time after the last
// record, or an empty log whose start equals its end.
func (t *endTracker) seedStarts(ctx context.Context, cf *clientFlags, adm *kadm.Client, topic string, from startSpec) error {
	if from.kind == fromLatest {
		t.pending = map[int32]bool{}
		return nil
	}
	var (
		listed kadm.ListedOffsets
		err    error
	)
	if from.kind == fromTime {
		listed, err = adm.ListOffsetsAfterMilli(ctx, from.n, topic)
	} else {
		listed, err = adm.ListStartOffsets(ctx, topic)
	}
	if err != nil {
		return cf.requestErr("list offsets", err)
	}
	for p := range t.pending {
		o, ok := listed.Lookup(topic, p)
		if !ok || o.Err != nil {
			return fmt.Errorf("topic %q partition %d: start offset: %w", topic, p, errOrMissing(o.Err))
		}
		end := t.ends[p]
		start := o.Offset // log start, or the first offset at or after the time
		switch from.kind {
		case fromOffset:
			start = max(start, from.n)
		case fromBackEnd:
			start = max(start, end-from.n)
		case fromTime:
			if start < 0 {
				start = end
			}
		}
		if start >= end {
			delete(t.pending, p)
		}
	}
	return nil
}

func (t *endTracker) consumed(partition int32, offset int64) {
	if t.pending[partition] && offset+1 >= t.ends[partition] {
		delete(t.pending, partition)
	}
}

func (t *endTracker) done() bool { return len(t.pending) == 0 }

// formatVerb is one % verb of --format.
type formatVerb byte

// recordFormat is a compiled --format: literal runs and verbs, in order.
type recordFormat struct {
	parts []formatPart
}

type formatPart struct {
	lit  []byte
	verb formatVerb // 0 for a literal
}

// parseRecordFormat compiles a --format template, rejecting unknown verbs and
// escapes with their position.
func parseRecordFormat(s string) (*recordFormat, error) {
	f := &recordFormat{}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			f.parts = append(f.parts, formatPart{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			if i+1 == len(s) {
				return nil, fmt.Errorf("--format %q: %% at the end (write %%%% for a literal %%)", s)
			}
			i++
			switch v := s[i]; v {
			case '%':
				lit = append(lit, '%')
			case 't', 'p', 'o', 'T', 'k', 'v', 's', 'K', 'S', 'h':
				flush()
				if v == 's' {
					v = 'v'
				}
				f.parts = append(f.parts, formatPart{verb: formatVerb(v)})
			default:
				return nil, fmt.Errorf("--format %q: unknown verb %%%c at byte %d (want %%t %%p %%o %%T %%k %%v %%s %%K %%S %%h %%%%)", s, v, i)
			}
		case '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("--format %q: \\ at the end (write \\\\ for a backslash)", s)
			}
			i++
			switch e := s[i]; e {
			case 'n':
				lit = append(lit, '\n')
			case 't':
				lit = append(lit, '\t')
			case 'r':
				lit = append(lit, '\r')
			case '\\':
				lit = append(lit, '\\')
			default:
				return nil, fmt.Errorf("--format %q: unknown escape \\%c at byte %d (want \\n \\t \\r \\\\)", s, e, i)
			}
		default:
			lit = append(lit, c)
		}
	}
	if !strings.HasSuffix(string(lit), "\n") {
		lit = append(lit, '\n')
	}
	flush()
	return f, nil
}

// append writes r formatted by f to dst.
func (f *recordFormat) append(dst []byte, r *kgo.Record) []byte {
	for _, p := range f.parts {
		switch p.verb {
		case 0:
			dst = append(dst, p.lit...)
		case 't':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 'T':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		case 'k':
			dst = append(dst, r.Key...)
		case 'v':
			dst = append(dst, r.Value...)
		case 'K':
			dst = appendLen(dst, r.Key)
		case 'S':
			dst = appendLen(dst, r.Value)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = append(dst, h.Value...)
			}
		}
	}
	return dst
}

// appendLen writes len(b), or -1 for a null (nil) key or value.
func appendLen(dst, b []byte) []byte {
	if b == nil {
		return append(dst, "-1"...)
	}
	return strconv.AppendInt(dst, int64(len(b)), 10)
}
