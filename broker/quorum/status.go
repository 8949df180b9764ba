package quorum

import (
	"maps"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
)

// Status is a node's view of the quorum, as of the end of its last loop
// iteration. It holds what Kafka's DescribeQuorum answers: the leader id,
// the leader epoch (Term), the high watermark (Commit) and, on the leader,
// each voter's log end offset (Match) and last fetch and caught-up times.
type Status struct {
	ID     uint64
	Leader uint64 // 0 if none is known
	Role   Role
	Term   uint64
	// Commit is the highest index known committed; Applied the highest
	// applied to the state machine here; LastIndex the last in the log
	// here; SnapshotIndex the index of the snapshot the log starts from.
	Commit, Applied, LastIndex, SnapshotIndex uint64
	// Voters and Learners are the configuration as of Applied, sorted.
	Voters, Learners []uint64
	// Peers is set on the leader only: every voter and learner, the leader
	// included.
	Peers map[uint64]PeerStatus
}

// PeerStatus is the leader's view of one member.
type PeerStatus struct {
	// Match is the last index known to be in the member's log.
	Match   uint64
	Learner bool
	// LastResponse is when the leader last heard from the member (Kafka's
	// last fetch timestamp); LastCaughtUp is when that message showed the
	// member's log matching the leader's whole log (Kafka's last caught-up
	// timestamp). Both are zero until then in this leader's term; for the
	// leader itself both are the time of the Status.
	LastResponse, LastCaughtUp time.Time
}

// Role is a node's raft state.
type Role string

// Roles.
const (
	RoleFollower     Role = "follower"
	RolePreCandidate Role = "pre-candidate"
	RoleCandidate    Role = "candidate"
	RoleLeader       Role = "leader"
)

func roleOf(s raft.StateType) Role {
	switch s {
	case raft.StateLeader:
		return RoleLeader
	case raft.StateCandidate:
		return RoleCandidate
	case raft.StatePreCandidate:
		return RolePreCandidate
	default:
		return RoleFollower
	}
}

// Status returns the node's view of the quorum.
func (n *Node) Status() Status {
	n.mu.Lock()
	s := n.mu.status
	n.mu.Unlock()
	s.Voters, s.Learners, s.Peers = slices.Clone(s.Voters), slices.Clone(s.Learners), maps.Clone(s.Peers)
	return s
}

// publishStatus refreshes what Status returns (the loop goroutine).
func (n *Node) publishStatus() {
	bs := n.rn.BasicStatus()
	last, _ := n.ms.LastIndex()
	s := Status{
		ID: n.id, Leader: bs.Lead, Role: roleOf(bs.RaftState), Term: bs.GetTerm(),
		Commit: bs.GetCommit(), Applied: n.applied, LastIndex: last, SnapshotIndex: n.snapIndex,
		Voters: slices.Clone(n.confState.GetVoters()), Learners: slices.Clone(n.confState.GetLearners()),
	}
	if bs.RaftState == raft.StateLeader {
		now := n.now()
		s.Peers = map[uint64]PeerStatus{}
		n.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
			p := PeerStatus{Match: pr.Match, Learner: typ == raft.ProgressTypeLearner, LastResponse: n.heard[id], LastCaughtUp: n.caughtUp[id]}
			if id == n.id {
				p.LastResponse, p.LastCaughtUp = now, now
			}
			s.Peers[id] = p
		})
	}
	n.mu.Lock()
	n.mu.status = s
	n.mu.Unlock()
}
