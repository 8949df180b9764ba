package group

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memStore is a Store in memory, failing appends while fail is set.
type memStore struct {
	mu   sync.Mutex
	recs []Record
	fail error
}

func (s *memStore) Append(_ context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.recs = append(s.recs, recs...)
	return nil
}

func (s *memStore) Load(_ context.Context, fn func(key, value []byte) error) error {
	s.mu.Lock()
	recs := append([]Record(nil), s.recs...)
	s.mu.Unlock()
	for _, r := range recs {
		if err := fn(r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

func newTestCoordinator(t *testing.T, store Store) *Coordinator {
	t.Helper()
	c, err := NewCoordinator(DefaultConfig(), store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func joinReq(member string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group = "g"
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 10000
	r.MemberID = member
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte("m")}}
	return r
}

// joinFully does the KIP-394 two-step join and blocks until the rebalance
// completes.
func joinFully(ctx context.Context, t *testing.T, c *Coordinator) *kmsg.JoinGroupResponse {
	first := c.Handle(ctx, "c", "h", joinReq("")).(*kmsg.JoinGroupResponse)
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		t.Errorf("first join: error %d, want MEMBER_ID_REQUIRED", first.ErrorCode)
		return first
	}
	return c.Handle(ctx, "c", "h", joinReq(first.MemberID)).(*kmsg.JoinGroupResponse)
}

func TestCoordinatorLoadingAndConcurrentJoin(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	c := newTestCoordinator(t, store)
	if resp := c.Handle(ctx, "c", "h", joinReq("")).(*kmsg.JoinGroupResponse); resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("before Load: error %d, want COORDINATOR_LOAD_IN_PROGRESS", resp.ErrorCode)
	}
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	// Three members get IDs, then join at once: all three get generation 1
	// of the same rebalance (the rebalance waits for every handed-out ID),
	// one of them as leader with every member's metadata.
	resps := make([]*kmsg.JoinGroupResponse, 3)
	ids := make([]string, 3)
	for i := range ids {
		first := c.Handle(ctx, "c", "h", joinReq("")).(*kmsg.JoinGroupResponse)
		ids[i] = first.MemberID
	}
	var wg sync.WaitGroup
	for i := range resps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i] = c.Handle(ctx, "c", "h", joinReq(ids[i])).(*kmsg.JoinGroupResponse)
		}()
	}
	wg.Wait()
	leaders := 0
	for _, r := range resps {
		if r.ErrorCode != 0 {
			t.Fatalf("join: error %d", r.ErrorCode)
		}
		if r.LeaderID == r.MemberID {
			leaders++
			if len(r.Members) != 3 {
				t.Fatalf("leader got %d members, want 3", len(r.Members))
			}
		}
		if r.Generation != resps[0].Generation {
			t.Fatalf("generations differ: %d vs %d", r.Generation, resps[0].Generation)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders, want 1", leaders)
	}
	// The followers' syncs block until the leader assigns.
	gen := resps[0].Generation
	var leader string
	for _, r := range resps {
		if r.LeaderID == r.MemberID {
			leader = r.MemberID
		}
	}
	syncs := make([]*kmsg.SyncGroupResponse, 3)
	for i, r := range resps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := kmsg.NewPtrSyncGroupRequest()
			s.Version, s.Group, s.Generation, s.MemberID = 5, "g", gen, r.MemberID
			if r.MemberID == leader {
				for _, o := range resps {
					s.GroupAssignment = append(s.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: o.MemberID, MemberAssignment: []byte(o.MemberID)})
				}
			}
			syncs[i] = c.Handle(ctx, "c", "h", s).(*kmsg.SyncGroupResponse)
		}()
	}
	wg.Wait()
	for i, s := range syncs {
		if s.ErrorCode != 0 || string(s.MemberAssignment) != resps[i].MemberID {
			t.Fatalf("sync %d: error %d assignment %q", i, s.ErrorCode, s.MemberAssignment)
		}
	}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.Generation, commit.MemberID = 9, "g", gen, leader
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 42}}}}
	if r := c.Handle(ctx, "c", "h", commit).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: error %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	list := c.Handle(ctx, "c", "h", kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse)
	if len(list.Groups) != 1 || list.Groups[0].Group != "g" {
		t.Fatalf("list: %+v", list.Groups)
	}

	// A restarted coordinator loads the group and its offsets.
	c.Close()
	c2 := newTestCoordinator(t, store)
	if err := c2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}, {Group: "other"}}
	fr := c2.Handle(ctx, "c", "h", fetch).(*kmsg.OffsetFetchResponse)
	if len(fr.Groups) != 2 || len(fr.Groups[0].Topics) != 1 || fr.Groups[0].Topics[0].Partitions[0].Offset != 42 || len(fr.Groups[1].Topics) != 0 {
		t.Fatalf("fetch after reload: %+v", fr.Groups)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.Generation, hb.MemberID = 4, "g", gen, leader
	if r := c2.Handle(ctx, "c", "h", hb).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
		t.Fatalf("heartbeat after reload: error %d", r.ErrorCode)
	}
}

// Close answers a join that waits on a rebalance, so a shutting-down broker
// does not hang on it.
func TestCoordinatorCloseUnblocksJoin(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t, &memStore{})
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	first := joinFully(ctx, t, c)
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version, s.Group, s.Generation, s.MemberID = 5, "g", first.Generation, first.MemberID
	c.Handle(ctx, "c", "h", s)
	// A second member's join waits for the first to rejoin.
	done := make(chan *kmsg.JoinGroupResponse)
	go func() { done <- joinFully(ctx, t, c) }()
	testutil.Eventually(t, 5*time.Second, "group never started rebalancing", func() bool {
		return c.Groups()[0].State == PreparingRebalance.String()
	})
	c.Close()
	if r := <-done; r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("join after close: error %d, want COORDINATOR_NOT_AVAILABLE", r.ErrorCode)
	}
}

// A commit that cannot be persisted is reported as failed.
func TestCoordinatorStoreFailure(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	c := newTestCoordinator(t, store)
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	store.fail = context.DeadlineExceeded
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group = 9, "solo"
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
	if r := c.Handle(ctx, "c", "h", commit).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit with failing store: error %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	empty := kmsg.NewPtrJoinGroupRequest()
	if r := c.Handle(ctx, "c", "h", empty).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("join with empty group: error %d", r.ErrorCode)
	}
}
