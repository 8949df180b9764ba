package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestTopicCommands drives create, list, describe, alter-config and delete
// against a real broker, as a user would type them.
func TestTopicCommands(t *testing.T) {
	addr := startBroker(t)

	out := mustCLI(t, addr, "", "topic", "create", "orders", "-p", "3", "-c", "retention.ms=3600000")
	if !strings.Contains(out, "created topic orders (partitions 3, replication factor 1)") {
		t.Errorf("create printed %q", out)
	}
	mustCLI(t, addr, "", "topic", "create", "audit", "logs")

	out = mustCLI(t, addr, "", "topic", "list")
	for _, re := range []string{`(?m)^NAME +PARTITIONS +REPLICAS$`, `(?m)^orders +3 +1$`, `(?m)^audit +1 +1$`, `(?m)^logs +1 +1$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("list: no match for %s in\n%s", re, out)
		}
	}

	out = mustCLI(t, addr, "", "topic", "describe", "orders")
	for _, re := range []string{
		`(?m)^Topic: orders$`, `(?m)^Partitions: 3$`, `(?m)^  retention\.ms=3600000 \(topic\)$`,
		`(?m)^0 +0 +\d+ +\[0\] +\[0\] +0 +0 *$`, `(?m)^2 +0 +\d+ +\[0\] +\[0\] +0 +0 *$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("describe: no match for %s in\n%s", re, out)
		}
	}

	mustCLI(t, addr, "", "topic", "alter-config", "orders", "--set", "retention.ms=7200000", "--set", "cleanup.policy=compact")
	out = mustCLI(t, addr, "", "topic", "describe", "orders")
	if !strings.Contains(out, "  retention.ms=7200000 (topic)") || !strings.Contains(out, "  cleanup.policy=compact (topic)") {
		t.Errorf("after --set, describe shows\n%s", out)
	}
	mustCLI(t, addr, "", "topic", "alter-config", "orders", "--delete", "cleanup.policy")
	out = mustCLI(t, addr, "", "topic", "describe", "orders")
	if strings.Contains(out, "cleanup.policy") || !strings.Contains(out, "retention.ms=7200000") {
		t.Errorf("after --delete cleanup.policy, describe shows\n%s", out)
	}

	// Describing several topics prints each; a missing one is an error naming it.
	out, _, err := runCLI(t, addr, "", "topic", "describe", "audit", "missing", "logs")
	if err == nil || !strings.Contains(err.Error(), `topic "missing": UNKNOWN_TOPIC_OR_PARTITION`) {
		t.Errorf("describe of a missing topic: error = %v", err)
	}
	if !strings.Contains(out, "Topic: audit") || !strings.Contains(out, "Topic: logs") {
		t.Errorf("describe with one missing topic still prints the others; got\n%s", out)
	}

	_, _, err = runCLI(t, addr, "", "topic", "create", "orders")
	if err == nil || !strings.Contains(err.Error(), `topic "orders": TOPIC_ALREADY_EXISTS`) {
		t.Errorf("create of an existing topic: error = %v", err)
	}

	out = mustCLI(t, addr, "", "topic", "delete", "orders", "audit")
	if out != "deleted topic orders\ndeleted topic audit\n" {
		t.Errorf("delete printed %q", out)
	}
	out = mustCLI(t, addr, "", "topic", "list")
	if strings.Contains(out, "orders") || !strings.Contains(out, "logs") {
		t.Errorf("after delete, list shows\n%s", out)
	}
	_, _, err = runCLI(t, addr, "", "topic", "delete", "orders")
	if err == nil || !strings.Contains(err.Error(), `topic "orders": UNKNOWN_TOPIC_OR_PARTITION`) {
		t.Errorf("delete of a missing topic: error = %v", err)
	}
}

func TestTopicCommandsRejectBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "create", "t", "-c", "retention.ms"}, `-c "retention.ms": want key=value`},
		{[]string{"topic", "alter-config", "t"}, "nothing to do"},
		{[]string{"topic", "alter-config", "t", "--set", "a"}, `--set "a": want key=value`},
		{[]string{"topic", "alter-config", "t", "--delete", "a=1"}, `--delete "a=1": want a config key`},
		{[]string{"topic", "alter-config", "t", "--set", "a=1", "--delete", "a"}, "--delete a: key also given"},
		{[]string{"topic", "create"}, "requires at least 1 arg"},
	} {
		// No broker is needed: the flags are checked before connecting.
		_, _, err := runCLI(t, "127.0.0.1:1", "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sluice %v: error = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestBuildAlterConfigs(t *testing.T) {
	got, err := buildAlterConfigs([]string{"retention.ms=1", "segment.bytes=2"}, []string{"cleanup.policy"})
	if err != nil {
		t.Fatal(err)
	}
	want := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")},
		{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("2")},
		{Op: kadm.DeleteConfig, Name: "cleanup.policy"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d ops, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Op != w.Op || g.Name != w.Name || (g.Value == nil) != (w.Value == nil) || g.Value != nil && *g.Value != *w.Value {
			t.Errorf("op %d = %+v, want %+v", i, g, w)
		}
	}
}
