package quorum

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// maxBatch bounds the requests one loop iteration takes before it handles
// the Ready they caused (they then share one fsync).
const maxBatch = 256

// run is the raft loop: the only goroutine that touches the RawNode, the
// log and the state machine.
func (n *Node) run(tick time.Duration) {
	var tickc <-chan time.Time
	if tick > 0 {
		t := time.NewTicker(tick)
		defer t.Stop()
		tickc = t.C
	}
	var err error
	defer func() { n.shutdown(err) }()
	for {
		if err = n.processReady(); err != nil {
			return
		}
		// Status first, then the outcomes: whoever a Propose or a Step
		// returns to sees its effect in Status.
		n.publishStatus()
		n.flushOutcomes()
		for _, r := range n.batch {
			r.done <- r.err
		}
		n.batch = n.batch[:0]
		select {
		case <-n.stopc:
			return
		case <-tickc:
			n.rn.Tick()
		case r := <-n.reqc:
			if err = n.handle(r); err != nil {
				return
			}
			for more := true; more && len(n.batch) < maxBatch; {
				select {
				case r := <-n.reqc:
					if err = n.handle(r); err != nil {
						return
					}
				default:
					more = false
				}
			}
		}
	}
}

// shutdown ends the loop: it closes the log and the lock, and answers
// every request and proposal still waiting.
func (n *Node) shutdown(err error) {
	if err != nil {
		n.logger.Error("quorum: raft node stopped", "err", err)
	}
	if cerr := n.wal.close(); cerr != nil && err == nil {
		err = fmt.Errorf("quorum: close the raft log: %w", cerr)
	}
	_ = n.lock.Close()
	n.flushOutcomes() // what was applied before the failure stands
	n.mu.Lock()
	n.mu.err, n.mu.stopped = err, true
	waiters := n.mu.waiters
	n.mu.waiters = nil
	n.mu.Unlock()
	closed := n.closedErr()
	for _, r := range n.batch {
		r.done <- closed
	}
	n.batch = nil
	for _, ch := range waiters {
		ch <- closed
	}
	close(n.donec)
}

// outcome records the result for the waiter of seq, handed over at the
// end of the loop iteration.
func (n *Node) outcome(seq uint64, err error) {
	n.outcomes = append(n.outcomes, outcome{seq, err})
}

func (n *Node) flushOutcomes() {
	for _, o := range n.outcomes {
		n.answer(o.seq, o.err)
	}
	n.outcomes = n.outcomes[:0]
}

// handle steps one request into raft. Its outcome is r.err; an error
// returned stops the node.
func (n *Node) handle(r *request) error {
	n.batch = append(n.batch, r)
	switch r.kind {
	case reqTick:
		n.rn.Tick()
	case reqCampaign:
		r.err = n.rn.Campaign()
	case reqStep:
		r.err = n.rn.Step(r.msg)
		if from := r.msg.GetFrom(); n.leading && from != n.id {
			n.noteHeard(from)
		}
	case reqPropose:
		if n.rn.BasicStatus().Lead == raft.None {
			r.err = ErrNoLeader
			return nil
		}
		r.err = dropped(n.rn.Propose(r.data))
	case reqConfChange:
		st := n.rn.BasicStatus()
		if st.Lead == raft.None {
			r.err = ErrNoLeader
			return nil
		}
		if r.err = checkChange(n.confState, r.cc, false); r.err != nil {
			return nil
		}
		leader := st.RaftState == raft.StateLeader
		if leader {
			// Persist what earlier requests appended, so that raft's last
			// index is the storage's and the change's index is known:
			// raft replaces a change it refuses with an empty entry
			// there, which noteAppended turns into an error.
			if err := n.processReady(); err != nil {
				return err
			}
		}
		at, _ := n.ms.LastIndex()
		if r.err = dropped(n.rn.ProposeConfChange(r.cc)); r.err == nil && leader {
			n.ccLocal[at+1] = r.seq
		}
	}
	return nil
}

func dropped(err error) error {
	if errors.Is(err, raft.ErrProposalDropped) {
		return fmt.Errorf("%w (%w)", ErrDropped, err)
	}
	return err
}

// processReady handles Ready structs until raft has none.
func (n *Node) processReady() error {
	for n.rn.HasReady() {
		if err := n.handleReady(); err != nil {
			return err
		}
	}
	return nil
}

