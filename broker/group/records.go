package group

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Records in __consumer_offsets use Kafka's schemas, so Kafka's tools can
// read the topic:
//
//	key   int16 version | 0, 1: OffsetCommitKey   {group, topic, partition}
//	                    | 2:    GroupMetadataKey  {group}
//	                    | 3-8:  KIP-848 consumer group records (consumer_records.go)
//	value OffsetCommitValue v3 / GroupMetadataValue v3; empty = tombstone

// ErrBadRecord is returned for a __consumer_offsets record that does not
// decode.
var ErrBadRecord = errors.New("group: bad __consumer_offsets record")

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: 1, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetValue(e offsetEntry) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	v.Offset, v.LeaderEpoch, v.Metadata = e.offset, e.epoch, e.metadata
	v.CommitTimestamp = e.commitTime.UnixMilli()
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: 2, Group: group}
	return k.AppendTo(nil)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// persistGroup writes the group's metadata: type, generation, protocol,
// leader and every member with its subscription and assignment.
func (g *Group) persistGroup(now time.Time) {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = optional(g.protocol)
	v.Leader = optional(g.leader)
	v.CurrentStateTimestamp = now.UnixMilli()
	for _, m := range g.sortedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadata(g.protocol)
		vm.Assignment = m.assignment
		v.Members = append(v.Members, vm)
	}
	g.persisted = true
	g.record(groupKey(g.id), v.AppendTo(nil))
}

// RecordGroup returns the group a __consumer_offsets key belongs to.
func RecordGroup(key []byte) (string, error) {
	if len(key) < 2 {
		return "", fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(key))
	}
	switch version := int16(key[0])<<8 | int16(key[1]); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return "", fmt.Errorf("%w: offset key: %v", ErrBadRecord, err)
		}
		return k.Group, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return "", fmt.Errorf("%w: group key: %v", ErrBadRecord, err)
		}
		return k.Group, nil
	case 3, 4, 5, 6, 7, 8:
		k, err := readConsumerKey(key)
		if err != nil {
			return "", err
		}
		return k.group, nil
	default:
		return "", fmt.Errorf("%w: unknown key version %d", ErrBadRecord, version)
	}
}

// Replay applies one record read back from the store while loading. Later
// records override earlier ones; a nil or empty value deletes.
func (g *Group) Replay(key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(key))
	}
	version := int16(key[0])<<8 | int16(key[1])
	if version == 0 || version == 1 {
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("%w: offset key: %v", ErrBadRecord, err)
		}
		if len(value) == 0 {
			g.deleteOffset(k.Topic, k.Partition)
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("%w: offset value for %s %s/%d: %v", ErrBadRecord, g.id, k.Topic, k.Partition, err)
		}
		epoch := v.LeaderEpoch
		if v.Version < 3 {
			epoch = -1
		}
		g.setOffset(k.Topic, k.Partition, offsetEntry{
			offset: v.Offset, epoch: epoch, metadata: v.Metadata, commitTime: time.UnixMilli(v.CommitTimestamp),
		})
		return nil
	}
	if version == keyConsumerPartitionMetadata {
		return nil // Kafka's subscribed-topic metadata: Sluice keeps a hash in the group record
	}
	if isConsumerKey(version) {
		return g.replayConsumer(key, value)
	}
	if version != 2 {
		return fmt.Errorf("%w: unknown key version %d", ErrBadRecord, version)
	}
	if len(value) == 0 {
		g.members = map[string]*member{}
		g.static = map[string]string{}
		g.protocolType, g.protocol, g.leader, g.generation = "", "", "", 0
		g.persisted = false
		return nil
	}
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return fmt.Errorf("%w: group metadata for %s: %v", ErrBadRecord, g.id, err)
	}
	g.protocolType, g.generation = v.ProtocolType, v.Generation
	g.protocol, g.leader = "", ""
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.Version >= 2 && v.CurrentStateTimestamp > 0 {
		g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
	}
	g.members = map[string]*member{}
	g.static = map[string]string{}
	for _, vm := range v.Members {
		g.nextSeq++
		m := &member{
			id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
			assignment:       vm.Assignment,
			seq:              g.nextSeq,
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	g.persisted = true
	return nil
}

// Loaded finishes loading: a group with members is stable and every member
// gets a fresh session from now, as after a coordinator failover in Kafka.
func (g *Group) Loaded(now time.Time) {
	g.loadConsumers(now)
	g.state = Empty
	if len(g.members) > 0 {
		g.state = Stable
	}
	for _, m := range g.members {
		m.deadline = now.Add(m.sessionTimeout)
	}
	g.retentionCheck = now.Add(g.cfg.OffsetsRetentionCheckInterval)
}
