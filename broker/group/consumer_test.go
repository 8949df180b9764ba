package group

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type fakeTopics map[string]TopicInfo

func (f fakeTopics) Topic(name string) (TopicInfo, bool) { t, ok := f[name]; return t, ok }
func (f fakeTopics) Topics() []TopicInfo {
	var out []TopicInfo
	for _, t := range f {
		out = append(out, t)
	}
	return out
}

// member848 is a minimal KIP-848 client: it heartbeats, applies the
// assignment it gets and reports what it owns.
type member848 struct {
	t     *testing.T
	g     *Group
	id    string
	epoch int32
	owned map[int32]bool
	now   *time.Time
	reqID uint64
}

var topicID = [16]byte{1}

func (m *member848) heartbeat(first bool) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version, r.Group, r.MemberID, r.MemberEpoch = 1, "g", m.id, m.epoch
	if first {
		r.SubscribedTopicNames = []string{"t"}
		r.RebalanceTimeoutMillis = 10000
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	} else {
		var ps []int32
		for p := range m.owned {
			ps = append(ps, p)
		}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicID, Partitions: ps}}
	}
	m.reqID++
	m.g.Step(*m.now, Request{ID: m.reqID, Body: r})
	replies := m.g.Ready().Replies
	if len(replies) != 1 {
		m.t.Fatalf("%d replies", len(replies))
	}
	resp := replies[0].Resp.(*kmsg.ConsumerGroupHeartbeatResponse)
	if resp.ErrorCode != 0 {
		return resp
	}
	m.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		m.owned = map[int32]bool{}
		for _, t := range resp.Assignment.Topics {
			for _, p := range t.Partitions {
				m.owned[p] = true
			}
		}
	}
	return resp
}

func (m *member848) partitions() []int32 {
	var ps []int32
	for p := range m.owned {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// TestConsumerProtocol drives two KIP-848 members over a 6-partition
// topic: the second join makes the first revoke half before the second
// gets it (never two owners), fencing and leave and session expiry.
func TestConsumerProtocol(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.Topics = fakeTopics{"t": {Name: "t", ID: topicID, Partitions: 6}}
	g := New("g", cfg, now)
	a := &member848{t: t, g: g, id: "a", now: &now}
	b := &member848{t: t, g: g, id: "b", now: &now}
	a.heartbeat(true)
	if got := a.partitions(); len(got) != 6 || a.epoch != 1 {
		t.Fatalf("a alone: epoch %d partitions %v", a.epoch, got)
	}
	b.heartbeat(true)
	if len(b.owned) != 0 {
		t.Fatalf("b got %v before a revoked", b.partitions())
	}
	a.heartbeat(false) // told to revoke
	if len(a.owned) != 3 {
		t.Fatalf("a keeps %v, want 3 partitions", a.partitions())
	}
	overlap := func() {
		for p := range a.owned {
			if b.owned[p] {
				t.Fatalf("partition %d owned by a and b", p)
			}
		}
	}
	overlap()
	a.heartbeat(false) // acks the revocation, moves to the new epoch
	b.heartbeat(false) // gets the released partitions
	overlap()
	if len(a.owned) != 3 || len(b.owned) != 3 || a.epoch != b.epoch {
		t.Fatalf("a %v (epoch %d), b %v (epoch %d)", a.partitions(), a.epoch, b.partitions(), b.epoch)
	}
	if s := g.Summary(); s.State != "Stable" || s.Type != "consumer" {
		t.Fatalf("summary %+v", s)
	}
	stale := &member848{t: t, g: g, id: "a", epoch: a.epoch + 5, now: &now}
	if resp := stale.heartbeat(false); resp.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("future epoch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	ghost := &member848{t: t, g: g, id: "ghost", epoch: 3, now: &now}
	if resp := ghost.heartbeat(false); resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	// Commits carry the member epoch.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.MemberID, commit.Generation = 9, "g", "a", a.epoch-2
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}}}}
	g.Step(now, Request{ID: 99, Body: commit})
	if code := g.Ready().Replies[0].Resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale commit: %v", kerr.ErrorForCode(code))
	}
	commit.Generation = a.epoch
	g.Step(now, Request{ID: 100, Body: commit})
	if code := g.Ready().Replies[0].Resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}

	// b stops heartbeating: after the session timeout a gets everything.
	now = now.Add(30 * time.Second)
	a.heartbeat(false)
	now = now.Add(20 * time.Second)
	g.Tick(now)
	a.heartbeat(false)
	if len(a.owned) != 6 {
		t.Fatalf("after b expired a owns %v", a.partitions())
	}
	// a leaves: the group is empty but keeps its offsets.
	a.epoch = -1
	a.heartbeat(false)
	if s := g.Summary(); s.State != "Empty" || g.Unused() {
		t.Fatalf("after leave: %+v unused=%v", s, g.Unused())
	}
}

