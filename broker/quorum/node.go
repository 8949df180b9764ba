package quorum

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// Defaults and limits of a Config.
const (
	// DefaultTickInterval is how often a node ticks by itself.
	DefaultTickInterval = 50 * time.Millisecond
	// ManualTicks as Config.TickInterval makes the node tick only when
	// Tick is called (tests drive time that way).
	ManualTicks time.Duration = -1
	// DefaultElectionTicks is the ticks a follower waits for the leader
	// before it starts an election (raft randomizes it to 1-2 times this).
	DefaultElectionTicks = 10
	// DefaultHeartbeatTicks is the ticks between the leader's heartbeats.
	DefaultHeartbeatTicks = 1
	// DefaultSnapshotEntries is how many applied entries trigger a
	// snapshot and a compaction of the log.
	DefaultSnapshotEntries = 10000
	// MaxProposalBytes bounds the data of one proposal.
	MaxProposalBytes = 64 << 20
)

// Config configures Start.
type Config struct {
	// NodeID is this node's raft id, not 0.
	NodeID uint64
	// Dir is the node's raft folder (created if missing): the log file,
	// the snapshot file and a lock file (see the package comment).
	Dir string
	// FS is the file system Dir is on; all file I/O goes through it. Nil
	// is vfs.Default.
	FS vfs.FS
	// Voters is the bootstrap voter set. It is used only when Dir holds no
	// state yet and NodeID is in it: every voter then starts from the same
	// configuration. A node not in Voters with an empty Dir starts empty
	// and waits to be added (as a learner) by the leader; a node with
	// state ignores Voters.
	Voters []uint64
	// TickInterval is how often the node ticks: 0 is DefaultTickInterval,
	// ManualTicks (any negative value) ticks only on Tick.
	TickInterval time.Duration
	// ElectionTicks and HeartbeatTicks are raft's election and heartbeat
	// timeouts in ticks; 0 is the default (10 and 1). Pre-vote and
	// check-quorum are always on.
	ElectionTicks, HeartbeatTicks int
	// Transport sends the node's messages to its peers.
	Transport Transport
	// StateMachine is what committed entries are applied to.
	StateMachine StateMachine
	// Logger receives the node's and raft's log lines; nil discards them.
	Logger *slog.Logger
	// SnapshotEntries: once this many entries were applied since the last
	// snapshot, the node takes one and compacts the log; 0 is
	// DefaultSnapshotEntries.
	SnapshotEntries uint64
	// Now is the clock for the times in Status; nil is time.Now.
	Now func() time.Time
}

// StateMachine is the replicated state. The node calls it from one
// goroutine, never two methods at once.
type StateMachine interface {
	// Apply applies one committed normal entry's data, in log order,
	// exactly once per process lifetime (after a restart, the entries after
	// the last snapshot are applied again on top of a fresh Restore: the
	// state machine is in memory). Its error is not a raft failure: it is
	// the result handed to the local proposer of that entry (a
	// deterministic rejection, such as a failed validation), and the entry
	// stays in the log. data is the log's own copy: read it, keep it, but
	// do not modify it.
	Apply(index uint64, data []byte) error
	// Snapshot returns the state machine's whole state, as of the last
	// entry applied.
	Snapshot() ([]byte, error)
	// Restore replaces the whole state with a snapshot's data, taken after
	// applying entry index. Start always calls it first: with the stored
	// snapshot, or with (0, nil) for the empty state.
	Restore(index uint64, data []byte) error
}

// Transport carries raft messages to other nodes. Send is best effort
// (raft retries what is lost) and must not block the raft loop; it must not
// modify the messages, and may keep them.
type Transport interface {
	Send(msgs []*raftpb.Message)
}

