package controller

import (
	"slices"
)

// NoLeader is the leader of a partition with none (Kafka's -1).
const NoLeader int32 = -1

// Partition is one partition's replication state as the metadata holds it.
type Partition struct {
	// Replicas is the assignment, the preferred leader first.
	Replicas []int32
	// ISR is the in-sync replicas; ELR the eligible leader replicas
	// (KIP-966): replicas out of the ISR that still hold every record the
	// high watermark covered when the ISR fell below min.insync.replicas.
	ISR, ELR []int32
	// LastKnownELR is what the ELR was before it emptied (for operators:
	// the replicas an unclean recovery should look at first).
	LastKnownELR []int32
	Leader       int32
	// LeaderEpoch rises with every leader change; PartitionEpoch with
	// every change at all.
	LeaderEpoch, PartitionEpoch int32
	// Recovering is set by an unclean election until the new leader has
	// recovered its log (Kafka's LeaderRecoveryState RECOVERING).
	Recovering bool
	// Adding and Removing are a reassignment in progress; Change keeps
	// them as they are.
	Adding, Removing []int32
}

// Clone returns a deep copy of p.
func (p Partition) Clone() Partition {
	p.Replicas, p.ISR, p.ELR, p.LastKnownELR = slices.Clone(p.Replicas), slices.Clone(p.ISR), slices.Clone(p.ELR), slices.Clone(p.LastKnownELR)
	p.Adding, p.Removing = slices.Clone(p.Adding), slices.Clone(p.Removing)
	return p
}

// Election is how a leader may be chosen.
type Election uint8

const (
	// ElectOnline keeps a valid leader, else takes the first live replica
	// in assignment order from the ISR, or from the ELR when the ISR is
	// empty. It never loses an acknowledged record.
	ElectOnline Election = iota
	// ElectPreferred is ElectOnline that moves leadership to the preferred
	// (first) replica when it is valid (ElectLeaders, PREFERRED).
	ElectPreferred
	// ElectUnclean is ElectOnline that, with no valid candidate, takes any
	// live replica and resets the ISR to it: records it lacks are lost
	// (unclean.leader.election.enable=true, or ElectLeaders UNCLEAN).
	ElectUnclean
)

// String names the election as ElectLeaders does.
func (e Election) String() string {
	switch e {
	case ElectPreferred:
		return "preferred"
	case ElectUnclean:
		return "unclean"
	}
	return "online"
}

// Cluster is what a change is decided against.
type Cluster struct {
	// Live reports whether a broker may lead: registered, not fenced, not
	// shutting down.
	Live func(id int32) bool
	// UncleanShutdown reports whether a broker came back from an unclean
	// shutdown since it was last in the ISR: its log may have lost a tail
	// it had acknowledged, so it is not eligible (KIP-966).
	UncleanShutdown func(id int32) bool
	// MinISR is the topic's min.insync.replicas.
	MinISR int
}

func (c Cluster) live(id int32) bool { return c.Live == nil || c.Live(id) }

func (c Cluster) unclean(id int32) bool { return c.UncleanShutdown != nil && c.UncleanShutdown(id) }

// Outcome says what a change did to the leadership.
type Outcome uint8

const (
	// Unchanged: no field changed.
	Unchanged Outcome = iota
	// Kept: the leader stayed; the ISR or ELR changed.
	Kept
	// Clean: a new leader from the ISR, or from the ELR with an empty ISR.
	Clean
	// Unclean: a new leader that may lack acknowledged records.
	Unclean
	// Leaderless: no replica can lead; the partition is offline.
	Leaderless
)

// String names the outcome for logs and scripts.
func (o Outcome) String() string {
	return [...]string{"unchanged", "kept", "clean", "unclean", "leaderless"}[o]
}

