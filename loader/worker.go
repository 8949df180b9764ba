package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/loader/fs"
	"github.com/sluicehq/sluice/pipelines"
)

// recordSource delivers one partition's records in offset order.
type recordSource interface {
	// fetch waits for the next records; it returns ctx's error when ctx
	// ends first.
	fetch(ctx context.Context) ([]*kgo.Record, error)
	close()
}

// offsetSource opens record sources and tells a partition's offsets.
type offsetSource interface {
	// open starts reading tp at offset from.
	open(ctx context.Context, tp TopicPartition, from int64) (recordSource, error)
	// offsets returns tp's log start offset and high watermark now.
	offsets(ctx context.Context, tp TopicPartition) (logStart, end int64, err error)
	// committed returns the consumer group's committed offset of tp, if
	// any (the start position of a never-landed partition under
	// start: latest).
	committed(ctx context.Context, tp TopicPartition) (offset int64, ok bool, err error)
}

// timeLayout renders a time partition's folder (pipelines.Layout).
type timeLayout interface {
	Format(t time.Time) string
	Truncate(t time.Time) time.Time
	End(start time.Time) time.Time
}

// PartitionStats is one partition's work in a run.
type PartitionStats struct {
	TopicPartition
	Records     int64 // rows published
	Bytes       int64 // bytes of data files published
	Files       int   // data files published
	First, Last int64 // first and last offset published by this run; -1 if none
	Errors      int64 // bad records (skipped or dead-lettered), in published batches
	DeadLetters int64 // of which written to _errors/
	GapSkipped  int64 // offsets deleted by retention before they were loaded (on_gap: skip)
	Retries     int   // attempts restarted after an error
}

// published describes one committed batch, for the hooks that follow a
// commit (group offsets, Hive partitions, progress).
type published struct {
	TP      TopicPartition
	Next    int64           // resume offset after this batch
	Files   []publishedFile // data and dead-letter files
	MaxTime time.Time       // latest partition time of a row in the batch
}

type publishedFile struct {
	Path  string // relative to the sink root
	Dir   string // time partition folder ("" for dead letters)
	Rows  int64
	Bytes int64
}

// permanentError is an error that retrying cannot fix (bad data under
// on_error: fail, a gap under on_gap: fail, the error ratio).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// workerConfig is shared by the workers of a run.
type workerConfig struct {
	sink      *Sink
	source    offsetSource
	newFormat formatFactory
	layout    timeLayout
	loc       *time.Location
	roll      RollPolicy
	// bufferBytes bounds the rows a worker holds in memory across its open
	// files (half of sink.row_group_bytes): past it, the file holding the
	// most writes a row group early. 0: no bound beyond each file's own.
	bufferBytes   int64
	codec         string
	start         string // earliest | latest
	onError       pipelines.ErrorPolicy
	maxErrorRatio float64 // 0: no limit
	onGap         pipelines.GapPolicy
	retries       int
	retryBackoff  time.Duration
	log           *slog.Logger
	now           func() time.Time
	onPublish     func(published)
	onProgress    func(tp TopicPartition, next int64)
	onStart       func(tp TopicPartition, from, end int64)
	// commitStart records where a never-landed partition starts under
	// start: latest (the group offset), so the next run begins there.
	commitStart func(ctx context.Context, tp TopicPartition, next int64) error
	// metrics, if set, counts under the pipeline label.
	metrics  *Metrics
	pipeline string
}

// openFile is a temporary data (or dead-letter) file being written.
type openFile struct {
	dir         string
	tmp         string
	f           fs.File
	counted     *countingWriter  // f, counting the bytes written
	rows        rowWriter        // a data file's Parquet writer (nil for dead letters)
	deadLetters deadLetterWriter // a dead-letter file's writer (nil for data)
	first, last int64
	opened      time.Time
}

// worker loads one partition.
type worker struct {
	cfg    *workerConfig
	tp     TopicPartition
	stats  PartitionStats
	format rowFormat // built from the first records read
	// initial is the position a run-wide recovery found, used by the
	// first attempt instead of scanning the sink again.
	initial *Position
	// epoch is the ownership epoch the attempt's recovery claimed.
	epoch int64

	open map[string]*openFile
	dead *openFile
	// written is the file the last row went to; sinceBound counts rows
	// since the buffered bytes were last checked.
	written    *openFile
	sinceBound int
	batchFirst int64
	next       int64
	pendErrs   int64
	pendDead   int64
	maxTime    time.Time
	read       int64 // records read this run (for the error ratio)
	bad        int64 // bad records this run

	m        *workerMetrics // nil: no metrics
	readSent int64          // of read, counted in m so far

	// layout cache: the last time partition used
	cacheStart, cacheEnd time.Time
	cacheDir             string
}

