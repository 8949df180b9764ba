// Package group is Sluice's group coordinator: consumer groups (the classic
// JoinGroup/SyncGroup protocol, with static membership and client-side
// eager or cooperative assignment) and their committed offsets.
//
// The heart of the package is Group, a state machine with no I/O, in the
// style of etcd raft's RawNode: requests (kmsg structs) and ticks go in with
// the current time as an explicit input; replies and records to persist
// come out through Ready. A reply may be deferred (JoinGroup and SyncGroup
// wait for the rebalance to complete), so every request carries an ID and
// replies name the ID they answer.
//
// The classic group states follow Apache Kafka:
//
//	Empty --join--> PreparingRebalance --all joined / rebalance timeout-->
//	CompletingRebalance --leader's SyncGroup--> Stable
//	Stable --join with new metadata, leave, session expiry--> PreparingRebalance
//	PreparingRebalance --every member gone--> Empty
//	Empty --delete / offsets expired--> Dead
//
// Coordinator wraps one Group per goroutine, blocks JoinGroup and SyncGroup
// until their replies come out, ticks timers, and persists records through a
// Store (the broker implements it on the compacted topic
// __consumer_offsets, with Kafka's own key and value schemas).
//
// A request that names a group, member, topic or partition more than once
// gets one answer for it, so that a small request cannot build a large
// answer: reads (OffsetFetch, DescribeGroups, ConsumerGroupDescribe,
// DeleteGroups, LeaveGroup, OffsetDelete) answer the first mention, and an
// OffsetCommit naming a partition twice gets one INVALID_REQUEST for it and
// commits neither mention.
package group

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config holds the coordinator settings, named after Kafka's broker keys.
type Config struct {
	// MinSessionTimeout and MaxSessionTimeout bound a member's session
	// timeout (group.min.session.timeout.ms, group.max.session.timeout.ms).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// MaxSize is group.max.size: members plus members that were handed an
	// ID but have not joined yet (KIP-394) never exceed it.
	MaxSize int
	// MaxPending bounds the IDs handed out but not yet used (KIP-394) even
	// when group.max.size is Kafka's unbounded default, so a flood of first
	// joins cannot grow a group without limit; they expire after the
	// session timeout.
	MaxPending int
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long
	// the first rebalance of an empty group waits for more members.
	InitialRebalanceDelay time.Duration
	// OffsetsRetention is offsets.retention.minutes: offsets of a group
	// that has been empty this long are expired.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
	OffsetsRetentionCheckInterval time.Duration
	// MaxMetadataSize is offset.metadata.max.bytes.
	MaxMetadataSize int
	// NewMemberID makes a member ID; nil uses clientID-<random hex>.
	NewMemberID func(clientID string) string
	// TopicExists reports whether a partition exists; offsets committed
	// to one that does not get UNKNOWN_TOPIC_OR_PARTITION. Nil accepts all.
	TopicExists func(topic string, partition int32) bool
	// Topics lists the cluster's topics for the KIP-848 assignor.
	Topics TopicMetadata
	// ConsumerSessionTimeout and ConsumerHeartbeatInterval are
	// group.consumer.session.timeout.ms and
	// group.consumer.heartbeat.interval.ms (KIP-848 groups).
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
}

// DefaultConfig returns Kafka's defaults, except that group.max.size is
// bounded (Kafka's default is unbounded) so a flood of joins cannot grow a
// group's memory without limit, and the initial rebalance delay is zero so
// a rebalance completes as soon as every member has joined.
func DefaultConfig() Config {
	return Config{
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		MaxSize:                       1000,
		MaxPending:                    1000,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		MaxMetadataSize:               4096,
		ConsumerSessionTimeout:        45 * time.Second,
		ConsumerHeartbeatInterval:     5 * time.Second,
	}
}

// Validate reports the first setting that is out of range.
func (c Config) Validate() error {
	switch {
	case c.MinSessionTimeout <= 0:
		return errors.New("group: group.min.session.timeout.ms must be positive")
	case c.MaxSessionTimeout < c.MinSessionTimeout:
		return errors.New("group: group.max.session.timeout.ms must be at least group.min.session.timeout.ms")
	case c.MaxSize < 1:
		return errors.New("group: group.max.size must be at least 1")
	case c.MaxPending < 1:
		return errors.New("group: MaxPending must be at least 1")
	case c.InitialRebalanceDelay < 0:
		return errors.New("group: group.initial.rebalance.delay.ms must not be negative")
	case c.OffsetsRetention <= 0:
		return errors.New("group: offsets.retention.minutes must be positive")
	case c.OffsetsRetentionCheckInterval <= 0:
		return errors.New("group: offsets.retention.check.interval.ms must be positive")
	case c.MaxMetadataSize < 0:
		return errors.New("group: offset.metadata.max.bytes must not be negative")
	case c.ConsumerSessionTimeout <= 0 || c.ConsumerHeartbeatInterval <= 0:
		return errors.New("group: group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms must be positive")
	}
	return nil
}

func randomMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	return memberIDPrefix(clientID) + "-" + hex.EncodeToString(b[:])
}

// newMemberID makes a member ID; a static member's starts with its
// instance ID.
func (g *Group) newMemberID(clientID string, instanceID *string) string {
	id := g.cfg.NewMemberID(clientID)
	if instanceID != nil {
		id = memberIDPrefix(*instanceID) + "-" + id
	}
	return id
}

// maxMemberIDPrefix bounds the client ID (and instance ID) part of a
// member ID: either may be 32,767 bytes, the most a non-flexible string
// carries, so the whole of it plus a suffix would not fit in JoinGroup
// v0-v5 answers.
const maxMemberIDPrefix = 255

// memberIDPrefix is s cut to maxMemberIDPrefix bytes on a UTF-8 boundary.
func memberIDPrefix(s string) string {
	if len(s) <= maxMemberIDPrefix {
		return s
	}
	cut := maxMemberIDPrefix
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// State is a classic group's state, named as Kafka names it.
type State int8

// The classic group states.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// Request is one request addressed to a group. ID names the reply; the
// client fields describe the connection for DescribeGroups.
type Request struct {
	ID         uint64
	ClientID   string
	ClientHost string
	Body       kmsg.Request
}

// Reply answers the request with the same ID.
type Reply struct {
	ID   uint64
	Resp kmsg.Response
}

// Record is a key and value to append to __consumer_offsets; a nil Value
// is a tombstone.
type Record struct {
	Key, Value []byte
}

// Ready is what a Group produced since the last call to Ready. Records must
// be persisted before Replies are sent.
type Ready struct {
	Replies []Reply
	Records []Record
}

// Summary is what ListGroups shows of a group.
type Summary struct {
	Group        string
	State        string
	ProtocolType string
	Type         string // "classic"
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte
	seq              uint64 // join order, for stable output and leader choice

	join     *pendingReply // set while the member waits for the join to complete
	sync     *pendingReply // set while the member waits for the leader's assignment
	deadline time.Time     // session expiry
	isNew    bool
}

type pendingReply struct {
	id      uint64
	version int16
}

type offsetEntry struct {
	offset     int64
	epoch      int32
	metadata   string
	commitTime time.Time
}

// Group is one classic group's state machine. It is not safe for
// concurrent use: one goroutine owns it.
type Group struct {
	id  string
	cfg Config

	state        State
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // instance ID -> member ID
	pending      map[string]time.Time // KIP-394: issued member IDs -> expiry
	pendingSync  map[string]bool      // members that must still send SyncGroup
	nextSeq      uint64
	stateSince   time.Time // when the group entered its state (empty-since for retention)
	persisted    bool      // group metadata is in the store

	joinDeadline   time.Time // PreparingRebalance: when the join phase ends
	joinStarted    time.Time
	initialDelay   bool
	syncDeadline   time.Time // members in pendingSync must sync by then
	retentionCheck time.Time

	offsets map[string]map[int32]offsetEntry

	cg     *consumerGroup  // set for a KIP-848 consumer-protocol group
	replay *consumerReplay // KIP-848 records read while loading

	out Ready
}

// New returns an empty group.
func New(id string, cfg Config, now time.Time) *Group {
	if cfg.NewMemberID == nil {
		cfg.NewMemberID = randomMemberID
	}
	return &Group{
		id:             id,
		cfg:            cfg,
		members:        map[string]*member{},
		static:         map[string]string{},
		pending:        map[string]time.Time{},
		pendingSync:    map[string]bool{},
		offsets:        map[string]map[int32]offsetEntry{},
		stateSince:     now,
		retentionCheck: now.Add(cfg.OffsetsRetentionCheckInterval),
	}
}

// ID is the group's name.
func (g *Group) ID() string { return g.id }

// State is the group's current state.
func (g *Group) State() State { return g.state }

// Generation is the group's current generation.
func (g *Group) Generation() int32 { return g.generation }

// Summary describes the group for ListGroups.
func (g *Group) Summary() Summary {
	if g.cg != nil {
		return Summary{Group: g.id, State: g.cg.state(), ProtocolType: "consumer", Type: "consumer"}
	}
	return Summary{Group: g.id, State: g.state.String(), ProtocolType: g.protocolType, Type: "classic"}
}

// Ready returns and clears what the group produced.
func (g *Group) Ready() Ready {
	r := g.out
	g.out = Ready{}
	return r
}

// PersistFailed hands back records from Ready that the store could not
// append. The KIP-848 group's records are queued again ahead of the next
// ones, so the store catches up with the group's state once appends work
// again; of several records with one key only the last is kept, so the
// queue stays as small as the group's state while the store fails.
func (g *Group) PersistFailed(recs []Record) {
	var again []Record
	for _, r := range recs {
		if len(r.Key) >= 2 && isConsumerKey(int16(r.Key[0])<<8|int16(r.Key[1])) {
			again = append(again, r)
		}
	}
	if len(again) == 0 {
		return
	}
	all := append(again, g.out.Records...)
	last := make(map[string]int, len(all))
	for i, r := range all {
		last[string(r.Key)] = i
	}
	g.out.Records = all[:0]
	for i, r := range all {
		if last[string(r.Key)] == i {
			g.out.Records = append(g.out.Records, r)
		}
	}
}

// Unused reports whether the group holds nothing worth keeping: no members,
// no offsets, never persisted, no records still to persist. The
// coordinator forgets such groups.
func (g *Group) Unused() bool {
	if g.cg != nil && len(g.cg.members) > 0 || len(g.out.Records) > 0 {
		return false
	}
	return g.state == Dead || (g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 &&
		len(g.offsets) == 0 && !g.persisted && g.generation == 0)
}

func (g *Group) reply(id uint64, resp kmsg.Response) {
	g.out.Replies = append(g.out.Replies, Reply{ID: id, Resp: resp})
}

func (g *Group) record(key, value []byte) {
	g.out.Records = append(g.out.Records, Record{Key: key, Value: value})
}

// sortedMembers returns the members in join order.
func (g *Group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].seq < ms[j].seq })
	return ms
}