// Node is one member of the metadata quorum: an etcd raft RawNode, its
// durable log in Dir, and the loop that persists, sends and applies (see
// the package comment). Its methods are safe for concurrent use.
type Node struct {
	id          uint64
	incarnation uint64
	fs          vfs.FS
	dir         string
	logger      *slog.Logger
	now         func() time.Time
	sm          StateMachine
	tr          Transport
	snapEvery   uint64

	rn   *raft.RawNode
	ms   *raft.MemoryStorage
	wal  *wal
	lock io.Closer

	reqc      chan *request
	stopc     chan struct{}
	donec     chan struct{}
	closeOnce sync.Once
	seq       atomic.Uint64

	mu struct {
		sync.Mutex
		waiters map[uint64]chan error // by proposal sequence number
		status  Status
		err     error // the failure that stopped the loop
		stopped bool
	}

	// Owned by the loop goroutine.
	hs        *raftpb.HardState
	confState *raftpb.ConfState // as of applied
	applied   uint64
	snapIndex uint64
	snapNow   bool // take a snapshot at the end of this Ready
	leading   bool
	ccLocal   map[uint64]uint64    // log index -> sequence of a membership change proposed here as leader
	heard     map[uint64]time.Time // while leading: last message from each peer
	caughtUp  map[uint64]time.Time // while leading: last time each peer's log matched ours
	batch     []*request           // handled, answered after the Ready they caused
	outcomes  []outcome            // for waiters, handed over with the batch
}

type outcome struct {
	seq uint64
	err error
}

// Start opens (or creates) the node's folder, replays its log into raft's
// memory storage, restores the state machine from the snapshot, bootstraps
// a new voter (see Config.Voters) and starts the raft loop. Close stops it.
func Start(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := vfs.MkdirAllDurable(cfg.FS, cfg.Dir); err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	lock, err := cfg.FS.Lock(filepath.Join(cfg.Dir, lockFileName))
	if err != nil {
		return nil, fmt.Errorf("quorum: lock %s (is another node using it?): %w", cfg.Dir, err)
	}
	n := &Node{
		id: cfg.NodeID, incarnation: rand.Uint64(), fs: cfg.FS, dir: cfg.Dir, now: cfg.Now,
		logger: cfg.Logger.With("raft_node", cfg.NodeID), sm: cfg.StateMachine, tr: cfg.Transport,
		snapEvery: cfg.SnapshotEntries, lock: lock,
		reqc: make(chan *request), stopc: make(chan struct{}), donec: make(chan struct{}),
		ccLocal: map[uint64]uint64{}, heard: map[uint64]time.Time{}, caughtUp: map[uint64]time.Time{},
	}
	n.mu.waiters = map[uint64]chan error{}
	if err := n.open(cfg); err != nil {
		if n.wal != nil {
			_ = n.wal.close()
		}
		_ = lock.Close()
		return nil, err
	}
	// The first Ready (a bootstrap's configuration entries, or the
	// committed entries after the snapshot) is handled before Start
	// returns, so Status and the state machine show it.
	if err := n.processReady(); err != nil {
		_ = n.wal.close()
		_ = lock.Close()
		return nil, err
	}
	n.publishStatus()
	go n.run(cfg.TickInterval)
	return n, nil
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.NodeID == 0 || raft.IsLocalMsgTarget(c.NodeID):
		return c, fmt.Errorf("quorum: node id %d is not usable", c.NodeID)
	case c.Dir == "":
		return c, errors.New("quorum: Config.Dir is empty")
	case c.Transport == nil:
		return c, errors.New("quorum: Config.Transport is nil")
	case c.StateMachine == nil:
		return c, errors.New("quorum: Config.StateMachine is nil")
	case slices.Contains(c.Voters, 0):
		return c, errors.New("quorum: voter id 0")
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.HeartbeatTicks < 0 || c.ElectionTicks <= c.HeartbeatTicks {
		return c, fmt.Errorf("quorum: election ticks (%d) must be more than heartbeat ticks (%d), both positive", c.ElectionTicks, c.HeartbeatTicks)
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	return c, nil
}

// open replays the folder and creates the RawNode.
func (n *Node) open(cfg Config) error {
	w, st, err := openWAL(n.fs, n.dir, n.id, n.logger)
	if err != nil {
		return err
	}
	n.wal = w
	if err := removeStale(n.fs, n.dir, st.snapIndex()); err != nil {
		return err
	}
	n.ms = raft.NewMemoryStorage()
	n.confState = &raftpb.ConfState{}
	if st.snap != nil {
		if err := n.ms.ApplySnapshot(st.snap); err != nil {
			return fmt.Errorf("quorum: load snapshot: %w", err)
		}
		n.confState = proto.Clone(st.snap.GetMetadata().GetConfState()).(*raftpb.ConfState)
		n.applied, n.snapIndex = st.snapIndex(), st.snapIndex()
	}
	if st.empty() && len(st.ents) > 0 {
		n.logger.Warn("quorum: ignoring entries written without a hard state (a torn first write)", "entries", len(st.ents))
		st.ents = nil
	}
	if err := n.ms.Append(st.ents); err != nil {
		return fmt.Errorf("quorum: load entries: %w", err)
	}
	if hs := st.hs; hs != nil {
		// A snapshot is committed by definition, whatever the last
		// hard state written before it said.
		hs.Commit = new(max(hs.GetCommit(), st.snapIndex()))
		if last, _ := n.ms.LastIndex(); hs.GetCommit() > last {
			return &CorruptionError{Path: w.path, Reason: fmt.Sprintf("hard state commits entry %d, the log ends at %d", hs.GetCommit(), last)}
		}
		n.hs = hs
		if err := n.ms.SetHardState(hs); err != nil {
			return err
		}
	}
	if err := n.sm.Restore(st.snapIndex(), st.snap.GetData()); err != nil {
		return fmt.Errorf("quorum: restore the state machine from the snapshot at %d: %w", st.snapIndex(), err)
	}
	rcfg := &raft.Config{
		ID:              n.id,
		ElectionTick:    cfg.ElectionTicks,
		HeartbeatTick:   cfg.HeartbeatTicks,
		Storage:         n.ms,
		Applied:         st.snapIndex(),
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		// A leader cut off from its followers refuses proposals
		// (ErrDropped) past this much uncommitted data.
		MaxUncommittedEntriesSize: 2 * MaxProposalBytes,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{n.logger},
	}
	if n.rn, err = newRawNode(rcfg); err != nil {
		return err
	}
	if st.empty() && slices.Contains(cfg.Voters, n.id) {
		voters := slices.Compact(slices.Sorted(slices.Values(cfg.Voters)))
		peers := make([]raft.Peer, len(voters))
		for i, id := range voters {
			peers[i] = raft.Peer{ID: id}
		}
		if err := n.rn.Bootstrap(peers); err != nil {
			return fmt.Errorf("quorum: bootstrap: %w", err)
		}
		n.logger.Info("quorum: bootstrapping a new quorum", "voters", voters)
	}
	return nil
}

// newRawNode is raft.NewRawNode, which panics on stored state it cannot
// use (a commit index past the log's end, say): that is an error here.
func newRawNode(c *raft.Config) (rn *raft.RawNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("quorum: raft refused the stored state: %v", r)
		}
	}()
	return raft.NewRawNode(c)
}

