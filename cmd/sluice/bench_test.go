package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/client/bench"
)

// benchJSON runs `sluice bench ARGS -o json` and decodes the one JSON object
// it must print.
func benchJSON(t *testing.T, addr string, args ...string) bench.Result {
	t.Helper()
	out := mustCLI(t, addr, "", append(append([]string{"bench"}, args...), "-o", "json")...)
	var res bench.Result
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("bench %v: output %q: %v", args, out, err)
	}
	if dec.More() {
		t.Fatalf("bench %v: more than one JSON value in %q", args, out)
	}
	return res
}

// checkRates checks the fields every result has against each other.
func checkRates(t *testing.T, res bench.Result, mode string, records, recordSize int64) {
	t.Helper()
	if res.Mode != mode || res.Records != records || res.Bytes != records*recordSize {
		t.Errorf("%s: mode %q, %d records, %d bytes; want %s, %d, %d", mode, res.Mode, res.Records, res.Bytes, mode, records, records*recordSize)
	}
	if !(res.Seconds > 0) || !(res.RecordsPerS > 0) || !(res.MBPerS > 0) {
		t.Errorf("%s: seconds %g, records_per_s %g, mb_per_s %g; want all > 0", mode, res.Seconds, res.RecordsPerS, res.MBPerS)
	}
	if d := res.RecordsPerS*res.Seconds - float64(res.Records); d > 1e-3*float64(res.Records) || -d > 1e-3*float64(res.Records) {
		t.Errorf("%s: records_per_s %g × seconds %g != records %d", mode, res.RecordsPerS, res.Seconds, res.Records)
	}
	if mb := float64(res.Bytes) / (1 << 20) / res.Seconds; mb-res.MBPerS > 1e-6*mb || res.MBPerS-mb > 1e-6*mb {
		t.Errorf("%s: mb_per_s %g, want %g (MB = 2^20)", mode, res.MBPerS, mb)
	}
}

// Produce with 4 producers into 8 partitions, then consume it all back:
// the counts agree with what was produced, in every partition.
func TestBenchProduceConsume(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "b8", "-p", "8")
	res := benchJSON(t, addr, "produce", "--topic", "b8", "--record-size", "64", "--acks", "1",
		"--producers", "4", "--records", "5000", "--compression", "lz4", "--linger", "1ms")
	checkRates(t, res, "produce", 5000, 64)
	// A duration run, acks=all and not idempotent, adds to it; the topic exists (--partitions
	// as given matches).
	res = benchJSON(t, addr, "produce", "--topic", "b8", "--partitions", "8", "--record-size", "10", "--duration", "300ms", "--idempotent=false")
	if res.Records < 1 || res.Bytes != 10*res.Records {
		t.Fatalf("produce --duration: %d records, %d bytes; want some, 10 bytes each", res.Records, res.Bytes)
	}
	want := 5000 + res.Records
	res = benchJSON(t, addr, "consume", "--topic", "b8")
	if res.Records != want || res.Bytes != 5000*64+10*(want-5000) {
		t.Errorf("consume: %d records, %d bytes; want the %d produced, %d bytes", res.Records, res.Bytes, want, 5000*64+10*(want-5000))
	}
	res = benchJSON(t, addr, "consume", "--topic", "b8", "--consumers", "3")
	if res.Records != want {
		t.Errorf("consume --consumers 3: %d records, want %d", res.Records, want)
	}
	// A missing topic is created with --partitions (default 1); the human
	// summary names the mode and topic.
	out := mustCLI(t, addr, "", "bench", "produce", "--topic", "new1", "--records", "10")
	if !strings.HasPrefix(out, `produce "new1": 10 records`) {
		t.Errorf("summary %q, want it to start with the mode, topic and count", out)
	}
	// --brokers before `bench`, as bench/run.sh gives it.
	out = mustCLI(t, "", "", "--brokers", addr, "bench", "produce", "--topic", "new1", "--records", "1", "-o", "json")
	if !strings.HasPrefix(out, `{"mode":"produce","topic":"new1","records":1,`) {
		t.Errorf("sluice --brokers %s bench produce: %q", addr, out)
	}
}

