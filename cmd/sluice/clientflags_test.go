package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker"
)

// startBroker runs a real in-process sluice broker on 127.0.0.1:0 for the
// client command tests and returns its address; it stops at test cleanup.
func startBroker(t *testing.T) string {
	t.Helper()
	return startBrokerTB(t)
}

// startBrokerTB is startBroker for tests and benchmarks.
func startBrokerTB(t testing.TB) string {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.HTTP = t.TempDir(), "127.0.0.1:0", ""
	srv, err := broker.New(cfg, broker.Options{})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("broker serve: %v", err)
		}
	})
	return srv.Addr()
}

// runCLI runs the sluice command line with args and stdin, as a user would,
// and returns what it printed. Client commands get --brokers addr appended.
func runCLI(t *testing.T, addr, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	if addr != "" {
		args = append(args, "--brokers", addr)
	}
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// mustCLI is runCLI that fails the test on an error.
func mustCLI(t *testing.T, addr, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, addr, stdin, args...)
	if err != nil {
		t.Fatalf("sluice %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
	}
	return out
}

func TestSeeds(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "127.0.0.1:9092", want: []string{"127.0.0.1:9092"}},
		{in: " a:1, b:2 ,", want: []string{"a:1", "b:2"}},
		{in: "", wantErr: "no broker given"},
		{in: "localhost", wantErr: `"localhost" is not host:port`},
	} {
		f := &clientFlags{brokers: tc.in}
		got, err := f.seeds()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("seeds(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("seeds(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseKeyValues(t *testing.T) {
	got, err := parseKeyValues("-c", []string{"retention.ms=100", "cleanup.policy=compact,delete", "empty="})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"retention.ms", "100"}, {"cleanup.policy", "compact,delete"}, {"empty", ""}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("pair %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"noequals", "=value", " =x"} {
		if _, err := parseKeyValues("-c", []string{bad}); err == nil || !strings.Contains(err.Error(), "want key=value") {
			t.Errorf("parseKeyValues(%q) error = %v, want a key=value error", bad, err)
		}
	}
}

func TestBrokersEnvDefault(t *testing.T) {
	t.Setenv(brokersEnv, "10.1.2.3:9999")
	cmd := newTopicCmd()
	if got := cmd.PersistentFlags().Lookup("brokers").DefValue; got != "10.1.2.3:9999" {
		t.Errorf("--brokers default with %s set = %q", brokersEnv, got)
	}
	t.Setenv(brokersEnv, "")
	cmd = newTopicCmd()
	if got := cmd.PersistentFlags().Lookup("brokers").DefValue; got != defaultBrokers {
		t.Errorf("--brokers default = %q, want %q", got, defaultBrokers)
	}
}

// An unreachable broker gives an error that names it, not a hang.
func TestUnreachableBrokerNamed(t *testing.T) {
	for _, args := range [][]string{
		{"topic", "list"},
		{"consume", "t", "-n", "1"},
	} {
		_, _, err := runCLI(t, "127.0.0.1:1", "", append(args, "--timeout", "2s")...)
		if err == nil || !strings.Contains(err.Error(), "brokers 127.0.0.1:1") {
			t.Errorf("sluice %v against a closed port: error = %v, want it to name the broker", args, err)
		}
	}
	// produce fails each record after --timeout with the dial error.
	_, errOut, err := runCLI(t, "127.0.0.1:1", "a\nb\n", "produce", "t", "--timeout", "1s")
	if err == nil || !strings.Contains(errOut, `line 1: topic "t": `) || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("produce against a closed port: error %v, stderr %q; want line 1 and the broker named", err, errOut)
	}
}
