package group

import (
	"sort"
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
