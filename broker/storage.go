package broker

// Storage failures: what the broker does while its disk is full or failing.
//
// A partition log (including __consumer_offsets, where group offsets live)
// or the metadata journal that fails a write turns read-only and says so
// once in the log (broker/log, broker/meta): reads go on, and writes are
// answered with KAFKA_STORAGE_ERROR, which clients retry. The producer-id
// file (producer_ids.go) fails per request and logs once too; a topic whose
// logs cannot be opened (at creation or at start) is not served. The storage
// prober here probes each read-only store log.dir.failure.retry.backoff.ms
// after its failure, doubling the wait after each failed probe up to
// log.dir.failure.retry.backoff.max.ms: a probe writes to the disk and, once
// that works, recovers the store's tail as after a crash, and writes resume
// without a restart (logged once); a topic that failed to open is opened
// again. A full disk at start does not stop the broker: the topics that
// cannot be opened are reported and retried the same way.
//
// While any store is read-only, /healthz answers 503 with one line per
// store (kind, name, reason, since, error), and /metrics has
// sluice_storage_failed_logs{kind,reason}; /livez stays 200, for liveness
// probes that must not restart a broker a restart would not help.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/broker/meta"
)

// Kinds of store, the kind label of the storage metrics.
const (
	kindPartition   = "partition"
	kindMetadata    = "metadata_journal"
	kindProducerIDs = "producer_ids"
)

var storageKinds = []string{kindPartition, kindMetadata, kindProducerIDs}

// storageReasons are the reason label's values, from storageReason.
var storageReasons = []string{"no_space", "quota", "read_only_fs", "io_error", "other"}

// storageReason names the cause of a storage failure for metrics.
func storageReason(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "no_space"
	case errors.Is(err, syscall.EDQUOT):
		return "quota"
	case errors.Is(err, syscall.EROFS):
		return "read_only_fs"
	case errors.Is(err, syscall.EIO):
		return "io_error"
	}
	return "other"
}

// spaceProblem reports a failure that freeing space or remounting cures.
func spaceProblem(err error) bool {
	switch storageReason(err) {
	case "no_space", "quota", "read_only_fs":
		return true
	}
	return false
}

// openFailure is a topic whose partition logs could not all be opened (a
// full disk fails the folder or file creation, or recovery's index
// rewrite); the storage prober retries it.
type openFailure struct {
	name  string
	since time.Time
	err   error
	probe probeSchedule // only the storage prober uses it
}

// noteOpen records the outcome of opening t's logs: a first failure is
// logged and kept for the prober, a success after one is logged and
// forgotten.
func (s *Server) noteOpen(t *meta.Topic, err error) {
	s.openFailed.Lock()
	defer s.openFailed.Unlock()
	f := s.openFailed.m[t.ID]
	switch {
	case err != nil && f == nil:
		s.openFailed.m[t.ID] = &openFailure{name: t.Name, since: s.now(), err: err}
		s.logger.Error("opening topic failed; its partitions are not served until the storage prober opens them", "topic", t.Name, "err", err)
	case err != nil:
		f.err = err
	case f != nil:
		delete(s.openFailed.m, t.ID)
		s.logger.Info("topic opened after an earlier failure", "topic", t.Name, "failed_for", s.now().Sub(f.since).Round(time.Millisecond))
		s.prober.recoveries.WithLabelValues(kindPartition).Inc()
	}
}

func (s *Server) forgetOpenFailure(id meta.TopicID) {
	s.openFailed.Lock()
	delete(s.openFailed.m, id)
	s.openFailed.Unlock()
}

// retryOpens opens again the topics whose logs failed to open, when due.
func (s *Server) retryOpens(now time.Time) {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	img := s.meta.Image()
	s.openFailed.Lock()
	var due []*meta.Topic
	for id, f := range s.openFailed.m {
		t, ok := img.TopicByID(id)
		if !ok {
			delete(s.openFailed.m, id)
			continue
		}
		if f.probe.due(now, f.since, s.prober.initial, s.prober.most) {
			f.probe.failed(now, s.prober.most) // the next retry, if this one fails
			due = append(due, t)
		}
	}
	s.openFailed.Unlock()
	for _, t := range due {
		s.noteOpen(t, s.openTopic(img, t))
	}
}

// storageFailure is one store refusing writes.
type storageFailure struct {
	kind, name string
	since      time.Time
	err        error
}

// storageFailures lists every store refusing writes now, sorted.
func (s *Server) storageFailures() []storageFailure {
	var out []storageFailure
	for _, p := range s.allPartitions() {
		if since, err := p.log.Failure(); err != nil {
			out = append(out, storageFailure{kindPartition, fmt.Sprintf("%s-%d", p.topic, p.index), since, err})
		}
	}
	s.openFailed.Lock()
	for _, f := range s.openFailed.m {
		out = append(out, storageFailure{kindPartition, f.name + " (not open)", f.since, f.err})
	}
	s.openFailed.Unlock()
	if m := s.meta; m != nil {
		if since, err := m.Failure(); err != nil {
			out = append(out, storageFailure{kindMetadata, "metadata journal", since, err})
		}
	}
	if s.pids != nil {
		if since, err := s.pids.failure(); err != nil {
			out = append(out, storageFailure{kindProducerIDs, "producer-id file", since, err})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].kind != out[j].kind {
			return out[i].kind < out[j].kind
		}
		return out[i].name < out[j].name
	})
	return out
}

