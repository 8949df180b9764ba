package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/loader/fs"
	"github.com/sluicehq/sluice/loader/fs/faultfs"
	"github.com/sluicehq/sluice/pipelines"
)

// metricsBroker is a real test broker with a producing client.
type metricsBroker struct {
	addr string
	cl   *kgo.Client
	// sent counts the records produced per topic and partition.
	sent map[TopicPartition]int
}

func startMetricsBroker(t *testing.T, topics map[string]int) *metricsBroker {
	t.Helper()
	b, cl := startBrokerWithTopics(t, topics)
	return &metricsBroker{addr: b.Addr(), cl: cl, sent: map[TopicPartition]int{}}
}

// produce sends n records to each partition of topic (partitions
// 0..parts-1), continuing the per-partition numbering of earlier calls.
// Every 37th record of a partition (5, 42, ...) is malformed JSON, never
// the last one of a call, so that every batch holds a good row. All
// records are stamped with the start of the current hour: every batch is
// one data file (and maybe a dead-letter file).
func (mb *metricsBroker) produce(t *testing.T, topic string, parts, n int) (bad int) {
	t.Helper()
	ts := time.Now().Truncate(time.Hour)
	var recs []*kgo.Record
	for p := range parts {
		tp := TopicPartition{topic, int32(p)}
		for j := range n {
			i := mb.sent[tp]
			v := fmt.Sprintf(`{"user_id":%d,"event":"click"}`, i)
			if i%37 == 5 && j < n-1 {
				v, bad = `{"user_id":`, bad+1
			}
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte(v), Timestamp: ts})
			mb.sent[tp]++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mb.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return bad
}

// spec is a pipeline named name over topics into sink, rolling every 50
// rows.
func (mb *metricsBroker) spec(t *testing.T, name, sink, onError string, topics ...string) *pipelines.Spec {
	t.Helper()
	y := fmt.Sprintf(`name: %s
source:
  brokers: ["%s"]
  topics: [%s]
format:
  type: json
  json:
    schema:
      - {name: user_id, type: int64, required: true}
      - {name: event, type: string}
  on_error: %s
sink:
  url: %s
  roll: {records: 50}
  success_grace: 0s
`, name, mb.addr, strings.Join(topics, ", "), onError, sink)
	spec, err := pipelines.LoadBytes(name+".yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// fileCounter is a Progress that counts the published data and
// dead-letter files.
type fileCounter struct {
	Progress
	mu         sync.Mutex
	data, dead int
}

func (c *fileCounter) Published(tp TopicPartition, path string, rows, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.HasPrefix(path, errorsDir+"/") {
		c.dead++
	} else {
		c.data++
	}
}

// load runs spec once (a batch run, no retries) with m.
func load(spec *pipelines.Spec, m *Metrics) (*Summary, *fileCounter, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fc := &fileCounter{Progress: NewLogProgress(slog.New(slog.DiscardHandler))}
	sum, err := Run(ctx, Config{Spec: spec, Progress: fc, Metrics: m}) // no retries
	if err != nil {
		return nil, nil, fmt.Errorf("pipeline %s: %w", spec.Name, err)
	}
	return sum, fc, nil
}

func runLoad(t *testing.T, spec *pipelines.Spec, m *Metrics) (*Summary, *fileCounter) {
	t.Helper()
	sum, fc, err := load(spec, m)
	if err != nil {
		t.Fatal(err)
	}
	return sum, fc
}

// metricValue returns the value of the series of family name with exactly
// labels (a histogram's observation count); ok is false if there is none.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (v float64, ok bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; !ok || want != lp.GetValue() {
					continue series
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
			t.Fatalf("%s: unexpected type %s", name, mf.GetType())
		}
	}
	return 0, false
}

