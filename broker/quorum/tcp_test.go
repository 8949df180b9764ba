package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicehq/sluice/internal/testutil"
)

// tcpNode is one node of a real cluster on loopback.
type tcpNode struct {
	id    uint64
	dir   string
	tr    *TCPTransport
	n     *Node
	sm    *testSM
	serve chan error
}

func (tn *tcpNode) start(t *testing.T, voters []uint64) {
	t.Helper()
	tn.sm = newTestSM(t)
	n, err := Start(Config{NodeID: tn.id, Dir: tn.dir, Voters: voters, TickInterval: 20 * time.Millisecond,
		Transport: tn.tr, StateMachine: tn.sm})
	if err != nil {
		t.Fatal(err)
	}
	tn.n = n
	tn.tr.SetHandler(n.Step)
}

// proposeRetrying proposes data on n until it is applied. It retries
// when nothing was proposed (no leader yet, dropped) and when the outcome
// is unknown: a proposal forwarded to a leader that just lost its office
// is lost, or may still commit, so data can end up applied twice (see
// dedup).
func proposeRetrying(t *testing.T, n *Node, data string) {
	t.Helper()
	testutil.EventuallyNil(t, 60*time.Second, "propose "+data, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := n.Propose(ctx, []byte(data))
		if err != nil && !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrDropped) && !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("propose %s: %v", data, err)
		}
		return err
	})
}

// dedup drops repeats of the data proposeRetrying may have applied twice.
func dedup(state string) string {
	seen := map[string]bool{}
	var out []string
	for _, d := range strings.Fields(state) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return strings.Join(out, " ")
}

// TestTCPCluster runs three nodes on real sockets, real files and a real
// ticker: they elect a leader, apply proposals made on each node in one
// order, and a restarted node catches up.
func TestTCPCluster(t *testing.T) {
	voters := []uint64{1, 2, 3}
	addrs := map[uint64]string{}
	listeners := map[uint64]net.Listener{}
	for _, id := range voters {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners[id], addrs[id] = l, l.Addr().String()
	}
	peers := func(id uint64) (string, bool) { a, ok := addrs[id]; return a, ok }
	base := t.TempDir()
	nodes := map[uint64]*tcpNode{}
	for _, id := range voters {
		tn := &tcpNode{id: id, dir: filepath.Join(base, fmt.Sprint(id)), serve: make(chan error, 1)}
		tn.tr = NewTCPTransport(TCPConfig{NodeID: id, ClusterID: func() string { return "cluster-a" }, Peers: peers})
		tn.start(t, voters)
		go func() { tn.serve <- tn.tr.Serve(listeners[id]) }()
		nodes[id] = tn
	}
	defer func() {
		for _, tn := range nodes {
			if err := tn.n.Close(); err != nil {
				t.Error(err)
			}
			if err := tn.tr.Close(); err != nil {
				t.Error(err)
			}
			if err := <-tn.serve; !errors.Is(err, ErrTransportClosed) {
				t.Errorf("Serve returned %v", err)
			}
		}
	}()
	agree := func(what string) {
		testutil.Eventually(t, 30*time.Second, what, func() bool {
			want := nodes[1].sm.state()
			for _, tn := range nodes {
				if tn.sm.state() != want {
					return false
				}
			}
			return true
		})
	}
	testutil.Eventually(t, 30*time.Second, "one leader all three follow", func() bool {
		l := nodes[1].n.Status().Leader
		return l != 0 && nodes[2].n.Status().Leader == l && nodes[3].n.Status().Leader == l
	})
	for _, id := range voters {
		proposeRetrying(t, nodes[id].n, fmt.Sprintf("from%d", id))
	}
	agree("all three apply from1 from2 from3")
	if got := dedup(nodes[2].sm.state()); got != "from1 from2 from3" {
		t.Fatalf("state %q", got)
	}

	// Restart a follower while the others go on.
	leader := nodes[1].n.Status().Leader
	f := nodes[leader%3+1]
	if err := f.n.Close(); err != nil {
		t.Fatal(err)
	}
	proposeRetrying(t, nodes[leader].n, "whiledown")
	f.start(t, voters)
	if got := dedup(f.sm.state()); !strings.HasPrefix("from1 from2 from3", got) {
		t.Fatalf("restarted node %d: state %q", f.id, got)
	}
	proposeRetrying(t, f.n, "afterrestart")
	agree("all three apply the proposals made around the restart")
	if got := dedup(nodes[1].sm.state()); got != "from1 from2 from3 whiledown afterrestart" {
		t.Fatalf("state %q", got)
	}
	testutil.Eventually(t, 30*time.Second, "the leader reports all three", func() bool {
		s := nodes[leader].n.Status()
		return s.Leader != leader || len(s.Peers) == 3 && !s.Peers[f.id].LastResponse.IsZero()
	})
}

