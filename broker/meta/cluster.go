package meta

import (
	"maps"
	"slices"
)

// The cluster's records: the cluster id, where each partition's replicas
// are and who leads them (PartitionChange, and the Parts of CreateTopic and
// CreatePartitions), and each broker's fencing (BrokerState). A single
// node writes none of them: its topics have no Parts and it leads them all.

// NoLeader is a partition's Leader when it has none (Kafka's -1).
const NoLeader int32 = -1

// PartitionState is one partition's replication state: Kafka's
// PartitionRecord and what PartitionChangeRecord changes.
type PartitionState struct {
	// Replicas is the assignment, the preferred leader first.
	Replicas []int32 `json:"replicas"`
	// ISR is the in-sync replicas, ELR the eligible leader replicas
	// (KIP-966), LastKnownELR what the ELR was before it emptied.
	ISR          []int32 `json:"isr"`
	ELR          []int32 `json:"elr,omitempty"`
	LastKnownELR []int32 `json:"last_known_elr,omitempty"`
	Leader       int32   `json:"leader"`
	// LeaderEpoch rises with every leader change, PartitionEpoch with
	// every change at all.
	LeaderEpoch    int32 `json:"leader_epoch"`
	PartitionEpoch int32 `json:"partition_epoch"`
	// Recovering is set by an unclean election until the leader has
	// recovered its log (Kafka's LeaderRecoveryState RECOVERING).
	Recovering bool `json:"recovering,omitempty"`
	// Adding and Removing are a reassignment in progress (Kafka's
	// addingReplicas and removingReplicas): Replicas holds both the
	// target and the replicas leaving; it completes once every target
	// replica is in the ISR.
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
}

// Clone returns a deep copy of p.
func (p PartitionState) Clone() PartitionState {
	p.Replicas, p.ISR, p.ELR, p.LastKnownELR = slices.Clone(p.Replicas), slices.Clone(p.ISR), slices.Clone(p.ELR), slices.Clone(p.LastKnownELR)
	p.Adding, p.Removing = slices.Clone(p.Adding), slices.Clone(p.Removing)
	return p
}

// Target is where the partition's replicas go: Replicas less Removing.
func (p PartitionState) Target() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Removing, r) })
}

// Hosts reports whether broker id holds a replica of the partition.
func (p PartitionState) Hosts(id int32) bool { return slices.Contains(p.Replicas, id) }

// PartitionChange replaces a partition's replicas, ISR, ELR, leader and
// recovery state with State's. State.PartitionEpoch must be exactly one
// more than the current one (a change decided on stale state is refused,
// as Kafka's AlterPartition is), and State.LeaderEpoch must be the current
// one, or one more when the leader changes.
type PartitionChange struct {
	ID        TopicID        `json:"id"`
	Partition int32          `json:"partition"`
	State     PartitionState `json:"state"`
}

// Type implements Record.
func (PartitionChange) Type() RecordType { return TypePartitionChange }

// SetCluster records the cluster id; the first one applied stays.
type SetCluster struct {
	ID string `json:"id"`
}

// Type implements Record.
func (SetCluster) Type() RecordType { return TypeSetCluster }

// BrokerState fences or unfences a registered broker, or marks it
// shutting down (Kafka's FenceBrokerRecord, UnfenceBrokerRecord and
// controlled shutdown). A fenced broker leads nothing and is not listed
// in Metadata.
type BrokerState struct {
	NodeID       int32 `json:"node_id"`
	Fenced       bool  `json:"fenced,omitempty"`
	ShuttingDown bool  `json:"shutting_down,omitempty"`
}

// Type implements Record.
func (BrokerState) Type() RecordType { return TypeBrokerState }

// ProducerIDs gives broker NodeID the next Count producer ids (Kafka's
// ProducerIdsRecord): every broker of a cluster hands out ids from blocks
// the quorum gave it alone, so no two producers share one.
// Start, when set (a snapshot), places the block there instead of at the
// next free id; it may not overlap any id given before.
type ProducerIDs struct {
	NodeID int32 `json:"node_id"`
	Count  int64 `json:"count"`
	Start  int64 `json:"start,omitempty"`
}

