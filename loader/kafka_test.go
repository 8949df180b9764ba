package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/pipelines"
)

// In-process tests of the Kafka side of the loader (kafka.go, follow.go)
// against a real broker: a consumer-group rebalance in the middle of
// loading, a broker restart during a run, and two owners of one pipeline.
// Each checks what the sink holds: every offset landed exactly once.

// kafkaEnv is a real broker with one topic and a producer.
type kafkaEnv struct {
	b     *brokertest.Broker
	addr  string
	topic string
	parts int
	cl    *kgo.Client
	sent  int // records produced to each partition so far
}

func newKafkaEnv(t *testing.T, topic string, parts int, opts ...brokertest.Option) *kafkaEnv {
	t.Helper()
	b, cl := startBrokerWithTopics(t, map[string]int{topic: parts}, opts...)
	return &kafkaEnv{b: b, addr: b.Addr(), topic: topic, parts: parts, cl: cl}
}

// startBrokerWithTopics starts a test broker, creates topics (name ->
// partitions) and returns a client producing to explicit partitions.
func startBrokerWithTopics(t testing.TB, topics map[string]int, opts ...brokertest.Option) (*brokertest.Broker, *kgo.Client) {
	t.Helper()
	b := brokertest.Start(t, opts...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for topic, parts := range topics {
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(parts), 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	return b, cl
}

// produce sends n more JSON records to every partition.
func (e *kafkaEnv) produce(t *testing.T, n int) {
	t.Helper()
	ts := time.Now().Truncate(time.Hour)
	var recs []*kgo.Record
	for p := range e.parts {
		for i := range n {
			v := fmt.Sprintf(`{"user_id":%d,"event":"click"}`, e.sent+i)
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(p), Value: []byte(v), Timestamp: ts})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.sent += n
}

// spec is a JSON pipeline over the topic into sink, rolling every 200 rows.
func (e *kafkaEnv) spec(t *testing.T, name, sink string) *pipelines.Spec {
	t.Helper()
	return e.specRolling(t, name, sink, 200)
}

// specRolling is spec rolling every roll rows.
func (e *kafkaEnv) specRolling(t *testing.T, name, sink string, roll int) *pipelines.Spec {
	t.Helper()
	y := fmt.Sprintf(`name: %s
source: {brokers: ["%s"], topics: [%s]}
format:
  type: json
  json: {schema: [{name: user_id, type: int64, required: true}, {name: event, type: string}]}
sink: {url: %s, roll: {records: %d}, success_grace: 0s}
`, name, e.addr, e.topic, sink, roll)
	spec, err := pipelines.LoadBytes(name+".yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// landedSpans returns, per partition, the offset ranges of the data files
// published under root, sorted.
func landedSpans(t *testing.T, root string) map[TopicPartition][][2]int64 {
	t.Helper()
	spans := map[TopicPartition][][2]int64{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if n, ok := ParseFileName(d.Name()); ok && !strings.Contains(path, "/"+errorsDir+"/") {
			spans[n.TopicPartition] = append(spans[n.TopicPartition], [2]int64{n.First, n.Last})
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, s := range spans {
		sort.Slice(s, func(i, j int) bool { return s[i][0] < s[j][0] })
	}
	return spans
}

// coverage says whether the files under root hold offsets 0..n-1 of each
// partition, and reports an overlap (a record landed twice) at once.
func (e *kafkaEnv) coverage(t *testing.T, root string, n int64) bool {
	t.Helper()
	spans := landedSpans(t, root)
	complete := true
	for p := range e.parts {
		tp := TopicPartition{e.topic, int32(p)}
		next := int64(0)
		for _, s := range spans[tp] {
			if s[0] < next {
				t.Fatalf("%s: offsets %d..%d landed twice (a file starts at %d)", tp, s[0], next-1, s[0])
			}
			if s[0] > next {
				break // a gap: not landed yet
			}
			next = s[1] + 1
		}
		if next < n {
			complete = false
		}
		if next > n {
			t.Fatalf("%s: offsets up to %d landed, only %d produced", tp, next-1, n)
		}
	}
	return complete
}

// assertNoTemporaries fails if a temporary file is left in the sink.
func assertNoTemporaries(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, tmpDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// follower runs `sluice load --follow` in the background until stopped.
type followerRun struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startFollower(t *testing.T, spec *pipelines.Spec) *followerRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &followerRun{cancel: cancel, done: make(chan error, 1)}
	go func() {
		cfg := DefaultConfig(spec)
		cfg.Follow, cfg.Progress, cfg.RetryBackoff = true, quietProgress(), 10*time.Millisecond
		_, err := Run(ctx, cfg)
		f.done <- err
	}()
	t.Cleanup(func() { f.stop(t) })
	return f
}

// stop stops the follower (once) and checks that it ended without an
// error.
func (f *followerRun) stop(t *testing.T) {
	f.once.Do(func() {
		f.cancel()
		select {
		case err := <-f.done:
			if err != nil {
				t.Errorf("follower ended with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("follower did not stop within 60s of being cancelled")
		}
	})
}

// Two followers share a pipeline: the second joins while the first is
// loading (a rebalance mid-batch), then the first leaves (its partitions
// move to the second). Every record lands exactly once.
func TestFollowRebalanceMidBatch(t *testing.T) {
	e := newKafkaEnv(t, "follow", 4)
	sink := filepath.Join(t.TempDir(), "lake")
	spec := e.spec(t, "follow", sink)
	e.produce(t, 2000)
	a := startFollower(t, spec)
	testutil.Eventually(t, 60*time.Second, "the first follower publishes files", func() bool {
		return len(landedSpans(t, sink)) > 0
	})
	b := startFollower(t, spec)
	e.produce(t, 2000)
	testutil.Eventually(t, 120*time.Second, "both followers land the first 4000 records of each partition", func() bool {
		return e.coverage(t, sink, int64(e.sent))
	})
	a.stop(t)
	e.produce(t, 1000)
	testutil.Eventually(t, 120*time.Second, "the second follower lands the rest after the first left", func() bool {
		return e.coverage(t, sink, int64(e.sent))
	})
	b.stop(t)
	e.coverage(t, sink, int64(e.sent))
	assertNoTemporaries(t, sink)
}

// A batch run whose broker restarts under it retries and finishes, landing
// every record once.
func TestRunSurvivesBrokerRestart(t *testing.T) {
	e := newKafkaEnv(t, "restart", 2)
	sink := filepath.Join(t.TempDir(), "lake")
	spec := e.spec(t, "restart", sink)
	e.produce(t, 5000)
	restarted := make(chan struct{})
	var once sync.Once
	prog := &publishHook{Progress: quietProgress(), onPublish: func() {
		once.Do(func() {
			go func() {
				defer close(restarted)
				dir, addr := e.b.Dir, e.addr
				e.b.Stop()
				e.b = brokertest.Start(t, brokertest.WithDir(dir), brokertest.WithListen(addr))
			}()
		})
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cfg := DefaultConfig(spec)
	cfg.Progress, cfg.RetryBackoff = prog, 50*time.Millisecond
	sum, err := Run(ctx, cfg)
	<-restarted
	if err != nil {
		t.Fatalf("run across a broker restart: %v", err)
	}
	if got := sum.Totals().Records; got != int64(2*e.sent) {
		t.Errorf("run reports %d records, want %d", got, 2*e.sent)
	}
	if !e.coverage(t, sink, int64(e.sent)) {
		t.Errorf("not every record landed: %v", landedSpans(t, sink))
	}
	assertNoTemporaries(t, sink)
}

// publishHook calls onPublish after each published file.
type publishHook struct {
	Progress
	onPublish func()
}

func (p *publishHook) Published(tp TopicPartition, path string, rows, bytes int64) {
	p.Progress.Published(tp, path, rows, bytes)
	p.onPublish()
}

// Two batch runs of one pipeline at once (two cron hosts, a manual run
// beside a scheduled one), made to overlap: owner A commits its first batch
// of every partition and is held there; owner B then recovers the sink
// (claiming a newer epoch of every partition) and loads everything after
// A's batches; A, released, reads on and tries to commit its next batch.
// A and A alone is fenced, on every partition, and each offset landed
// exactly once: A's first batches and B's files after them. The owners
// roll at different sizes, so a batch A published unfenced would overlap
// one of B's and show as offsets landed twice.
func TestTwoOwnersAreFenced(t *testing.T) {
	const rollA, rollB = 300, 200
	e := newKafkaEnv(t, "owners", 3)
	sink := filepath.Join(t.TempDir(), "lake")
	e.produce(t, 4000)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	regA, regB := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	hold := &holdingProgress{Progress: quietProgress(), held: make(chan TopicPartition, e.parts), release: make(chan struct{})}
	releaseA := sync.OnceFunc(func() { close(hold.release) })
	defer releaseA() // on a failure, before cancel
	type result struct {
		sum *Summary
		err error
	}
	doneA := make(chan result, 1)
	go func() {
		cfg := DefaultConfig(e.specRolling(t, "owners", sink, rollA))
		// No retries: a fenced attempt would otherwise recover, claim a
		// newer epoch and find nothing left to load.
		cfg.Progress, cfg.Metrics, cfg.Retries = hold, NewMetrics(regA), 0
		sum, err := Run(ctx, cfg)
		doneA <- result{sum, err}
	}()
	for range e.parts {
		select {
		case <-hold.held:
		case r := <-doneA:
			t.Fatalf("owner A ended (%v) before its first batches were held", r.err)
		case <-ctx.Done():
			t.Fatal("owner A did not commit a first batch of every partition")
		}
	}

	cfgB := DefaultConfig(e.specRolling(t, "owners", sink, rollB))
	cfgB.Progress, cfgB.Metrics, cfgB.RetryBackoff = quietProgress(), NewMetrics(regB), 10*time.Millisecond
	sumB, err := Run(ctx, cfgB)
	if err != nil {
		t.Fatalf("owner B (the newer owner): %v", err)
	}
	releaseA()
	a := <-doneA

	if !errors.Is(a.err, ErrFenced) {
		t.Fatalf("owner A (the stale owner) ended with %v; want ErrFenced", a.err)
	}
	failures := func(reg prometheus.Gatherer, reason string) float64 {
		v, _ := metricValue(t, reg, "sluice_loader_commit_failures_total", map[string]string{"pipeline": "owners", "reason": reason})
		return v
	}
	if f, other := failures(regA, commitFenced), failures(regA, commitError); f != float64(e.parts) || other != 0 {
		t.Errorf("owner A's commit failures: fenced %v, error %v; want %d, 0", f, other, e.parts)
	}
	if f, other := failures(regB, commitFenced), failures(regB, commitError); f != 0 || other != 0 {
		t.Errorf("owner B's commit failures: fenced %v, error %v; want none", f, other)
	}
	if got, want := a.sum.Totals().Records, int64(e.parts*rollA); got != want {
		t.Errorf("owner A published %d records, want %d (its first batch of each partition)", got, want)
	}
	if got, want := sumB.Totals().Records, int64(e.parts*(e.sent-rollA)); got != want {
		t.Errorf("owner B published %d records, want %d (everything after A's first batches)", got, want)
	}
	if !e.coverage(t, sink, int64(e.sent)) {
		t.Errorf("not every record landed: %v", landedSpans(t, sink))
	}
	assertNoTemporaries(t, sink)
}

// holdingProgress holds each partition's worker in its first Published
// call (right after its first commit), announcing it on held, until
// release is closed.
type holdingProgress struct {
	Progress
	held    chan TopicPartition
	release chan struct{}

	mu   sync.Mutex
	seen map[TopicPartition]bool
}

func (p *holdingProgress) Published(tp TopicPartition, path string, rows, bytes int64) {
	p.Progress.Published(tp, path, rows, bytes)
	p.mu.Lock()
	first := !p.seen[tp]
	if p.seen == nil {
		p.seen = map[TopicPartition]bool{}
	}
	p.seen[tp] = true
	p.mu.Unlock()
	if first {
		p.held <- tp
		<-p.release
	}
}

func quietProgress() Progress { return NewLogProgress(slog.New(slog.DiscardHandler)) }