// TestTCPClusterMismatch: a node refuses a peer whose cluster id differs
// from its own, naming both, and the dialing side reports it; a node with
// no cluster id yet is accepted.
func TestTCPClusterMismatch(t *testing.T) {
	type mismatch struct {
		peer   uint64
		theirs string
	}
	type node struct {
		tr         *TCPTransport
		got        chan *raftpb.Message
		mismatches chan mismatch
		logs       *records
		serve      chan error
	}
	addrs := map[uint64]string{}
	clusters := map[uint64]string{1: "cluster-a", 2: "cluster-b", 3: ""}
	nodes := map[uint64]*node{}
	listeners := map[uint64]net.Listener{}
	for id := range clusters {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners[id], addrs[id] = l, l.Addr().String()
	}
	for id, cluster := range clusters {
		nd := &node{got: make(chan *raftpb.Message, 100), mismatches: make(chan mismatch, 100), logs: &records{}, serve: make(chan error, 1)}
		nd.tr = NewTCPTransport(TCPConfig{
			NodeID: id, ClusterID: func() string { return cluster }, Logger: slog.New(nd.logs),
			Peers:             func(id uint64) (string, bool) { a, ok := addrs[id]; return a, ok },
			OnClusterMismatch: func(peer uint64, theirs string) { nd.mismatches <- mismatch{peer, theirs} },
			MaxBackoff:        100 * time.Millisecond,
		})
		nd.tr.SetHandler(func(_ context.Context, m *raftpb.Message) error { nd.got <- m; return nil })
		go func() { nd.serve <- nd.tr.Serve(listeners[id]) }()
		nodes[id] = nd
	}
	defer func() {
		for _, nd := range nodes {
			_ = nd.tr.Close()
			<-nd.serve
		}
	}()
	msg := func(from, to uint64) *raftpb.Message {
		return &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: new(from), To: new(to), Term: new(uint64(7))}
	}
	nodes[1].tr.Send([]*raftpb.Message{msg(1, 2), msg(1, 3)})
	nodes[2].tr.Send([]*raftpb.Message{msg(2, 1)})

	if m := <-nodes[1].mismatches; m != (mismatch{2, "cluster-b"}) {
		t.Fatalf("node 1 reports %+v", m)
	}
	if m := <-nodes[2].mismatches; m != (mismatch{1, "cluster-a"}) {
		t.Fatalf("node 2 reports %+v", m)
	}
	// Node 3 has no cluster id: it takes node 1's message.
	if m := <-nodes[3].got; m.GetFrom() != 1 || m.GetTerm() != 7 {
		t.Fatalf("node 3 got %v", m)
	}
	select {
	case m := <-nodes[2].got:
		t.Fatalf("node 2 took a message from another cluster: %v", m)
	case m := <-nodes[1].got:
		t.Fatalf("node 1 took a message from another cluster: %v", m)
	default:
	}
	testutil.Eventually(t, 30*time.Second, "the refusal names both nodes and clusters", func() bool {
		for _, s := range nodes[1].logs.matching("refused the connection") {
			if strings.Contains(s, `node 2 is in cluster "cluster-b", node 1 is in cluster "cluster-a"`) {
				return true
			}
		}
		return false
	})
}

// TestTCPQueueBound: messages for a peer that cannot be reached wait in a
// bounded queue; the rest are dropped.
func TestTCPQueueBound(t *testing.T) {
	tr := NewTCPTransport(TCPConfig{NodeID: 1, QueueSize: 2})
	defer tr.Close()
	var msgs []*raftpb.Message
	for range 10 {
		msgs = append(msgs, &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(9))})
	}
	tr.Send(msgs)
	if got := tr.Dropped(); got != 8 {
		t.Fatalf("dropped %d, want 8", got)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr.Send(msgs) // after Close: nothing, no panic
	var wg sync.WaitGroup
	wg.Go(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
			return
		}
		if err := tr.Serve(l); !errors.Is(err, ErrTransportClosed) {
			t.Errorf("Serve after Close: %v", err)
		}
	})
	wg.Wait()
}