// request is one call into the loop goroutine.
type request struct {
	kind reqKind
	msg  *raftpb.Message      // reqStep
	data []byte               // reqPropose: the envelope and the data
	cc   *raftpb.ConfChangeV2 // reqConfChange
	seq  uint64               // reqPropose, reqConfChange
	err  error                // the outcome, set by the loop
	done chan error
}

type reqKind int

const (
	reqStep reqKind = iota
	reqPropose
	reqConfChange
	reqTick
	reqCampaign
)

// do hands r to the loop and waits until the loop handled it and the Ready
// it caused (its messages sent, its committed entries applied).
func (n *Node) do(ctx context.Context, r *request) error {
	r.done = make(chan error, 1)
	select {
	case n.reqc <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return n.closedErr()
	}
	return <-r.done // the loop answers every request it took, even when it stops
}

func (n *Node) closedErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.err != nil {
		return fmt.Errorf("%w after a failure: %w", ErrClosed, n.mu.err)
	}
	return ErrClosed
}

// Step hands the node a message from a peer (the transport's handler). It
// returns once raft took it and the Ready it caused was handled; raft's
// refusals (a response from a node that is not a member) are its error.
func (n *Node) Step(ctx context.Context, m *raftpb.Message) error {
	if m == nil {
		return errors.New("quorum: nil message")
	}
	if m.GetTo() != n.id {
		return fmt.Errorf("quorum: message for node %d delivered to node %d", m.GetTo(), n.id)
	}
	return n.do(ctx, &request{kind: reqStep, msg: m})
}

// Propose replicates data and returns once the entry is committed and
// applied here, with StateMachine.Apply's error for it. A follower forwards
// the proposal to the leader. With no leader known it fails at once with
// ErrNoLeader. If ctx ends before raft took the proposal, the error is
// ctx's (nothing was proposed); if it ends after, the error wraps
// ErrOutcomeUnknown and ctx's.
func (n *Node) Propose(ctx context.Context, data []byte) error {
	p, err := n.propose(ctx, data)
	if err != nil {
		return err
	}
	return p.wait(ctx)
}

