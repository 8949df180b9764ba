package meta

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"
)

// snapshotVersion is the version byte of EncodeSnapshot's format.
const snapshotVersion = 1

// SnapshotRecords returns records that rebuild img from the empty image:
// brokers first (so replication factors validate), then dynamic broker
// configs, then every topic with its overrides, in a stable order.
func SnapshotRecords(img *Image) []Record {
	var recs []Record
	if img.clusterID != "" {
		recs = append(recs, SetCluster{ID: img.clusterID})
	}
	// Each broker's producer-id block where it was, in the order given
	// (the last one ends at the next free id).
	nodes := slices.Collect(maps.Keys(img.pidBlocks))
	slices.SortFunc(nodes, func(a, b int32) int { return int(img.pidBlocks[a][0] - img.pidBlocks[b][0]) })
	for _, id := range nodes {
		b := img.pidBlocks[id]
		recs = append(recs, ProducerIDs{NodeID: id, Start: b[0], Count: b[1] - b[0]})
	}
	for _, b := range img.Brokers() {
		recs = append(recs, RegisterBroker{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack,
			Fenced: b.Fenced, UncleanShutdown: b.UncleanShutdown, Incarnation: b.Incarnation, Epoch: b.Epoch})
		if b.ShuttingDown {
			recs = append(recs, BrokerState{NodeID: b.NodeID, Fenced: b.Fenced, ShuttingDown: true})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(img.brokerConfigs)) {
		recs = append(recs, AlterBrokerConfigs{NodeID: id, Set: maps.Clone(img.brokerConfigs[id])})
	}
	for _, t := range img.Topics() {
		ct := CreateTopic{Name: t.Name, ID: t.ID, Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor}
		if len(t.Configs) > 0 {
			ct.Configs = maps.Clone(t.Configs)
		}
		ct.Parts = clonedParts(t.Parts)
		recs = append(recs, ct)
	}
	return recs
}

// EncodeSnapshot encodes img for a Raft snapshot or a snapshot file: a
// version byte, the image's offset as a big-endian int64, then an entry
// (EncodeEntry) of SnapshotRecords stamped with at.
func EncodeSnapshot(img *Image, at time.Time) ([]byte, error) {
	entry, err := EncodeEntry(Entry{Time: at, Records: SnapshotRecords(img)})
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 9+len(entry))
	b = append(b, snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(img.offset))
	return append(b, entry...), nil
}

// DecodeSnapshot rebuilds the image EncodeSnapshot encoded. A snapshot whose
// records do not apply is an error wrapping ErrInvalidRecord or the
// validation error.
func DecodeSnapshot(b []byte) (*Image, error) {
	if len(b) < 9 {
		return nil, fmt.Errorf("%w: snapshot of %d bytes is shorter than its 9-byte header", ErrInvalidRecord, len(b))
	}
	if b[0] == 0 || b[0] > snapshotVersion {
		return nil, fmt.Errorf("%w: snapshot version %d not supported (max %d)", ErrInvalidRecord, b[0], snapshotVersion)
	}
	off := int64(binary.BigEndian.Uint64(b[1:9]))
	if off < -1 {
		return nil, fmt.Errorf("%w: snapshot offset %d is negative", ErrInvalidRecord, off)
	}
	e, err := DecodeEntry(b[9:])
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	img := NewImage()
	for i, r := range e.Records {
		if img, err = Apply(img, r); err != nil {
			return nil, fmt.Errorf("meta: snapshot record %d (%s): %w", i, r.Type(), err)
		}
	}
	return img.withOffset(off), nil
}
