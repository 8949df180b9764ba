package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/formats"
	"github.com/sluicehq/sluice/loader/fs"
	"github.com/sluicehq/sluice/pipelines"
)

// DefaultRetries is how many times a partition worker recovers from the
// sink and starts over after an error that retrying can fix (a sink or
// broker hiccup, a datanode restart) before the run fails.
const DefaultRetries = 5

// Config is one run of a pipeline.
type Config struct {
	// Spec is the loaded pipeline (defaults applied and validated, as
	// pipelines.Load returns it).
	Spec *pipelines.Spec
	// Dir is the pipeline file's folder. The format's schema_file was read
	// and parsed by pipelines.Load (relative to that folder), so the run
	// reads no schema file; Dir only reaches formats.DecoderOptions.
	Dir string
	// Follow keeps loading until ctx ends, sharing partitions with other
	// loaders of the pipeline through the consumer group. Without it the
	// run loads each partition up to its high watermark at start and
	// returns.
	Follow bool
	// Balancer is the consumer-group partition assignor of a follower
	// (see ParseBalancer); nil means cooperative-sticky. All loaders of a
	// pipeline must agree.
	Balancer kgo.GroupBalancer
	// Logger receives the run's log; nil discards.
	Logger *slog.Logger
	// Progress hears progress; nil logs one line per published file.
	Progress Progress
	// Retries per partition: how many times a worker recovers from the sink
	// and starts over after an error that retrying can fix; 0 means none
	// (DefaultConfig has DefaultRetries).
	Retries int
	// RetryBackoff is the first wait before a retry (doubling); more than
	// 0 (DefaultConfig has 1s).
	RetryBackoff time.Duration
	// Now is the clock (for roll ages and _ingest); nil means time.Now.
	Now func() time.Time
	// MaxDecompressedBatchBytes bounds what one fetched batch may
	// decompress to (default DefaultMaxDecompressedBatchBytes, 128 MiB); a
	// larger one stops its partition's run with an error naming its
	// offset. All batches decompressed between two polls of one
	// partition may take twice this (see decompress.go).
	MaxDecompressedBatchBytes int64
	// SetMemoryLimit sets the Go runtime's soft memory limit to
	// MemoryBudget of the run's workers, unless GOMEMLIMIT is set, for a
	// process that runs one batch run (sluice load): the garbage collector
	// then collects before the heap doubles, instead of letting each
	// worker's memory grow to twice what it holds live.
	SetMemoryLimit bool
	// Metrics, if set, counts the run's work under its pipeline's name
	// (see NewMetrics: one per process, shared by every run); nil means
	// no metrics.
	Metrics *Metrics
}

// memoryBase is what a loader process holds besides its workers (code,
// clients, metadata, the runtime), for MemoryBudget.
const memoryBase = 64 << 20

// MemoryBudget is the memory a run of spec with the given workers is
// meant to stay within: twice sink.row_group_bytes per worker plus a fixed
// base. A worker holds its open row group (encoded pages, a fraction of
// the row-group size after compression, plus the page being filled) and
// at most two fetches of about 1 MiB compressed each (kafka.go); twice the
// row group leaves room for a second open time partition and the
// collector's work.
func MemoryBudget(spec *pipelines.Spec, workers int) int64 {
	return int64(workers)*2*int64(spec.Sink.RowGroupBytes) + memoryBase
}

// Summary is what a run did, per partition.
type Summary struct {
	Partitions []PartitionStats
	Elapsed    time.Duration
}

// Totals adds up the partitions (First and Last are not meaningful).
func (s *Summary) Totals() PartitionStats {
	t := PartitionStats{First: -1, Last: -1}
	for _, p := range s.Partitions {
		t.Records += p.Records
		t.Bytes += p.Bytes
		t.Files += p.Files
		t.Errors += p.Errors
		t.DeadLetters += p.DeadLetters
		t.GapSkipped += p.GapSkipped
		t.Retries += p.Retries
	}
	return t
}

// WriteTable prints the summary as an aligned table with a total line.
func (s *Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tRECORDS\tBYTES\tFILES\tFIRST\tLAST\tERRORS\t")
	off := func(o int64) string {
		if o < 0 {
			return "-"
		}
		return fmt.Sprint(o)
	}
	for _, p := range s.Partitions {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t\n", p.Topic, p.Partition, p.Records, p.Bytes, p.Files, off(p.First), off(p.Last), p.Errors)
	}
	t := s.Totals()
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(t.Records) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t\t\t%d\t\n", t.Records, t.Bytes, t.Files, t.Errors)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d records in %s (%.0f records/s)\n", t.Records, s.Elapsed.Round(time.Millisecond), rate)
	return err
}

