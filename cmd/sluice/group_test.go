package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupCommands drives `sluice group` against a real broker: a group
// commits offsets, describe shows lag, reset-offsets is refused while a
// member is active and rewinds once it left, delete removes the group.
func TestGroupCommands(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "t", "-p", "2")
	// Ten records in each partition: the reset to offset 3 below needs
	// partition 0 to hold at least 3 (a keyless produce may put all 20 in
	// one partition, and a reset past the end is clamped to it).
	lines := strings.Repeat("x\n", 10)
	mustCLI(t, addr, lines, "produce", "t", "--partition", "0")
	mustCLI(t, addr, lines, "produce", "t", "--partition", "1")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("cli"), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for n := 0; n < 20; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 20", n)
		}
		n += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	if out := mustCLI(t, addr, "", "group", "list"); !strings.Contains(out, "cli") || !strings.Contains(out, "Stable") {
		t.Fatalf("group list:\n%s", out)
	}
	out := mustCLI(t, addr, "", "group", "describe", "cli")
	if !strings.Contains(out, "STATE Stable") || !strings.Contains(out, "MEMBERS 1") || strings.Count(out, "\nt ") != 2 {
		t.Fatalf("describe:\n%s", out)
	}
	if _, _, err := runCLI(t, addr, "", "group", "reset-offsets", "cli", "--topic", "t", "--to", "earliest"); err == nil ||
		!strings.Contains(err.Error(), "stop its consumers") {
		t.Fatalf("reset while active: %v", err)
	}
	cl.Close()

	mustCLI(t, addr, "", "group", "reset-offsets", "cli", "--topic", "t", "--to", "3", "--partition", "0")
	adm := kadm.NewClient(mustClient(t, addr))
	offs, err := adm.FetchOffsets(ctx, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("t", 0); o.At != 3 {
		t.Fatalf("partition 0 committed at %d after reset to 3", o.At)
	}
	if _, _, err := runCLI(t, addr, "", "group", "reset-offsets", "cli", "--topic", "nope", "--to", "latest"); err == nil ||
		!strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("reset on a missing topic: %v", err)
	}
	mustCLI(t, addr, "", "group", "delete", "cli")
	if out := mustCLI(t, addr, "", "group", "list"); strings.Contains(out, "cli") {
		t.Fatalf("deleted group still listed:\n%s", out)
	}
	if _, _, err := runCLI(t, addr, "", "group", "delete", "cli"); err == nil || !strings.Contains(err.Error(), "GROUP_ID_NOT_FOUND") {
		t.Fatalf("delete of a missing group: %v", err)
	}
}

func mustClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Bad flags of reset-offsets are refused before connecting, naming the flag.
func TestGroupResetOffsetsRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--to", "yesterday", "--topic", "t"}, `--to "yesterday": want earliest, latest, an offset, or a date-time`},
		{[]string{"--to", "-1", "--topic", "t"}, `--to "-1": an offset must not be negative`},
		{[]string{"--to", "earliest"}, "--topic is required"},
	} {
		_, _, err := runCLI(t, "127.0.0.1:1", "", append([]string{"group", "reset-offsets", "g"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("reset-offsets %v: error = %v, want %q", tc.args, err, tc.want)
		}
	}
}
