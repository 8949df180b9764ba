package broker

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
	"github.com/sluicehq/sluice/broker/meta"
)

func TestProbeSchedule(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	s := func(d time.Duration) time.Time { return t0.Add(d) }
	var p probeSchedule
	const initial, most = time.Second, 5 * time.Second
	steps := []struct {
		now       time.Duration
		since     time.Duration
		due       bool
		failed    bool // the probe at now fails
		succeeded bool // the probe at now resumes the store
		next      time.Duration
	}{
		{now: 0, since: 0, due: false, next: time.Second},
		{now: 999 * time.Millisecond, since: 0, due: false, next: time.Second},
		{now: time.Second, since: 0, due: true, failed: true, next: 3 * time.Second},
		{now: 2 * time.Second, since: 0, due: false, next: 3 * time.Second},
		{now: 3 * time.Second, since: 0, due: true, failed: true, next: 7 * time.Second},
		{now: 7 * time.Second, since: 0, due: true, failed: true, next: 12 * time.Second}, // capped at 5s
		{now: 12 * time.Second, since: 0, due: true, failed: true, next: 17 * time.Second},
		{now: 17 * time.Second, since: 0, due: true, succeeded: true, next: 17 * time.Second},
		// A new failure long after resuming starts over.
		{now: 30 * time.Second, since: 30 * time.Second, due: false, next: 31 * time.Second},
		{now: 31 * time.Second, since: 30 * time.Second, due: true, failed: true, next: 33 * time.Second},
		{now: 33 * time.Second, since: 30 * time.Second, due: true, succeeded: true, next: 33 * time.Second},
		// Failing again soon after resuming (a flapping disk) keeps backing off.
		{now: 34 * time.Second, since: 34 * time.Second, due: false, next: 38 * time.Second},
		{now: 38 * time.Second, since: 34 * time.Second, due: true, succeeded: true, next: 38 * time.Second},
		{now: 39 * time.Second, since: 39 * time.Second, due: false, next: 44 * time.Second},
	}
	for i, st := range steps {
		if got := p.due(s(st.now), s(st.since), initial, most); got != st.due {
			t.Fatalf("step %d: due at %v = %v", i, st.now, got)
		}
		if st.failed {
			p.failed(s(st.now), most)
		}
		if st.succeeded {
			p.succeeded(s(st.now))
		}
		if !p.next.Equal(s(st.next)) {
			t.Fatalf("step %d: next probe at %v, want %v", i, p.next.Sub(t0), st.next)
		}
	}
}