// run is one Run's shared state.
type run struct {
	cfg      Config
	spec     *pipelines.Spec
	log      *slog.Logger
	progress Progress
	fsys     fs.FS
	sink     *Sink
	src      *kafkaSource
	wcfg     *workerConfig
	hive     *hiveCatalog
	success  *successTracker
	commitFn func(ctx context.Context, tp TopicPartition, next int64) error
	// afterPublish, if set, runs after each commit's bookkeeping.
	afterPublish func(ctx context.Context)

	mu struct {
		sync.Mutex
		stats map[TopicPartition]*PartitionStats
	}
}

// Run loads the pipeline's topics into its sink (see Config.Follow) and
// returns what it did. An error names what failed; files published before
// it are complete and the next run resumes after them.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	start := time.Now()
	r, err := newRun(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if cfg.Follow {
		err = r.follow(ctx)
	} else {
		err = r.batch(ctx)
	}
	r.progress.Close()
	sum := &Summary{Elapsed: time.Since(start)}
	r.mu.Lock()
	for _, tp := range sortedTPs(r.mu.stats) {
		sum.Partitions = append(sum.Partitions, *r.mu.stats[tp])
	}
	r.mu.Unlock()
	return sum, err
}

// DefaultConfig returns a run's defaults, for spec: DefaultRetries retries
// a second apart (doubling), progress logged, the wall clock.
func DefaultConfig(spec *pipelines.Spec) Config {
	return Config{Spec: spec, Retries: DefaultRetries, RetryBackoff: time.Second, MaxDecompressedBatchBytes: DefaultMaxDecompressedBatchBytes}
}

// Validate checks the run options. The spec is taken as pipelines.Load
// (or Spec.Validate) left it, parsed values included: it is not parsed or
// validated again here.
func (c Config) Validate() error {
	if c.Spec == nil {
		return errors.New("loader: no pipeline spec")
	}
	if c.Spec.Compiled() == nil {
		return fmt.Errorf("loader: pipeline %q has not been validated (use pipelines.Load or Spec.Validate)", c.Spec.Name)
	}
	var errs []error
	if (c.Spec.Source.TLS != nil && c.Spec.Source.TLS.Enabled) || c.Spec.Source.SASL != nil {
		errs = append(errs, errors.New("source.tls and source.sasl are not supported by the loader yet"))
	}
	if c.Retries < 0 {
		errs = append(errs, fmt.Errorf("retries %d: must be 0 (none) or more", c.Retries))
	}
	if c.RetryBackoff <= 0 && c.Retries > 0 {
		errs = append(errs, fmt.Errorf("retry backoff %v: must be more than 0 when retrying", c.RetryBackoff))
	}
	return errors.Join(errs...)
}

func newRun(ctx context.Context, cfg Config) (*run, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	spec := cfg.Spec
	r := &run{cfg: cfg, spec: spec, log: cfg.Logger, progress: cfg.Progress}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.progress == nil {
		r.progress = NewLogProgress(r.log)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	retries := cfg.Retries
	parsed := spec.Compiled()
	layout, loc, codec := parsed.Layout, parsed.Zone, parsed.Codec
	fsys, root, err := fs.Open(ctx, spec.Sink.URL)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", spec.Sink.URL, err)
	}
	r.fsys = fsys
	r.sink = NewSink(fsys, root)
	maxBatch := cfg.MaxDecompressedBatchBytes
	if maxBatch <= 0 {
		maxBatch = DefaultMaxDecompressedBatchBytes
	}
	r.src, err = newKafkaSource(spec.Source.Brokers, spec.Source.Group, maxBatch, r.log)
	if err != nil {
		fsys.Close()
		return nil, err
	}
	location := spec.Sink.URL
	if !strings.Contains(location, "://") {
		location = "file://" + root
	}
	r.hive = newHiveCatalog(r.sink, spec.Hive.Database, spec.Hive.Table, location, spec.Sink.MetaColumns, r.log)
	r.success = newSuccessTracker(r.sink, layout, spec.PartitionBy.Layout, loc, spec.Sink.SuccessGrace, r.log)
	r.commitFn = func(ctx context.Context, tp TopicPartition, next int64) error {
		return r.src.commit(ctx, map[TopicPartition]int64{tp: next})
	}
	wopts := formats.WriterOptions{Codec: codec, RowGroupBytes: int64(spec.Sink.RowGroupBytes), MetaColumns: spec.Sink.MetaColumns}
	r.wcfg = &workerConfig{
		sink:      r.sink,
		source:    r.src,
		newFormat: newParquetFactory(parsed.Format, wopts, spec.PartitionBy.Time, cfg.Now, r.hive.setSchema, formats.DecoderOptions{Logger: r.log, Dir: cfg.Dir}),
		layout:    layout,
		loc:       loc,
		roll:      RollPolicy{Records: spec.Sink.Roll.Records, Bytes: int64(spec.Sink.Roll.Bytes), Age: spec.Sink.Roll.Age, MaxOpen: DefaultRollPolicy().MaxOpen},
		// Several open files share half a row group: each also holds a
		// partly filled page per column, so sharing a whole one put a
		// backlog spanning hours at the memory limit (README, Memory).
		bufferBytes:   int64(spec.Sink.RowGroupBytes) / 2,
		codec:         string(codec),
		start:         spec.Source.Start,
		onError:       parsed.OnError,
		maxErrorRatio: spec.Format.MaxErrorRatio,
		onGap:         parsed.OnGap,
		retries:       retries,
		retryBackoff:  cfg.RetryBackoff,
		log:           r.log,
		now:           cfg.Now,
		onPublish:     r.published,
		onProgress:    r.progress.Advance,
		onStart:       r.progress.Start,
		commitStart: func(ctx context.Context, tp TopicPartition, next int64) error {
			return r.commitFn(ctx, tp, next)
		},
		metrics:  cfg.Metrics,
		pipeline: spec.Name,
	}
	return r, nil
}