// AddLearner adds node id as a learner (it receives the log but does not
// vote) and returns once the change is applied here.
func (n *Node) AddLearner(ctx context.Context, id uint64) error {
	return n.changeMembership(ctx, raftpb.ConfChangeAddLearnerNode, id)
}

// Promote makes learner id a voter and returns once the change is applied
// here.
func (n *Node) Promote(ctx context.Context, id uint64) error {
	return n.changeMembership(ctx, raftpb.ConfChangeAddNode, id)
}

// Remove takes voter or learner id out of the quorum and returns once the
// change is applied here.
func (n *Node) Remove(ctx context.Context, id uint64) error {
	return n.changeMembership(ctx, raftpb.ConfChangeRemoveNode, id)
}

func (n *Node) changeMembership(ctx context.Context, t raftpb.ConfChangeType, id uint64) error {
	p, err := n.proposeChange(ctx, t, id)
	if err != nil {
		return err
	}
	return p.wait(ctx)
}

// Tick advances raft's clock by one tick (for ManualTicks) and returns
// once the node handled it.
func (n *Node) Tick() { _ = n.do(context.Background(), &request{kind: reqTick}) }

// campaign makes the node start an election now (tests).
func (n *Node) campaign() error { return n.do(context.Background(), &request{kind: reqCampaign}) }

// Err returns the failure that stopped the node (a write or fsync of its
// log that failed, a state machine that could not restore or snapshot), or
// nil while it runs or after a clean Close.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.err
}

// Close stops the loop, fails the proposals still waiting with ErrClosed
// and closes the log. It returns the failure that stopped the node, if one
// did; after the first call it returns the same.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { close(n.stopc) })
	<-n.donec
	return n.Err()
}

// pending is a proposal raft took: its outcome arrives on ch.
type pending struct {
	n   *Node
	seq uint64
	ch  chan error
}

// register makes a waiter for a new sequence number.
func (n *Node) register() (*pending, error) {
	p := &pending{n: n, seq: n.seq.Add(1), ch: make(chan error, 1)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.stopped {
		return nil, ErrClosed
	}
	n.mu.waiters[p.seq] = p.ch
	return p, nil
}

// forget drops the waiter of seq; false if it was already answered.
func (n *Node) forget(seq uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.mu.waiters[seq]
	delete(n.mu.waiters, seq)
	return ok
}

// answer hands err to the waiter of seq, if it still waits.
func (n *Node) answer(seq uint64, err error) {
	n.mu.Lock()
	ch, ok := n.mu.waiters[seq]
	delete(n.mu.waiters, seq)
	n.mu.Unlock()
	if ok {
		ch <- err
	}
}

func (n *Node) propose(ctx context.Context, data []byte) (*pending, error) {
	if len(data) > MaxProposalBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), MaxProposalBytes)
	}
	p, err := n.register()
	if err != nil {
		return nil, err
	}
	env := appendEnvelope(make([]byte, 0, len(data)+24), envelope{n.id, n.incarnation, p.seq}, data)
	if err := n.do(ctx, &request{kind: reqPropose, data: env, seq: p.seq}); err != nil {
		n.forget(p.seq)
		return nil, err
	}
	return p, nil
}

func (n *Node) proposeChange(ctx context.Context, t raftpb.ConfChangeType, id uint64) (*pending, error) {
	p, err := n.register()
	if err != nil {
		return nil, err
	}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: t.Enum(), NodeId: new(id)}},
		Context: appendEnvelope(nil, envelope{n.id, n.incarnation, p.seq}, nil),
	}
	if err := n.do(ctx, &request{kind: reqConfChange, cc: cc, seq: p.seq}); err != nil {
		n.forget(p.seq)
		return nil, err
	}
	return p, nil
}

// wait returns the outcome, or ErrOutcomeUnknown once ctx ends.
func (p *pending) wait(ctx context.Context) error {
	select {
	case err := <-p.ch:
		return err
	case <-ctx.Done():
		if p.n.forget(p.seq) {
			return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
		}
		return <-p.ch // answered meanwhile
	}
}

// result returns the outcome if there is one yet (tests).
func (p *pending) result() (done bool, err error) {
	select {
	case err := <-p.ch:
		p.ch <- err // keep it for later calls
		return true, err
	default:
		return false, nil
	}
}