// With Kafka's unbounded group.max.size, the IDs handed out to first joins
// that never come back are still bounded, and expire.
func TestJoinFloodBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.MaxSize, cfg.MaxPending = 1<<31-1, 10
	g := New("g", cfg, now)
	refused := 0
	for i := 0; i < 1000; i++ {
		g.Step(now, Request{ID: uint64(i), Body: joinReq("")})
		if g.Ready().Replies[0].Resp.(*kmsg.JoinGroupResponse).ErrorCode == kerr.GroupMaxSizeReached.Code {
			refused++
		}
	}
	if len(g.pending) != 10 || refused != 990 {
		t.Fatalf("%d IDs pending, %d joins refused; want 10 and 990", len(g.pending), refused)
	}
	g.Tick(now.Add(11 * time.Second))
	if len(g.pending) != 0 {
		t.Fatalf("%d IDs still pending after the session timeout", len(g.pending))
	}
}

// TestConsumerGroupRestart runs a KIP-848 group through a Coordinator on a
// store that fails for a while: the heartbeat whose records could not be
// persisted is refused, the records are appended with the next ones, and
// a new coordinator loading the store has the same members, epochs and
// assignments, so heartbeats carry on without a rebalance.
func TestConsumerGroupRestart(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Topics = fakeTopics{"t": {Name: "t", ID: topicID, Partitions: 4}}
	store := &memStore{}
	start := func() *Coordinator {
		c, err := NewCoordinator(cfg, store, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
	setFail := func(err error) {
		store.mu.Lock()
		store.fail = err
		store.mu.Unlock()
	}
	owned := map[string][]int32{}
	epochs := map[string]int32{}
	heartbeat := func(c *Coordinator, id string) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Version, r.Group, r.MemberID, r.MemberEpoch = 1, "g", id, epochs[id]
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if epochs[id] == 0 {
			r.SubscribedTopicNames, r.RebalanceTimeoutMillis = []string{"t"}, 10000
		} else {
			r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: topicID, Partitions: owned[id]})
		}
		resp := c.Handle(ctx, "client", "/host", r).(*kmsg.ConsumerGroupHeartbeatResponse)
		if resp.ErrorCode == 0 {
			epochs[id] = resp.MemberEpoch
			if resp.Assignment != nil {
				owned[id] = nil
				for _, at := range resp.Assignment.Topics {
					owned[id] = append(owned[id], at.Partitions...)
				}
			}
		}
		return resp
	}
	describe := func(c *Coordinator) string {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupDescribeRequest()
		r.Groups = []string{"g"}
		g := c.Handle(ctx, "client", "/host", r).(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
		s := fmt.Sprintf("%s epoch=%d assignment-epoch=%d", g.State, g.Epoch, g.AssignmentEpoch)
		for _, m := range g.Members {
			s += fmt.Sprintf(" %s:%d", m.MemberID, m.MemberEpoch)
			for _, tp := range m.Assignment.TopicPartitions {
				s += fmt.Sprint(tp.Partitions)
			}
		}
		return s
	}

	c := start()
	heartbeat(c, "a")
	setFail(errors.New("disk full"))
	if resp := heartbeat(c, "b"); resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("join with a failing store: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	setFail(nil)
	for i := 0; i < 3; i++ { // b retries its join; a revokes, then b gets the rest
		for _, id := range []string{"a", "b"} {
			if resp := heartbeat(c, id); resp.ErrorCode != 0 {
				t.Fatalf("%s: %v", id, kerr.ErrorForCode(resp.ErrorCode))
			}
		}
	}
	before := describe(c)
	if !strings.HasPrefix(before, "Stable") || len(owned["a"]) != 2 || len(owned["b"]) != 2 {
		t.Fatalf("before the restart: %s, a owns %v, b owns %v", before, owned["a"], owned["b"])
	}
	c.Close()

	c = start()
	if after := describe(c); after != before {
		t.Fatalf("after the restart:\n %s\nwant\n %s", after, before)
	}
	store.mu.Lock()
	n := len(store.recs)
	store.mu.Unlock()
	for _, id := range []string{"a", "b"} {
		epoch, had := epochs[id], owned[id]
		if resp := heartbeat(c, id); resp.ErrorCode != 0 || resp.MemberEpoch != epoch || resp.Assignment != nil {
			t.Fatalf("%s after the restart: %v epoch %d assignment %v (had epoch %d, %v)",
				id, kerr.ErrorForCode(resp.ErrorCode), resp.MemberEpoch, resp.Assignment, epoch, had)
		}
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.recs) != n {
		t.Fatalf("heartbeats that changed nothing persisted %d records", len(store.recs)-n)
	}
}

// Records handed back after a failed append are queued again ahead of the
// next ones, only the last of each key, offset commits not at all (their
// failure was reported to the client).
func TestPersistFailedRequeues(t *testing.T) {
	g := New("g", DefaultConfig(), time.Unix(0, 0))
	member := consumerMemberKey(keyConsumerCurrent, "g", "a")
	epoch := consumerKey(keyConsumerGroup, "g")
	g.record(member, []byte("new"))
	g.PersistFailed([]Record{
		{Key: epoch, Value: []byte("e1")},
		{Key: member, Value: []byte("old")},
		{Key: offsetKey("g", "t", 0), Value: []byte("o")},
	})
	got := g.Ready().Records
	if len(got) != 2 || string(got[0].Value) != "e1" || string(got[1].Value) != "new" {
		t.Fatalf("queued %q", got)
	}
}
