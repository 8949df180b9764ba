package meta

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// RecordType identifies a record's kind in its encoding. Values are stable:
// they are written to disk.
type RecordType uint8

// Record types.
const (
	TypeCreateTopic        RecordType = 1
	TypeDeleteTopic        RecordType = 2
	TypeCreatePartitions   RecordType = 3
	TypeAlterTopicConfigs  RecordType = 4
	TypeRegisterBroker     RecordType = 5
	TypeAlterBrokerConfigs RecordType = 6
	TypePartitionChange    RecordType = 7
	TypeSetCluster         RecordType = 8
	TypeBrokerState        RecordType = 9
	TypeProducerIDs        RecordType = 10
)

func (t RecordType) String() string {
	switch t {
	case TypeCreateTopic:
		return "CreateTopic"
	case TypeDeleteTopic:
		return "DeleteTopic"
	case TypeCreatePartitions:
		return "CreatePartitions"
	case TypeAlterTopicConfigs:
		return "AlterTopicConfigs"
	case TypeRegisterBroker:
		return "RegisterBroker"
	case TypeAlterBrokerConfigs:
		return "AlterBrokerConfigs"
	case TypePartitionChange:
		return "PartitionChange"
	case TypeSetCluster:
		return "SetCluster"
	case TypeBrokerState:
		return "BrokerState"
	case TypeProducerIDs:
		return "ProducerIDs"
	}
	return fmt.Sprintf("RecordType(%d)", uint8(t))
}

// Record is one metadata change. The concrete types are the structs below;
// Apply accepts them by value or by pointer.
type Record interface {
	// Type is the record's type in its encoding.
	Type() RecordType
}

// recordVersion is the version byte of every record encoding this package
// writes. Decoders accept versions <= recordVersion.
const recordVersion = 1

// entryVersion is the version byte of an entry (a group of records).
const entryVersion = 1

// TopicID is a Kafka topic ID: a random 128-bit UUID. It is assignable to and
// from [16]byte, the type kmsg uses. Its text form is Kafka's: URL-safe
// base64 without padding (22 characters).
type TopicID [16]byte

// IsZero reports whether id is the all-zero ID, which Kafka reserves for "no
// topic ID".
func (id TopicID) IsZero() bool { return id == TopicID{} }

// String returns Kafka's text form of the ID.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// MarshalText encodes the ID in Kafka's text form.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes Kafka's text form of an ID.
func (id *TopicID) UnmarshalText(b []byte) error {
	var out [16]byte
	if len(b) != 22 {
		return fmt.Errorf("%w: topic ID %q is not 22 characters of URL-safe base64", ErrInvalidRecord, b)
	}
	n, err := base64.RawURLEncoding.Strict().Decode(out[:], b)
	if err != nil || n != 16 {
		return fmt.Errorf("%w: topic ID %q is not 22 characters of URL-safe base64", ErrInvalidRecord, b)
	}
	*id = out
	return nil
}

// metadataTopicID is Kafka's reserved ID for the metadata topic
// (AAAAAAAAAAAAAAAAAAAAAQ); NewTopicID never returns it.
var metadataTopicID = TopicID{15: 1}

// NewTopicID returns a random version-4 UUID usable as a topic ID, never the
// zero ID nor Kafka's reserved metadata topic ID.
func NewTopicID() TopicID {
	for {
		var id TopicID
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if !id.IsZero() && id != metadataTopicID {
			return id
		}
	}
}