func newWorker(cfg *workerConfig, tp TopicPartition) *worker {
	return &worker{cfg: cfg, tp: tp, stats: PartitionStats{TopicPartition: tp, First: -1, Last: -1},
		m: cfg.metrics.forWorker(cfg.pipeline, tp.Topic)}
}

// run loads the partition up to (not including) offset until, or forever
// when until < 0, retrying failed attempts from the sink's position.
func (w *worker) run(ctx context.Context, until int64) error {
	w.m.running(1)
	defer w.m.running(-1)
	for attempt := 0; ; attempt++ {
		err := w.attempt(ctx, until)
		w.abandon(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= w.cfg.retries {
			return err
		}
		w.stats.Retries++
		w.m.retry()
		backoff := w.cfg.retryBackoff << min(attempt, 5)
		w.cfg.log.Warn("partition attempt failed; recovering from the sink", "topic", w.tp.Topic, "partition", w.tp.Partition, "attempt", attempt+1, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// resumeFrom returns where tp's reading starts, or done when there is
// nothing to read before until.
func (w *worker) resumeFrom(ctx context.Context, until int64) (from int64, done bool, err error) {
	var p Position
	if w.initial != nil {
		p, w.initial = *w.initial, nil
	} else {
		pos, err := w.cfg.sink.Recover(ctx, []TopicPartition{w.tp}, nil)
		if err != nil {
			return 0, false, err
		}
		p = pos[w.tp]
	}
	w.epoch = p.Epoch
	logStart, end, err := w.cfg.source.offsets(ctx, w.tp)
	if err != nil {
		return 0, false, err
	}
	if !p.Landed && w.cfg.start == "latest" {
		// "latest" is the high watermark at the first run; the group
		// offset remembers it until the first file lands.
		off, ok, err := w.cfg.source.committed(ctx, w.tp)
		if err != nil {
			return 0, false, err
		}
		if !ok {
			off = end
			if until >= 0 {
				off = until
			}
			if w.cfg.commitStart != nil {
				if err := w.cfg.commitStart(ctx, w.tp, off); err != nil {
					return 0, false, fmt.Errorf("%s: remember the start offset (start: latest): %w", w.tp, err)
				}
			}
		}
		p = Position{Landed: true, Next: off}
	}
	switch {
	case !p.Landed:
		from = logStart
	case p.Next < logStart:
		if w.cfg.onGap != pipelines.GapSkip {
			return 0, false, &permanentError{fmt.Errorf("topic %q partition %d: the next offset to load, %d, was deleted by retention (log start offset is %d); %d records are lost. Set source.on_gap: skip to continue from %d",
				w.tp.Topic, w.tp.Partition, p.Next, logStart, logStart-p.Next, logStart)}
		}
		w.cfg.log.Warn("retention deleted records before they were loaded; skipping the gap", "topic", w.tp.Topic, "partition", w.tp.Partition, "expected_offset", p.Next, "log_start_offset", logStart)
		w.stats.GapSkipped += logStart - p.Next
		w.m.gap(logStart - p.Next)
		from = logStart
	default:
		from = p.Next
	}
	return from, until >= 0 && from >= until, nil
}

func (w *worker) attempt(ctx context.Context, until int64) error {
	from, done, err := w.resumeFrom(ctx, until)
	if err != nil || done {
		return err
	}
	if w.cfg.onStart != nil {
		w.cfg.onStart(w.tp, from, until)
	}
	src, err := w.cfg.source.open(ctx, w.tp, from)
	if err != nil {
		return err
	}
	defer src.close()
	defer w.countRead()
	w.next, w.batchFirst = from, from
	w.pendErrs, w.pendDead, w.maxTime = 0, 0, time.Time{}
	for {
		fctx, cancel := ctx, context.CancelFunc(func() {})
		due := w.dueAt()
		if !due.IsZero() {
			fctx, cancel = context.WithDeadline(ctx, due)
		}
		recs, err := src.fetch(fctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if w.format == nil && len(recs) > 0 {
			if w.format, err = w.cfg.newFormat(recs); err != nil {
				return &permanentError{err}
			}
		}
		for _, rec := range recs {
			if rec.Offset < w.next {
				continue
			}
			if err := w.process(ctx, rec); err != nil {
				return err
			}
			w.next = rec.Offset + 1
			if w.cfg.onProgress != nil && w.next%8192 == 0 {
				w.cfg.onProgress(w.tp, w.next)
			}
			if w.rollDue() {
				if err := w.publish(ctx); err != nil {
					return err
				}
			} else if err := w.boundBuffered(); err != nil {
				return err
			}
			if until >= 0 && w.next >= until {
				if err := w.publish(ctx); err != nil {
					return err
				}
				if w.cfg.onProgress != nil {
					w.cfg.onProgress(w.tp, w.next)
				}
				return w.checkErrorRatio(true)
			}
		}
		w.countRead()
		if w.cfg.onProgress != nil && len(recs) > 0 {
			w.cfg.onProgress(w.tp, w.next)
		}
		if due := w.dueAt(); !due.IsZero() && !w.cfg.now().Before(due) {
			if err := w.publish(ctx); err != nil {
				return err
			}
		}
	}
}

// countRead adds the records read since the last call to the metrics
// (once per fetch, not per record).
func (w *worker) countRead() {
	w.m.addRead(w.read - w.readSent)
	w.readSent = w.read
}

// process decodes rec and writes it to its time partition's file.
func (w *worker) process(ctx context.Context, rec *kgo.Record) error {
	if rec.Attrs.IsControl() {
		return nil
	}
	w.read++
	row, t, err := w.format.decode(ctx, rec)
	if err != nil {
		var re *recordError
		if errors.As(err, &re) {
			return w.badRecord(ctx, rec, err)
		}
		return fmt.Errorf("%s offset %d: %w", w.tp, rec.Offset, err)
	}
	if row == nil {
		return nil
	}
	dir := w.dirFor(t)
	for range 2 {
		of, err := w.fileFor(ctx, dir, rec.Offset, row)
		if err != nil {
			return err
		}
		err = of.rows.write(row)
		if err == nil {
			of.last = rec.Offset
			w.written = of
			if t.After(w.maxTime) {
				w.maxTime = t
			}
			return nil
		}
		var re *recordError
		switch {
		case errors.As(err, &re):
			return w.badRecord(ctx, rec, err)
		case errors.Is(err, errNewFile):
			// Publish what is open (offsets so far are contiguous), then
			// retry the row in a fresh file with its schema.
			if of.rows.rows() == 0 {
				return fmt.Errorf("%s offset %d: a new file cannot take the row's schema", w.tp, rec.Offset)
			}
			if err := w.publish(ctx); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: write %s: %w", w.tp, w.cfg.sink.abs(of.tmp), err)
		}
	}
	return fmt.Errorf("%s offset %d: row does not fit a new file", w.tp, rec.Offset)
}

// badRecord applies on_error to a record that failed to decode or write.
func (w *worker) badRecord(ctx context.Context, rec *kgo.Record, cause error) error {
	w.bad++
	switch w.cfg.onError {
	case pipelines.ErrorSkip:
	case pipelines.ErrorDeadLetter:
		if w.dead == nil {
			f, tmp, err := w.cfg.sink.CreateTemp(ctx, w.tp, w.epoch, rec.Offset)
			if err != nil {
				return err
			}
			cw := &countingWriter{w: f}
			dl, err := w.format.newDeadLetters(cw)
			if err != nil {
				_ = f.Abort()
				return fmt.Errorf("%s: start dead-letter file: %w", w.tp, err)
			}
			w.dead = &openFile{tmp: tmp, f: f, counted: cw, deadLetters: dl, first: rec.Offset, opened: w.cfg.now()}
		}
		if err := w.dead.deadLetters.write(rec, cause); err != nil {
			return fmt.Errorf("%s: write dead letter: %w", w.tp, err)
		}
		w.dead.last = rec.Offset
		w.pendDead++
	default:
		return &permanentError{fmt.Errorf("topic %q partition %d offset %d: %w (format.on_error is fail; use skip or dead_letter to continue past bad records)", w.tp.Topic, w.tp.Partition, rec.Offset, cause)}
	}
	w.pendErrs++
	return w.checkErrorRatio(false)
}

// checkErrorRatio fails the run once bad records exceed max_error_ratio;
// before the end it waits for 1000 records so one early error is not 100%.
func (w *worker) checkErrorRatio(final bool) error {
	r := w.cfg.maxErrorRatio
	if r <= 0 || w.read == 0 || (!final && w.read < 1000) {
		return nil
	}
	if got := float64(w.bad) / float64(w.read); got > r {
		return &permanentError{fmt.Errorf("topic %q partition %d: %d of %d records were bad (%.4f), over max_error_ratio %g", w.tp.Topic, w.tp.Partition, w.bad, w.read, got, r)}
	}
	return nil
}

// dirFor returns the time partition folder of t.
func (w *worker) dirFor(t time.Time) string {
	if !w.cacheEnd.IsZero() && !t.Before(w.cacheStart) && t.Before(w.cacheEnd) {
		return w.cacheDir
	}
	t = t.In(w.cfg.loc)
	start := w.cfg.layout.Truncate(t)
	w.cacheStart, w.cacheEnd = start, w.cfg.layout.End(start)
	w.cacheDir = w.cfg.layout.Format(t)
	if !w.cacheEnd.After(w.cacheStart) { // layout without time tokens
		w.cacheEnd = time.Time{}
	}
	return w.cacheDir
}

// fileFor returns the open file of dir, creating it for a row at offset.
func (w *worker) fileFor(ctx context.Context, dir string, offset int64, row any) (*openFile, error) {
	if of := w.open[dir]; of != nil {
		return of, nil
	}
	if w.cfg.roll.MaxOpen > 0 && len(w.open) >= w.cfg.roll.MaxOpen {
		if err := w.publish(ctx); err != nil {
			return nil, err
		}
	}
	f, tmp, err := w.cfg.sink.CreateTemp(ctx, w.tp, w.epoch, offset)
	if err != nil {
		return nil, err
	}
	cw := &countingWriter{w: f}
	rw, err := w.format.newFile(cw, row)
	if err != nil {
		_ = f.Abort()
		return nil, fmt.Errorf("%s: start file: %w", w.tp, err)
	}
	of := &openFile{dir: dir, tmp: tmp, f: f, counted: cw, rows: rw, first: offset, last: -1, opened: w.cfg.now()}
	if w.open == nil {
		w.open = make(map[string]*openFile)
	}
	w.open[dir] = of
	return of, nil
}

// rollDue reports whether an open file is full.
func (w *worker) rollDue() bool {
	// Only the file the last row went to can have become full: the others
	// were checked after their own last row.
	if of := w.written; of != nil && w.cfg.roll.full(of.rows.rows(), max(of.counted.n, of.rows.bytes())) {
		return true
	}
	return w.dead != nil && w.cfg.roll.full(w.dead.deadLetters.rows(), max(w.dead.counted.n, w.dead.deadLetters.bytes()))
}

// boundBufferedEvery is how many rows go by between two checks of the
// bytes held across open files (a check visits every open file).
const boundBufferedEvery = 256

// boundBuffered keeps the rows held in memory across the open files
// within cfg.bufferBytes: while they are over it, the file holding the
// most writes them out as a row group. Each file bounds its own rows to
// the row group size already; this bounds a worker with many time
// partitions open at once (a backlog spanning hours), whose files would
// otherwise each hold up to a row group.
func (w *worker) boundBuffered() error {
	if w.cfg.bufferBytes <= 0 || len(w.open) < 2 {
		return nil
	}
	if w.sinceBound++; w.sinceBound < boundBufferedEvery {
		return nil
	}
	w.sinceBound = 0
	for {
		var total, most int64
		var largest *openFile
		for _, of := range w.open {
			b := of.rows.buffered()
			total += b
			if largest == nil || b > most {
				largest, most = of, b
			}
		}
		if total <= w.cfg.bufferBytes || most == 0 {
			return nil
		}
		if err := largest.rows.flush(); err != nil {
			return fmt.Errorf("%s: write %s: %w", w.tp, w.cfg.sink.abs(largest.tmp), err)
		}
	}
}

// dueAt is when the batch must roll by age (zero: nothing open).
func (w *worker) dueAt() time.Time {
	var oldest time.Time
	for _, of := range w.open {
		if oldest.IsZero() || of.opened.Before(oldest) {
			oldest = of.opened
		}
	}
	if w.dead != nil && (oldest.IsZero() || w.dead.opened.Before(oldest)) {
		oldest = w.dead.opened
	}
	return w.cfg.roll.dueAt(oldest)
}

// publish commits every open file of the batch read so far.
func (w *worker) publish(ctx context.Context) error {
	if len(w.open) == 0 && w.dead == nil {
		w.commitStats(nil)
		return nil
	}
	start := time.Now()
	files, err := w.commitBatch(ctx)
	if err != nil {
		w.m.commitFailed(err)
		return err
	}
	w.m.commitTook(time.Since(start))
	w.commitStats(files)
	return nil
}

// commitBatch closes the open files and commits them as one batch (steps
// 1-5 of the commit protocol), returning what it published.
func (w *worker) commitBatch(ctx context.Context) ([]publishedFile, error) {
	dirs := make([]string, 0, len(w.open))
	for d := range w.open {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	b := &batch{TP: w.tp, Epoch: w.epoch, First: w.batchFirst, Last: w.next - 1}
	var files []publishedFile
	for _, d := range dirs {
		of := w.open[d]
		if err := of.rows.close(); err != nil {
			return nil, fmt.Errorf("%s: finish %s: %w", w.tp, w.cfg.sink.abs(of.tmp), err)
		}
		if err := of.f.Close(); err != nil {
			return nil, fmt.Errorf("%s: close %s: %w", w.tp, w.cfg.sink.abs(of.tmp), err)
		}
		of.f = nil
		name := FileName{TopicPartition: w.tp, First: of.first, Last: of.last, Codec: w.cfg.codec}
		final := join(d, name.String())
		b.Renames = append(b.Renames, rename{From: of.tmp, To: final})
		files = append(files, publishedFile{Path: final, Dir: d, Rows: of.rows.rows(), Bytes: of.counted.n})
	}
	if of := w.dead; of != nil {
		if err := of.deadLetters.close(); err != nil {
			return nil, fmt.Errorf("%s: finish %s: %w", w.tp, w.cfg.sink.abs(of.tmp), err)
		}
		if err := of.f.Close(); err != nil {
			return nil, fmt.Errorf("%s: close %s: %w", w.tp, w.cfg.sink.abs(of.tmp), err)
		}
		of.f = nil
		name := FileName{TopicPartition: w.tp, First: of.first, Last: of.last, Codec: w.cfg.codec}
		final := join(errorsDir, name.String())
		b.Renames = append(b.Renames, rename{From: of.tmp, To: final})
		files = append(files, publishedFile{Path: final, Rows: of.deadLetters.rows(), Bytes: of.counted.n})
	}
	w.open, w.dead, w.written = nil, nil, nil // closed: from here on the sink owns them
	if err := w.cfg.sink.commit(ctx, b); err != nil {
		return nil, err
	}
	return files, nil
}

// commitStats adds a committed batch to the stats and starts the next one.
func (w *worker) commitStats(files []publishedFile) {
	st := &w.stats
	var first, last int64 = -1, -1
	var rows, bytes int64
	var nfiles int
	for _, f := range files {
		if f.Dir == "" {
			continue // dead letters
		}
		rows += f.Rows
		bytes += f.Bytes
		nfiles++
	}
	st.Records += rows
	st.Bytes += bytes
	st.Files += nfiles
	w.m.committed(rows, bytes, nfiles, w.pendErrs, w.pendDead)
	if len(files) > 0 {
		first, last = w.batchFirst, w.next-1
		if st.First < 0 {
			st.First = first
		}
		st.Last = last
	}
	st.Errors += w.pendErrs
	st.DeadLetters += w.pendDead
	if len(files) > 0 && w.cfg.onPublish != nil {
		w.cfg.onPublish(published{TP: w.tp, Next: w.next, Files: files, MaxTime: w.maxTime})
	}
	w.batchFirst = w.next
	w.pendErrs, w.pendDead, w.maxTime = 0, 0, time.Time{}
}

// abandon deletes the batch's open temporary files (on an error or a
// revoke); what was committed stays.
func (w *worker) abandon(ctx context.Context) {
	for _, of := range w.open {
		if of.f != nil {
			_ = of.f.Abort()
		}
	}
	if w.dead != nil && w.dead.f != nil {
		_ = w.dead.f.Abort()
	}
	w.open, w.dead, w.written = nil, nil, nil
	_ = ctx
}
