package group

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
)

// KIP-848 consumer groups are persisted in __consumer_offsets as Apache
// Kafka 4 persists them, with Kafka's record schemas (kmsg has no types for
// them, so they are encoded here with kbin, franz-go's primitive codec).
// A key is an int16 version naming the record type, then the group ID and,
// for per-member records, the member ID, as non-flexible strings. A value
// is an int16 version (0) then a flexible struct: compact strings and
// arrays, and a tagged-field section after every struct.
//
//	key 3 ConsumerGroupMetadata                 {group}          value {Epoch int32; tag 0: MetadataHash int64}
//	key 4 ConsumerGroupPartitionMetadata        {group}          (written by Kafka before 4.1; ignored)
//	key 5 ConsumerGroupMemberMetadata           {group, member}  value {InstanceId?, RackId?, ClientId, ClientHost,
//	                                                                     SubscribedTopicNames []string, SubscribedTopicRegex?,
//	                                                                     RebalanceTimeoutMs int32, ServerAssignor?}
//	key 6 ConsumerGroupTargetAssignmentMetadata {group}          value {AssignmentEpoch int32}
//	key 7 ConsumerGroupTargetAssignmentMember   {group, member}  value {TopicPartitions []{TopicId uuid, Partitions []int32}}
//	key 8 ConsumerGroupCurrentMemberAssignment  {group, member}  value {MemberEpoch, PreviousMemberEpoch int32, State int8,
//	                                                                     AssignedPartitions, PartitionsPendingRevocation []{TopicId, Partitions}}
//
// Each record holds one piece of state that a later record with the same
// key replaces, so what a compacted topic keeps (the last record per key)
// replays to the same group. A member that leaves gets tombstones for keys
// 8, 7 and 5, in that order as Kafka writes them, then the new group
// epoch; a group that is deleted gets tombstones for keys 6 and 3. The
// metadata hash is Sluice's own (a hash of the subscribed topics'
// partition counts): Kafka would only see a different hash and recompute
// the target assignment.

// Key versions of the KIP-848 records.
const (
	keyConsumerGroup             int16 = 3
	keyConsumerPartitionMetadata int16 = 4
	keyConsumerMember            int16 = 5
	keyConsumerTargetEpoch       int16 = 6
	keyConsumerTarget            int16 = 7
	keyConsumerCurrent           int16 = 8
)

// Member states of ConsumerGroupCurrentMemberAssignmentValue, as Kafka's
// MemberState numbers them.
const (
	memberStable               int8 = 0
	memberUnrevokedPartitions  int8 = 1
	memberUnreleasedPartitions int8 = 2
)

func isConsumerKey(version int16) bool {
	return version >= keyConsumerGroup && version <= keyConsumerCurrent
}

func isMemberKey(version int16) bool {
	return version == keyConsumerMember || version == keyConsumerTarget || version == keyConsumerCurrent
}

func consumerKey(version int16, group string) []byte {
	return kbin.AppendString(kbin.AppendInt16(nil, version), group)
}

func consumerMemberKey(version int16, group, member string) []byte {
	return kbin.AppendString(consumerKey(version, group), member)
}

// consumerRecordKey is a decoded KIP-848 key.
type consumerRecordKey struct {
	version       int16
	group, member string
}

func readConsumerKey(key []byte) (consumerRecordKey, error) {
	r := kbin.Reader{Src: key}
	k := consumerRecordKey{version: r.Int16()}
	k.group = r.String()
	if isMemberKey(k.version) {
		k.member = r.String()
	}
	if err := r.Complete(); err != nil || !isConsumerKey(k.version) {
		return k, fmt.Errorf("%w: consumer group key version %d: %v", ErrBadRecord, k.version, err)
	}
	return k, nil
}

func appendNoTags(b []byte) []byte { return kbin.AppendUvarint(b, 0) }

// readTags reads a tagged-field section, handing each field to fn.
func readTags(r *kbin.Reader, fn func(tag uint32, data []byte)) {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		tag, size := r.Uvarint(), r.Uvarint()
		data := r.Span(int(size))
		if r.Ok() && fn != nil {
			fn(tag, data)
		}
	}
}