// Latency receives rate × duration records, and its percentiles are in
// order.
func TestBenchLatency(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "lat", "-p", "1")
	// A record of another run already in the topic is not counted.
	benchJSON(t, addr, "produce", "--topic", "lat", "--records", "3")
	res := benchJSON(t, addr, "latency", "--topic", "lat", "--rate", "200", "--duration", "500ms", "--record-size", "100", "--acks", "all")
	checkRates(t, res, "latency", 100, 100)
	l := res.LatencyStats
	if l == nil {
		t.Fatal("latency: no percentiles")
	}
	if l.Rate != 200 || !(0 <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("latency: rate %g, p50 %g p90 %g p99 %g p99.9 %g max %g; want rate 200 and p50 <= p90 <= p99 <= p99.9 <= max",
			l.Rate, l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	// Two partitions, a new topic, acks=1.
	res = benchJSON(t, addr, "latency", "--topic", "lat2", "--partitions", "2", "--rate", "100", "--duration", "300ms", "--acks", "1")
	if res.Records != 30 {
		t.Errorf("latency on 2 partitions: %d records, want 30", res.Records)
	}
}

// Bad flag values are errors that name the flag, before any work.
func TestBenchBadFlags(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "one", "-p", "1")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"produce", "--records", "1"}, "--topic: required"},
		{[]string{"produce", "--topic", "x", "--record-size", "-1"}, "--record-size -1: want >= 0"},
		{[]string{"produce", "--topic", "x", "--producers", "0"}, "--producers 0: want >= 1"},
		{[]string{"produce", "--topic", "x", "--acks", "2"}, `--acks "2": want all, 1 or 0`},
		{[]string{"produce", "--topic", "x", "--compression", "brotli"}, `--compression "brotli": want none`},
		{[]string{"produce", "--topic", "x", "--duration", "0"}, "--duration 0s: want > 0, or a record count"},
		{[]string{"produce", "--topic", "x", "--records", "-5"}, "--records -5: want > 0"},
		{[]string{"produce", "--topic", "x", "--linger", "-1s"}, "--linger -1s: want >= 0"},
		{[]string{"produce", "--topic", "x", "--batch-bytes", "0"}, "--batch-bytes 0: want > 0"},
		{[]string{"produce", "--topic", "x", "--partitions", "0"}, "--partitions 0: want >= 1"},
		{[]string{"produce", "--topic", "x", "--acks", "1", "--idempotent"}, "--idempotent true: want false with acks 1 or 0"},
		{[]string{"produce", "--topic", "one", "--partitions", "3", "--records", "1"}, `--partitions 3: want the 1 partition(s) topic "one" already has`},
		{[]string{"produce", "--topic", "x", "-o", "yaml"}, `-o "yaml": want table or json`},
		{[]string{"consume", "--topic", "nosuch"}, `topic "nosuch": does not exist`},
		{[]string{"consume", "--topic", "one"}, `topic "one": no records to read`},
		{[]string{"consume", "--topic", "one", "--consumers", "0"}, "--consumers 0: want >= 1"},
		{[]string{"latency", "--topic", "x", "--rate", "0"}, "--rate 0: want > 0"},
		{[]string{"latency", "--topic", "x", "--rate", "NaN"}, "--rate NaN: want > 0"},
		{[]string{"latency", "--topic", "x", "--record-size", "15"}, "--record-size 15: want >= 16"},
		{[]string{"latency", "--topic", "x", "--rate", "1", "--duration", "100ms"}, "--duration 100ms: want long enough for one record"},
		{[]string{"latency", "--topic", "x", "--drain", "0s"}, "--drain 0s: want > 0"},
	} {
		_, _, err := runCLI(t, addr, "", append([]string{"bench"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sluice bench %v: error %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

// The harness's startup probe fails at once, non-zero, without a broker.
func TestBenchNoBroker(t *testing.T) {
	_, _, err := runCLI(t, "127.0.0.1:1", "", "bench", "produce", "--topic", "probe", "--records", "1", "--acks", "all", "-o", "json")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("bench produce against a closed port: error %v, want it to name the broker", err)
	}
}
