package broker

import (
	"encoding/binary"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/broker/log"
)

// metrics is the broker's Prometheus instrumentation. It is registered on
// the registerer the server is given, never a global one.
type metrics struct {
	bytesIn, recsIn, bytesOut, recsOut *prometheus.CounterVec
	requests                           *prometheus.CounterVec
	latency                            *prometheus.HistogramVec
	unsupported                        prometheus.Counter
	uncleanable                        *prometheus.CounterVec // batches the log cleaner keeps as they are
	scrub                              scrubMetrics           // scrub.go

	// Connections and request memory (limits.go, reqmem.go).
	connsAccepted prometheus.Counter
	connsRejected *prometheus.CounterVec // by reason
	connsClosed   *prometheus.CounterVec // by reason
	acceptErrors  prometheus.Counter
	acceptBlocked prometheus.Counter
	memoryWaits   prometheus.Counter
}

// Reasons the broker closes a connection it had accepted, as the reason
// label of sluice_connections_closed_total.
const (
	closeIdle           = "idle"
	closeRequestTimeout = "request_timeout"
)

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_topic_bytes_in_total", Help: "Record batch bytes appended, per topic.",
		}, []string{"topic"}),
		recsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_topic_records_in_total", Help: "Records appended, per topic.",
		}, []string{"topic"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_topic_bytes_out_total", Help: "Record batch bytes returned by fetches, per topic.",
		}, []string{"topic"}),
		recsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_topic_records_out_total", Help: "Records returned by fetches, per topic.",
		}, []string{"topic"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_requests_total", Help: "Requests handled, per Kafka API.",
		}, []string{"api"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_request_duration_seconds",
			Help:    "Time from a request's arrival to its response, per Kafka API (fetch includes its long-poll wait).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
		}, []string{"api"}),
		unsupported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_requests_unsupported_total", Help: "Requests for an API key or version this broker does not serve.",
		}),
		uncleanable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_log_cleaner_uncleanable_batches_total",
			Help: "Batches of compacted topics the log cleaner keeps as they are because it cannot read their records (undecompressable, or over the decompressed limits), or damaged batches whose segment it does not clean; each counted once per broker run.",
		}, []string{"topic"}),
	}
	m.connsAccepted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_connections_accepted_total", Help: "Kafka connections accepted and admitted.",
	})
	m.connsRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_connections_rejected_total",
		Help: "Connections closed right after accept, by reason: max_connections_per_ip, fd_budget (RLIMIT_NOFILE less connections.fd.reserve open), or http_connections (the --http listener's 32 open).",
	}, []string{"reason"})
	m.connsClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_connections_closed_total",
		Help: "Connections the broker closed, by reason: idle (connections.max.idle.ms) or request_timeout (socket.request.read.timeout.ms).",
	}, []string{"reason"})
	m.acceptErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_accept_errors_total", Help: "Failed accepts (EMFILE, ENFILE, ...), each retried after a backoff.",
	})
	m.acceptBlocked = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_accept_blocked_seconds_total", Help: "Time the acceptor waited with max.connections connections open.",
	})
	m.memoryWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_request_memory_waits_total", Help: "Requests that stopped reading to wait for queued.max.request.bytes.",
	})
	for _, r := range []string{rejectPerIP, rejectFDBudget, rejectHTTP} {
		m.connsRejected.WithLabelValues(r)
	}
	for _, r := range []string{closeIdle, closeRequestTimeout} {
		m.connsClosed.WithLabelValues(r)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(m.connsAccepted, m.connsRejected, m.connsClosed, m.acceptErrors, m.acceptBlocked, m.memoryWaits,
		gauge("sluice_connections_open", "Open Kafka connections.", func() float64 { return float64(s.limits.openConns()) }),
		gauge("sluice_connections_fd_budget", "Kafka connections the descriptor limit allows: RLIMIT_NOFILE less connections.fd.reserve.",
			func() float64 { return float64(s.limits.budget) }),
		gauge("sluice_request_bytes_queued", "Request bytes held (being read or handled), counted against queued.max.request.bytes.",
			func() float64 { return float64(s.reqMem.queued()) }),
		gauge("sluice_request_bytes_limit", "queued.max.request.bytes; -1 is unbounded.",
			func() float64 { return float64(s.reqMem.limit) }),
		gauge("sluice_request_buffer_pool_bytes", "Bytes of produce buffers kept for reuse.",
			func() float64 { return float64(s.buffers.pooled()) }),
	)
	logSize := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sluice_log_size_bytes_total", Help: "Bytes on disk across every partition log.",
	}, func() float64 {
		var n int64
		for _, p := range s.allPartitions() {
			n += p.log.Size()
		}
		return float64(n)
	})
	reg.MustRegister(m.bytesIn, m.recsIn, m.bytesOut, m.recsOut, m.requests, m.latency, m.unsupported, m.uncleanable,
		logSize, &partitionSizes{s: s}, &partitionDamage{s: s}, fileCacheCollector{s.files}, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_stray_partition_dirs",
			Help: "Partition folders moved aside (<topic>-<n>.<id>-stray under topics/) because no known topic owns them; kept until an operator removes them.",
		}, func() float64 { return float64(s.countStrayDirs()) }))
	m.scrub = newScrubMetrics(reg)
	return m
}

