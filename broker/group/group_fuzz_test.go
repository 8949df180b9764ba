package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzGroup drives one group with an arbitrary sequence of requests and
// ticks from a few members (classic and KIP-848), checking that nothing
// panics, every request is answered exactly once, and the group's
// bookkeeping stays consistent.
func FuzzGroup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 1, 1, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 2, 8, 0})
	f.Add([]byte{9, 0, 9, 1, 9, 0, 9, 1, 7, 5, 9, 0, 10, 0})
	f.Add([]byte{0, 3, 0, 3, 0, 4, 0, 4, 1, 3, 11, 3, 0, 5, 7, 9})
	f.Fuzz(func(t *testing.T, script []byte) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		cfg := DefaultConfig()
		cfg.MaxSize = 4
		n := 0
		cfg.NewMemberID = func(string) string { n++; return fmt.Sprint("m", n) }
		cfg.Topics = fakeTopics{"t": {Name: "t", ID: topicID, Partitions: 3}}
		g := New("g", cfg, now)
		ids := map[byte]string{}
		var reqID uint64
		pending := map[uint64]bool{}
		for i := 0; i+1 < len(script); i += 2 {
			op, who := script[i]%12, script[i+1]%6
			member := ids[who]
			var body kmsg.Request
			switch op {
			case 0:
				r := joinReq(member)
				if who >= 3 {
					inst := fmt.Sprint("i", who)
					r.InstanceID = &inst
				}
				body = r
			case 1:
				r := kmsg.NewPtrSyncGroupRequest()
				r.Group, r.Generation, r.MemberID = "g", g.generation, member
				for _, id := range ids {
					r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(id)})
				}
				body = r
			case 2:
				r := kmsg.NewPtrHeartbeatRequest()
				r.Group, r.Generation, r.MemberID = "g", g.generation, member
				body = r
			case 3:
				r := kmsg.NewPtrLeaveGroupRequest()
				r.Version, r.Group = 5, "g"
				r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: member}}
				body = r
			case 4:
				r := kmsg.NewPtrOffsetCommitRequest()
				r.Version, r.Group, r.Generation, r.MemberID = 9, "g", int32(who)-1, member
				r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: int64(i)}}}}
				body = r
			case 5:
				r := kmsg.NewPtrOffsetFetchRequest()
				r.Version = 8
				r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}}
				body = r
			case 6:
				r := kmsg.NewPtrDescribeGroupsRequest()
				r.Groups = []string{"g"}
				body = r
			case 7:
				now = now.Add(time.Duration(who+1) * 3 * time.Second)
				g.Tick(now)
			case 8:
				r := kmsg.NewPtrDeleteGroupsRequest()
				r.Groups = []string{"g"}
				body = r
			case 9, 10:
				r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				r.Version, r.Group, r.MemberID = 1, "g", fmt.Sprint("c", who)
				if op == 9 {
					r.SubscribedTopicNames, r.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
				} else {
					r.MemberEpoch = int32(who) - 1
				}
				body = r
			case 11:
				r := kmsg.NewPtrConsumerGroupDescribeRequest()
				r.Groups = []string{"g"}
				body = r
			}
			if body != nil {
				reqID++
				pending[reqID] = true
				g.Step(now, Request{ID: reqID, Body: body})
			}
			for _, rep := range g.Ready().Replies {
				if !pending[rep.ID] {
					t.Fatalf("reply to request %d that is not waiting", rep.ID)
				}
				delete(pending, rep.ID)
				if jr, ok := rep.Resp.(*kmsg.JoinGroupResponse); ok && jr.MemberID != "" {
					for w, id := range ids {
						if id == jr.MemberID {
							delete(ids, w)
						}
					}
					if op == 0 {
						ids[who] = jr.MemberID
					}
				}
			}
			if g.Unused() {
				g = New("g", cfg, now) // as the coordinator forgets it
				for id := range pending {
					t.Fatalf("group forgotten with request %d unanswered", id)
				}
			}
			if len(g.members) > 0 {
				if _, ok := g.members[g.leader]; !ok {
					t.Fatalf("leader %q is not a member", g.leader)
				}
			}
			if len(g.members)+len(g.pending) > cfg.MaxSize {
				t.Fatalf("%d members and %d pending exceed group.max.size %d", len(g.members), len(g.pending), cfg.MaxSize)
			}
			for id, m := range g.members {
				if m.join != nil && !pending[m.join.id] || m.sync != nil && !pending[m.sync.id] {
					t.Fatalf("member %s waits on an answered request", id)
				}
			}
			if g.cg != nil {
				seen := map[tp]string{}
				for _, m := range g.cg.members {
					for p := range m.assigned {
						if o, ok := seen[p]; ok {
							t.Fatalf("partition %v assigned to %s and %s", p, o, m.id)
						}
						seen[p] = m.id
					}
				}
			}
		}
	})
}
