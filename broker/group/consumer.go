package group

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The KIP-848 consumer protocol: members heartbeat with ConsumerGroupHeartbeat
// and the coordinator assigns partitions itself (a uniform, sticky
// assignor). Each change of membership or subscription bumps the group
// epoch and computes a new target assignment; each member then reconciles
// towards its target through its heartbeats:
//
//   - partitions it owns that the target gives away are revoked first (the
//     member keeps its epoch until it reports them released);
//   - then it moves to the target epoch and gets the target's partitions
//     that no other member still owns; the rest follow once released.
//
// A member that does not heartbeat within the session timeout, or does not
// release revoked partitions within its rebalance timeout, is removed.
// The group epoch, members, target and current assignments are persisted
// (consumer_records.go), so after a coordinator restart a member that
// heartbeats with its member ID and epoch keeps its assignment.

// TopicInfo is what the assignor needs of a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// TopicMetadata gives the coordinator the cluster's topics.
type TopicMetadata interface {
	Topic(name string) (TopicInfo, bool)
	Topics() []TopicInfo
}

type tp struct {
	topic     [16]byte
	partition int32
}

type consumerMember struct {
	id            string
	instanceID    *string
	rackID        *string
	clientID      string
	clientHost    string
	epoch         int32
	previousEpoch int32
	rebalance     time.Duration
	topics        []string
	regex         *string
	assignor      string
	assigned      map[tp]bool // what the member may consume now
	revoking      map[tp]bool // what it must release before moving on
	revokeBy      time.Time
	deadline      time.Time
	lastSent      string // the assignment last sent, to send only changes

	// The values of the member's records last handed to the store.
	persistedMeta, persistedTarget, persistedCurrent []byte
}

type consumerGroup struct {
	epoch           int32
	assignmentEpoch int32
	members         map[string]*consumerMember
	target          map[string]map[tp]bool
	owner           map[tp]string // who holds each partition now
	metadataHash    uint64        // of the subscribed topics' partition counts

	// What the store holds of the group's own records.
	persisted                bool
	persistedEpoch           int32
	persistedHash            uint64
	persistedAssignmentEpoch int32
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		members: map[string]*consumerMember{}, target: map[string]map[tp]bool{}, owner: map[tp]string{},
		persistedEpoch: -1, persistedAssignmentEpoch: -1,
	}
}