func appendPartitions(b []byte, a map[tp]bool) []byte {
	ts := toAssignment(a).Topics
	b = kbin.AppendCompactArrayLen(b, len(ts))
	for _, t := range ts {
		b = kbin.AppendUuid(b, t.TopicID)
		b = kbin.AppendCompactArrayLen(b, len(t.Partitions))
		for _, p := range t.Partitions {
			b = kbin.AppendInt32(b, p)
		}
		b = appendNoTags(b)
	}
	return b
}

func readPartitions(r *kbin.Reader) map[tp]bool {
	out := map[tp]bool{}
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		id := r.Uuid()
		np := r.CompactArrayLen()
		for j := int32(0); j < np && r.Ok(); j++ {
			out[tp{id, r.Int32()}] = true
		}
		readTags(r, nil)
	}
	return out
}

// fingerprintHash is what ConsumerGroupMetadataValue.MetadataHash holds.
func fingerprintHash(fingerprint string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(fingerprint))
	return h.Sum64()
}

func groupEpochValue(epoch int32, hash uint64) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, epoch)
	// One tagged field: tag 0, 8 bytes, MetadataHash.
	b = kbin.AppendUvarint(b, 1)
	b = kbin.AppendUvarint(b, 0)
	b = kbin.AppendUvarint(b, 8)
	return kbin.AppendInt64(b, int64(hash))
}

func readGroupEpochValue(value []byte) (epoch int32, hash uint64, err error) {
	r := kbin.Reader{Src: value}
	r.Int16()
	epoch = r.Int32()
	readTags(&r, func(tag uint32, data []byte) {
		if tag == 0 && len(data) == 8 {
			hr := kbin.Reader{Src: data}
			hash = uint64(hr.Int64())
		}
	})
	return epoch, hash, complete(&r, "consumer group metadata")
}

func targetEpochValue(epoch int32) []byte {
	return appendNoTags(kbin.AppendInt32(kbin.AppendInt16(nil, 0), epoch))
}

func readTargetEpochValue(value []byte) (int32, error) {
	r := kbin.Reader{Src: value}
	r.Int16()
	epoch := r.Int32()
	readTags(&r, nil)
	return epoch, complete(&r, "target assignment metadata")
}

func memberMetadataValue(m *consumerMember) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendCompactNullableString(b, m.instanceID)
	b = kbin.AppendCompactNullableString(b, m.rackID)
	b = kbin.AppendCompactString(b, m.clientID)
	b = kbin.AppendCompactString(b, m.clientHost)
	b = kbin.AppendCompactArrayLen(b, len(m.topics))
	for _, t := range m.topics {
		b = kbin.AppendCompactString(b, t)
	}
	b = kbin.AppendCompactNullableString(b, m.regex)
	b = kbin.AppendInt32(b, int32(m.rebalance/time.Millisecond))
	b = kbin.AppendCompactNullableString(b, optional(m.assignor))
	return appendNoTags(b)
}

// readMemberMetadataValue decodes a member's metadata into a member with
// nothing assigned.
func readMemberMetadataValue(id string, value []byte) (*consumerMember, error) {
	r := kbin.Reader{Src: value}
	r.Int16()
	m := &consumerMember{id: id, assigned: map[tp]bool{}, previousEpoch: -1}
	m.instanceID = r.CompactNullableString()
	m.rackID = r.CompactNullableString()
	m.clientID = r.CompactString()
	m.clientHost = r.CompactString()
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		m.topics = append(m.topics, r.CompactString())
	}
	m.regex = r.CompactNullableString()
	m.rebalance = time.Duration(r.Int32()) * time.Millisecond
	if a := r.CompactNullableString(); a != nil {
		m.assignor = *a
	}
	readTags(&r, nil)
	if m.rebalance <= 0 {
		m.rebalance = 5 * time.Minute
	}
	return m, complete(&r, "member metadata for "+id)
}

func targetValue(a map[tp]bool) []byte {
	return appendNoTags(appendPartitions(kbin.AppendInt16(nil, 0), a))
}

func readTargetValue(value []byte) (map[tp]bool, error) {
	r := kbin.Reader{Src: value}
	r.Int16()
	a := readPartitions(&r)
	readTags(&r, nil)
	return a, complete(&r, "target assignment")
}