// probeSchedule is when a read-only store is probed next. Only the storage
// prober uses it.
type probeSchedule struct {
	since   time.Time     // the failure being probed
	next    time.Time     // the next probe
	wait    time.Duration // the wait before next
	resumed time.Time     // when the last probe succeeded
}

// due reports whether a store read-only since since is to be probed at now:
// the first probe comes initial after the failure, or, when the store
// fails again within most of resuming (a disk with a little room left),
// twice the last wait after it, so that a flapping store settles at one
// probe (and one pair of log lines) per most.
func (p *probeSchedule) due(now, since time.Time, initial, most time.Duration) bool {
	if !p.since.Equal(since) {
		wait := initial
		if !p.resumed.IsZero() && since.Sub(p.resumed) < most {
			wait = min(2*p.wait, most)
		}
		*p = probeSchedule{since: since, next: since.Add(wait), wait: wait, resumed: p.resumed}
	}
	return !now.Before(p.next)
}

// failed schedules the probe after a failed one, doubling the wait up to most.
func (p *probeSchedule) failed(now time.Time, most time.Duration) {
	p.wait = min(2*p.wait, most)
	p.next = now.Add(p.wait)
}

// succeeded notes that the probe at now resumed the store.
func (p *probeSchedule) succeeded(now time.Time) { p.resumed = now }

// storageProber is the prober's state: the backoff settings and the
// schedules of the stores that are not partitions (each partition holds
// its own).
type storageProber struct {
	initial, most time.Duration
	meta, pids    probeSchedule
	recoveries    *prometheus.CounterVec
}

func newStorageProber(s *Server, reg prometheus.Registerer) *storageProber {
	sp := &storageProber{
		initial: time.Duration(s.settings.LogDirFailureRetryBackoffMs) * time.Millisecond,
		most:    time.Duration(s.settings.LogDirFailureRetryBackoffMaxMs) * time.Millisecond,
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_storage_recoveries_total",
			Help: "Stores that resumed writing after a failed write, by kind (partition, metadata_journal, producer_ids).",
		}, []string{"kind"}),
	}
	for _, k := range storageKinds {
		sp.recoveries.WithLabelValues(k)
	}
	reg.MustRegister(sp.recoveries, storageCollector{s})
	return sp
}

// runStorageProber probes read-only stores until ctx ends.
func (s *Server) runStorageProber(ctx context.Context) {
	every(ctx, s.prober.initial, func() { s.probeStorage(s.now()) })
}

// probeStorage probes every read-only store whose probe is due at now.
func (s *Server) probeStorage(now time.Time) {
	sp := s.prober
	probe := func(kind string, ps *probeSchedule, since time.Time, recover func() error) {
		if !ps.due(now, since, sp.initial, sp.most) {
			return
		}
		if err := recover(); err != nil {
			ps.failed(now, sp.most)
			s.logger.Debug("storage probe failed; still read-only", "kind", kind, "next_probe_in", ps.wait, "err", err)
			return
		}
		ps.succeeded(now)
		sp.recoveries.WithLabelValues(kind).Inc()
	}
	for _, p := range s.allPartitions() {
		if since, err := p.log.Failure(); err != nil {
			probe(kindPartition, &p.probe, since, p.log.Recover)
		}
	}
	if since, err := s.meta.Failure(); err != nil {
		probe(kindMetadata, &sp.meta, since, s.meta.Recover)
	}
	if since, err := s.pids.failure(); err != nil {
		probe(kindProducerIDs, &sp.pids, since, s.pids.recover)
	}
	s.retryOpens(now)
}

// storageCollector reports sluice_storage_failed_logs at scrape time.
type storageCollector struct{ s *Server }

var storageFailedDesc = prometheus.NewDesc("sluice_storage_failed_logs",
	"Stores refusing writes after a failed write (reads are still served; writes resume once a probe succeeds), "+
		"by kind (partition, metadata_journal, producer_ids) and reason (no_space, quota, read_only_fs, io_error, other).",
	[]string{"kind", "reason"}, nil)

func (c storageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- storageFailedDesc }

func (c storageCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[[2]string]int{}
	for _, f := range c.s.storageFailures() {
		counts[[2]string{f.kind, storageReason(f.err)}]++
	}
	for _, k := range storageKinds {
		for _, r := range storageReasons {
			ch <- prometheus.MustNewConstMetric(storageFailedDesc, prometheus.GaugeValue, float64(counts[[2]string{k, r}]), k, r)
		}
	}
}

// maxHealthLines bounds the stores /healthz names one by one.
const maxHealthLines = 20

// serveHealth answers /healthz: 200 "ok" when every store takes writes,
// 503 with one line per read-only store otherwise (or while shutting down).
func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-s.stopping:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	fails := s.storageFailures()
	if len(fails) == 0 {
		w.Write([]byte("ok\n"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, "degraded: %d stores refuse writes after a failed write; reads are served, and writes resume by themselves once the disk takes writes again\n", len(fails))
	for i, f := range fails {
		if i == maxHealthLines {
			fmt.Fprintf(w, "... and %d more\n", len(fails)-i)
			break
		}
		fmt.Fprintf(w, "%s %s: %s since %s: %v\n", f.kind, f.name, storageReason(f.err), f.since.UTC().Format(time.RFC3339), f.err)
	}
}

// serveLive answers /livez: 200 while the broker serves, even degraded.
func (s *Server) serveLive(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-s.stopping:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	default:
		w.Write([]byte("ok\n"))
	}
}