// consumerState is the KIP-848 group state as ConsumerGroupDescribe names it.
func (cg *consumerGroup) state() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	if cg.assignmentEpoch < cg.epoch {
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignmentEpoch || len(m.revoking) > 0 || len(m.assigned) != len(cg.target[m.id]) {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (g *Group) consumerHeartbeat(now time.Time, req Request, r *kmsg.ConsumerGroupHeartbeatRequest) {
	resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(err *kerr.Error, msg string) {
		resp.ErrorCode = err.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		g.reply(req.ID, resp)
	}
	if g.cg == nil {
		if len(g.members) > 0 || g.state != Empty {
			fail(kerr.GroupIDNotFound, fmt.Sprintf("group %s is a classic group with members", g.id))
			return
		}
		g.cg = newConsumerGroup()
		g.protocolType = "consumer"
	}
	cg := g.cg
	if r.ServerAssignor != nil && *r.ServerAssignor != "uniform" && *r.ServerAssignor != "range" {
		fail(kerr.UnsupportedAssignor, "server assignors: uniform, range")
		return
	}
	var m *consumerMember
	changed := false // bumps the group epoch once
	switch {
	case r.MemberEpoch == -1 || r.MemberEpoch == -2:
		if m = cg.members[r.MemberID]; m == nil {
			fail(kerr.UnknownMemberID, "")
			return
		}
		g.removeConsumer(m, now)
		g.persistConsumers(nil)
		resp.MemberID, resp.MemberEpoch = &m.id, r.MemberEpoch
		g.reply(req.ID, resp)
		return
	case r.MemberEpoch == 0:
		id := r.MemberID
		if id == "" {
			if r.Version >= 1 {
				fail(kerr.InvalidRequest, "MemberId must be set (the client generates it)")
				return
			}
			id = g.cfg.NewMemberID(req.ClientID)
		}
		if len(r.SubscribedTopicNames) == 0 && (r.SubscribedTopicRegex == nil || *r.SubscribedTopicRegex == "") {
			fail(kerr.InvalidRequest, "a joining member must subscribe to topics or a regex")
			return
		}
		if r.SubscribedTopicRegex != nil {
			if _, err := regexp.Compile(*r.SubscribedTopicRegex); err != nil {
				fail(kerr.InvalidRegularExpression, err.Error())
				return
			}
		}
		if m = cg.members[id]; m == nil {
			if len(cg.members) >= g.cfg.MaxSize {
				fail(kerr.GroupMaxSizeReached, "")
				return
			}
			m = &consumerMember{id: id, assigned: map[tp]bool{}, rebalance: 5 * time.Minute}
			cg.members[id] = m
			changed = true
		} else {
			// A rejoin with epoch 0 drops what the member held.
			for p := range m.assigned {
				g.releasePartition(p, m.id)
			}
			for p := range m.revoking {
				g.releasePartition(p, m.id)
			}
			m.assigned, m.revoking = map[tp]bool{}, nil
			m.lastSent = ""
			changed = true
		}
		m.epoch, m.previousEpoch = 0, -1
		m.clientID, m.clientHost = req.ClientID, req.ClientHost
	default:
		if m = cg.members[r.MemberID]; m == nil {
			fail(kerr.UnknownMemberID, "")
			return
		}
		if r.MemberEpoch != m.epoch && !(r.MemberEpoch == m.previousEpoch && g.ownsOnly(m, r.Topics)) {
			fail(kerr.FencedMemberEpoch, fmt.Sprintf("member epoch %d, expected %d", r.MemberEpoch, m.epoch))
			return
		}
	}
	m.deadline = now.Add(g.cfg.ConsumerSessionTimeout)
	if r.InstanceID != nil {
		m.instanceID = r.InstanceID
	}
	if r.RackID != nil {
		m.rackID = r.RackID
	}
	if r.RebalanceTimeoutMillis > 0 {
		m.rebalance = time.Duration(r.RebalanceTimeoutMillis) * time.Millisecond
	}
	if r.ServerAssignor != nil {
		m.assignor = *r.ServerAssignor
	}
	if r.SubscribedTopicNames != nil && !slices.Equal(sortedCopy(r.SubscribedTopicNames), m.topics) {
		m.topics = sortedCopy(r.SubscribedTopicNames)
		changed = true
	}
	if r.SubscribedTopicRegex != nil && (m.regex == nil || *m.regex != *r.SubscribedTopicRegex) {
		re := *r.SubscribedTopicRegex
		m.regex = &re
		if re == "" {
			m.regex = nil
		}
		changed = true
	}
	// Released revoked partitions: the member no longer reports them.
	if r.Topics != nil && len(m.revoking) > 0 {
		owned := ownedSet(r.Topics)
		for p := range m.revoking {
			if !owned[p] {
				delete(m.revoking, p)
				g.releasePartition(p, m.id)
			}
		}
	}
	if h := fingerprintHash(g.subscriptionFingerprint()); h != cg.metadataHash {
		cg.metadataHash = h
		changed = true
	}
	if changed {
		cg.epoch++
	}
	if cg.assignmentEpoch < cg.epoch {
		g.computeTarget()
	}
	// A member's assignment changes only in its own heartbeat, so what the
	// coordinator records as assigned is what the member was told.
	g.reconcile(m, now)
	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(g.cfg.ConsumerHeartbeatInterval / time.Millisecond)
	if a := assignmentKey(m.assigned); a != m.lastSent || r.MemberEpoch == 0 || r.Topics != nil && !sameSet(ownedSet(r.Topics), m.assigned) {
		m.lastSent = a
		resp.Assignment = toAssignment(m.assigned)
	}
	g.persistConsumers(m)
	g.reply(req.ID, resp)
}

// sortedCopy returns the distinct strings of ss, sorted: a subscription
// naming a topic many times is kept (and described) once.
func sortedCopy(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return slices.Compact(out)
}

func ownedSet(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) map[tp]bool {
	out := map[tp]bool{}
	for _, t := range ts {
		for _, p := range t.Partitions {
			out[tp{t.TopicID, p}] = true
		}
	}
	return out
}

func sameSet(a, b map[tp]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for p := range a {
		if !b[p] {
			return false
		}
	}
	return true
}

// ownsOnly reports whether the owned partitions a member reports are all
// assigned to it (a retried heartbeat with the previous epoch is accepted
// then, as in Kafka).
func (g *Group) ownsOnly(m *consumerMember, ts []kmsg.ConsumerGroupHeartbeatRequestTopic) bool {
	for p := range ownedSet(ts) {
		if !m.assigned[p] {
			return false
		}
	}
	return true
}

func (g *Group) releasePartition(p tp, member string) {
	if g.cg.owner[p] == member {
		delete(g.cg.owner, p)
	}
}

// subscribed returns the topics a member subscribes to that exist.
func (g *Group) subscribed(m *consumerMember) []TopicInfo {
	if g.cfg.Topics == nil {
		return nil
	}
	var out []TopicInfo
	seen := map[string]bool{}
	for _, name := range m.topics {
		if t, ok := g.cfg.Topics.Topic(name); ok && !seen[name] {
			seen[name] = true
			out = append(out, t)
		}
	}
	if m.regex != nil {
		if re, err := regexp.Compile(*m.regex); err == nil {
			for _, t := range g.cfg.Topics.Topics() {
				if !seen[t.Name] && !strings.HasPrefix(t.Name, "__") && re.MatchString(t.Name) {
					seen[t.Name] = true
					out = append(out, t)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// subscriptionFingerprint changes when a subscribed topic appears,
// disappears or grows, so that the target is recomputed.
func (g *Group) subscriptionFingerprint() string {
	var b strings.Builder
	for _, m := range g.sortedConsumers() {
		for _, t := range g.subscribed(m) {
			fmt.Fprintf(&b, "%s:%x:%d,", t.Name, t.ID, t.Partitions)
		}
		b.WriteByte(';')
	}
	return b.String()
}

func (g *Group) sortedConsumers() []*consumerMember {
	ms := make([]*consumerMember, 0, len(g.cg.members))
	for _, m := range g.cg.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return ms
}

// computeTarget is the uniform assignor: every subscribed partition goes
// to a subscribed member, counts differ by at most one among members with
// the same subscription, and a partition stays with its previous target
// owner when that keeps the balance.
func (g *Group) computeTarget() {
	cg := g.cg
	ms := g.sortedConsumers()
	eligible := map[tp][]string{}
	var all []tp
	for _, m := range ms {
		for _, t := range g.subscribed(m) {
			for p := int32(0); p < t.Partitions; p++ {
				k := tp{t.ID, p}
				if eligible[k] == nil {
					all = append(all, k)
				}
				eligible[k] = append(eligible[k], m.id)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].topic != all[j].topic {
			return string(all[i].topic[:]) < string(all[j].topic[:])
		}
		return all[i].partition < all[j].partition
	})
	count := map[string]int{}
	quota := 0
	if len(ms) > 0 {
		quota = (len(all) + len(ms) - 1) / len(ms)
	}
	next := map[string]map[tp]bool{}
	for _, m := range ms {
		next[m.id] = map[tp]bool{}
	}
	var rest []tp
	for _, p := range all {
		kept := false
		for _, id := range eligible[p] {
			if cg.target[id][p] && count[id] < quota {
				next[id][p] = true
				count[id]++
				kept = true
				break
			}
		}
		if !kept {
			rest = append(rest, p)
		}
	}
	for _, p := range rest {
		best := ""
		for _, id := range eligible[p] {
			if best == "" || count[id] < count[best] {
				best = id
			}
		}
		next[best][p] = true
		count[best]++
	}
	cg.target = next
	cg.assignmentEpoch = cg.epoch
}

// reconcile moves a member towards its target: revoke first, then take
// the new epoch and whatever of the target is free.
func (g *Group) reconcile(m *consumerMember, now time.Time) {
	cg := g.cg
	target := cg.target[m.id]
	if len(m.revoking) > 0 {
		return // waiting for the member to release
	}
	var revoke []tp
	for p := range m.assigned {
		if !target[p] {
			revoke = append(revoke, p)
		}
	}
	if len(revoke) > 0 {
		m.revoking = map[tp]bool{}
		for _, p := range revoke {
			delete(m.assigned, p)
			m.revoking[p] = true
		}
		m.revokeBy = now.Add(m.rebalance)
		return
	}
	if m.epoch != cg.assignmentEpoch {
		m.previousEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	g.grant(m)
}

// grant gives a member the partitions of its target that nobody holds.
func (g *Group) grant(m *consumerMember) {
	cg := g.cg
	if len(m.revoking) > 0 {
		return
	}
	for p := range cg.target[m.id] {
		if m.assigned[p] {
			continue
		}
		if owner, ok := cg.owner[p]; ok && owner != m.id {
			continue
		}
		cg.owner[p] = m.id
		m.assigned[p] = true
	}
}

func (g *Group) removeConsumer(m *consumerMember, now time.Time) {
	cg := g.cg
	for p := range m.assigned {
		g.releasePartition(p, m.id)
	}
	for p := range m.revoking {
		g.releasePartition(p, m.id)
	}
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	g.forgetConsumer(m)
	cg.epoch++
	if len(cg.members) == 0 {
		g.stateSince = now
	}
}

// tickConsumers removes members whose session expired or who did not
// release revoked partitions in time.
func (g *Group) tickConsumers(now time.Time) {
	removed := false
	for _, m := range g.sortedConsumers() {
		if !now.Before(m.deadline) || (len(m.revoking) > 0 && !now.Before(m.revokeBy)) {
			g.removeConsumer(m, now)
			removed = true
		}
	}
	if removed {
		g.persistConsumers(nil)
	}
}

func (g *Group) consumerDeadline(next time.Time) time.Time {
	for _, m := range g.cg.members {
		if m.deadline.Before(next) {
			next = m.deadline
		}
		if len(m.revoking) > 0 && m.revokeBy.Before(next) {
			next = m.revokeBy
		}
	}
	return next
}

func assignmentKey(a map[tp]bool) string {
	ps := make([]string, 0, len(a))
	for p := range a {
		ps = append(ps, fmt.Sprintf("%x/%d", p.topic, p.partition))
	}
	sort.Strings(ps)
	return strings.Join(ps, ",")
}

func toAssignment(a map[tp]bool) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	by := map[[16]byte][]int32{}
	for p := range a {
		by[p.topic] = append(by[p.topic], p.partition)
	}
	out := &kmsg.ConsumerGroupHeartbeatResponseAssignment{}
	for id, ps := range by {
		slices.Sort(ps)
		out.Topics = append(out.Topics, kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{TopicID: id, Partitions: ps})
	}
	sort.Slice(out.Topics, func(i, j int) bool {
		return string(out.Topics[i].TopicID[:]) < string(out.Topics[j].TopicID[:])
	})
	return out
}

func (g *Group) describeAssignment(a map[tp]bool) kmsg.Assignment {
	var out kmsg.Assignment
	names := map[[16]byte]string{}
	if g.cfg.Topics != nil {
		for _, t := range g.cfg.Topics.Topics() {
			names[t.ID] = t.Name
		}
	}
	for _, t := range toAssignment(a).Topics {
		out.TopicPartitions = append(out.TopicPartitions, kmsg.AssignmentTopicPartition{TopicID: t.TopicID, Topic: names[t.TopicID], Partitions: t.Partitions})
	}
	return out
}

// describeConsumer answers ConsumerGroupDescribe for this group.
func (g *Group) describeConsumer(req Request, r *kmsg.ConsumerGroupDescribeRequest) {
	resp := r.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	rg := kmsg.NewConsumerGroupDescribeResponseGroup()
	rg.Group = g.id
	switch {
	case g.cg == nil && g.Unused():
		rg.ErrorCode = kerr.GroupIDNotFound.Code
	case g.cg == nil:
		rg.ErrorCode = kerr.GroupIDNotFound.Code
		msg := fmt.Sprintf("group %s is not a consumer-protocol group", g.id)
		rg.ErrorMessage = &msg
	default:
		cg := g.cg
		rg.State, rg.Epoch, rg.AssignmentEpoch, rg.AssignorName = cg.state(), cg.epoch, cg.assignmentEpoch, "uniform"
		for _, m := range g.sortedConsumers() {
			rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.RackID, rm.MemberEpoch = m.id, m.instanceID, m.rackID, m.epoch
			rm.ClientID, rm.ClientHost, rm.SubscribedTopics, rm.SubscribedTopicRegex = m.clientID, m.clientHost, m.topics, m.regex
			rm.Assignment = g.describeAssignment(m.assigned)
			rm.TargetAssignment = g.describeAssignment(cg.target[m.id])
			rm.MemberType = 1
			rg.Members = append(rg.Members, rm)
		}
	}
	resp.Groups = append(resp.Groups, rg)
	g.reply(req.ID, resp)
}

// validateConsumerCommit applies KIP-848's rules to an offset commit: the
// generation field carries the member epoch.
func (g *Group) validateConsumerCommit(r *kmsg.OffsetCommitRequest) *kerr.Error {
	if r.Generation < 0 && r.MemberID == "" && len(g.cg.members) == 0 {
		return nil
	}
	m, ok := g.cg.members[r.MemberID]
	switch {
	case !ok:
		return kerr.UnknownMemberID
	case r.Generation > m.epoch:
		return kerr.FencedMemberEpoch
	case r.Generation < m.epoch && r.Generation != m.previousEpoch:
		// The previous epoch is accepted: a member commits what it consumed
		// while its heartbeat moved it to the next epoch (as Kafka 4.3 does).
		return kerr.StaleMemberEpoch
	}
	return nil
}

// describeConsumerAsClassic shows a consumer-protocol group in
// DescribeGroups as Kafka's classic tools expect: protocol type
// "consumer", classic state names, and each member's assignment encoded
// as a ConsumerMemberAssignment, so admin tools show both kinds alike.
func (g *Group) describeConsumerAsClassic(rg kmsg.DescribeGroupsResponseGroup) kmsg.DescribeGroupsResponseGroup {
	cg := g.cg
	rg.ProtocolType, rg.Protocol = "consumer", "uniform"
	switch cg.state() {
	case "Empty":
		rg.State = Empty.String()
	case "Stable":
		rg.State = Stable.String()
	default:
		rg.State = PreparingRebalance.String()
	}
	for _, m := range g.sortedConsumers() {
		rm := kmsg.NewDescribeGroupsResponseGroupMember()
		rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		md := kmsg.NewConsumerMemberMetadata()
		md.Topics = m.topics
		rm.ProtocolMetadata = md.AppendTo(nil)
		a := kmsg.NewConsumerMemberAssignment()
		for _, t := range g.describeAssignment(m.assigned).TopicPartitions {
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
		rm.MemberAssignment = a.AppendTo(nil)
		rg.Members = append(rg.Members, rm)
	}
	return rg
}