// Change returns what p becomes when its ISR is set to isr (nil: kept as
// it is) and a leader is chosen by election against c, following Kafka's
// PartitionChangeBuilder with eligible leader replicas on:
//
//   - With the ISR at or above c.MinISR the ELR is cleared. Below it, the
//     replicas leaving the ISR (and the ELR so far) that did not shut down
//     uncleanly join the ELR: with a strict min ISR the high watermark
//     could not pass them, so they hold every acknowledged record.
//   - A valid leader is a live replica in the ISR, or in the ELR when the
//     ISR is empty. The current leader is kept while valid (except that a
//     preferred election moves to a valid preferred replica); else the
//     first valid replica in assignment order leads. A leader taken from
//     the ELR becomes the whole ISR and leaves the ELR.
//   - With no valid replica, an unclean election takes the first live
//     replica and resets the ISR to it (Recovering set, ELR cleared);
//     otherwise the partition is left leaderless, keeping what the ISR and
//     ELR were so that a returning member can lead again.
//
// The leader epoch rises when the leader changes; the partition epoch
// when anything does.
func Change(p Partition, isr []int32, election Election, c Cluster) (Partition, Outcome) {
	next := p.Clone()
	if isr != nil {
		next.ISR = slices.Clone(isr)
	}
	// The ELR, from the ISR before and after.
	if len(next.ISR) >= c.MinISR {
		next.ELR, next.LastKnownELR = nil, nil
	} else {
		var elr []int32
		for _, r := range append(slices.Clone(p.ISR), p.ELR...) {
			if !slices.Contains(next.ISR, r) && !slices.Contains(elr, r) && !c.unclean(r) {
				elr = append(elr, r)
			}
		}
		next.ELR = sortedLike(elr, next.Replicas)
	}
	valid := func(r int32) bool {
		return r != NoLeader && c.live(r) && (slices.Contains(next.ISR, r) || len(next.ISR) == 0 && slices.Contains(next.ELR, r))
	}
	leader, unclean := NoLeader, false
	switch {
	case election == ElectPreferred && len(next.Replicas) > 0 && valid(next.Replicas[0]):
		leader = next.Replicas[0]
	case valid(p.Leader):
		leader = p.Leader
	default:
		for _, r := range next.Replicas {
			if valid(r) {
				leader = r
				break
			}
		}
		if leader == NoLeader && election == ElectUnclean {
			for _, r := range next.Replicas {
				if c.live(r) {
					leader, unclean = r, true
					break
				}
			}
		}
	}
	switch {
	case unclean:
		next.ISR, next.ELR, next.LastKnownELR, next.Recovering = []int32{leader}, nil, nil, true
	case leader != NoLeader && slices.Contains(next.ELR, leader):
		next.ISR = []int32{leader}
		next.ELR = slices.DeleteFunc(next.ELR, func(r int32) bool { return r == leader })
	}
	if len(next.ELR) > 0 {
		next.LastKnownELR = nil
	} else if len(p.ELR) > 0 && leader == NoLeader {
		next.LastKnownELR = slices.Clone(p.ELR)
	}
	next.Leader = leader
	if leader != p.Leader {
		next.LeaderEpoch++
	}
	if equal(p, next) {
		return p, Unchanged
	}
	next.PartitionEpoch++
	switch {
	case leader == NoLeader:
		return next, Leaderless
	case unclean:
		return next, Unclean
	case leader != p.Leader:
		return next, Clean
	}
	return next, Kept
}

// sortedLike orders ids as they appear in order (ids not in it last).
func sortedLike(ids, order []int32) []int32 {
	slices.SortStableFunc(ids, func(a, b int32) int {
		ia, ib := slices.Index(order, a), slices.Index(order, b)
		if ia < 0 {
			ia = len(order)
		}
		if ib < 0 {
			ib = len(order)
		}
		return ia - ib
	})
	return ids
}

func equal(a, b Partition) bool {
	return slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) && slices.Equal(a.ELR, b.ELR) &&
		slices.Equal(a.LastKnownELR, b.LastKnownELR) && a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch &&
		a.Recovering == b.Recovering
}