// Type implements Record.
func (ProducerIDs) Type() RecordType { return TypeProducerIDs }

// ProducerIDBlock is the last block of producer ids given to nodeID:
// [start, end); ok is false if none was.
func (img *Image) ProducerIDBlock(nodeID int32) (start, end int64, ok bool) {
	b, ok := img.pidBlocks[nodeID]
	return b[0], b[1], ok
}

// NextProducerID is the first producer id no block holds yet.
func (img *Image) NextProducerID() int64 { return img.nextPID }

func applyProducerIDs(img *Image, r ProducerIDs) (*Image, error) {
	start := img.nextPID
	switch {
	case r.Count <= 0 || r.Count > 1<<20 || r.NodeID < 0:
		return nil, invalid(ErrInvalidRecord, "producer id block of %d ids for broker %d", r.Count, r.NodeID)
	case r.Start != 0 && r.Start < img.nextPID:
		return nil, invalid(ErrInvalidRecord, "producer id block at %d overlaps ids already given (up to %d)", r.Start, img.nextPID)
	case r.Start != 0:
		start = r.Start
	}
	next := img.clone()
	next.pidBlocks = maps.Clone(img.pidBlocks)
	if next.pidBlocks == nil {
		next.pidBlocks = map[int32][2]int64{}
	}
	next.pidBlocks[r.NodeID] = [2]int64{start, start + r.Count}
	next.nextPID = start + r.Count
	return next, nil
}

// ClusterID is the id SetCluster recorded, "" for none (a single node
// keeps its id in its data dir instead).
func (img *Image) ClusterID() string { return img.clusterID }

// validatePartitionState checks a state's shape against a topic's
// replication factor and the registered brokers.
func validatePartitionState(img *Image, topic string, p int32, rf int16, s PartitionState) error {
	switch {
	case len(s.Replicas) != int(rf):
		return invalid(ErrInvalidReplicationFactor, "topic %q partition %d: %d replicas for replication factor %d", topic, p, len(s.Replicas), rf)
	case s.LeaderEpoch < 0 || s.PartitionEpoch < 0:
		return invalid(ErrInvalidRecord, "topic %q partition %d: negative epoch", topic, p)
	}
	seen := map[int32]bool{}
	for _, id := range s.Replicas {
		if _, ok := img.brokers[id]; !ok {
			return invalid(ErrInvalidReplicationFactor, "topic %q partition %d: replica %d is not a registered broker", topic, p, id)
		}
		if seen[id] {
			return invalid(ErrInvalidRecord, "topic %q partition %d: replica %d listed twice", topic, p, id)
		}
		seen[id] = true
	}
	for _, id := range s.Adding {
		if slices.Contains(s.Removing, id) {
			return invalid(ErrInvalidRecord, "topic %q partition %d: %d is both added and removed", topic, p, id)
		}
	}
	for _, set := range [][]int32{s.ISR, s.ELR, s.Adding, s.Removing} {
		for _, id := range set {
			if !seen[id] {
				return invalid(ErrInvalidRecord, "topic %q partition %d: %d is in the ISR, ELR or a reassignment but not a replica", topic, p, id)
			}
		}
	}
	for _, id := range s.ELR {
		if slices.Contains(s.ISR, id) {
			return invalid(ErrInvalidRecord, "topic %q partition %d: %d is in both the ISR and the ELR", topic, p, id)
		}
	}
	if s.Leader != NoLeader && !slices.Contains(s.ISR, s.Leader) {
		return invalid(ErrInvalidRecord, "topic %q partition %d: leader %d is not in the ISR %v", topic, p, s.Leader, s.ISR)
	}
	return nil
}

