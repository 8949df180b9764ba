package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConsumeStartPositions checks --from, -n, -e and --partition on a
// two-partition topic with known contents.
func TestConsumeStartPositions(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "pos", "-p", "2")
	var p0, p1 strings.Builder
	for i := range 10 {
		fmt.Fprintf(&p0, "a%d\n", i)
		fmt.Fprintf(&p1, "b%d\n", i)
	}
	mustCLI(t, addr, p0.String(), "produce", "pos", "--partition", "0")
	mustCLI(t, addr, p1.String(), "produce", "pos", "--partition", "1")
	mustCLI(t, addr, "", "topic", "create", "empty", "-p", "3")

	for _, tc := range []struct {
		name string
		args []string
		want string // sorted lines
	}{
		{"earliest -e both partitions", []string{"pos", "-e", "--format", "%p:%o:%v"},
			sortLines(seqLines("0:%[1]d:a%[1]d", 10) + seqLines("1:%[1]d:b%[1]d", 10))},
		{"-n stops after N", []string{"pos", "--partition", "1", "-n", "3", "--format", "%o"}, "0\n1\n2\n"},
		{"exact offset", []string{"pos", "--partition", "0", "--from", "7", "-e"}, "a7\na8\na9\n"},
		{"offset past the end -e", []string{"pos", "--from", "100", "-e"}, ""},
		{"-N before the end", []string{"pos", "--from", "-2", "-e", "--format", "%p:%v"}, "0:a8\n0:a9\n1:b8\n1:b9\n"},
		{"latest -e", []string{"pos", "--from", "latest", "-e"}, ""},
		{"time after the last record", []string{"pos", "--from", fmt.Sprintf("@%d", time.Now().Add(time.Hour).UnixMilli()), "-e"}, ""},
		{"time before the first record", []string{"pos", "--from", "@0", "--partition", "1", "-e"}, seqLines("b%d", 10)},
		{"empty topic -e", []string{"empty", "-e"}, ""},
		{"-n 0", []string{"pos", "-n", "0"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustCLI(t, addr, "", append([]string{"consume"}, tc.args...)...)
			if sortLines(got) != tc.want {
				t.Errorf("consume %v =\n%s\nwant\n%s", tc.args, got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope", "-n", "1"}, `topic "nope": UNKNOWN_TOPIC_OR_PARTITION`},
		{[]string{"pos", "--partition", "2", "-n", "1"}, `topic "pos": --partition 2 does not exist (the topic has 2 partitions)`},
		{[]string{"pos", "-n", "-5"}, "-n -5: want a count >= 0"},
		{[]string{"pos", "--from", "soon"}, `--from "soon"`},
		{[]string{"pos", "--format", "%z"}, "unknown verb %z"},
	} {
		_, _, err := runCLI(t, addr, "", append([]string{"consume"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("consume %v: error = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// Without -n or -e, consume follows new records until it is interrupted,
// and then returns without an error.
func TestConsumeFollowsUntilInterrupted(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "live")
	mustCLI(t, addr, "first\n", "produce", "live")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := &watchWriter{want: "first\nsecond\n", seen: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		cf := &clientFlags{brokers: addr, clientID: "test", timeout: 10 * time.Second}
		kf := &consumeFlags{from: "earliest", count: -1, partition: -1, format: "%v"}
		done <- runConsume(ctx, cf, kf, "live", out)
	}()
	// The second record is produced while the consumer is already following.
	mustCLI(t, addr, "second\n", "produce", "live")
	select {
	case <-out.seen:
	case err := <-done:
		t.Fatalf("consume returned before it was interrupted: %v (printed %q)", err, out.String())
	case <-ctx.Done():
		t.Fatalf("consume printed %q, want %q", out.String(), out.want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("consume after interrupt: %v", err)
	}
}

// watchWriter collects output and closes seen once it equals want.
type watchWriter struct {
	mu   sync.Mutex
	buf  strings.Builder
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.buf.String() == w.want {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// seqLines formats i for i in [0, n) with format (use %[1]d), one per line,
// sorted like sortLines.
func seqLines(format string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format+"\n", i)
	}
	return sortLines(b.String())
}

// sortLines sorts the lines of s, so output from several partitions can be
// compared whatever order the partitions arrived in.
func sortLines(s string) string {
	if s == "" {
		return ""
	}
	ls := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(ls)
	return strings.Join(ls, "\n") + "\n"
}