// TestStorageProberResumesWithoutRealTime drives the storage prober by
// hand: a partition log on a full errorfs and an unwritable producer-id
// file are reported on /healthz (503, one line each) and /metrics, probed
// on the backoff schedule (not before), kept read-only while the fault
// lasts, and resumed once it is gone, each counted once.
func TestStorageProberResumesWithoutRealTime(t *testing.T) {
	// Nothing runs in the background (no Serve): the test's calls are the
	// only users of the clock and the log sink.
	now := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { return now }
	var logs bytes.Buffer
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.HTTP = t.TempDir(), "127.0.0.1:0", ""
	srv, err := New(cfg, Options{Now: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.closeStorage() })
	handler := srv.httpHandler()

	// A partition whose log lives on an errorfs with a few KiB left.
	fs := errorfs.New()
	l, err := log.Open("/data/t-0", log.DefaultConfig(), log.Options{FS: fs, Now: clock, Logger: srv.logger})
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.mu.parts[meta.NewTopicID()] = []*partition{{topic: "t", index: 0, log: l}}
	srv.mu.Unlock()
	fs.WriteFile("/data/filler", make([]byte, 1<<20))
	fs.SetCapacity(fs.Used() + 4096)
	batch := func() []byte {
		return log.EncodeBatch(log.NewBatchHeader(), []log.Record{{Value: bytes.Repeat([]byte("v"), 1000)}})
	}
	for {
		if _, err := l.Append(batch()); err != nil {
			break
		}
	}
	// The producer-id file's directory vanishes: its writes fail.
	pidsDir := filepath.Join(cfg.DataDir, "pids")
	srv.pids.path = filepath.Join(pidsDir, "producer-ids")
	for range producerIDBlock + 1 {
		if _, err := srv.pids.next(); err != nil {
			break
		}
	}
	if _, err := srv.pids.next(); err == nil {
		t.Fatal("producer ids allocated without their file")
	}

	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(body)
	}
	metric := func(re string) float64 {
		t.Helper()
		_, body := get("/metrics")
		m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("metric %s missing:\n%s", re, body)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	code, body := get("/healthz")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "degraded: 2 stores") ||
		!strings.Contains(body, "\npartition t-0: no_space since ") || !strings.Contains(body, "\nproducer_ids producer-id file: other since ") {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := get("/livez"); code != 200 || body != "ok\n" {
		t.Fatalf("/livez = %d %q", code, body)
	}
	if v := metric(`sluice_storage_failed_logs\{kind="partition",reason="no_space"\}`); v != 1 {
		t.Fatalf("failed partition logs = %v", v)
	}
	if v := metric(`sluice_storage_failed_logs\{kind="metadata_journal",reason="no_space"\}`); v != 0 {
		t.Fatalf("failed metadata journals = %v", v)
	}

	writes := func() int { w, _ := fs.Counts(); return w }
	before := writes()
	srv.probeStorage(now.Add(999 * time.Millisecond))
	if writes() != before {
		t.Fatal("probed before log.dir.failure.retry.backoff.ms")
	}
	now = now.Add(time.Second)
	srv.probeStorage(now) // fails: still full; next in 2s
	if _, err := l.Failure(); err == nil || writes() == before {
		t.Fatalf("probe on a full disk: wrote %v, failure %v", writes() != before, err)
	}
	now = now.Add(time.Second)
	before = writes()
	srv.probeStorage(now)
	if writes() != before {
		t.Fatal("probed again before the doubled wait")
	}
	fs.Remove("/data/filler")
	if err := os.Mkdir(pidsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	srv.probeStorage(now)
	if _, err := l.Failure(); err != nil {
		t.Fatalf("still read-only after space was freed: %v", err)
	}
	if _, err := l.Append(batch()); err != nil {
		t.Fatalf("append after resume: %v", err)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz after resume = %d %q", code, body)
	}
	if v := metric(`sluice_storage_failed_logs\{kind="partition",reason="no_space"\}`); v != 0 {
		t.Fatalf("failed partition logs after resume = %v", v)
	}
	for _, kind := range []string{"partition", "producer_ids"} {
		if v := metric(`sluice_storage_recoveries_total\{kind="` + kind + `"\}`); v != 1 {
			t.Fatalf("%s recoveries = %v, want 1", kind, v)
		}
	}
	for _, line := range []string{"partition log read-only", "partition log writable again", "producer-id file cannot be written", "producer-id file writable again"} {
		if n := strings.Count(logs.String(), line); n != 1 {
			t.Fatalf("%q logged %d times, want once:\n%s", line, n, logs.String())
		}
	}
	if _, err := srv.pids.next(); err != nil {
		t.Fatalf("producer id after resume: %v", err)
	}
}

// TestTopicThatFailedToOpenIsRetried: a topic whose partition folder
// cannot be created (here a file is in the way; a full disk fails the same
// mkdir) is created in the metadata but not served; it shows on /healthz,
// and the storage prober opens it once the obstacle is gone, without a
// restart.
func TestTopicThatFailedToOpenIsRetried(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	var logs bytes.Buffer
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.HTTP = t.TempDir(), "127.0.0.1:0", ""
	srv, err := New(cfg, Options{Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.closeStorage() })
	handler := srv.httpHandler()
	blocker := srv.partitionDir("blocked", 0)
	if err := os.MkdirAll(filepath.Dir(blocker), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.meta.Apply(t.Context(), &meta.CreateTopic{Name: "blocked", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if _, kerr := srv.partition("blocked", 0); kerr == nil {
		t.Fatal("partition served although its folder could not be created")
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "\npartition blocked (not open): other since ") {
		t.Fatalf("/healthz = %d %q", rec.Code, rec.Body.String())
	}
	srv.probeStorage(now.Add(time.Second)) // still blocked
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	srv.probeStorage(now.Add(2 * time.Second)) // not due: the wait doubled
	if _, kerr := srv.partition("blocked", 0); kerr == nil {
		t.Fatal("retried before the doubled wait")
	}
	srv.probeStorage(now.Add(3 * time.Second))
	p, kerr := srv.partition("blocked", 0)
	if kerr != nil {
		t.Fatalf("partition still not served: %v\n%s", kerr, logs.String())
	}
	if _, err := p.log.Append(log.EncodeBatch(log.NewBatchHeader(), []log.Record{{Value: []byte("v")}})); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("/healthz after opening = %d %q", rec.Code, rec.Body.String())
	}
	for _, line := range []string{"opening topic failed", "topic opened after an earlier failure"} {
		if n := strings.Count(logs.String(), line); n != 1 {
			t.Fatalf("%q logged %d times, want once:\n%s", line, n, logs.String())
		}
	}
}
