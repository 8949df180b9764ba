package meta

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// sharedLog stands in for the quorum's contract: every proposal is
// committed in one order and applied to every replica in that order, and
// the proposer gets its own replica's result.
type sharedLog struct {
	mu       sync.Mutex
	entries  [][]byte
	replicas []*Store
}

type logProposer struct {
	log  *sharedLog
	self int
}

func (p logProposer) Propose(_ context.Context, data []byte) error {
	l := p.log
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, data)
	var mine error
	for i, s := range l.replicas {
		if err := s.Replica().Apply(uint64(len(l.entries)), data); i == p.self {
			mine = err
		}
	}
	return mine
}

func TestReplicatedStoresAgree(t *testing.T) {
	l := &sharedLog{}
	for i := range 3 {
		l.replicas = append(l.replicas, OpenReplicated(logProposer{l, i}, Options{}))
	}
	a, b := l.replicas[0], l.replicas[1]
	ctx := context.Background()
	var seen []string
	cancel := b.Subscribe(func(_, n *Image) { seen = append(seen, n.String()) })
	defer cancel()
	if err := a.Apply(ctx, RegisterBroker{NodeID: 1, Host: "a", Port: 1}, RegisterBroker{NodeID: 2, Host: "b", Port: 1}); err != nil {
		t.Fatal(err)
	}
	ct := CreateTopic{Name: "t", ID: TopicID{1}, Partitions: 1, ReplicationFactor: 2,
		Parts: []PartitionState{{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}}}
	if err := a.Apply(ctx, ct, ProducerIDs{NodeID: 2, Count: 10}, ProducerIDs{NodeID: 1, Count: 10}); err != nil {
		t.Fatal(err)
	}
	// b validated against an image without the topic (as a broker
	// racing a's CreateTopics would), so its entry is committed and then
	// refused where it lands, on every replica alike.
	ct.ID = TopicID{2}
	payload, err := EncodeEntry(Entry{Records: []Record{ct}})
	if err != nil {
		t.Fatal(err)
	}
	if err := (logProposer{l, 1}).Propose(ctx, payload); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("racing create: %v, want ErrTopicExists", err)
	}
	if err := b.Apply(ctx, ct); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("create on b: %v, want ErrTopicExists (refused before proposing)", err)
	}
	if n := len(l.entries); n != 3 {
		t.Fatalf("%d entries committed, want 3 (the refusal before proposing adds none)", n)
	}
	want := a.Image().String()
	for i, s := range l.replicas {
		if got := s.Image().String(); got != want {
			t.Errorf("replica %d image\n%s\nwant\n%s", i, got, want)
		}
	}
	if a.Image().Offset() != 3 {
		t.Errorf("offset %d, want the index of the last applied entry (3, refused)", a.Image().Offset())
	}
	if len(seen) != 2 || !strings.Contains(seen[1], "topic t ") {
		t.Errorf("b's subscriber saw %q, want 2 images (the refused entry changes nothing), the last with topic t", seen)
	}

	// A snapshot restores the same image on a new replica.
	snap, err := a.Replica().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	c := OpenReplicated(logProposer{l, 3}, Options{})
	if err := c.Replica().Restore(3, snap); err != nil {
		t.Fatal(err)
	}
	if got := c.Image().String(); got != a.Image().String() || !strings.Contains(got, "producer-ids 2 [0,10)") {
		t.Errorf("restored\n%s\nwant\n%s", got, a.Image().String())
	}
	if s, e, _ := c.Image().ProducerIDBlock(1); s != 10 || e != 20 || c.Image().NextProducerID() != 20 {
		t.Errorf("restored producer ids: block [%d,%d) next %d", s, e, c.Image().NextProducerID())
	}
	if err := c.Replica().Restore(4, []byte{9}); err == nil {
		t.Error("restoring garbage succeeded")
	}
	if err := a.Replica().Apply(4, []byte{1, 2}); err == nil {
		t.Error("applying an entry that does not decode succeeded")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(ctx, DeleteTopic{ID: TopicID{1}}); !errors.Is(err, ErrClosed) {
		t.Errorf("apply after close: %v", err)
	}
}
