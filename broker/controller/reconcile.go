package controller

import (
	"slices"

	"github.com/sluicehq/sluice/broker/meta"
)

// View is what the active controller knows of the brokers beyond the
// metadata image.
type View struct {
	// Alive reports whether the active controller has heard from the
	// broker within broker.session.timeout.ms.
	Alive func(id int32) bool
	// CaughtUp reports whether the broker has applied the metadata log up
	// to its own registration, so it may be unfenced.
	CaughtUp func(id int32) bool
	// MinISR is a topic's min.insync.replicas.
	MinISR func(t *meta.Topic) int
	// NewClusterID makes a cluster id, for a quorum that has none.
	NewClusterID func() string
}

// Reconcile returns the records that bring the metadata in img in line
// with the brokers as v sees them, one record per change, in a stable
// order (each is proposed on its own, so one refused as stale does not
// hold back the others; the next round decides again on the newer image):
//
//   - the cluster id, if there is none;
//   - brokers unfenced once alive and caught up, fenced once not alive,
//     or once a controlled shutdown has moved all their leaderships away;
//   - every partition with a replica that may no longer lead (fenced or
//     shutting down) in its ISR or as its leader loses it there and, if it
//     was led by it, elects another (Leave); a leaderless partition elects
//     one as soon as a valid replica is back (Change, online election);
//   - a broker that registered after an unclean shutdown leaves every ELR
//     (KIP-966: its log may lack the tail it had acknowledged).
//
// The ISR's growth, and its shrinking for lagging followers, are the
// partition leaders' to propose, as Kafka's AlterPartition is.
func Reconcile(img *meta.Image, v View) []meta.Record {
	var out []meta.Record
	if img.ClusterID() == "" && v.NewClusterID != nil {
		out = append(out, meta.SetCluster{ID: v.NewClusterID()})
	}
	leads, inSync := map[int32]bool{}, map[int32]bool{}
	for _, t := range img.Topics() {
		for _, p := range t.Parts {
			leads[p.Leader] = true
			for _, r := range p.ISR {
				inSync[r] = true
			}
		}
	}
	fenced := map[int32]bool{}
	for _, b := range img.Brokers() {
		alive := v.Alive(b.NodeID)
		switch {
		case b.ShuttingDown && !b.Fenced && !leads[b.NodeID]:
			// Its controlled shutdown is done: it leaves Metadata now,
			// as Kafka's controller fences it, so clients stop using it.
			out = append(out, meta.BrokerState{NodeID: b.NodeID, Fenced: true, ShuttingDown: true})
			fenced[b.NodeID] = true
		case b.Fenced && alive && !b.ShuttingDown && v.CaughtUp(b.NodeID) && !(b.UncleanShutdown && (leads[b.NodeID] || inSync[b.NodeID])):
			// (A broker back from an unclean shutdown first leaves every
			// ISR and leadership, as fenced, even when it returned within
			// its session: its log may have lost a tail, and it must not
			// go on leading in the same leader epoch.)
			out = append(out, meta.BrokerState{NodeID: b.NodeID})
		case !b.Fenced && !alive:
			out = append(out, meta.BrokerState{NodeID: b.NodeID, Fenced: true})
			fenced[b.NodeID] = true
		case b.Fenced:
			fenced[b.NodeID] = true
		}
		if b.ShuttingDown {
			fenced[b.NodeID] = true
		}
	}
	live := func(id int32) bool {
		_, ok := img.Broker(id)
		return ok && !fenced[id]
	}
	unclean := func(id int32) bool {
		b, ok := img.Broker(id)
		return ok && b.UncleanShutdown
	}
	for _, t := range img.Topics() {
		if len(t.Parts) == 0 {
			continue
		}
		c := Cluster{Live: live, UncleanShutdown: unclean, MinISR: v.MinISR(t)}
		for i, ps := range t.Parts {
			p := FromState(ps)
			var isr []int32
			if slices.ContainsFunc(p.ISR, func(r int32) bool { return !live(r) }) {
				isr = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !live(r) })
				if isr == nil {
					isr = []int32{}
				}
			} else if p.Leader != NoLeader && live(p.Leader) && !slices.ContainsFunc(p.ELR, unclean) {
				continue
			}
			if next, o := Change(p, isr, ElectOnline, c); o != Unchanged {
				out = append(out, meta.PartitionChange{ID: t.ID, Partition: int32(i), State: ToState(next)})
			}
		}
	}
	for _, t := range img.Topics() {
		for i, ps := range t.Parts {
			if next, ok := CompleteReassignment(ps, Cluster{Live: live, UncleanShutdown: unclean, MinISR: v.MinISR(t)}); ok {
				out = append(out, meta.PartitionChange{ID: t.ID, Partition: int32(i), State: next})
			}
		}
	}
	return out
}