func (g *Group) transition(s State, now time.Time) {
	g.state = s
	g.stateSince = now
}

// NextDeadline is the earliest time Tick has work to do.
func (g *Group) NextDeadline() time.Time {
	next := g.retentionCheck
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	if g.state == PreparingRebalance {
		earlier(g.joinDeadline)
	}
	if len(g.pendingSync) > 0 {
		earlier(g.syncDeadline)
	}
	for _, d := range g.pending {
		earlier(d)
	}
	for _, m := range g.members {
		if m.join == nil && m.sync == nil {
			earlier(m.deadline)
		}
	}
	if g.cg != nil {
		next = g.consumerDeadline(next)
	}
	return next
}

// Tick fires every timer due at now: pending member IDs and sessions that
// expired, the end of a join phase, members that never synced, and offset
// retention.
func (g *Group) Tick(now time.Time) {
	for id, d := range g.pending {
		if !now.Before(d) {
			delete(g.pending, id)
		}
	}
	if g.state == PreparingRebalance && !now.Before(g.joinDeadline) {
		g.completeJoin(now)
	}
	if len(g.pendingSync) > 0 && !now.Before(g.syncDeadline) &&
		(g.state == CompletingRebalance || g.state == Stable) {
		for _, m := range g.sortedMembers() {
			if g.pendingSync[m.id] {
				g.removeMember(m, now)
			}
		}
		g.pendingSync = map[string]bool{}
		g.afterMemberRemoved(now) // members did not sync within the rebalance timeout
	}
	var expired bool
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.sync == nil && !now.Before(m.deadline) {
			g.removeMember(m, now)
			expired = true
		}
	}
	if expired {
		g.afterMemberRemoved(now)
	}
	if g.cg != nil {
		g.tickConsumers(now)
	}
	if !now.Before(g.retentionCheck) {
		g.retentionCheck = now.Add(g.cfg.OffsetsRetentionCheckInterval)
		g.expireOffsets(now)
	}
}

// Step handles one request. Unknown request types get no reply; the
// coordinator only routes group requests here.
func (g *Group) Step(now time.Time, req Request) {
	switch body := req.Body.(type) {
	case *kmsg.JoinGroupRequest:
		g.join(now, req, body)
	case *kmsg.SyncGroupRequest:
		g.syncGroup(now, req, body)
	case *kmsg.HeartbeatRequest:
		g.heartbeat(now, req, body)
	case *kmsg.LeaveGroupRequest:
		g.leave(now, req, body)
	case *kmsg.OffsetCommitRequest:
		g.commit(now, req, body)
	case *kmsg.OffsetFetchRequest:
		g.fetchOffsets(req, body)
	case *kmsg.DescribeGroupsRequest:
		g.describe(req, body)
	case *kmsg.DeleteGroupsRequest:
		g.deleteGroup(now, req, body)
	case *kmsg.OffsetDeleteRequest:
		g.deleteOffsets(req, body)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		g.consumerHeartbeat(now, req, body)
	case *kmsg.ConsumerGroupDescribeRequest:
		g.describeConsumer(req, body)
	}
}
