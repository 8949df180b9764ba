package quorum

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
	"github.com/sluicehq/sluice/internal/fault"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestScripts runs every testdata/*.txt script (-rewrite regenerates the
// outputs) on nodes with ManualTicks, each on its own errorfs, and an
// in-memory network that delivers when the script says. Commands:
//
//	start 1,2,3 [voters=1,2,3] [snapshot-entries=N]  start nodes on empty folders
//	campaign N                       N starts an election now
//	deliver                          deliver until no message is left (MsgSnap deliveries are shown)
//	tick [nodes=..] [n=K]            K rounds (default 1): tick each running node, then deliver
//	elect among=2,3 [names=new,old]  tick rounds among those until one leads and all of them agree;
//	                                 names label the winner and the others in outputs and for on=
//	isolate N | heal N               drop N's messages at delivery / stop dropping
//	propose on=N|leader|follower data=D [name=P]   start a proposal (shown: an immediate error)
//	add-learner|promote|remove ID on=...  [name=P] start a membership change
//	results                          each proposal and change not shown done before: ok, error: ..., or pending
//	cancel P                         end the context P's proposer waits with
//	applied                          each running node's state machine (index:data, in order)
//	status [full]                    each running node's role, leader, membership [term, indexes]
//	peers                            the leader's view of each member's match index
//	files N                          the files in N's folder
//	stop N | restart N               close N / close it if running and start it again from its folder
//	crash N torn                     N's next log write is torn: half of it written, then it fails
//	                                 and the node stops (a later crash N process restarts it)
//	crash N process|os               N dies: a process crash (every written byte kept) or an OS
//	                                 crash (only fsynced bytes kept); it starts again on what is left
//	warnings N                       N's warnings and errors
func TestScripts(t *testing.T) {
	testutil.RunScripts(t, func(t *testing.T) func(*testing.T, *datadriven.TestData) string {
		return newEnv(t).run
	})
}

// newEnv returns an environment with no nodes; its nodes are closed when
// the test ends.
func newEnv(t *testing.T) *env {
	e := &env{t: t, net: newTestNet(t), nodes: map[uint64]*envNode{}, cut: map[uint64]bool{}, labels: map[uint64]string{}}
	t.Cleanup(e.closeAll)
	return e
}

// add starts nodes on empty folders.
func (e *env) add(ids ...uint64) error {
	for _, id := range ids {
		nd := &envNode{id: id, fs: errorfs.New(), logs: &records{}}
		e.nodes[id] = nd
		if err := e.startNode(nd); err != nil {
			return err
		}
	}
	return nil
}

type env struct {
	t         *testing.T
	net       *testNet
	nodes     map[uint64]*envNode
	cut       map[uint64]bool
	voters    []uint64
	snapEvery uint64
	props     []*envProp
	labels    map[uint64]string // names elect gave to nodes it could not choose
	now       func() time.Time  // the nodes' clock; nil is time.Now
}

type envNode struct {
	id   uint64
	n    *Node // nil when stopped
	sm   *testSM
	fs   *errorfs.FS
	logs *records
}

type envProp struct {
	name, what string
	p          *pending
	err        error // an immediate error
	reported   bool  // its outcome was shown by results
}

const envDir = "/data/raft"

func (e *env) closeAll() {
	for _, nd := range e.nodes {
		if nd.n != nil {
			_ = nd.n.Close()
			nd.n = nil
		}
	}
}

// ids returns the running nodes, in the order of their labels.
func (e *env) ids() []uint64 {
	var ids []uint64
	for id, nd := range e.nodes {
		if nd.n != nil {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b uint64) int { return strings.Compare(e.label(a), e.label(b)) })
	return ids
}

// label names node id in outputs: "n<id>", or the name elect gave it.
func (e *env) label(id uint64) string {
	if l, ok := e.labels[id]; ok {
		return l
	}
	return fmt.Sprintf("n%d", id)
}

func (e *env) startNode(nd *envNode) error {
	nd.sm = newTestSM(e.t)
	n, err := Start(Config{
		NodeID: nd.id, Dir: envDir, FS: nd.fs, Voters: e.voters, TickInterval: ManualTicks,
		Transport: netTransport{e.net}, StateMachine: nd.sm, Logger: slog.New(nd.logs),
		SnapshotEntries: e.snapEvery, Now: e.now,
	})
	if err != nil {
		return err
	}
	nd.n = n
	return nil
}

func (e *env) node(t *testing.T, s string) *envNode {
	id := e.resolve(t, s)
	nd := e.nodes[id]
	if nd == nil || nd.n == nil {
		t.Fatalf("node %s (%d) is not running", s, id)
	}
	return nd
}

// resolve turns "leader", "follower" or a number into a node id: the
// leader is the running, connected node that leads in the highest term;
// the follower the lowest other running, connected node.
func (e *env) resolve(t *testing.T, s string) uint64 {
	for id, l := range e.labels {
		if l == s {
			return id
		}
	}
	if s != "leader" && s != "follower" {
		return uint64(testutil.Atoi(t, s))
	}
	var leader, term uint64
	for _, id := range e.ids() {
		if st := e.nodes[id].n.Status(); !e.cut[id] && st.Role == RoleLeader && st.Term >= term {
			leader, term = id, st.Term
		}
	}
	if leader == 0 {
		t.Fatalf("no leader")
	}
	if s == "leader" {
		return leader
	}
	for _, id := range e.ids() {
		if id != leader && !e.cut[id] {
			return id
		}
	}
	t.Fatalf("no follower")
	return 0
}

// deliver steps queued messages into their nodes until none is left and
// returns the snapshots delivered.
func (e *env) deliver(t *testing.T) string {
	var out strings.Builder
	for round := 0; ; round++ {
		q := e.net.take()
		if len(q) == 0 {
			return out.String()
		}
		if round > 10000 {
			t.Fatalf("messages keep flowing after %d rounds", round)
		}
		for _, m := range q {
			nd := e.nodes[m.GetTo()]
			if e.cut[m.GetFrom()] || e.cut[m.GetTo()] || nd == nil || nd.n == nil {
				continue
			}
			if m.GetType() == raftpb.MsgSnap {
				md := m.GetSnapshot().GetMetadata()
				fmt.Fprintf(&out, "MsgSnap %s->%s index=%d voters=%v learners=%v\n", e.label(m.GetFrom()), e.label(m.GetTo()),
					md.GetIndex(), md.GetConfState().GetVoters(), md.GetConfState().GetLearners())
			}
			_ = nd.n.Step(context.Background(), m)
		}
	}
}

func (e *env) run(t *testing.T, d *datadriven.TestData) string {
	kv, pos := testutil.ScriptArgs(d)
	switch d.Cmd {
	case "start":
		if v, ok := kv["snapshot-entries"]; ok {
			e.snapEvery = uint64(testutil.Atoi(t, v))
		}
		start := ids(t, pos[0])
		if v, ok := kv["voters"]; ok {
			e.voters = ids(t, v)
		} else if e.voters == nil {
			e.voters = start
		}
		if err := e.add(start...); err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		return ""
	case "campaign":
		if err := e.node(t, pos[0]).n.campaign(); err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		return ""
	case "deliver":
		return e.deliver(t)
	case "tick":
		nodes := e.ids()
		if v, ok := kv["nodes"]; ok {
			nodes = ids(t, v)
		}
		rounds := 1
		if v, ok := kv["n"]; ok {
			rounds = testutil.Atoi(t, v)
		}
		var out string
		for range rounds {
			for _, id := range nodes {
				e.node(t, strconv.FormatUint(id, 10)).n.Tick()
			}
			out += e.deliver(t)
		}
		return out
	case "elect":
		among := ids(t, kv["among"])
		for round := 0; round < 1000; round++ {
			if leader := e.agreed(among); leader != 0 {
				if names := strings.Split(kv["names"], ","); kv["names"] != "" {
					e.labels[leader], names = names[0], names[1:]
					for _, id := range among {
						if id != leader && len(names) > 0 {
							e.labels[id], names = names[0], names[1:]
						}
					}
				}
				return fmt.Sprintf("one of %s leads; all of them agree\n", kv["among"])
			}
			for _, id := range among {
				e.nodes[id].n.Tick()
			}
			e.deliver(t)
		}
		t.Fatalf("no leader among %v after 1000 rounds", among)
	case "isolate", "heal":
		e.cut[uint64(testutil.Atoi(t, pos[0]))] = d.Cmd == "isolate"
		return ""
	case "propose", "add-learner", "promote", "remove":
		nd := e.node(t, kv["on"])
		pr := &envProp{name: kv["name"]}
		if pr.name == "" {
			pr.name = fmt.Sprintf("p%d", len(e.props)+1)
		}
		switch d.Cmd {
		case "propose":
			pr.what = fmt.Sprintf("%s on %s", kv["data"], e.label(nd.id))
			pr.p, pr.err = nd.n.propose(context.Background(), []byte(kv["data"]))
		default:
			types := map[string]raftpb.ConfChangeType{"add-learner": raftpb.ConfChangeAddLearnerNode,
				"promote": raftpb.ConfChangeAddNode, "remove": raftpb.ConfChangeRemoveNode}
			pr.what = fmt.Sprintf("%s %s on %s", d.Cmd, pos[0], e.label(nd.id))
			pr.p, pr.err = nd.n.proposeChange(context.Background(), types[d.Cmd], uint64(testutil.Atoi(t, pos[0])))
		}
		e.props = append(e.props, pr)
		if pr.err != nil {
			return fmt.Sprintf("error: %v\n", pr.err)
		}
		return ""
	case "cancel":
		// The caller's context ends: the outcome is unknown to it.
		for _, pr := range e.props {
			if pr.name == pos[0] && pr.p != nil {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return fmt.Sprintf("%v\n", pr.p.wait(ctx))
			}
		}
		t.Fatalf("no pending proposal %s", pos[0])
	case "results":
		var b strings.Builder
		for _, pr := range e.props {
			if pr.reported {
				continue
			}
			fmt.Fprintf(&b, "%s (%s): ", pr.name, pr.what)
			done, err := pr.err != nil, pr.err
			if pr.p != nil {
				done, err = pr.p.result()
			}
			pr.reported = done
			switch {
			case !done:
				b.WriteString("pending\n")
			case err != nil:
				fmt.Fprintf(&b, "error: %v\n", err)
			default:
				b.WriteString("ok\n")
			}
		}
		return b.String()
	case "applied":
		var b strings.Builder
		for _, id := range e.ids() {
			fmt.Fprintf(&b, "%s: %s\n", e.label(id), e.nodes[id].sm.full())
		}
		return b.String()
	case "status":
		var b strings.Builder
		for _, id := range e.ids() {
			s := e.nodes[id].n.Status()
			leader := "none"
			if s.Leader != 0 {
				leader = e.label(s.Leader)
			}
			fmt.Fprintf(&b, "%s: %s leader=%s voters=%v learners=%v", e.label(id), s.Role, leader, s.Voters, s.Learners)
			if len(pos) > 0 && pos[0] == "full" {
				fmt.Fprintf(&b, " term=%d commit=%d applied=%d last=%d snapshot=%d", s.Term, s.Commit, s.Applied, s.LastIndex, s.SnapshotIndex)
			}
			b.WriteString("\n")
		}
		return b.String()
	case "peers":
		s := e.node(t, "leader").n.Status()
		var b strings.Builder
		for _, id := range slices.Sorted(maps.Keys(s.Peers)) {
			p := s.Peers[id]
			fmt.Fprintf(&b, "%s: match=%d learner=%v\n", e.label(id), p.Match, p.Learner)
		}
		return b.String()
	case "files":
		nd := e.nodes[uint64(testutil.Atoi(t, pos[0]))]
		names, err := nd.fs.List(envDir)
		if err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		return strings.Join(names, " ") + "\n"
	case "stop":
		nd := e.node(t, pos[0])
		err := nd.n.Close()
		nd.n = nil
		if err != nil {
			return fmt.Sprintf("stopped after a failure: %v\n", err)
		}
		return ""
	case "restart":
		nd := e.nodes[uint64(testutil.Atoi(t, pos[0]))]
		if nd.n != nil {
			if err := nd.n.Close(); err != nil {
				return fmt.Sprintf("error: close: %v\n", err)
			}
			nd.n = nil
		}
		if err := e.startNode(nd); err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		return fmt.Sprintf("n%d restarted: restored at %d, applied %s\n", nd.id, nd.sm.restored, nd.sm.state())
	case "crash":
		return e.crash(t, e.nodes[uint64(testutil.Atoi(t, pos[0]))], pos[1])
	case "warnings":
		nd := e.nodes[uint64(testutil.Atoi(t, pos[0]))]
		var b strings.Builder
		for _, s := range nd.logs.matching("") {
			if strings.Contains(s, "quorum:") {
				b.WriteString(s + "\n")
			}
		}
		return b.String()
	default:
		t.Fatalf("unknown command %s", d.Cmd)
	}
	return ""
}

// crash kills node nd in one of three ways and starts it again on what
// its file system keeps.
func (e *env) crash(t *testing.T, nd *envNode, how string) string {
	var out strings.Builder
	switch how {
	case "torn":
		// The next write of the log is torn (half of it written) and
		// fails; the node stops. Something must make it write: a
		// proposal from the script, delivered here.
		nd.fs.Inject(fault.Rule{Op: fault.OpWrite, PathContains: walFileName, After: true})
		return ""
	case "process", "os":
	default:
		t.Fatalf("crash %s: torn, process or os", how)
	}
	if nd.n != nil {
		if err := nd.n.Err(); err != nil {
			fmt.Fprintf(&out, "n%d had stopped: %v\n", nd.id, err)
		}
		// What the dead process left is taken before Close releases
		// anything, so Close's own writes (none) cannot matter.
		left := nd.fs.Clone()
		if how == "os" {
			left = nd.fs.Crash()
		}
		_ = nd.n.Close()
		nd.n, nd.fs = nil, left
	} else {
		nd.fs = nd.fs.Clone()
	}
	nd.logs = &records{}
	if err := e.startNode(nd); err != nil {
		return out.String() + fmt.Sprintf("error: %v\n", err)
	}
	fmt.Fprintf(&out, "n%d restarted: restored at %d, applied %s\n", nd.id, nd.sm.restored, nd.sm.state())
	return out.String()
}

// agreed returns the node of among that leads with every one of among
// following it, or 0.
func (e *env) agreed(among []uint64) uint64 {
	var leader uint64
	for _, id := range among {
		if s := e.nodes[id].n.Status(); s.Role == RoleLeader {
			leader = id
		}
	}
	if leader == 0 {
		return 0
	}
	for _, id := range among {
		if e.nodes[id].n.Status().Leader != leader {
			return 0
		}
	}
	return leader
}

func ids(t *testing.T, s string) []uint64 {
	var out []uint64
	for _, v := range testutil.Int32s(t, s) {
		out = append(out, uint64(v))
	}
	return out
}
