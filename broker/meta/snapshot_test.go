package meta

import (
	"errors"
	"testing"
	"time"
)

func TestSnapshotRoundTrip(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustApply(t, s,
		RegisterBroker{NodeID: 2, Host: "b", Port: 9093, Rack: "r"},
		RegisterBroker{NodeID: 1, Host: "a", Port: 9092},
		AlterBrokerConfigs{NodeID: AllBrokers, Set: map[string]string{"log.retention.ms": "5"}},
		AlterBrokerConfigs{NodeID: 1, Set: map[string]string{"message.max.bytes": "7"}},
	)
	mustApply(t, s, CreateTopic{Name: "a.b", Partitions: 3, ReplicationFactor: 2, Configs: map[string]string{"cleanup.policy": "compact"}})
	mustApply(t, s, CreateTopic{Name: "c", Partitions: 1, ReplicationFactor: 1})
	mustApply(t, s, DeleteTopic{ID: topic(t, s.Image(), "c").ID})
	img := s.Image()
	b, err := EncodeSnapshot(img, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.String() != img.String() || back.Offset() != img.Offset() {
		t.Fatalf("snapshot round trip\n--- image\n%s--- restored\n%s", img, back)
	}
	// The restored image enforces the same rules (collision index rebuilt).
	if _, err := Apply(back, CreateTopic{Name: "a_b", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("collision after restore: %v", err)
	}
	empty, err := EncodeSnapshot(NewImage(), time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := DecodeSnapshot(empty); err != nil || e.Offset() != -1 || e.NumTopics() != 0 {
		t.Fatalf("empty snapshot: %v", err)
	}
	for _, bad := range [][]byte{nil, {2, 0, 0, 0, 0, 0, 0, 0, 0}, b[:len(b)-2], append([]byte{1, 0x80}, b[2:]...)} {
		if _, err := DecodeSnapshot(bad); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("DecodeSnapshot(% x...): %v", bad[:min(len(bad), 4)], err)
		}
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	img, _ := Apply(NewImage(), RegisterBroker{NodeID: 1, Host: "h", Port: 1})
	img, _ = Apply(img, CreateTopic{Name: "t", ID: TopicID{1}, Partitions: 2, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1"}})
	b, _ := EncodeSnapshot(img.withOffset(7), time.Unix(1, 0))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := DecodeSnapshot(b)
		if err != nil {
			return
		}
		b2, err := EncodeSnapshot(img, time.Unix(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		img2, err := DecodeSnapshot(b2)
		if err != nil || img2.String() != img.String() {
			t.Fatalf("re-encoded snapshot differs: %v", err)
		}
	})
}