// handleReady does one Ready in the order etcd raft requires: persist the
// snapshot, entries and hard state (fsynced), then send the messages, then
// apply the snapshot and the committed entries, then Advance.
func (n *Node) handleReady() error {
	rd := n.rn.Ready()
	if rd.SoftState != nil {
		n.softStateChanged(rd.SoftState)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(rd); err != nil {
			return err
		}
	} else {
		if err := n.wal.save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
			return err
		}
		if err := n.ms.Append(rd.Entries); err != nil {
			return fmt.Errorf("quorum: append to memory storage: %w", err)
		}
		if rd.HardState != nil {
			n.hs = rd.HardState
			_ = n.ms.SetHardState(rd.HardState)
		}
	}
	n.noteAppended(rd.Entries)

	var snapsTo []uint64
	if len(rd.Messages) > 0 {
		n.tr.Send(rd.Messages)
		for _, m := range rd.Messages {
			if m.GetType() == raftpb.MsgSnap {
				snapsTo = append(snapsTo, m.GetTo())
			}
		}
	}

	if !raft.IsEmptySnap(rd.Snapshot) {
		md := rd.Snapshot.GetMetadata()
		if err := n.sm.Restore(md.GetIndex(), rd.Snapshot.GetData()); err != nil {
			return fmt.Errorf("quorum: restore the state machine from the leader's snapshot at %d: %w", md.GetIndex(), err)
		}
		n.confState = proto.Clone(md.GetConfState()).(*raftpb.ConfState)
		n.applied, n.snapIndex = md.GetIndex(), md.GetIndex()
		n.logger.Info("quorum: restored from the leader's snapshot", "index", md.GetIndex(), "term", md.GetTerm())
	}
	for _, e := range rd.CommittedEntries {
		if err := n.apply(e); err != nil {
			return err
		}
	}
	if err := n.maybeSnapshot(); err != nil {
		return err
	}
	n.rn.Advance(rd)
	// The transport does not tell whether a snapshot arrived: report it
	// sent. If it was lost the follower rejects the next append, and the
	// leader sends a new one.
	for _, to := range snapsTo {
		n.rn.ReportSnapshot(to, raft.SnapshotFinish)
	}
	return nil
}

// installSnapshot persists a snapshot from the leader: its own file, then
// a rewritten log that starts from it (the old log is replaced whole).
func (n *Node) installSnapshot(rd raft.Ready) error {
	if err := writeSnapshot(n.fs, n.dir, rd.Snapshot); err != nil {
		return err
	}
	if err := n.ms.ApplySnapshot(rd.Snapshot); err != nil {
		return fmt.Errorf("quorum: apply snapshot to memory storage: %w", err)
	}
	if err := n.ms.Append(rd.Entries); err != nil {
		return fmt.Errorf("quorum: append to memory storage: %w", err)
	}
	if rd.HardState != nil {
		n.hs = rd.HardState
		_ = n.ms.SetHardState(rd.HardState)
	}
	md := rd.Snapshot.GetMetadata()
	if err := n.wal.rewrite(md, n.hs, n.storedEntries()); err != nil {
		return err
	}
	return removeStale(n.fs, n.dir, md.GetIndex())
}

// storedEntries returns the entries in memory storage (after its snapshot).
func (n *Node) storedEntries() []*raftpb.Entry {
	first, _ := n.ms.FirstIndex()
	last, _ := n.ms.LastIndex()
	if last < first {
		return nil
	}
	ents, err := n.ms.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		panic(fmt.Sprintf("quorum: memory storage lost entries %d-%d: %v", first, last, err))
	}
	return ents
}

// apply applies one committed entry.
func (n *Node) apply(e *raftpb.Entry) error {
	if e.GetIndex() <= n.applied {
		return nil
	}
	switch e.GetType() {
	case raftpb.EntryNormal:
		if len(e.GetData()) == 0 {
			break // a new leader's empty entry, or a refused membership change
		}
		env, data, err := decodeEnvelope(e.GetData())
		if err != nil {
			return fmt.Errorf("quorum: committed entry %d: %w", e.GetIndex(), err)
		}
		aerr := n.sm.Apply(e.GetIndex(), data)
		if env.node == n.id && env.incarnation == n.incarnation {
			n.outcome(env.seq, aerr)
		}
	case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
		if err := n.applyConfChange(e); err != nil {
			return err
		}
	}
	n.applied = e.GetIndex()
	return nil
}

// decodeConfChange decodes a membership change entry.
func decodeConfChange(e *raftpb.Entry) (raftpb.ConfChangeI, error) {
	var cc interface {
		raftpb.ConfChangeI
		proto.Message
	} = &raftpb.ConfChangeV2{}
	if e.GetType() == raftpb.EntryConfChange {
		cc = &raftpb.ConfChange{}
	}
	if err := proto.Unmarshal(e.GetData(), cc); err != nil {
		return nil, fmt.Errorf("quorum: membership change entry %d: %w", e.GetIndex(), err)
	}
	return cc, nil
}

