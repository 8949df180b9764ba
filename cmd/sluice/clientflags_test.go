package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// startBroker runs a real in-process sluice broker (brokertest.Start) for
// the client command tests and returns its address; it stops at cleanup.
func startBroker(t testing.TB) string {
	t.Helper()
	return brokertest.Start(t).Addr()
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

// --brokers is parsed by client.ParseSeeds; its errors name the flag.
func TestSeeds(t *testing.T) {
	if got, err := (&clientFlags{brokers: " a:1, b:2 ,"}).seeds(); err != nil || strings.Join(got, ",") != "a:1,b:2" {
		t.Errorf("seeds = %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"":          "--brokers: no broker given (flag or " + brokersEnv + ")",
		"localhost": `--brokers: "localhost" is not host:port`,
	} {
		if _, err := (&clientFlags{brokers: in}).seeds(); err == nil || err.Error() != want {
			t.Errorf("seeds(%q) error = %v, want %q", in, err, want)
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

// A request the brokers never answer names --timeout, the flag to change.
func TestNoAnswerNamesTimeoutFlag(t *testing.T) {
	addr := testutil.SilentListener(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "list"}, "list topics: brokers " + addr + ": no answer within --timeout 1s: "},
		{[]string{"group", "list"}, "list groups: brokers " + addr + ": no answer within --timeout 1s: "},
		{[]string{"consume", "t", "-e"}, "metadata: brokers " + addr + ": no answer within --timeout 1s: "},
	} {
		_, _, err := runCLI(t, addr, "", append(tc.args, "--timeout", "1s")...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("sluice %v against a silent broker: error = %v, want it to start %q", tc.args, err, tc.want)
		}
	}
}