// seriesCount returns how many series family name has.
func seriesCount(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// toFloat64 reads a counter or gauge child directly.
func toFloat64(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// lintMetrics fails on what promlint finds wrong with g's metrics (names,
// units, help).
func lintMetrics(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

func statsString(p PartitionStats) string {
	return fmt.Sprintf("{records %d, bytes %d, files %d, errors %d, dead letters %d, gap %d, retries %d}",
		p.Records, p.Bytes, p.Files, p.Errors, p.DeadLetters, p.GapSkipped, p.Retries)
}

// topicTotals adds up the summary's partitions of topic.
func topicTotals(sum *Summary, topic string) PartitionStats {
	var s Summary
	for _, p := range sum.Partitions {
		if p.Topic == topic {
			s.Partitions = append(s.Partitions, p)
		}
	}
	return s.Totals()
}

// assertCounters checks that pipeline's topic series have the values of
// want (Summary totals) and that read records were read.
func assertCounters(t *testing.T, reg prometheus.Gatherer, pipeline, topic string, want PartitionStats, read int64) {
	t.Helper()
	l := map[string]string{"pipeline": pipeline, "topic": topic}
	for _, c := range []struct {
		name string
		want int64
	}{
		{"sluice_loader_records_read_total", read},
		{"sluice_loader_records_decoded_total", want.Records},
		{"sluice_loader_decode_errors_total", want.Errors},
		{"sluice_loader_dead_letters_total", want.DeadLetters},
		{"sluice_loader_files_published_total", int64(want.Files)},
		{"sluice_loader_bytes_published_total", want.Bytes},
		{"sluice_loader_gap_skipped_offsets_total", want.GapSkipped},
		{"sluice_loader_retries_total", int64(want.Retries)},
	} {
		got, ok := metricValue(t, reg, c.name, l)
		if !ok {
			t.Errorf("%s%v missing", c.name, l)
		} else if got != float64(c.want) {
			t.Errorf("%s%v = %v, want %d", c.name, l, got, c.want)
		}
	}
}

// TestMetricsMatchSummary: after a real load (a broker, two topics, bad
// records skipped or dead-lettered) the counters equal the Summary's
// totals per topic, and the commit histogram has one observation per
// published batch.
func TestMetricsMatchSummary(t *testing.T) {
	for _, onError := range []string{"skip", "dead_letter"} {
		t.Run(onError, func(t *testing.T) {
			mb := startMetricsBroker(t, map[string]int{"clicks": 3, "views": 1})
			bad := map[string]int{"clicks": mb.produce(t, "clicks", 3, 300), "views": mb.produce(t, "views", 1, 130)}
			reg := prometheus.NewPedanticRegistry()
			m := NewMetrics(reg)
			spec := mb.spec(t, "web", filepath.Join(t.TempDir(), "sink"), onError, "clicks", "views")
			sum, fc := runLoad(t, spec, m)

			tot := sum.Totals()
			if tot.Files == 0 || tot.Errors != int64(bad["clicks"]+bad["views"]) || tot.Records+tot.Errors != 3*300+130 {
				t.Fatalf("summary %s: want %d records, %d of them bad, in several files", statsString(tot), 3*300+130, bad["clicks"]+bad["views"])
			}
			if onError == "dead_letter" && (tot.DeadLetters != tot.Errors || fc.dead == 0) {
				t.Fatalf("dead letters %d of %d errors, %d dead-letter files", tot.DeadLetters, tot.Errors, fc.dead)
			}
			for _, topic := range []string{"clicks", "views"} {
				tt := topicTotals(sum, topic)
				assertCounters(t, reg, "web", topic, tt, tt.Records+tt.Errors)
			}
			// Every batch holds one data file (one hour folder, a good
			// row in every batch): as many commits as data files.
			if fc.data != tot.Files {
				t.Fatalf("%d data files published, summary says %d", fc.data, tot.Files)
			}
			commits, _ := metricValue(t, reg, "sluice_loader_commit_duration_seconds", map[string]string{"pipeline": "web"})
			t.Logf("summary: %d records, %d bytes, %d files, %d errors, %d dead letters; %d commits observed", tot.Records, tot.Bytes, tot.Files, tot.Errors, tot.DeadLetters, int(commits))
			if commits == 0 || commits != float64(fc.data) {
				t.Errorf("commit histogram has %v observations, want %d (one per batch)", commits, fc.data)
			}
			for _, reason := range []string{commitFenced, commitCanceled, commitError} {
				v, ok := metricValue(t, reg, "sluice_loader_commit_failures_total", map[string]string{"pipeline": "web", "reason": reason})
				if !ok || v != 0 {
					t.Errorf("commit failures %s = %v (exported: %v), want 0", reason, v, ok)
				}
			}
			if v, ok := metricValue(t, reg, "sluice_loader_workers", map[string]string{"pipeline": "web"}); !ok || v != 0 {
				t.Errorf("%v workers still running after the run (exported: %v)", v, ok)
			}
			// A direct read of a child agrees with the registry.
			if v := toFloat64(t, m.recordsDecoded.WithLabelValues("web", "clicks")); v != float64(topicTotals(sum, "clicks").Records) {
				t.Errorf("records decoded (clicks) = %v", v)
			}
			lintMetrics(t, reg)
		})
	}
}

// TestMetricsShared: runs of two pipelines, one of them twice, share one
// Metrics (as the scheduler's runs do): nothing panics, each pipeline's
// series are its own, and a pipeline's counters accumulate over its runs.
func TestMetricsShared(t *testing.T) {
	mb := startMetricsBroker(t, map[string]int{"events": 2})
	mb.produce(t, "events", 2, 120)
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	sinkA, sinkB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	specA := mb.spec(t, "a", sinkA, "skip", "events")
	specB := mb.spec(t, "b", sinkB, "dead_letter", "events")

	// a and b at once.
	var (
		wg           sync.WaitGroup
		sumA1, sumB  *Summary
		fcA1, fcB    *fileCounter
		errA1, errB1 error
	)
	wg.Go(func() { sumA1, fcA1, errA1 = load(specA, m) })
	wg.Go(func() { sumB, fcB, errB1 = load(specB, m) })
	wg.Wait()
	if errA1 != nil || errB1 != nil {
		t.Fatal(errA1, errB1)
	}
	// More records, and a second run of a that loads only them.
	mb.produce(t, "events", 2, 80)
	sumA2, fcA2 := runLoad(t, mb.spec(t, "a", sinkA, "skip", "events"), m)
	if got := sumA2.Totals(); got.Records+got.Errors != 2*80 {
		t.Fatalf("second run of a loaded %s, want the 160 new records", statsString(got))
	}

	var a Summary
	a.Partitions = append(append(a.Partitions, sumA1.Partitions...), sumA2.Partitions...)
	ta, tb := a.Totals(), sumB.Totals()
	assertCounters(t, reg, "a", "events", ta, ta.Records+ta.Errors)
	assertCounters(t, reg, "b", "events", tb, tb.Records+tb.Errors)
	if ta1 := sumA1.Totals(); ta1.Records != tb.Records || ta1.Errors != tb.Errors || tb.DeadLetters != tb.Errors || ta.DeadLetters != 0 {
		t.Errorf("first run of a loaded %s, b %s: want the same records and errors", statsString(ta1), statsString(tb))
	}
	if got, _ := metricValue(t, reg, "sluice_loader_commit_duration_seconds", map[string]string{"pipeline": "a"}); got != float64(fcA1.data+fcA2.data) {
		t.Errorf("pipeline a: %v commits observed, want %d", got, fcA1.data+fcA2.data)
	}
	if got, _ := metricValue(t, reg, "sluice_loader_commit_duration_seconds", map[string]string{"pipeline": "b"}); got != float64(fcB.data) {
		t.Errorf("pipeline b: %v commits observed, want %d", got, fcB.data)
	}

	// A run with metrics kept but not registered works too.
	runLoad(t, mb.spec(t, "c", filepath.Join(t.TempDir(), "c"), "skip", "events"), NewMetrics(nil))

	// Forget drops a pipeline's series and keeps the others'.
	m.Forget("b")
	if _, ok := metricValue(t, reg, "sluice_loader_records_decoded_total", map[string]string{"pipeline": "b", "topic": "events"}); ok {
		t.Error("pipeline b's series survived Forget")
	}
	if _, ok := metricValue(t, reg, "sluice_loader_records_decoded_total", map[string]string{"pipeline": "a", "topic": "events"}); !ok {
		t.Error("Forget(b) dropped pipeline a's series")
	}
	if n := seriesCount(t, reg, "sluice_loader_workers"); n != 1 {
		t.Errorf("%d workers series after Forget, want 1 (pipeline a; c's Metrics is not registered)", n)
	}
}

// TestMetricsRegisterTwice: a second Metrics on one registerer is refused
// (so a process must share one), while any number with a nil one is fine.
func TestMetricsRegisterTwice(t *testing.T) {
	NewMetrics(nil)
	NewMetrics(nil)
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	defer func() {
		if recover() == nil {
			t.Error("registering a second Metrics did not panic")
		}
	}()
	NewMetrics(reg)
}

// TestMetricsFailures: fenced and failed commits, retries and skipped gaps
// are counted, and after retries the published counts still equal the
// worker's stats (a batch's records read again count as read again).
func TestMetricsFailures(t *testing.T) {
	ctx := context.Background()
	tp := testTPs[0]
	withMetrics := func(cfg *workerConfig) *prometheus.Registry {
		reg := prometheus.NewPedanticRegistry()
		cfg.metrics, cfg.pipeline = NewMetrics(reg), "p"
		return reg
	}
	failures := func(reg prometheus.Gatherer, reason string) float64 {
		v, _ := metricValue(t, reg, "sluice_loader_commit_failures_total", map[string]string{"pipeline": "p", "reason": reason})
		return v
	}

	t.Run("fenced", func(t *testing.T) {
		src := testSource()
		cfg := testConfig(t, fs.NewLocal(), t.TempDir(), src)
		reg := withMetrics(cfg)
		zombie := newWorker(cfg, tp)
		zombie.format = lineFormat{}
		for _, rec := range src.records[tp][:50] {
			if err := zombie.process(ctx, rec); err != nil {
				t.Fatal(err)
			}
			zombie.next = rec.Offset + 1
		}
		w := newWorker(cfg, tp)
		if err := w.run(ctx, 300); err != nil {
			t.Fatal(err)
		}
		if err := zombie.publish(ctx); !errors.Is(err, ErrFenced) {
			t.Fatalf("zombie publish: %v, want ErrFenced", err)
		}
		zombie.abandon(ctx)
		if f, e := failures(reg, commitFenced), failures(reg, commitError); f != 1 || e != 0 {
			t.Fatalf("commit failures: fenced %v, error %v; want 1, 0", f, e)
		}
		assertCounters(t, reg, "p", tp.Topic, w.stats, 300)
	})

	t.Run("retries", func(t *testing.T) {
		// Failed renames are inside commits (after the intent is
		// committed, so recovery rolls those batches forward: like the
		// stats, the counters do not include them); failed creates here
		// are of temporaries (those batches are read again).
		for _, op := range []faultfs.Op{faultfs.OpRename, faultfs.OpCreate} {
			ffs := faultfs.New(fs.NewLocal())
			for _, n := range []int{3, 9, 20} {
				ffs.Inject(faultfs.Rule{Op: op, N: n})
			}
			cfg := testConfig(t, ffs, t.TempDir(), testSource())
			cfg.retries = 5
			reg := withMetrics(cfg)
			w := newWorker(cfg, tp)
			if err := w.run(ctx, testRecords); err != nil {
				t.Fatal(err)
			}
			read, _ := metricValue(t, reg, "sluice_loader_records_read_total", map[string]string{"pipeline": "p", "topic": tp.Topic})
			t.Logf("%s faults: %s, %v records read, %v failed commits", op, statsString(w.stats), read, failures(reg, commitError))
			if w.stats.Retries == 0 {
				t.Errorf("%s faults: no retries", op)
			}
			if op == faultfs.OpRename && failures(reg, commitError) == 0 {
				t.Errorf("rename faults: no failed commits counted")
			}
			if op == faultfs.OpCreate && read <= testRecords {
				t.Errorf("%v records read: want more than %d (batches read again after retries)", read, testRecords)
			}
			assertCounters(t, reg, "p", tp.Topic, w.stats, int64(read))
		}
	})

	t.Run("gap", func(t *testing.T) {
		src := testSource()
		cfg := testConfig(t, fs.NewLocal(), t.TempDir(), src)
		if err := newWorker(cfg, tp).run(ctx, 200); err != nil {
			t.Fatal(err)
		}
		src.logStart[tp] = 350
		cfg.onGap = pipelines.GapSkip
		reg := withMetrics(cfg)
		w := newWorker(cfg, tp)
		if err := w.run(ctx, testRecords); err != nil {
			t.Fatal(err)
		}
		if w.stats.GapSkipped != 150 {
			t.Fatalf("stats %s", statsString(w.stats))
		}
		assertCounters(t, reg, "p", tp.Topic, w.stats, testRecords-350)
	})
}
