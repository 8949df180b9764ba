package loader

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is the loader's Prometheus instrumentation. A process makes one,
// with [NewMetrics], and gives it to every run (Config.Metrics), whatever
// the pipeline: series are labelled by pipeline (the spec's name) and,
// where it makes sense, topic. Counts of published data are taken when a
// batch is committed, from the same numbers as [PartitionStats], so at the
// end of a run a pipeline's counters have grown by its [Summary] totals.
// A Metrics is safe for concurrent use.
//
// The series, counters labelled {pipeline,topic} unless said otherwise
// (in parentheses, the [PartitionStats] field each one adds up):
//
//   - sluice_loader_records_read_total: records read for decoding
//   - sluice_loader_records_decoded_total: rows published (Records)
//   - sluice_loader_decode_errors_total: bad records, skipped or
//     dead-lettered (Errors)
//   - sluice_loader_dead_letters_total: bad records in _errors/
//     (DeadLetters)
//   - sluice_loader_files_published_total: data files published (Files)
//   - sluice_loader_bytes_published_total: their bytes (Bytes)
//   - sluice_loader_gap_skipped_offsets_total: offsets lost to retention
//     and skipped (GapSkipped)
//   - sluice_loader_retries_total: attempts restarted (Retries)
//   - sluice_loader_commit_duration_seconds{pipeline}: histogram, one
//     observation per published batch
//   - sluice_loader_commit_failures_total{pipeline,reason}: failed batch
//     commits; reason is fenced, canceled or error
//   - sluice_loader_workers{pipeline}: gauge, partition workers running
type Metrics struct {
	// recordsRead is sluice_loader_records_read_total{pipeline,topic}:
	// records read from Kafka and handed to the decoder (not control
	// records), whether or not their batch was published; records read
	// again after a retry or a hand-over count again.
	recordsRead *prometheus.CounterVec
	// recordsDecoded is sluice_loader_records_decoded_total{pipeline,topic}:
	// records decoded into rows of published data files (Summary Records).
	recordsDecoded *prometheus.CounterVec
	// decodeErrors is sluice_loader_decode_errors_total{pipeline,topic}:
	// bad records, skipped or dead-lettered, of committed batches (Summary
	// Errors).
	decodeErrors *prometheus.CounterVec
	// deadLetters is sluice_loader_dead_letters_total{pipeline,topic}: bad
	// records published to _errors/ (Summary DeadLetters).
	deadLetters *prometheus.CounterVec
	// filesPublished is sluice_loader_files_published_total{pipeline,topic}:
	// data files published (Summary Files; dead-letter files are not
	// counted).
	filesPublished *prometheus.CounterVec
	// bytesPublished is sluice_loader_bytes_published_total{pipeline,topic}:
	// bytes of the published data files (Summary Bytes).
	bytesPublished *prometheus.CounterVec
	// gapSkipped is sluice_loader_gap_skipped_offsets_total{pipeline,topic}:
	// offsets deleted by retention before they were loaded, skipped under
	// source.on_gap: skip (Summary GapSkipped).
	gapSkipped *prometheus.CounterVec
	// retries is sluice_loader_retries_total{pipeline,topic}: partition
	// attempts restarted from the sink after an error (Summary Retries).
	retries *prometheus.CounterVec
	// commitDuration is sluice_loader_commit_duration_seconds{pipeline}:
	// the time each published batch took to commit, from closing its files
	// to its renames being done (steps 1-5 of the commit protocol). One
	// observation per published batch; failed commits are not observed.
	commitDuration *prometheus.HistogramVec
	// commitFailures is sluice_loader_commit_failures_total{pipeline,reason}:
	// batch commits that failed, by reason: fenced (another owner of the
	// partition won; nothing was published), canceled (the run stopped or
	// the partition was revoked) or error (a sink error: the partition is
	// retried, and its recovery rolls the batch forward if the commit got
	// as far as the intent, else loads it again).
	commitFailures *prometheus.CounterVec
	// workers is sluice_loader_workers{pipeline}: partition workers
	// running now.
	workers *prometheus.GaugeVec
}

// Reasons of sluice_loader_commit_failures_total.
const (
	commitFenced   = "fenced"
	commitCanceled = "canceled"
	commitError    = "error"
)

// NewMetrics makes the loader's metrics and registers them on reg; with a
// nil reg they are kept but not registered. Registering a second Metrics
// on the same registerer panics (duplicate metrics): make one per process
// and share it between runs.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	pt := []string{"pipeline", "topic"}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		recordsRead: counter("sluice_loader_records_read_total",
			"Records read from Kafka for decoding (not control records), published or not; records read again after a retry count again.", pt),
		recordsDecoded: counter("sluice_loader_records_decoded_total",
			"Records decoded into rows of published data files.", pt),
		decodeErrors: counter("sluice_loader_decode_errors_total",
			"Bad records (skipped or dead-lettered) of committed batches.", pt),
		deadLetters: counter("sluice_loader_dead_letters_total",
			"Bad records published to the sink's _errors/ folder.", pt),
		filesPublished: counter("sluice_loader_files_published_total",
			"Data files published (dead-letter files not included).", pt),
		bytesPublished: counter("sluice_loader_bytes_published_total",
			"Bytes of the data files published.", pt),
		gapSkipped: counter("sluice_loader_gap_skipped_offsets_total",
			"Offsets deleted by retention before they were loaded, skipped (source.on_gap: skip).", pt),
		retries: counter("sluice_loader_retries_total",
			"Partition attempts restarted from the sink after an error.", pt),
		commitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_loader_commit_duration_seconds",
			Help:    "Time to commit a published batch: closing its files, the intent, the renames.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1ms to 33s
		}, []string{"pipeline"}),
		commitFailures: counter("sluice_loader_commit_failures_total",
			"Batch commits that failed, by reason (fenced, canceled, error).", []string{"pipeline", "reason"}),
		workers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_loader_workers", Help: "Partition workers running.",
		}, []string{"pipeline"}),
	}
	if reg != nil {
		reg.MustRegister(m.recordsRead, m.recordsDecoded, m.decodeErrors, m.deadLetters,
			m.filesPublished, m.bytesPublished, m.gapSkipped, m.retries,
			m.commitDuration, m.commitFailures, m.workers)
	}
	return m
}