// CompleteReassignment finishes a partition's reassignment once every
// target replica is in the ISR: the replicas become the target, the ISR
// and ELR lose the replicas leaving, and a leader leaving hands over to
// an in-sync target replica (a new leader epoch). ok is false while the
// reassignment must wait, or when there is none.
func CompleteReassignment(ps meta.PartitionState, c Cluster) (meta.PartitionState, bool) {
	if len(ps.Adding) == 0 && len(ps.Removing) == 0 {
		return ps, false
	}
	target := ps.Target()
	for _, r := range target {
		if !slices.Contains(ps.ISR, r) {
			return ps, false
		}
	}
	keep := func(set []int32) []int32 {
		out := slices.DeleteFunc(slices.Clone(set), func(r int32) bool { return !slices.Contains(target, r) })
		if out == nil {
			out = []int32{}
		}
		return out
	}
	p := FromState(ps)
	p.Replicas, p.ELR, p.Adding, p.Removing = target, keep(p.ELR), nil, nil
	next, o := Change(p, keep(p.ISR), ElectOnline, c)
	if o == Unchanged {
		next.PartitionEpoch++
	}
	if next.Leader == NoLeader {
		return ps, false // nobody in the target can lead: wait
	}
	return ToState(next), true
}

// Reassign is what a partition becomes when its replicas are to move to
// target (AlterPartitionReassignments): the target first, then the
// replicas leaving, with Adding and Removing set; the ISR and leader stay
// until Reconcile completes it. A target equal to where the partition
// already is (counting a reassignment in progress from its start) cancels
// the one in progress. changed is false when there is nothing to do.
func Reassign(ps meta.PartitionState, target []int32) (next meta.PartitionState, changed bool) {
	orig := slices.DeleteFunc(slices.Clone(ps.Replicas), func(r int32) bool { return slices.Contains(ps.Adding, r) })
	next = ps.Clone()
	next.Adding, next.Removing = nil, nil
	for _, r := range target {
		if !slices.Contains(orig, r) {
			next.Adding = append(next.Adding, r)
		}
	}
	for _, r := range orig {
		if !slices.Contains(target, r) {
			next.Removing = append(next.Removing, r)
		}
	}
	next.Replicas = append(slices.Clone(target), next.Removing...)
	if len(next.Adding) == 0 && len(next.Removing) == 0 {
		next.Replicas = orig
		keep := func(set []int32) []int32 {
			out := slices.DeleteFunc(slices.Clone(set), func(r int32) bool { return !slices.Contains(orig, r) })
			if out == nil {
				out = []int32{}
			}
			return out
		}
		next.ISR, next.ELR = keep(ps.ISR), keep(ps.ELR)
	}
	if slices.Equal(next.Replicas, ps.Replicas) && slices.Equal(next.Adding, ps.Adding) && slices.Equal(next.Removing, ps.Removing) {
		return ps, false
	}
	next.PartitionEpoch++
	return next, true
}

// FromState converts the metadata's partition state to the controller's.
func FromState(s meta.PartitionState) Partition {
	return Partition{Replicas: s.Replicas, ISR: s.ISR, ELR: s.ELR, LastKnownELR: s.LastKnownELR, Leader: s.Leader,
		LeaderEpoch: s.LeaderEpoch, PartitionEpoch: s.PartitionEpoch, Recovering: s.Recovering, Adding: s.Adding, Removing: s.Removing}.Clone()
}

// ToState converts a controller partition to the metadata's state.
func ToState(p Partition) meta.PartitionState {
	return meta.PartitionState{Replicas: p.Replicas, ISR: p.ISR, ELR: p.ELR, LastKnownELR: p.LastKnownELR, Leader: p.Leader,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, Recovering: p.Recovering, Adding: p.Adding, Removing: p.Removing}.Clone()
}

// Assign places a new topic's partitions over the brokers in img that may
// take replicas (registered, unfenced, not shutting down), Kafka's way
// (Place), and returns their initial states: every replica in the ISR and
// the first one leading. start rotates where placement begins.
func Assign(img *meta.Image, partitions, replicationFactor, start int) ([]meta.PartitionState, error) {
	var brokers []Broker
	for _, b := range img.Brokers() {
		brokers = append(brokers, Broker{ID: b.NodeID, Rack: b.Rack, Fenced: b.Fenced || b.ShuttingDown})
	}
	placed, err := Place(brokers, partitions, replicationFactor, start)
	if err != nil {
		return nil, err
	}
	out := make([]meta.PartitionState, len(placed))
	for i, r := range placed {
		out[i] = meta.PartitionState{Replicas: r, ISR: slices.Clone(r), Leader: r[0]}
	}
	return out, nil
}