// validateParts checks the Parts of a CreateTopic or CreatePartitions:
// none (a single node's topic) or one state per partition, all or none.
func validateParts(img *Image, topic string, first int32, want int32, rf int16, parts []PartitionState, had bool) error {
	switch {
	case len(parts) == 0 && !had:
		return nil
	case int32(len(parts)) != want:
		return invalid(ErrInvalidRecord, "topic %q: %d partition states for %d partitions", topic, len(parts), want)
	}
	for i, s := range parts {
		if err := validatePartitionState(img, topic, first+int32(i), rf, s); err != nil {
			return err
		}
	}
	return nil
}

func applyPartitionChange(img *Image, r PartitionChange) (*Image, error) {
	t, err := lookupID(img, r.ID)
	if err != nil {
		return nil, err
	}
	if r.Partition < 0 || int(r.Partition) >= len(t.Parts) {
		return nil, invalid(ErrUnknownTopic, "topic %q has no replicated partition %d", t.Name, r.Partition)
	}
	cur := t.Parts[r.Partition]
	s := r.State
	switch {
	case s.PartitionEpoch != cur.PartitionEpoch+1:
		return nil, invalid(ErrInvalidRecord, "topic %q partition %d: change for partition epoch %d, current is %d", t.Name, r.Partition, s.PartitionEpoch-1, cur.PartitionEpoch)
	case s.Leader != cur.Leader && s.LeaderEpoch != cur.LeaderEpoch+1:
		return nil, invalid(ErrInvalidRecord, "topic %q partition %d: leader %d replaces %d in leader epoch %d, not the next one (%d)", t.Name, r.Partition, s.Leader, cur.Leader, s.LeaderEpoch, cur.LeaderEpoch+1)
	case s.LeaderEpoch != cur.LeaderEpoch && s.LeaderEpoch != cur.LeaderEpoch+1:
		return nil, invalid(ErrInvalidRecord, "topic %q partition %d: leader epoch %d follows neither %d nor %d", t.Name, r.Partition, s.LeaderEpoch, cur.LeaderEpoch, cur.LeaderEpoch+1)
	}
	if err := validatePartitionState(img, t.Name, r.Partition, int16(len(s.Replicas)), s); err != nil {
		return nil, err
	}
	nt := *t
	nt.Parts = slices.Clone(t.Parts)
	nt.Parts[r.Partition] = s.Clone()
	return replaceTopic(img, &nt), nil
}

func applyBrokerState(img *Image, r BrokerState) (*Image, error) {
	b, ok := img.brokers[r.NodeID]
	if !ok {
		return nil, invalid(ErrInvalidRecord, "broker %d is not registered", r.NodeID)
	}
	nb := *b
	nb.Fenced, nb.ShuttingDown = r.Fenced, r.ShuttingDown
	next := img.clone()
	next.brokers[r.NodeID] = &nb
	return next, nil
}

func applySetCluster(img *Image, r SetCluster) (*Image, error) {
	switch {
	case r.ID == "":
		return nil, invalid(ErrInvalidRecord, "empty cluster id")
	case img.clusterID != "":
		return nil, invalid(ErrInvalidRecord, "cluster id is already %s", img.clusterID)
	}
	next := img.clone()
	next.clusterID = r.ID
	return next, nil
}

func (p PartitionState) equal(o PartitionState) bool {
	return slices.Equal(p.Replicas, o.Replicas) && slices.Equal(p.ISR, o.ISR) && slices.Equal(p.ELR, o.ELR) &&
		slices.Equal(p.LastKnownELR, o.LastKnownELR) && p.Leader == o.Leader && p.LeaderEpoch == o.LeaderEpoch &&
		p.PartitionEpoch == o.PartitionEpoch && p.Recovering == o.Recovering && slices.Equal(p.Adding, o.Adding) && slices.Equal(p.Removing, o.Removing)
}

func clonedParts(ps []PartitionState) []PartitionState {
	if len(ps) == 0 {
		return nil
	}
	out := make([]PartitionState, len(ps))
	for i, p := range ps {
		out[i] = p.Clone()
	}
	return out
}