// currentAssignment is a decoded ConsumerGroupCurrentMemberAssignmentValue.
type currentAssignment struct {
	epoch, previousEpoch int32
	state                int8
	assigned, revoking   map[tp]bool
}

func (g *Group) memberState(m *consumerMember) int8 {
	switch {
	case len(m.revoking) > 0:
		return memberUnrevokedPartitions
	case len(m.assigned) < len(g.cg.target[m.id]):
		return memberUnreleasedPartitions
	}
	return memberStable
}

func currentValue(m *consumerMember, state int8) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, m.epoch)
	b = kbin.AppendInt32(b, m.previousEpoch)
	b = kbin.AppendInt8(b, state)
	b = appendPartitions(b, m.assigned)
	b = appendPartitions(b, m.revoking)
	return appendNoTags(b)
}

func readCurrentValue(value []byte) (currentAssignment, error) {
	r := kbin.Reader{Src: value}
	r.Int16()
	var c currentAssignment
	c.epoch, c.previousEpoch, c.state = r.Int32(), r.Int32(), r.Int8()
	c.assigned = readPartitions(&r)
	c.revoking = readPartitions(&r)
	readTags(&r, nil)
	return c, complete(&r, "current member assignment")
}

func complete(r *kbin.Reader, what string) error {
	if err := r.Complete(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadRecord, what, err)
	}
	return nil
}

// consumerReplay collects a KIP-848 group's records while loading; Loaded
// assembles the group from what is left of them.
type consumerReplay struct {
	exists          bool // a ConsumerGroupMetadata record is live
	epoch           int32
	hash            uint64
	assignmentEpoch int32
	members         map[string]*consumerMember
	target          map[string]map[tp]bool
	current         map[string]currentAssignment
}

// replayConsumer applies one KIP-848 record; an empty value deletes.
func (g *Group) replayConsumer(key, value []byte) error {
	k, err := readConsumerKey(key)
	if err != nil {
		return err
	}
	if g.replay == nil {
		g.replay = &consumerReplay{
			members: map[string]*consumerMember{},
			target:  map[string]map[tp]bool{},
			current: map[string]currentAssignment{},
		}
	}
	rp := g.replay
	del := len(value) == 0
	switch k.version {
	case keyConsumerGroup:
		rp.exists, rp.epoch, rp.hash = false, 0, 0
		if !del {
			if rp.epoch, rp.hash, err = readGroupEpochValue(value); err == nil {
				rp.exists = true
			}
		}
	case keyConsumerTargetEpoch:
		rp.assignmentEpoch = 0
		if !del {
			rp.assignmentEpoch, err = readTargetEpochValue(value)
		}
	case keyConsumerMember:
		delete(rp.members, k.member)
		if !del {
			var m *consumerMember
			if m, err = readMemberMetadataValue(k.member, value); err == nil {
				rp.members[k.member] = m
			}
		}
	case keyConsumerTarget:
		delete(rp.target, k.member)
		if !del {
			var a map[tp]bool
			if a, err = readTargetValue(value); err == nil {
				rp.target[k.member] = a
			}
		}
	case keyConsumerCurrent:
		delete(rp.current, k.member)
		if !del {
			var c currentAssignment
			if c, err = readCurrentValue(value); err == nil {
				rp.current[k.member] = c
			}
		}
	}
	if err != nil {
		return fmt.Errorf("group %s: %w", g.id, err)
	}
	return nil
}

