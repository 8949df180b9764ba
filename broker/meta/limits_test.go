package meta

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestMaxPartitions: with MaxPartitions set, creating topics or partitions
// beyond it is refused with POLICY_VIOLATION naming max.broker.partitions,
// deleting makes room again, and a journal holding more than a lowered
// limit still opens.
func TestMaxPartitions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MaxPartitions: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustApply(t, s, CreateTopic{Name: "a", Partitions: 6, ReplicationFactor: 1})
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrPolicyViolation) || ErrorCode(err) != kerr.PolicyViolation.Code {
			t.Fatalf("%s: %v (code %d), want POLICY_VIOLATION", what, err, ErrorCode(err))
		}
		if msg := ErrorMessage(err); !strings.Contains(msg, "max.broker.partitions=10") {
			t.Fatalf("%s: message %q does not name the limit", what, msg)
		}
	}
	refused("create", s.Apply(ctx, CreateTopic{Name: "b", Partitions: 5, ReplicationFactor: 1}))
	refused("validate", s.Validate(CreateTopic{Name: "b", Partitions: 5, ReplicationFactor: 1}))
	a := topic(t, s.Image(), "a")
	refused("grow", s.Apply(ctx, CreatePartitions{ID: a.ID, Count: 11}))
	mustApply(t, s, CreatePartitions{ID: a.ID, Count: 7}, CreateTopic{Name: "b", Partitions: 3, ReplicationFactor: 1})
	if n := s.Image().NumPartitions(); n != 10 {
		t.Fatalf("NumPartitions = %d, want 10", n)
	}
	refused("one more", s.Apply(ctx, CreateTopic{Name: "c", Partitions: 1, ReplicationFactor: 1}))
	mustApply(t, s, DeleteTopic{ID: topic(t, s.Image(), "b").ID})
	mustApply(t, s, CreateTopic{Name: "c", Partitions: 3, ReplicationFactor: 1})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{MaxPartitions: 4})
	if err != nil {
		t.Fatalf("reopen with a lower limit: %v", err)
	}
	defer s.Close()
	if n := s.Image().NumPartitions(); n != 10 {
		t.Fatalf("after replay NumPartitions = %d, want 10", n)
	}
	if err := s.Apply(ctx, CreateTopic{Name: "d", Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrPolicyViolation) {
		t.Fatalf("create above a lowered limit: %v", err)
	}
	mustApply(t, s, AlterTopicConfigs{ID: topic(t, s.Image(), "a").ID, Set: map[string]string{"retention.ms": "1000"}})
	mustApply(t, s, DeleteTopic{ID: topic(t, s.Image(), "c").ID})
}
