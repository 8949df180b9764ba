package broker_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/brokertest"
)

// TestMetricsAndHealth checks /healthz and that /metrics counts exactly the
// records produced and fetched, per topic.
func TestMetricsAndHealth(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("m"), kgo.AllowAutoTopicCreation())
	for i := 0; i < 25; i++ {
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("0123456789")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	consumeN(t, b.Addr(), "m", 25)

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + b.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(body)
	}
	if h := get("/healthz"); h != "ok\n" {
		t.Errorf("/healthz = %q", h)
	}
	m := get("/metrics")
	value := func(re string) float64 {
		t.Helper()
		match := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(m)
		if match == nil {
			t.Fatalf("metric %s missing from /metrics", re)
		}
		v, _ := strconv.ParseFloat(match[1], 64)
		return v
	}
	if v := value(`sluice_topic_records_in_total\{topic="m"\}`); v != 25 {
		t.Errorf("records in = %v, want 25", v)
	}
	if v := value(`sluice_topic_records_out_total\{topic="m"\}`); v != 25 {
		t.Errorf("records out = %v, want 25", v)
	}
	in := value(`sluice_topic_bytes_in_total\{topic="m"\}`)
	out := value(`sluice_topic_bytes_out_total\{topic="m"\}`)
	if in < 25*10 || out != in {
		t.Errorf("bytes in %v, out %v: want equal and at least 250", in, out)
	}
	if v := value(`sluice_requests_total\{api="Produce"\}`); v < 25 {
		t.Errorf("produce requests = %v, want >= 25", v)
	}
	if v := value(`sluice_request_duration_seconds_count\{api="Fetch"\}`); v < 1 {
		t.Errorf("fetch latency count = %v", v)
	}
	if v := value(`sluice_partition_log_size_bytes\{partition="0",topic="m"\}`); v != in {
		t.Errorf("partition log size = %v, want %v", v, in)
	}
}

// Profiles are opt-in (--pprof): by default the HTTP listener serves no
// /debug/pprof/.
func TestPProfOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		b := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) { c.PProf = on }))
		resp, err := http.Get("http://" + b.HTTPAddr() + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[on]; resp.StatusCode != want {
			t.Errorf("PProf=%v: /debug/pprof/ answered %d, want %d", on, resp.StatusCode, want)
		}
	}
}
