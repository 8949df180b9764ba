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
	return out
}

// FromState converts the metadata's partition state to the controller's.
func FromState(s meta.PartitionState) Partition {
	return Partition{Replicas: s.Replicas, ISR: s.ISR, ELR: s.ELR, LastKnownELR: s.LastKnownELR, Leader: s.Leader,
		LeaderEpoch: s.LeaderEpoch, PartitionEpoch: s.PartitionEpoch, Recovering: s.Recovering}.Clone()
}

// ToState converts a controller partition to the metadata's state.
func ToState(p Partition) meta.PartitionState {
	return meta.PartitionState{Replicas: p.Replicas, ISR: p.ISR, ELR: p.ELR, LastKnownELR: p.LastKnownELR, Leader: p.Leader,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, Recovering: p.Recovering}.Clone()
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