// Forget deletes every series of pipeline (one removed from the
// scheduler). Call it only when no run of the pipeline is going: a running
// worker's counts would go to series no longer exported.
func (m *Metrics) Forget(pipeline string) {
	l := prometheus.Labels{"pipeline": pipeline}
	for _, v := range []*prometheus.MetricVec{
		m.recordsRead.MetricVec, m.recordsDecoded.MetricVec, m.decodeErrors.MetricVec, m.deadLetters.MetricVec,
		m.filesPublished.MetricVec, m.bytesPublished.MetricVec, m.gapSkipped.MetricVec, m.retries.MetricVec,
		m.commitDuration.MetricVec, m.commitFailures.MetricVec, m.workers.MetricVec,
	} {
		v.DeletePartialMatch(l)
	}
}

// workerMetrics are one partition worker's series, resolved once when the
// worker starts so that counting does no label lookups. A nil
// *workerMetrics (no Config.Metrics) counts nothing.
type workerMetrics struct {
	read, decoded, decodeErrors, deadLetters prometheus.Counter
	files, bytes, gapSkipped, retries        prometheus.Counter
	commitDuration                           prometheus.Observer
	fenced, canceled, failed                 prometheus.Counter
	workers                                  prometheus.Gauge
}

// forWorker resolves the series of a worker of pipeline reading topic; nil
// if m is nil.
func (m *Metrics) forWorker(pipeline, topic string) *workerMetrics {
	if m == nil {
		return nil
	}
	return &workerMetrics{
		read:           m.recordsRead.WithLabelValues(pipeline, topic),
		decoded:        m.recordsDecoded.WithLabelValues(pipeline, topic),
		decodeErrors:   m.decodeErrors.WithLabelValues(pipeline, topic),
		deadLetters:    m.deadLetters.WithLabelValues(pipeline, topic),
		files:          m.filesPublished.WithLabelValues(pipeline, topic),
		bytes:          m.bytesPublished.WithLabelValues(pipeline, topic),
		gapSkipped:     m.gapSkipped.WithLabelValues(pipeline, topic),
		retries:        m.retries.WithLabelValues(pipeline, topic),
		commitDuration: m.commitDuration.WithLabelValues(pipeline),
		fenced:         m.commitFailures.WithLabelValues(pipeline, commitFenced),
		canceled:       m.commitFailures.WithLabelValues(pipeline, commitCanceled),
		failed:         m.commitFailures.WithLabelValues(pipeline, commitError),
		workers:        m.workers.WithLabelValues(pipeline),
	}
}

// addRead counts n records read.
func (wm *workerMetrics) addRead(n int64) {
	if wm != nil && n > 0 {
		wm.read.Add(float64(n))
	}
}

// committed counts a committed batch's data (rows, files and bytes
// published) and bad records (errs, of which dead dead-lettered).
func (wm *workerMetrics) committed(rows, bytes int64, files int, errs, dead int64) {
	if wm == nil {
		return
	}
	if files > 0 {
		wm.decoded.Add(float64(rows))
		wm.files.Add(float64(files))
		wm.bytes.Add(float64(bytes))
	}
	if errs > 0 {
		wm.decodeErrors.Add(float64(errs))
	}
	if dead > 0 {
		wm.deadLetters.Add(float64(dead))
	}
}

// commitTook observes the duration of a successful commit.
func (wm *workerMetrics) commitTook(d time.Duration) {
	if wm != nil {
		wm.commitDuration.Observe(d.Seconds())
	}
}

// commitFailed counts a batch whose commit failed with err.
func (wm *workerMetrics) commitFailed(err error) {
	switch {
	case wm == nil:
	case errors.Is(err, ErrFenced):
		wm.fenced.Inc()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		wm.canceled.Inc()
	default:
		wm.failed.Inc()
	}
}

func (wm *workerMetrics) retry() {
	if wm != nil {
		wm.retries.Inc()
	}
}

func (wm *workerMetrics) gap(n int64) {
	if wm != nil && n > 0 {
		wm.gapSkipped.Add(float64(n))
	}
}

// running moves the workers gauge by d (+1 at start, -1 at the end).
func (wm *workerMetrics) running(d float64) {
	if wm != nil {
		wm.workers.Add(d)
	}
}