// fileCacheCollector reports the log file cache's counters at scrape time.
type fileCacheCollector struct{ c *log.FileCache }

var (
	openFilesDesc = prometheus.NewDesc("sluice_log_open_files",
		"Segment and index files held open by the log file cache.", nil, nil)
	openFilesMaxDesc = prometheus.NewDesc("sluice_log_open_files_max",
		"The log file cache's capacity (log.open.files.max).", nil, nil)
	fileOpensDesc = prometheus.NewDesc("sluice_log_file_opens_total",
		"Segment and index files opened (a busy broker with more partitions than the cache holds reopens often).", nil, nil)
	fileEvictionsDesc = prometheus.NewDesc("sluice_log_file_evictions_total",
		"Idle files closed to make room in the log file cache.", nil, nil)
	fileEvictionSyncsDesc = prometheus.NewDesc("sluice_log_file_eviction_syncs_total",
		"Evicted files that were fsynced first because they held unsynced writes.", nil, nil)
	fileOverflowsDesc = prometheus.NewDesc("sluice_log_file_cache_overflows_total",
		"Files opened beyond the cache's capacity because every open file was in use.", nil, nil)
)

func (f fileCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{openFilesDesc, openFilesMaxDesc, fileOpensDesc, fileEvictionsDesc, fileEvictionSyncsDesc, fileOverflowsDesc} {
		ch <- d
	}
}

func (f fileCacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := f.c.Stats()
	ch <- prometheus.MustNewConstMetric(openFilesDesc, prometheus.GaugeValue, float64(st.Open))
	ch <- prometheus.MustNewConstMetric(openFilesMaxDesc, prometheus.GaugeValue, float64(st.Capacity))
	ch <- prometheus.MustNewConstMetric(fileOpensDesc, prometheus.CounterValue, float64(st.Opens))
	ch <- prometheus.MustNewConstMetric(fileEvictionsDesc, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(fileEvictionSyncsDesc, prometheus.CounterValue, float64(st.EvictionSyncs))
	ch <- prometheus.MustNewConstMetric(fileOverflowsDesc, prometheus.CounterValue, float64(st.Overflows))
}

func (m *metrics) observeRequest(api string, d time.Duration) {
	m.requests.WithLabelValues(api).Inc()
	m.latency.WithLabelValues(api).Observe(d.Seconds())
}

func (m *metrics) recordsIn(topic string, bytes int, records int64) {
	m.bytesIn.WithLabelValues(topic).Add(float64(bytes))
	m.recsIn.WithLabelValues(topic).Add(float64(records))
}

// countBatchRecords sums the record counts in the headers of in-memory
// batches (length at byte 8, record count at byte 57).
func countBatchRecords(batches []byte) int64 {
	var records int64
	for b := batches; len(b) >= 61; {
		n := int(int32(binary.BigEndian.Uint32(b[8:]))) + 12
		if n < 61 || n > len(b) {
			break
		}
		records += int64(int32(binary.BigEndian.Uint32(b[57:])))
		b = b[n:]
	}
	return records
}

func (m *metrics) bytesRecordsOut(topic string, bytes, records int64) {
	m.bytesOut.WithLabelValues(topic).Add(float64(bytes))
	m.recsOut.WithLabelValues(topic).Add(float64(records))
}

// partitionSizes reports each partition log's size on disk at scrape time.
type partitionSizes struct{ s *Server }

var partitionSizeDesc = prometheus.NewDesc("sluice_partition_log_size_bytes",
	"Bytes on disk of one partition's log.", []string{"topic", "partition"}, nil)

func (p *partitionSizes) Describe(ch chan<- *prometheus.Desc) { ch <- partitionSizeDesc }

func (p *partitionSizes) Collect(ch chan<- prometheus.Metric) {
	for _, part := range p.s.allPartitions() {
		ch <- prometheus.MustNewConstMetric(partitionSizeDesc, prometheus.GaugeValue,
			float64(part.log.Size()), part.topic, strconv.Itoa(int(part.index)))
	}
}

// httpHandler serves /metrics, /healthz, /livez and, with Config.PProf,
// /debug/pprof/.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	s.httpMux = mux
	mux.Handle("/metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	if s.cfg.PProf {
		// Profiles, for finding where the time goes under load.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/healthz", s.serveHealth) // storage.go
	mux.HandleFunc("/livez", s.serveLive)
	return mux
}

// HandleHTTP mounts h on the --http listener at pattern (a ServeMux
// pattern), beside /metrics: the scheduler's admin API. It does nothing
// when --http is disabled.
func (s *Server) HandleHTTP(pattern string, h http.Handler) {
	if s.httpMux != nil {
		s.httpMux.Handle(pattern, h)
	}
}
