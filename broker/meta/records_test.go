package meta

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var sampleRecords = []Record{
	CreateTopic{Name: "orders", ID: TopicID{1, 2, 3}, Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"}},
	CreateTopic{Name: "bare", ID: TopicID{15: 9}, Partitions: 1, ReplicationFactor: 1},
	DeleteTopic{ID: TopicID{1, 2, 3}},
	CreatePartitions{ID: TopicID{1, 2, 3}, Count: 9},
	AlterTopicConfigs{ID: TopicID{4}, Set: map[string]string{"segment.ms": "1"}, Delete: []string{"retention.ms"}},
	AlterTopicConfigs{ID: TopicID{4}, Replace: true},
	RegisterBroker{NodeID: 3, Host: "10.0.0.3", Port: 9092, Rack: "a"},
	AlterBrokerConfigs{NodeID: AllBrokers, Set: map[string]string{"log.retention.hours": "1"}, Delete: []string{"message.max.bytes"}},
	RegisterBroker{NodeID: 2, Host: "h", Port: 1, Fenced: true, Incarnation: "x", Epoch: 4},
	CreateTopic{Name: "r", ID: TopicID{5}, Partitions: 1, ReplicationFactor: 2,
		Parts: []PartitionState{{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}}},
	CreatePartitions{ID: TopicID{5}, Count: 2, Parts: []PartitionState{{Replicas: []int32{2, 1}, ISR: []int32{2}, Leader: 2}}},
	PartitionChange{ID: TopicID{5}, Partition: 0, State: PartitionState{Replicas: []int32{1, 2}, ISR: []int32{2}, ELR: []int32{1},
		LastKnownELR: []int32{1}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1, Recovering: true}},
	SetCluster{ID: "abc"},
	BrokerState{NodeID: 2, Fenced: true, ShuttingDown: true},
	ProducerIDs{NodeID: 2, Count: 1000},
	ProducerIDs{NodeID: 1, Count: 1000, Start: 5000},
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords {
		b, err := EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != recordVersion || RecordType(b[1]) != r.Type() {
			t.Fatalf("%s: header % x", r.Type(), b[:2])
		}
		got, err := DecodeRecord(b)
		if err != nil {
			t.Fatalf("%s: %v", r.Type(), err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("%s: round trip %+v, want %+v", r.Type(), got, r)
		}
	}
	// Pointers encode like values.
	p, _ := EncodeRecord(&DeleteTopic{ID: TopicID{7}})
	v, _ := EncodeRecord(DeleteTopic{ID: TopicID{7}})
	if string(p) != string(v) {
		t.Fatal("pointer and value encode differently")
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := Entry{Time: time.UnixMilli(1767323045123).UTC(), Records: sampleRecords}
	b, err := EncodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(e.Time) || !reflect.DeepEqual(got.Records, e.Records) {
		t.Fatalf("entry round trip: %+v", got)
	}
	if _, err := EncodeEntry(Entry{Records: []Record{nil}}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("encode nil record: %v", err)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good, _ := EncodeRecord(DeleteTopic{ID: TopicID{1}})
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than its 2-byte header"},
		{"version 0", append([]byte{0}, good[1:]...), "version 0 not supported"},
		{"future version", append([]byte{9}, good[1:]...), "version 9 not supported"},
		{"unknown type", append([]byte{1, 42}, good[2:]...), "unknown record type 42"},
		{"bad json", []byte{1, 2, '{'}, "decode DeleteTopic"},
		{"unknown field", []byte(string([]byte{1, 2}) + `{"id":"AQAAAAAAAAAAAAAAAAAAAA","x":1}`), "unknown field"},
		{"trailing", append(good[:len(good):len(good)], ` {}`...), "trailing data"},
		{"bad id", []byte(string([]byte{1, 2}) + `{"id":"short"}`), "22 characters"},
		{"bad id type", []byte(string([]byte{1, 2}) + `{"id":[1,2]}`), "decode DeleteTopic"},
	}
	for _, c := range cases {
		_, err := DecodeRecord(c.b)
		if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalidRecord mentioning %q", c.name, err, c.want)
		}
	}
}

func TestDecodeEntryErrors(t *testing.T) {
	good, _ := EncodeEntry(Entry{Time: time.Unix(1, 0), Records: sampleRecords[:2]})
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"short", good[:5], "shorter than its 9-byte header"},
		{"version", append([]byte{2}, good[1:]...), "entry version 2"},
		{"huge count", append(append([]byte{}, good[:9]...), 0xff, 0xff, 0xff, 0xff, 0x0f), "record count"},
		{"truncated", good[:len(good)-4], "record 1"},
		{"trailing", append(append([]byte{}, good...), 0), "trailing bytes"},
	}
	for _, c := range cases {
		_, err := DecodeEntry(c.b)
		if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalidRecord mentioning %q", c.name, err, c.want)
		}
	}
}

func TestTopicID(t *testing.T) {
	seen := map[TopicID]bool{}
	for range 100 {
		id := NewTopicID()
		if id.IsZero() || id == metadataTopicID || seen[id] {
			t.Fatalf("bad or repeated ID %s", id)
		}
		if id[6]>>4 != 4 || id[8]>>6 != 2 {
			t.Fatalf("ID %x is not a version 4 variant 1 UUID", id)
		}
		seen[id] = true
		text, _ := id.MarshalText()
		if len(text) != 22 {
			t.Fatalf("text form %q is not 22 characters", text)
		}
		var back TopicID
		if err := back.UnmarshalText(text); err != nil || back != id {
			t.Fatalf("text round trip %s: %v", text, err)
		}
	}
	// Kafka's own string for the reserved metadata topic ID.
	if metadataTopicID.String() != "AAAAAAAAAAAAAAAAAAAAAQ" {
		t.Fatalf("metadata topic ID = %s", metadataTopicID)
	}
	// Assignable from kmsg's [16]byte.
	var raw [16]byte = NewTopicID()
	var id TopicID = raw
	if id != raw {
		t.Fatal("conversion")
	}
	for _, bad := range []string{"", "AAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA+Q", "AAAAAAAAAAAAAAAAAAAAAQ=="} {
		var x TopicID
		if err := x.UnmarshalText([]byte(bad)); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("UnmarshalText(%q) = %v", bad, err)
		}
	}
}
