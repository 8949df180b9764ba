package quorum

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicehq/sluice/internal/testutil"
)

// elected starts voters 1..3 and makes node 1 lead.
func elected(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.voters = []uint64{1, 2, 3}
	if err := e.add(1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := e.nodes[1].n.campaign(); err != nil {
		t.Fatal(err)
	}
	e.deliver(t)
	if s := e.nodes[1].n.Status(); s.Role != RoleLeader {
		t.Fatalf("node 1 is %s after campaigning", s.Role)
	}
	return e
}

// TestProposeNoLeader: with no leader known a proposal and a membership
// change fail at once with ErrNoLeader, on a voter and on a node that is
// not a member yet.
func TestProposeNoLeader(t *testing.T) {
	e := newEnv(t)
	e.voters = []uint64{1, 2, 3}
	if err := e.add(1, 2, 3, 4); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []uint64{1, 4} {
		if err := e.nodes[id].n.Propose(ctx, []byte("x")); !errors.Is(err, ErrNoLeader) {
			t.Errorf("propose on node %d with no leader: %v, want ErrNoLeader", id, err)
		}
	}
	if err := e.nodes[1].n.AddLearner(ctx, 4); !errors.Is(err, ErrNoLeader) {
		t.Errorf("add a learner with no leader: %v, want ErrNoLeader", err)
	}
	if len(e.net.take()) != 0 {
		t.Errorf("a refused proposal sent messages")
	}
}

// TestProposeBlocksUntilApplied: Propose returns only once its entry is
// applied here, with Apply's error; a context that ends first makes the
// outcome unknown, and Close answers what still waits.
func TestProposeBlocksUntilApplied(t *testing.T) {
	e := elected(t)
	leader := e.nodes[1].n
	ctx := context.Background()

	results := make(chan error, 2)
	for _, data := range []string{"a", "bad"} {
		go func() { results <- leader.Propose(ctx, []byte(data)) }()
	}
	// Both entries reach the leader's log; nothing commits until the
	// followers' answers are delivered.
	testutil.Eventually(t, 10*time.Second, "two entries appended", func() bool { return leader.Status().LastIndex == 6 })
	select {
	case err := <-results:
		t.Fatalf("Propose returned before its entry committed: %v", err)
	default:
	}
	e.deliver(t)
	var errs []string
	for range 2 {
		if err := <-results; err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) != 1 || errs[0] != `rejected "bad"` {
		t.Fatalf("results %q, want one rejection of bad", errs)
	}
	if got := e.nodes[3].sm.state(); got != "a" {
		t.Fatalf("follower state %q", got)
	}

	cctx, cancel := context.WithCancel(ctx)
	unknown := make(chan error, 1)
	go func() { unknown <- leader.Propose(cctx, []byte("c")) }()
	testutil.Eventually(t, 10*time.Second, "entry appended", func() bool { return leader.Status().LastIndex == 7 })
	cancel()
	if err := <-unknown; !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
		t.Fatalf("propose whose context ended: %v, want ErrOutcomeUnknown and context.Canceled", err)
	}

	closed := make(chan error, 1)
	go func() { closed <- leader.Propose(ctx, []byte("d")) }()
	testutil.Eventually(t, 10*time.Second, "entry appended", func() bool { return leader.Status().LastIndex == 8 })
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; !errors.Is(err, ErrClosed) {
		t.Fatalf("propose on a closed node: %v, want ErrClosed", err)
	}
	if err := leader.Propose(ctx, []byte("e")); !errors.Is(err, ErrClosed) {
		t.Fatalf("propose after close: %v, want ErrClosed", err)
	}
	if err := leader.Step(ctx, &raftpb.Message{To: new(uint64(1))}); !errors.Is(err, ErrClosed) {
		t.Fatalf("step after close: %v, want ErrClosed", err)
	}
	leader.Tick() // returns
	e.nodes[1].n = nil
}

// TestMembershipBlocksUntilApplied: AddLearner and Promote return once
// applied, through the public API with real goroutines.
func TestMembershipBlocksUntilApplied(t *testing.T) {
	e := elected(t)
	if err := e.add(4); err != nil {
		t.Fatal(err)
	}
	leader := e.nodes[1].n
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-e.net.sent:
				e.deliver(t)
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := leader.AddLearner(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if s := leader.Status(); len(s.Learners) != 1 || s.Learners[0] != 4 {
		t.Fatalf("learners after AddLearner: %v", s.Learners)
	}
	if err := leader.Promote(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if s := leader.Status(); len(s.Voters) != 4 || len(s.Learners) != 0 {
		t.Fatalf("after Promote: voters %v learners %v", s.Voters, s.Learners)
	}
	if err := leader.Remove(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := leader.Remove(ctx, 2); !errors.Is(err, ErrMembership) {
		t.Fatalf("removing a removed node: %v, want ErrMembership", err)
	}
	if err := e.nodes[4].n.Propose(ctx, []byte("x")); err != nil {
		t.Fatalf("propose on the promoted node: %v", err)
	}
	if got := e.nodes[3].sm.state(); got != "x" {
		t.Fatalf("state on node 3: %q", got)
	}
}

// TestStatusTimes: the leader reports each peer's match index and the
// times it last heard from it and saw it caught up, on its clock.
func TestStatusTimes(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	e.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Second); return now }
	e.voters = []uint64{1, 2, 3}
	if err := e.add(1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := e.nodes[1].n.campaign(); err != nil {
		t.Fatal(err)
	}
	t1 := advance()
	e.deliver(t)
	e.cut[3] = true
	p, err := e.nodes[1].n.propose(context.Background(), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	t2 := advance()
	e.deliver(t)
	if done, err := p.result(); !done || err != nil {
		t.Fatalf("proposal: done=%v err=%v", done, err)
	}
	s := e.nodes[1].n.Status()
	if s.Leader != 1 || s.Term != 2 || s.Commit != 5 || s.Applied != 5 {
		t.Fatalf("status %+v", s)
	}
	want := map[uint64]PeerStatus{
		1: {Match: 5, LastResponse: t2, LastCaughtUp: t2},
		2: {Match: 5, LastResponse: t2, LastCaughtUp: t2},
		3: {Match: 4, LastResponse: t1, LastCaughtUp: t1},
	}
	for id, w := range want {
		if got := s.Peers[id]; got != w {
			t.Errorf("peer %d: %+v, want %+v", id, got, w)
		}
	}
	if f := e.nodes[2].n.Status(); f.Peers != nil || f.Leader != 1 || f.Role != RoleFollower {
		t.Errorf("follower status %+v", f)
	}
}

// TestStepRefusals: a message for another node, and a nil one, are
// refused.
func TestStepRefusals(t *testing.T) {
	e := elected(t)
	ctx := context.Background()
	if err := e.nodes[2].n.Step(ctx, &raftpb.Message{To: new(uint64(3)), From: new(uint64(1)), Type: raftpb.MsgHeartbeat.Enum()}); err == nil || !strings.Contains(err.Error(), "delivered to node 2") {
		t.Errorf("message for node 3 stepped into node 2: %v", err)
	}
	if err := e.nodes[2].n.Step(ctx, nil); err == nil {
		t.Errorf("nil message accepted")
	}
	if _, err := Start(Config{NodeID: 1}); err == nil {
		t.Errorf("Start without Dir, Transport or StateMachine succeeded")
	}
}