func (r *run) close() {
	r.src.close()
	r.fsys.Close()
}

// published runs after each commit: progress, Hive partitions, _SUCCESS
// and the group offset (for lag monitoring only).
func (r *run) published(p published) {
	ctx := context.Background()
	var dirs []string
	for _, f := range p.Files {
		r.progress.Published(p.TP, f.Path, f.Rows, f.Bytes)
		if f.Dir != "" {
			dirs = append(dirs, f.Dir)
			r.success.addDir(f.Dir)
		}
	}
	r.hive.addPartitions(dirs...)
	if err := r.hive.flush(ctx); err != nil {
		r.log.Warn("could not update the Hive DDL", "err", err)
	}
	if !p.MaxTime.IsZero() {
		r.success.watermark(p.TP, p.MaxTime)
	}
	if err := r.commitFn(ctx, p.TP, p.Next); err != nil {
		r.log.Warn("could not commit the group offset (used for lag monitoring only; the sink holds the truth)", "topic", p.TP.Topic, "partition", p.TP.Partition, "err", err)
	}
	if r.afterPublish != nil {
		r.afterPublish(ctx)
	}
}

// addStats folds a worker's stats into the run's.
func (r *run) addStats(s PartitionStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.stats == nil {
		r.mu.stats = map[TopicPartition]*PartitionStats{}
	}
	t := r.mu.stats[s.TopicPartition]
	if t == nil {
		c := s
		r.mu.stats[s.TopicPartition] = &c
		return
	}
	t.Records += s.Records
	t.Bytes += s.Bytes
	t.Files += s.Files
	t.Errors += s.Errors
	t.DeadLetters += s.DeadLetters
	t.GapSkipped += s.GapSkipped
	t.Retries += s.Retries
	if t.First < 0 || (s.First >= 0 && s.First < t.First) {
		t.First = s.First
	}
	t.Last = max(t.Last, s.Last)
}

// batch loads every partition up to its high watermark at start.
func (r *run) batch(ctx context.Context) error {
	ends, err := r.src.partitions(ctx, r.spec.Source.Topics)
	if err != nil {
		return err
	}
	tps := sortedTPs(ends)
	dirs := map[string]bool{}
	pos, err := r.sink.Recover(ctx, tps, dirs)
	if err != nil {
		return fmt.Errorf("sink %s: %w", r.spec.Sink.URL, err)
	}
	if err := r.hive.load(ctx); err != nil {
		return err
	}
	for d := range dirs {
		r.hive.addPartitions(d)
		r.success.addDir(d)
	}
	n := r.spec.MaxWorkers
	if n <= 0 || n > len(tps) {
		n = len(tps)
	}
	if r.cfg.SetMemoryLimit && os.Getenv("GOMEMLIMIT") == "" {
		limit := MemoryBudget(r.spec, n)
		debug.SetMemoryLimit(limit)
		r.log.Debug("memory limit set", "workers", n, "bytes", limit)
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	errs := make([]error, len(tps))
	for i, tp := range tps {
		r.addStats(PartitionStats{TopicPartition: tp, First: -1, Last: -1})
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			w := newWorker(r.wcfg, tp)
			p := pos[tp]
			w.initial = &p
			err := w.run(ctx, ends[tp])
			r.progress.Done(tp, err)
			r.addStats(w.stats)
			errs[i] = err
		})
	}
	wg.Wait()
	if ctx.Err() == nil {
		if err := r.hive.flush(ctx); err != nil {
			r.log.Warn("could not update the Hive DDL", "err", err)
		}
		if err := r.success.flush(ctx); err != nil {
			r.log.Warn("could not write _SUCCESS", "err", err)
		}
	}
	return errors.Join(errs...)
}