// loadConsumers builds the KIP-848 group from the replayed records. Every
// member keeps its epoch and assignment and gets a fresh session from now,
// so a member that heartbeats within its session carries on without a
// rebalance and one that does not is removed as usual.
func (g *Group) loadConsumers(now time.Time) {
	rp := g.replay
	g.replay = nil
	if rp == nil || !rp.exists {
		return
	}
	cg := newConsumerGroup()
	cg.epoch, cg.metadataHash, cg.assignmentEpoch = rp.epoch, rp.hash, rp.assignmentEpoch
	for id, m := range rp.members {
		if c, ok := rp.current[id]; ok {
			m.epoch, m.previousEpoch, m.assigned = c.epoch, c.previousEpoch, c.assigned
			if len(c.revoking) > 0 {
				m.revoking = c.revoking
				m.revokeBy = now.Add(m.rebalance)
			}
		}
		for p := range m.assigned {
			cg.owner[p] = id
		}
		for p := range m.revoking {
			cg.owner[p] = id
		}
		if t, ok := rp.target[id]; ok {
			cg.target[id] = t
		}
		m.deadline = now.Add(g.cfg.ConsumerSessionTimeout)
		m.lastSent = assignmentKey(m.assigned) // what it was told before the restart
		cg.members[id] = m
	}
	g.cg = cg
	g.protocolType = "consumer"
	g.markConsumersPersisted()
}

// markConsumersPersisted records the group's current state as what the
// store holds.
func (g *Group) markConsumersPersisted() {
	cg := g.cg
	cg.persisted = true
	cg.persistedEpoch, cg.persistedHash, cg.persistedAssignmentEpoch = cg.epoch, cg.metadataHash, cg.assignmentEpoch
	for _, m := range cg.members {
		m.persistedMeta = memberMetadataValue(m)
		m.persistedTarget = targetValue(cg.target[m.id])
		m.persistedCurrent = currentValue(m, g.memberState(m))
	}
}

// persistConsumers appends the records that bring the store up to date
// with the group after a step that touched member m (nil: none), in the
// order Kafka writes them: member metadata, group epoch, target
// assignment, current assignment. A group left with no members and no
// offsets is deleted, since the coordinator forgets it.
func (g *Group) persistConsumers(m *consumerMember) {
	cg := g.cg
	if len(cg.members) == 0 && len(g.offsets) == 0 {
		g.dropConsumerGroup()
		return
	}
	if !cg.persisted && g.persisted {
		// An empty classic group became a consumer group.
		g.record(groupKey(g.id), nil)
		g.persisted = false
	}
	cg.persisted = true
	if m != nil && cg.members[m.id] != m {
		m = nil // it left
	}
	put := func(last *[]byte, key, value []byte) {
		if !bytes.Equal(*last, value) {
			*last = value
			g.record(key, value)
		}
	}
	if m != nil {
		put(&m.persistedMeta, consumerMemberKey(keyConsumerMember, g.id, m.id), memberMetadataValue(m))
	}
	if cg.epoch != cg.persistedEpoch || cg.metadataHash != cg.persistedHash {
		cg.persistedEpoch, cg.persistedHash = cg.epoch, cg.metadataHash
		g.record(consumerKey(keyConsumerGroup, g.id), groupEpochValue(cg.epoch, cg.metadataHash))
	}
	if cg.assignmentEpoch != cg.persistedAssignmentEpoch {
		for _, o := range g.sortedConsumers() {
			put(&o.persistedTarget, consumerMemberKey(keyConsumerTarget, g.id, o.id), targetValue(cg.target[o.id]))
		}
		cg.persistedAssignmentEpoch = cg.assignmentEpoch
		g.record(consumerKey(keyConsumerTargetEpoch, g.id), targetEpochValue(cg.assignmentEpoch))
	}
	if m != nil {
		put(&m.persistedCurrent, consumerMemberKey(keyConsumerCurrent, g.id, m.id), currentValue(m, g.memberState(m)))
	}
}

// forgetConsumer writes the tombstones of a member that left or expired.
func (g *Group) forgetConsumer(m *consumerMember) {
	if !g.cg.persisted {
		return
	}
	for _, v := range []int16{keyConsumerCurrent, keyConsumerTarget, keyConsumerMember} {
		g.record(consumerMemberKey(v, g.id, m.id), nil)
	}
}

// dropConsumerGroup deletes an empty KIP-848 group: its records get
// tombstones and the group is no longer a consumer-protocol group.
func (g *Group) dropConsumerGroup() {
	if g.cg.persisted {
		g.record(consumerKey(keyConsumerTargetEpoch, g.id), nil)
		g.record(consumerKey(keyConsumerGroup, g.id), nil)
	}
	g.cg = nil
	g.protocolType = ""
}
