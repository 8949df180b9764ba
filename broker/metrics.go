package broker

import (
	"encoding/binary"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the broker's Prometheus instrumentation. It is registered on
// the registerer the server is given, never a global one.
type metrics struct {
	bytesIn, recsIn, bytesOut, recsOut *prometheus.CounterVec
	requests                           *prometheus.CounterVec
	latency                            *prometheus.HistogramVec
	unsupported                        prometheus.Counter
}

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
	}
	logSize := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sluice_log_size_bytes_total", Help: "Bytes on disk across every partition log.",
	}, func() float64 {
		var n int64
		for _, p := range s.allPartitions() {
			n += p.log.Size()
		}
		return float64(n)
	})
	reg.MustRegister(m.bytesIn, m.recsIn, m.bytesOut, m.recsOut, m.requests, m.latency, m.unsupported,
		logSize, &partitionSizes{s: s})
	return m
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

// httpHandler serves /metrics, /healthz and /debug/pprof/.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	s.httpMux = mux
	mux.Handle("/metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	// Profiles, for finding where the time goes under load.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-s.stopping:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		default:
			w.Write([]byte("ok\n"))
		}
	})
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
