package jobs

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics is the scheduler's own series on /metrics.
type metrics struct {
	// runs counts finished (and skipped, missed, abandoned) runs.
	runs *prometheus.CounterVec // pipeline, status
	// duration is how long runs took, started to ended.
	duration *prometheus.HistogramVec // pipeline
	// records and bytes landed by runs.
	records *prometheus.CounterVec // pipeline
	bytes   *prometheus.CounterVec // pipeline
	// lag is records not yet landed after the latest run, per partition.
	lag *prometheus.GaugeVec // pipeline, topic, partition
	// lastSuccess is the end time of the latest successful run (unix
	// seconds): alert when time() minus it grows past a few periods.
	lastSuccess *prometheus.GaugeVec // pipeline
	// nextRun is the next scheduled start (unix seconds).
	nextRun *prometheus.GaugeVec // pipeline
	// invalidFiles is how many pipeline files fail to load; fileError
	// is 1 per failing file.
	invalidFiles prometheus.Gauge
	fileError    *prometheus.GaugeVec // file, position (file:line:column of its first problem)
	// leader is 1 while this scheduler leads.
	leader prometheus.Gauge
	// running is the runs in progress here.
	running prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_jobs_runs_total",
			Help: "Pipeline runs ended, by final status (succeeded, failed, cancelled, timed_out, skipped, missed, abandoned)."}, []string{"pipeline", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_jobs_run_duration_seconds",
			Help:    "Time from a run's start to its end.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 16)}, []string{"pipeline"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_jobs_records_landed_total",
			Help: "Records landed by scheduled and manual runs."}, []string{"pipeline"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_jobs_bytes_landed_total",
			Help: "Bytes of Parquet files landed by runs."}, []string{"pipeline"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_jobs_lag_records",
			Help: "Records in a pipeline's partition not yet landed, as of the end of its latest run."}, []string{"pipeline", "topic", "partition"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_jobs_last_success_timestamp_seconds",
			Help: "End time of the pipeline's latest successful run."}, []string{"pipeline"}),
		nextRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_jobs_next_run_timestamp_seconds",
			Help: "Next scheduled start of the pipeline (0 if none or paused)."}, []string{"pipeline"}),
		invalidFiles: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_jobs_invalid_pipeline_files",
			Help: "Pipeline files whose latest version fails to load (the last valid version keeps running)."}),
		fileError: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_jobs_pipeline_file_error",
			Help: "1 for each pipeline file whose latest version fails to load, with the file:line:column of its first problem."}, []string{"file", "position"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_jobs_leader",
			Help: "1 while this scheduler is the one that starts runs."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_jobs_runs_in_progress",
			Help: "Runs in progress on this scheduler."}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.duration, m.records, m.bytes, m.lag, m.lastSuccess, m.nextRun, m.invalidFiles, m.fileError, m.leader, m.running)
	}
	return m
}
