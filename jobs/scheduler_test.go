package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// env is a real broker, a pipeline folder and a lake, for scheduler tests.
type env struct {
	t    *testing.T
	addr string
	// seeds are every broker of a cluster (env.brokers); nil: addr alone.
	seeds []string
	dir   string
	lake  string
	topic string
}

func newEnv(t *testing.T, partitions int32) *env {
	t.Helper()
	b := brokertest.Start(t)
	e := &env{t: t, addr: b.Addr(), dir: t.TempDir(), lake: t.TempDir(), topic: "events"}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, e.topic); err != nil {
		t.Fatal(err)
	}
	return e
}

// brokers are the seed brokers of the env's cluster.
func (e *env) brokers() []string {
	if e.seeds != nil {
		return e.seeds
	}
	return []string{e.addr}
}

// pipeline writes DIR/name.yaml with extra top-level keys.
func (e *env) pipeline(name, extra string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name+".yaml")
	sink := fmt.Sprintf("sink:\n  url: %s\n  roll: {age: 1s}\n", filepath.Join(e.lake, name))
	if strings.Contains(extra, "sink:") {
		sink = ""
	}
	y := fmt.Sprintf(`name: %s
source:
  brokers: ["%s"]
  topics: [%s]
format:
  type: json
  json:
    schema:
      - {name: n, type: int64, required: true}
%s%s
`, name, strings.Join(e.brokers(), `","`), e.topic, sink, extra)
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// produce sends n records {"n": i} and waits for them.
func (e *env) produce(from, n int) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers()...), kgo.DefaultProduceTopic(e.topic))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"n": %d}`, i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// sched is one running scheduler with its API.
type sched struct {
	s    *Scheduler
	api  *httptest.Server
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
}

func (e *env) start(name string) *sched {
	e.t.Helper()
	cfg := DefaultConfig()
	cfg.Dir, cfg.Brokers, cfg.Server = e.dir, e.brokers(), name
	cfg.SessionTimeout = 6 * time.Second
	cfg.Rescan = 200 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("server", name)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	s, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &sched{s: s, api: httptest.NewServer(s.Handler()), reg: reg, stop: cancel, done: make(chan error, 1)}
	go func() { sc.done <- s.Run(ctx) }()
	e.t.Cleanup(sc.close)
	return sc
}

func (sc *sched) close() {
	sc.stop()
	<-sc.done
	sc.api.Close()
	sc.done <- nil // later closes return at once
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// call does an API request and decodes the JSON answer into out.
func (sc *sched) call(t *testing.T, method, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, sc.api.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (sc *sched) runs(t *testing.T, pipeline string) []Run {
	t.Helper()
	var l RunList
	switch code := sc.call(t, "GET", "/api/v1/pipelines/"+pipeline+"/runs", &l); code {
	case 200:
	case http.StatusServiceUnavailable: // starting: reading the history
		return nil
	default:
		t.Fatalf("runs: HTTP %d", code)
	}
	return l.Runs
}

// landed sums the records of a pipeline's succeeded runs.
func landed(runs []Run) (records int64, succeeded int) {
	for _, r := range runs {
		if r.Status == StatusSucceeded {
			records += r.Records
			succeeded++
		}
	}
	return records, succeeded
}

// TestScheduledRunsLandAndHistorySurvives: an @every 1s pipeline lands
// three batches in three runs; a new scheduler (a restart) sees the same
// history and carries on from it.
func TestScheduledRunsLandAndHistorySurvives(t *testing.T) {
	e := newEnv(t, 2)
	e.pipeline("pv", `schedule: "@every 1s"`)
	a := e.start("a")
	total := 0
	for batch := 1; batch <= 3; batch++ {
		e.produce(total, 100)
		total += 100
		testutil.Eventually(t, 60*time.Second, fmt.Sprintf("batch %d landed", batch), func() bool {
			n, _ := landed(a.runs(t, "pv"))
			return n == int64(total)
		})
	}
	runs := a.runs(t, "pv")
	withRecords := 0
	for _, r := range runs {
		if r.Records > 0 {
			withRecords++
			if r.Trigger != TriggerSchedule || r.Scheduled.IsZero() || r.Server != "a" || r.SpecHash == "" {
				t.Errorf("run %+v: want a scheduled run by a with its spec hash", r)
			}
		}
	}
	if withRecords < 3 {
		t.Fatalf("%d runs landed records, want at least 3", withRecords)
	}
	if got := counter(t, a.reg, "sluice_jobs_records_landed_total", "pv"); got != float64(total) {
		t.Errorf("sluice_jobs_records_landed_total = %v, want %d", got, total)
	}
	before := len(runs)
	a.close()

	b := e.start("b")
	testutil.Eventually(t, 30*time.Second, "the restarted scheduler lists the old runs", func() bool {
		return len(b.runs(t, "pv")) >= before
	})
	ids := map[string]bool{}
	for _, r := range b.runs(t, "pv") {
		ids[r.ID] = true
	}
	for _, r := range runs {
		if !ids[r.ID] {
			t.Errorf("run %s lost across the restart", r.ID)
		}
	}
	e.produce(total, 50)
	testutil.Eventually(t, 60*time.Second, "the restarted scheduler lands new records", func() bool {
		n, _ := landed(b.runs(t, "pv"))
		return n == int64(total+50)
	})
	checkNoTickTwice(t, b.runs(t, "pv"))
}

// checkNoTickTwice fails if two runs stand for the same scheduled tick.
func checkNoTickTwice(t *testing.T, runs []Run) {
	t.Helper()
	seen := map[time.Time]string{}
	for _, r := range runs {
		if r.Trigger != TriggerSchedule {
			continue
		}
		if id, dup := seen[r.Scheduled]; dup {
			t.Errorf("tick %s ran twice: %s and %s", r.Scheduled, id, r.ID)
		}
		seen[r.Scheduled] = r.ID
	}
}

// counter reads a counter or gauge summed over series with the label
// value pipeline.
func counter(t *testing.T, g prometheus.Gatherer, name, pipeline string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := pipeline == ""
			for _, l := range m.GetLabel() {
				match = match || (l.GetName() == "pipeline" && l.GetValue() == pipeline)
			}
			if !match {
				continue
			}
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			}
			if m.Gauge != nil {
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// TestReloadEditAndBrokenEdit: an edit is picked up without a restart; a
// broken edit is reported with file:line:column in the API and metrics
// while the last valid version keeps running; fixing it clears the error.
func TestReloadEditAndBrokenEdit(t *testing.T) {
	e := newEnv(t, 1)
	path := e.pipeline("pv", `schedule: "@every 1s"`)
	a := e.start("a")
	testutil.Eventually(t, 30*time.Second, "a first run", func() bool { _, n := landed(a.runs(t, "pv")); return n >= 1 })
	first := a.runs(t, "pv")[0].SpecHash

	e.pipeline("pv", "schedule: \"@every 1s\"\nmax_workers: 1")
	var second string
	testutil.Eventually(t, 30*time.Second, "a run of the edited version", func() bool {
		r := a.runs(t, "pv")[0]
		second = r.SpecHash
		return r.Status == StatusSucceeded && r.SpecHash != first
	})

	// A broken edit: line 14 column 14 is the bad value.
	if err := os.WriteFile(path, append(mustRead(t, path), []byte("concurrency: sometimes\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	var v PipelineView
	testutil.Eventually(t, 30*time.Second, "the broken edit reported", func() bool {
		a.call(t, "GET", "/api/v1/pipelines/pv", &v)
		// (a scan may catch the file half-written first: that is reported,
		// then replaced by the edit's own error)
		return len(v.Errors) > 0 && v.Errors[0].Path == "concurrency"
	})
	if se := v.Errors[0]; se.File != path || se.Line == 0 || se.Column == 0 || se.Path != "concurrency" || !strings.Contains(se.Message, "sometimes") {
		t.Errorf("spec error %+v: want file, line, column, path concurrency and the bad value", se)
	}
	if v.Version != second {
		t.Errorf("version in force %s, want the last valid %s", v.Version, second)
	}
	if got := counter(t, a.reg, "sluice_jobs_invalid_pipeline_files", ""); got != 1 {
		t.Errorf("sluice_jobs_invalid_pipeline_files = %v, want 1", got)
	}
	if pos := label(t, a.reg, "sluice_jobs_pipeline_file_error", "position"); pos != fmt.Sprintf("%s:%d:%d", path, v.Errors[0].Line, v.Errors[0].Column) {
		t.Errorf("sluice_jobs_pipeline_file_error position %q, want the file:line:column of %+v", pos, v.Errors[0])
	}
	n0 := len(a.runs(t, "pv"))
	testutil.Eventually(t, 30*time.Second, "runs of the last valid version go on", func() bool {
		runs := a.runs(t, "pv")
		return len(runs) >= n0+2 && runs[0].SpecHash == second
	})

	e.pipeline("pv", `schedule: "@every 1s"`)
	testutil.Eventually(t, 30*time.Second, "the fixed file clears the error", func() bool {
		a.call(t, "GET", "/api/v1/pipelines/pv", &v)
		return len(v.Errors) == 0 && v.Version == first
	})
	if got := counter(t, a.reg, "sluice_jobs_invalid_pipeline_files", ""); got != 0 {
		t.Errorf("sluice_jobs_invalid_pipeline_files = %v after the fix, want 0", got)
	}

	// A deleted pipeline stops being scheduled.
	os.Remove(path)
	testutil.Eventually(t, 30*time.Second, "the deleted pipeline is gone", func() bool {
		return a.call(t, "GET", "/api/v1/pipelines/pv", nil) == http.StatusNotFound
	})
}

// label returns the value of label name of the one series of a metric.
func label(t *testing.T, g prometheus.Gatherer, metric, name string) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric || len(mf.GetMetric()) != 1 {
			continue
		}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
	}
	return ""
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAPI: manual runs, pause and resume, and errors with the right
// status codes.
func TestAPI(t *testing.T) {
	e := newEnv(t, 1)
	e.pipeline("daily", `schedule: "0 3 * * *"`)
	e.pipeline("often", `schedule: "@every 1s"`)
	a := e.start("a")
	e.produce(0, 10)
	testutil.Eventually(t, 30*time.Second, "a leader", func() bool {
		var l PipelineList
		a.call(t, "GET", "/api/v1/pipelines", &l)
		return l.Leader && len(l.Pipelines) == 2
	})

	var tr TriggerResult
	if code := a.call(t, "POST", "/api/v1/pipelines/daily/runs", &tr); code != http.StatusAccepted || tr.ID == "" {
		t.Fatalf("trigger: HTTP %d %+v", code, tr)
	}
	var r Run
	testutil.Eventually(t, 30*time.Second, "the manual run succeeds", func() bool {
		a.call(t, "GET", "/api/v1/runs/"+tr.ID, &r)
		return r.Status == StatusSucceeded
	})
	if r.Trigger != TriggerManual || r.Records != 10 {
		t.Errorf("manual run %+v: want trigger manual, 10 records", r)
	}

	var v PipelineView
	if code := a.call(t, "POST", "/api/v1/pipelines/often/pause", &v); code != 200 || !v.Paused || v.NextRun != nil {
		t.Fatalf("pause: HTTP %d %+v", code, v)
	}
	// Let a run that had started end, then no new scheduled run may start.
	testutil.Eventually(t, 30*time.Second, "no run in progress", func() bool {
		runs := a.runs(t, "often")
		return len(runs) == 0 || Terminal(runs[0].Status)
	})
	n := len(a.runs(t, "often"))
	time.Sleep(2500 * time.Millisecond) // two ticks' worth: nothing may start (an absence can only be waited for)
	if m := len(a.runs(t, "often")); m != n {
		t.Errorf("%d runs started while paused", m-n)
	}
	if code := a.call(t, "POST", "/api/v1/pipelines/often/resume", &v); code != 200 || v.Paused {
		t.Fatalf("resume: HTTP %d %+v", code, v)
	}
	testutil.Eventually(t, 30*time.Second, "runs again after resume", func() bool { return len(a.runs(t, "often")) > n })

	var apiErr APIError
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/api/v1/pipelines/nope", 404},
		{"GET", "/api/v1/pipelines/nope/runs", 404},
		{"POST", "/api/v1/pipelines/nope/runs", 404},
		{"POST", "/api/v1/pipelines/nope/pause", 404},
		{"GET", "/api/v1/runs/nope", 404},
		{"GET", "/api/v1/pipelines/often/runs?limit=0", 400},
		{"GET", "/api/v1/pipelines/often/runs?limit=x", 400},
		{"DELETE", "/api/v1/pipelines", 405},
		{"GET", "/api/v1/pipelines/often/pause", 405},
		{"PUT", "/api/v1/pipelines/often/runs", 405},
		{"GET", "/api/v1/nothing", 404},
	} {
		apiErr = APIError{}
		if code := a.call(t, c.method, c.path, &apiErr); code != c.code || apiErr.Error == "" {
			t.Errorf("%s %s: HTTP %d %+v, want %d with a message", c.method, c.path, code, apiErr, c.code)
		}
	}
	var doc map[string]any
	if code := a.call(t, "GET", "/api/v1/openapi.json", &doc); code != 200 || doc["openapi"] == nil {
		t.Errorf("openapi.json: HTTP %d", code)
	}
}

// TestTwoSchedulersOneTickOnce: two schedulers on the same pipelines and
// history run each tick once; when the leader stops, the other takes
// over and still runs each tick once.
func TestTwoSchedulersOneTickOnce(t *testing.T) {
	e := newEnv(t, 1)
	e.pipeline("pv", `schedule: "@every 1s"`)
	a := e.start("a")
	b := e.start("b")
	e.produce(0, 10)
	testutil.Eventually(t, 60*time.Second, "ticks run", func() bool { return len(a.runs(t, "pv")) >= 5 })
	leader, other := a, b
	var l PipelineList
	if b.call(t, "GET", "/api/v1/pipelines", &l); l.Leader {
		leader, other = b, a
	}
	lname := leader.s.cfg.Server
	for _, r := range a.runs(t, "pv") {
		if r.Server != lname {
			t.Errorf("run %s by %s, but %s leads", r.ID, r.Server, lname)
		}
	}
	leader.close()
	oname := other.s.cfg.Server
	testutil.Eventually(t, 60*time.Second, "the other scheduler takes over", func() bool {
		for _, r := range other.runs(t, "pv") {
			if r.Server == oname && r.Status == StatusSucceeded {
				return true
			}
		}
		return false
	})
	runs := other.runs(t, "pv")
	checkNoTickTwice(t, runs)
	n, _ := landed(runs)
	if n != 10 {
		t.Errorf("landed %d records over both schedulers, want 10", n)
	}
}

// TestTimeoutThenResumeExactlyOnce: a run cut off by its timeout ends
// timed_out with the files it published complete; the next runs land the
// rest, each record exactly once (the sink's file names, which carry the
// offsets they hold, cover every offset once).
func TestTimeoutThenResumeExactlyOnce(t *testing.T) {
	e := newEnv(t, 1)
	const n = 200_000
	for i := 0; i < n; i += 50_000 {
		e.produce(i, 50_000)
	}
	e.pipeline("slow", "schedule: \"@every 1s\"\ntimeout: 300ms\nhistory: {keep: 100000}\nsink:\n  url: "+filepath.Join(e.lake, "slow")+"\n  roll: {records: 2000}")
	a := e.start("a")
	var timedOut Run
	testutil.Eventually(t, 60*time.Second, "a run times out", func() bool {
		for _, r := range a.runs(t, "slow") {
			if r.Status == StatusTimedOut {
				timedOut = r
				return true
			}
		}
		return false
	})
	if timedOut.Reason == "" || timedOut.Duration() < 300*time.Millisecond {
		t.Errorf("timed-out run %+v: want a reason and at least the timeout's duration", timedOut)
	}
	e.pipeline("slow", "schedule: \"@every 1s\"\nhistory: {keep: 100000}\nsink:\n  url: "+filepath.Join(e.lake, "slow")+"\n  roll: {records: 2000}")
	// history.keep is raised above: the records of every run are summed,
	// so none may be pruned. (This test also caught a run cut off by its
	// timeout just after a batch's commit point reporting that batch as
	// failed, so no run counted it: TestCancelAfterCommitPointCountsTheBatch
	// in loader.)
	var total int64
	testutil.Eventually(t, 120*time.Second, "everything landed", func() bool {
		runs := a.runs(t, "slow")
		total = 0
		for _, r := range runs {
			total += r.Records
		}
		return len(runs) > 0 && runs[0].Status == StatusSucceeded && runs[0].Lag == 0 && total >= n
	})
	if total != n {
		t.Errorf("runs landed %d records in all (timed-out ones included), want exactly %d", total, n)
	}
	checkSinkCoversOnce(t, filepath.Join(e.lake, "slow"), n)
}

// checkSinkCoversOnce reads the offset ranges in the sink's data file
// names (<topic>+<partition>+<first>+<last>.<codec>.parquet) and checks
// they cover 0..n-1 of partition 0 exactly once.
func checkSinkCoversOnce(t *testing.T, root string, n int64) {
	t.Helper()
	type span struct{ first, last int64 }
	var spans []span
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".parquet") || strings.Contains(path, "/_") {
			return nil
		}
		parts := strings.Split(strings.SplitN(filepath.Base(path), ".", 2)[0], "+")
		if len(parts) != 4 {
			t.Errorf("unexpected file name %s", path)
			return nil
		}
		first, err1 := strconv.ParseInt(parts[2], 10, 64) // zero-padded: not Sscan, which reads octal
		last, err2 := strconv.ParseInt(parts[3], 10, 64)
		if err1 != nil || err2 != nil {
			t.Errorf("unexpected offsets in file name %s", path)
		}
		spans = append(spans, span{first, last})
		return nil
	})
	covered := make([]int, n)
	for _, s := range spans {
		for o := s.first; o <= s.last && o < n; o++ {
			covered[o]++
		}
	}
	for o, c := range covered {
		if c != 1 {
			t.Fatalf("offset %d is in %d files, want 1 (%d files)", o, c, len(spans))
		}
	}
}

// TestRetriesAfterFailure: a failing run is retried retries times, with
// trigger retry and rising attempts, then the pipeline waits for its next
// tick.
func TestRetriesAfterFailure(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(0, 10)
	blocker := filepath.Join(e.lake, "blocked")
	if err := os.WriteFile(blocker, []byte("a file where the sink's folder should be"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.pipeline("broken", "schedule: \"0 3 * * *\"\nretries: 2\nretry_backoff: 100ms\nsink:\n  url: "+blocker+"/sub")
	a := e.start("a")
	testutil.Eventually(t, 30*time.Second, "a leader", func() bool {
		var l PipelineList
		a.call(t, "GET", "/api/v1/pipelines", &l)
		return l.Leader
	})
	var tr TriggerResult
	a.call(t, "POST", "/api/v1/pipelines/broken/runs", &tr)
	testutil.Eventually(t, 30*time.Second, "three failed attempts", func() bool {
		runs := a.runs(t, "broken")
		return len(runs) == 3 && runs[0].Status == StatusFailed
	})
	runs := a.runs(t, "broken")
	for i, r := range runs { // newest first
		attempt := 3 - i
		if r.Attempt != attempt || r.Status != StatusFailed || len(r.Errors) == 0 {
			t.Errorf("run %d: %+v, want attempt %d failed with errors", i, r, attempt)
		}
		if want := map[bool]string{true: TriggerManual, false: TriggerRetry}[attempt == 1]; r.Trigger != want {
			t.Errorf("attempt %d trigger %s, want %s", attempt, r.Trigger, want)
		}
	}
	if !strings.Contains(runs[0].Errors[0], "blocked") {
		t.Errorf("error %q does not name the sink", runs[0].Errors[0])
	}
	time.Sleep(500 * time.Millisecond) // well past the next backoff: no fourth attempt may come
	if len(a.runs(t, "broken")) != 3 {
		t.Errorf("more than retries+1 attempts")
	}
}