// CreateTopic creates a topic. ID must be set (NewTopicID); Store.Apply
// fills a zero ID for you. Partitions and ReplicationFactor are already
// resolved (the broker turns Kafka's -1 into num.partitions and
// default.replication.factor). Configs are topic overrides with Kafka keys.
type CreateTopic struct {
	Name              string            `json:"name"`
	ID                TopicID           `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
	// Parts is each partition's replication state in a cluster (the
	// controller's placement); none on a single node.
	Parts []PartitionState `json:"parts,omitempty"`
}

// Type implements Record.
func (CreateTopic) Type() RecordType { return TypeCreateTopic }

// DeleteTopic deletes the topic with this ID.
type DeleteTopic struct {
	ID TopicID `json:"id"`
}

// Type implements Record.
func (DeleteTopic) Type() RecordType { return TypeDeleteTopic }

// CreatePartitions grows a topic to Count partitions (the new total).
type CreatePartitions struct {
	ID    TopicID `json:"id"`
	Count int32   `json:"count"`
	// Parts is the new partitions' replication state, required for a
	// topic that has Parts.
	Parts []PartitionState `json:"parts,omitempty"`
}

// Type implements Record.
func (CreatePartitions) Type() RecordType { return TypeCreatePartitions }

// AlterTopicConfigs changes a topic's config overrides: keys in Set are set,
// keys in Delete are removed (reverting to the broker or default value).
// With Replace, the overrides become exactly Set (Kafka's legacy
// AlterConfigs); Delete must then be empty.
type AlterTopicConfigs struct {
	ID      TopicID           `json:"id"`
	Set     map[string]string `json:"set,omitempty"`
	Delete  []string          `json:"delete,omitempty"`
	Replace bool              `json:"replace,omitempty"`
}

// Type implements Record.
func (AlterTopicConfigs) Type() RecordType { return TypeAlterTopicConfigs }

// RegisterBroker adds or updates a broker's advertised address. In a
// cluster a broker registers Fenced, with a fresh Incarnation per process
// start, and the controller unfences it (BrokerState) once it has caught
// up with the metadata; Epoch is the broker epoch, one more each
// registration. UncleanShutdown says the broker did not stop cleanly
// before this start: its logs may have lost an unflushed tail, so it is
// not an eligible leader replica (KIP-966) until it next registers clean.
type RegisterBroker struct {
	NodeID          int32  `json:"node_id"`
	Host            string `json:"host"`
	Port            int32  `json:"port"`
	Rack            string `json:"rack,omitempty"`
	Fenced          bool   `json:"fenced,omitempty"`
	UncleanShutdown bool   `json:"unclean_shutdown,omitempty"`
	Incarnation     string `json:"incarnation,omitempty"`
	Epoch           int64  `json:"epoch,omitempty"`
}

// Type implements Record.
func (RegisterBroker) Type() RecordType { return TypeRegisterBroker }

// AlterBrokerConfigs changes dynamic broker configs (Kafka's
// DYNAMIC_BROKER_CONFIG for one node, DYNAMIC_DEFAULT_BROKER_CONFIG for the
// cluster-wide default when NodeID is AllBrokers). Only dynamic keys may be
// altered: those whose BrokerConfigDef is not ReadOnly, which are the broker
// synonyms of topic configs (log.retention.ms, message.max.bytes, ...).
type AlterBrokerConfigs struct {
	NodeID int32             `json:"node_id"`
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// Type implements Record.
func (AlterBrokerConfigs) Type() RecordType { return TypeAlterBrokerConfigs }

// AllBrokers is the NodeID of AlterBrokerConfigs for the cluster-wide default.
const AllBrokers int32 = -1

// EncodeRecord encodes a record: version byte, type byte, JSON body.
func EncodeRecord(r Record) ([]byte, error) {
	r, err := deref(r)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("meta: encode %s: %w", r.Type(), err)
	}
	return append([]byte{recordVersion, byte(r.Type())}, body...), nil
}

// DecodeRecord decodes what EncodeRecord wrote. Unknown fields, unknown
// types and newer versions are errors wrapping ErrInvalidRecord.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: record of %d bytes is shorter than its 2-byte header", ErrInvalidRecord, len(b))
	}
	if b[0] == 0 || b[0] > recordVersion {
		return nil, fmt.Errorf("%w: record version %d not supported (max %d)", ErrInvalidRecord, b[0], recordVersion)
	}
	var r Record
	switch t := RecordType(b[1]); t {
	case TypeCreateTopic:
		r = &CreateTopic{}
	case TypeDeleteTopic:
		r = &DeleteTopic{}
	case TypeCreatePartitions:
		r = &CreatePartitions{}
	case TypeAlterTopicConfigs:
		r = &AlterTopicConfigs{}
	case TypeRegisterBroker:
		r = &RegisterBroker{}
	case TypeAlterBrokerConfigs:
		r = &AlterBrokerConfigs{}
	case TypePartitionChange:
		r = &PartitionChange{}
	case TypeSetCluster:
		r = &SetCluster{}
	case TypeBrokerState:
		r = &BrokerState{}
	case TypeProducerIDs:
		r = &ProducerIDs{}
	default:
		return nil, fmt.Errorf("%w: unknown record type %d", ErrInvalidRecord, uint8(t))
	}
	dec := json.NewDecoder(bytes.NewReader(b[2:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %v", ErrInvalidRecord, r.Type(), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: decode %s: trailing data", ErrInvalidRecord, r.Type())
	}
	return deref(r)
}

// deref returns the record by value, so callers may pass pointers.
func deref(r Record) (Record, error) {
	switch v := r.(type) {
	case CreateTopic, DeleteTopic, CreatePartitions, AlterTopicConfigs, RegisterBroker, AlterBrokerConfigs,
		PartitionChange, SetCluster, BrokerState, ProducerIDs:
		return v, nil
	case *CreateTopic:
		return derefPtr(r, v)
	case *DeleteTopic:
		return derefPtr(r, v)
	case *CreatePartitions:
		return derefPtr(r, v)
	case *AlterTopicConfigs:
		return derefPtr(r, v)
	case *RegisterBroker:
		return derefPtr(r, v)
	case *AlterBrokerConfigs:
		return derefPtr(r, v)
	case *PartitionChange:
		return derefPtr(r, v)
	case *SetCluster:
		return derefPtr(r, v)
	case *BrokerState:
		return derefPtr(r, v)
	case *ProducerIDs:
		return derefPtr(r, v)
	}
	return nil, fmt.Errorf("%w: unsupported record %T", ErrInvalidRecord, r)
}

func derefPtr[T Record](r Record, v *T) (Record, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: unsupported record %T", ErrInvalidRecord, r)
	}
	return *v, nil
}

// Entry is a group of records appended to the journal as one payload: they
// are durable, and applied, together.
type Entry struct {
	Time    time.Time // when the store appended it (millisecond precision)
	Records []Record
}

// maxEntryRecords bounds the record count a decoder will believe, so a
// corrupt count cannot make it allocate without limit.
const maxEntryRecords = 1 << 20

// EncodeEntry encodes an entry: version byte, append time as int64
// milliseconds (big-endian), uvarint record count, then per record a uvarint
// length and the EncodeRecord bytes.
func EncodeEntry(e Entry) ([]byte, error) {
	buf := make([]byte, 0, 64)
	buf = append(buf, entryVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(e.Time.UnixMilli()))
	buf = binary.AppendUvarint(buf, uint64(len(e.Records)))
	for _, r := range e.Records {
		rb, err := EncodeRecord(r)
		if err != nil {
			return nil, err
		}
		buf = binary.AppendUvarint(buf, uint64(len(rb)))
		buf = append(buf, rb...)
	}
	return buf, nil
}

// DecodeEntry decodes what EncodeEntry wrote.
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) < 9 {
		return e, fmt.Errorf("%w: entry of %d bytes is shorter than its 9-byte header", ErrInvalidRecord, len(b))
	}
	if b[0] == 0 || b[0] > entryVersion {
		return e, fmt.Errorf("%w: entry version %d not supported (max %d)", ErrInvalidRecord, b[0], entryVersion)
	}
	e.Time = time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	b = b[9:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxEntryRecords || n > uint64(len(b)) {
		return e, fmt.Errorf("%w: entry record count is malformed", ErrInvalidRecord)
	}
	b = b[k:]
	e.Records = make([]Record, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return e, fmt.Errorf("%w: entry record %d: length is malformed or past the end", ErrInvalidRecord, i)
		}
		r, err := DecodeRecord(b[k : k+int(l)])
		if err != nil {
			return e, fmt.Errorf("entry record %d: %w", i, err)
		}
		e.Records = append(e.Records, r)
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return e, fmt.Errorf("%w: entry has %d trailing bytes", ErrInvalidRecord, len(b))
	}
	return e, nil
}