// applyConfChange applies a membership change if checkChange allows it
// (the same decision on every node) and answers its local proposer.
func (n *Node) applyConfChange(e *raftpb.Entry) error {
	cc, err := decodeConfChange(e)
	if err != nil {
		return err
	}
	v2 := cc.AsV2()
	cerr := checkChange(n.confState, v2, e.GetType() == raftpb.EntryConfChange)
	if cerr == nil {
		if n.snapIndex > 0 && addsMember(n.confState, v2) {
			// The newcomer will need a snapshot (the log before the last
			// one is gone), and raft refuses one whose configuration
			// does not name it: take one that does, now.
			n.snapNow = true
		}
		n.confState = n.rn.ApplyConfChange(cc)
		n.logger.Info("quorum: membership changed", "index", e.GetIndex(), "voters", n.confState.GetVoters(), "learners", n.confState.GetLearners())
	} else {
		n.logger.Warn("quorum: membership change refused", "index", e.GetIndex(), "err", cerr)
	}
	if env, _, err := decodeEnvelope(v2.GetContext()); err == nil && env.node == n.id && env.incarnation == n.incarnation {
		n.outcome(env.seq, cerr)
	}
	return nil
}

// noteAppended checks the entries at the indexes where this leader put
// its own membership changes: raft replaces a change it refuses (another
// one is not applied yet) with an empty entry.
func (n *Node) noteAppended(ents []*raftpb.Entry) {
	if len(n.ccLocal) == 0 {
		return
	}
	for _, e := range ents {
		seq, ok := n.ccLocal[e.GetIndex()]
		if !ok {
			continue
		}
		delete(n.ccLocal, e.GetIndex())
		if e.GetType() == raftpb.EntryConfChangeV2 {
			if cc, err := decodeConfChange(e); err == nil {
				if env, _, err := decodeEnvelope(cc.AsV2().GetContext()); err == nil && env.seq == seq && env.incarnation == n.incarnation {
					continue // in the log: answered once applied
				}
			}
		}
		n.outcome(seq, ErrConfChangeInProgress)
	}
}

// maybeSnapshot takes a snapshot of the state machine once SnapshotEntries
// entries were applied since the last one, or a member was added to a
// compacted log (see applyConfChange): the snapshot file first, then
// the log rewritten to start from it (so a crash between the two leaves
// the old log, and a snapshot file it does not name, which Start removes).
func (n *Node) maybeSnapshot() error {
	if n.applied <= n.snapIndex || (n.applied-n.snapIndex < n.snapEvery && !n.snapNow) {
		return nil
	}
	n.snapNow = false
	data, err := n.sm.Snapshot()
	if err != nil {
		return fmt.Errorf("quorum: snapshot the state machine at %d: %w", n.applied, err)
	}
	snap, err := n.ms.CreateSnapshot(n.applied, n.confState, data)
	if err != nil {
		return fmt.Errorf("quorum: create snapshot at %d: %w", n.applied, err)
	}
	if err := writeSnapshot(n.fs, n.dir, snap); err != nil {
		return err
	}
	if err := n.ms.Compact(n.applied); err != nil {
		return fmt.Errorf("quorum: compact memory storage to %d: %w", n.applied, err)
	}
	if err := n.wal.rewrite(snap.GetMetadata(), n.hs, n.storedEntries()); err != nil {
		return err
	}
	if err := removeStale(n.fs, n.dir, n.applied); err != nil {
		return err
	}
	n.logger.Info("quorum: took a snapshot and compacted the log", "index", n.applied, "bytes", len(data))
	n.snapIndex = n.applied
	return nil
}

func (n *Node) softStateChanged(ss *raft.SoftState) {
	leading := ss.RaftState == raft.StateLeader
	if leading && !n.leading {
		clear(n.heard)
		clear(n.caughtUp)
	}
	if !leading {
		clear(n.ccLocal) // their waiters learn the outcome if the entries apply
	}
	n.leading = leading
}

// noteHeard records, on the leader, a message from peer from and whether
// its log now matches the leader's.
func (n *Node) noteHeard(from uint64) {
	now := n.now()
	n.heard[from] = now
	last, _ := n.ms.LastIndex()
	n.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id == from && pr.Match >= last {
			n.caughtUp[from] = now
		}
	})
}

// addsMember reports whether cc brings a node that is neither a voter nor
// a learner in cs.
func addsMember(cs *raftpb.ConfState, cc *raftpb.ConfChangeV2) bool {
	for _, c := range cc.GetChanges() {
		id := c.GetNodeId()
		if t := c.GetType(); (t == raftpb.ConfChangeAddNode || t == raftpb.ConfChangeAddLearnerNode) &&
			!slices.Contains(cs.GetVoters(), id) && !slices.Contains(cs.GetLearners(), id) {
			return true
		}
	}
	return false
}
