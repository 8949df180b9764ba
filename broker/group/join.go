package group

import (
	"bytes"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
)

func (g *Group) joinError(req Request, r *kmsg.JoinGroupRequest, memberID string, err *kerr.Error) {
	resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = err.Code
	resp.MemberID = memberID
	g.reply(req.ID, resp)
}

func (g *Group) join(now time.Time, req Request, r *kmsg.JoinGroupRequest) {
	session := time.Duration(r.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(r.RebalanceTimeoutMillis) * time.Millisecond
	if r.Version == 0 || r.RebalanceTimeoutMillis < 0 {
		rebalance = session // v0 has no rebalance timeout: Kafka uses the session timeout
	}
	if g.cg != nil {
		if len(g.cg.members) > 0 {
			g.joinError(req, r, r.MemberID, kerr.InconsistentGroupProtocol)
			return
		}
		g.dropConsumerGroup() // an empty consumer-protocol group turns classic
	}
	switch {
	case session < g.cfg.MinSessionTimeout || session > g.cfg.MaxSessionTimeout:
		g.joinError(req, r, r.MemberID, kerr.InvalidSessionTimeout)
		return
	case r.ProtocolType == "" || len(r.Protocols) == 0:
		g.joinError(req, r, r.MemberID, kerr.InconsistentGroupProtocol)
		return
	case g.state != Empty && (g.protocolType != r.ProtocolType || !g.supportsProtocols(r.Protocols)):
		g.joinError(req, r, r.MemberID, kerr.InconsistentGroupProtocol)
		return
	}
	if r.MemberID == "" {
		g.joinNew(now, req, r, session, rebalance)
		return
	}
	if _, ok := g.pending[r.MemberID]; ok {
		delete(g.pending, r.MemberID)
		m := g.newMember(r.MemberID, req, r, session, rebalance, now)
		g.addMember(m, req, r, now)
		return
	}
	m, ok := g.members[r.MemberID]
	if err := g.checkInstance(r.MemberID, r.InstanceID); err != nil {
		g.joinError(req, r, r.MemberID, err)
		return
	}
	if !ok || g.state == Dead {
		g.joinError(req, r, r.MemberID, kerr.UnknownMemberID)
		return
	}
	g.rejoin(now, req, r, m, session, rebalance)
}

// checkInstance fences a static member whose instance ID now belongs to
// another member ID (KIP-345).
func (g *Group) checkInstance(memberID string, instanceID *string) *kerr.Error {
	if instanceID == nil {
		return nil
	}
	owner, ok := g.static[*instanceID]
	if !ok {
		return nil
	}
	if owner != memberID {
		return kerr.FencedInstanceID
	}
	return nil
}

func (g *Group) supportsProtocols(ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return true
	}
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (m *member) supports(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

func (g *Group) newMember(id string, req Request, r *kmsg.JoinGroupRequest, session, rebalance time.Duration, now time.Time) *member {
	g.nextSeq++
	return &member{
		id:               id,
		instanceID:       r.InstanceID,
		clientID:         req.ClientID,
		clientHost:       req.ClientHost,
		sessionTimeout:   session,
		rebalanceTimeout: rebalance,
		protocols:        r.Protocols,
		seq:              g.nextSeq,
		deadline:         now.Add(session),
		isNew:            true,
	}
}

// full reports whether one more member would exceed group.max.size or
// the bound on handed-out IDs.
func (g *Group) full() bool {
	return len(g.members)+len(g.pending) >= g.cfg.MaxSize || len(g.pending) >= g.cfg.MaxPending
}

func (g *Group) joinNew(now time.Time, req Request, r *kmsg.JoinGroupRequest, session, rebalance time.Duration) {
	if r.InstanceID != nil {
		if old, ok := g.static[*r.InstanceID]; ok {
			g.replaceStatic(now, req, r, g.members[old], session, rebalance)
			return
		}
	}
	if g.full() {
		g.joinError(req, r, "", kerr.GroupMaxSizeReached)
		return
	}
	id := g.newMemberID(req.ClientID, r.InstanceID)
	if r.Version >= 4 && r.InstanceID == nil {
		// KIP-394: hand out the ID; the member joins with it next.
		g.pending[id] = now.Add(session)
		g.joinError(req, r, id, kerr.MemberIDRequired)
		return
	}
	g.addMember(g.newMember(id, req, r, session, rebalance, now), req, r, now)
}

func (g *Group) addMember(m *member, req Request, r *kmsg.JoinGroupRequest, now time.Time) {
	if g.state == Empty {
		g.protocolType = r.ProtocolType
	}
	g.members[m.id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	m.join = &pendingReply{id: req.ID, version: r.Version}
	if g.leader == "" {
		g.leader = m.id
	}
	g.prepareRebalance(now)
	g.maybeCompleteJoin(now)
}

// replaceStatic handles a static member rejoining with an empty member ID:
// the old member ID is fenced and, if the group is stable and the member's
// protocols are unchanged, the member gets its old assignment back without
// a rebalance (KIP-345).
func (g *Group) replaceStatic(now time.Time, req Request, r *kmsg.JoinGroupRequest, old *member, session, rebalance time.Duration) {
	newID := g.newMemberID(req.ClientID, r.InstanceID)
	if old.join != nil {
		g.joinError(Request{ID: old.join.id}, &kmsg.JoinGroupRequest{Version: old.join.version}, old.id, kerr.FencedInstanceID)
		old.join = nil
	}
	if old.sync != nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.Version = old.sync.version
		resp.ErrorCode = kerr.FencedInstanceID.Code
		g.reply(old.sync.id, resp)
		old.sync = nil
	}
	delete(g.members, old.id)
	if g.pendingSync[old.id] {
		delete(g.pendingSync, old.id)
		g.pendingSync[newID] = true
	}
	wasLeader := g.leader == old.id
	if wasLeader {
		g.leader = newID
	}
	old.id = newID
	old.clientID, old.clientHost = req.ClientID, req.ClientHost
	old.sessionTimeout, old.rebalanceTimeout = session, rebalance
	old.protocols = r.Protocols
	old.deadline = now.Add(session)
	g.members[newID] = old
	g.static[*r.InstanceID] = newID

	// As Kafka: no rebalance unless the group's protocol would change (the
	// member's metadata may differ: a restarted cooperative-sticky client
	// no longer lists what it owned).
	if g.state == Stable && g.selectProtocol() == g.protocol {
		resp := g.joinResponse(r.Version, old, wasLeader)
		resp.SkipAssignment = wasLeader
		g.persistGroup(now)
		g.reply(req.ID, resp)
		return
	}
	old.join = &pendingReply{id: req.ID, version: r.Version}
	g.prepareRebalance(now)
	g.maybeCompleteJoin(now)
}

func (g *Group) rejoin(now time.Time, req Request, r *kmsg.JoinGroupRequest, m *member, session, rebalance time.Duration) {
	changed := !sameProtocols(m.protocols, r.Protocols)
	m.protocols = r.Protocols
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	m.deadline = now.Add(session)
	if m.join != nil {
		// A retried join replaces the one waiting (Kafka answers the old one
		// with an error the client ignores).
		g.joinError(Request{ID: m.join.id}, &kmsg.JoinGroupRequest{Version: m.join.version}, m.id, kerr.RebalanceInProgress)
	}
	switch g.state {
	case PreparingRebalance:
		m.join = &pendingReply{id: req.ID, version: r.Version}
		g.maybeCompleteJoin(now)
	case CompletingRebalance, Stable:
		if !changed && (g.state == CompletingRebalance || m.id != g.leader) {
			// Nothing changed: answer with the current generation.
			g.reply(req.ID, g.joinResponse(r.Version, m, m.id == g.leader))
			return
		}
		m.join = &pendingReply{id: req.ID, version: r.Version}
		g.prepareRebalance(now)
		g.maybeCompleteJoin(now)
	default:
		g.joinError(req, r, m.id, kerr.UnknownMemberID)
	}
}

func (g *Group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// prepareRebalance starts a join phase unless one is running.
func (g *Group) prepareRebalance(now time.Time) {
	if g.state == PreparingRebalance {
		if g.initialDelay {
			// Each new member of a new group extends the wait, up to the
			// rebalance timeout.
			g.joinDeadline = minTime(now.Add(g.cfg.InitialRebalanceDelay), g.joinStarted.Add(g.maxRebalanceTimeout()))
		}
		return
	}
	// Members waiting on SyncGroup must rejoin: answer them now.
	for _, m := range g.members {
		if m.sync != nil {
			resp := kmsg.NewPtrSyncGroupResponse()
			resp.Version = m.sync.version
			resp.ErrorCode = kerr.RebalanceInProgress.Code
			g.reply(m.sync.id, resp)
			m.sync = nil
		}
	}
	g.pendingSync = map[string]bool{}
	g.initialDelay = g.state == Empty && g.cfg.InitialRebalanceDelay > 0
	g.transition(PreparingRebalance, now)
	g.joinStarted = now
	if g.initialDelay {
		g.joinDeadline = minTime(now.Add(g.cfg.InitialRebalanceDelay), now.Add(g.maxRebalanceTimeout()))
	} else {
		g.joinDeadline = now.Add(g.maxRebalanceTimeout())
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (g *Group) maybeCompleteJoin(now time.Time) {
	if g.state != PreparingRebalance || g.initialDelay {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	if len(g.pending) > 0 {
		return // members handed an ID are expected to join too
	}
	g.completeJoin(now)
}

// completeJoin ends the join phase: members that did not rejoin are
// removed, a protocol is chosen, the generation advances and every joined
// member gets its reply (the leader with everyone's metadata).
func (g *Group) completeJoin(now time.Time) {
	for _, m := range g.sortedMembers() {
		if m.join == nil {
			g.removeMember(m, now)
		}
	}
	g.initialDelay = false
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.leader = ""
		g.transition(Empty, now)
		g.persistGroup(now)
		return
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.sortedMembers()[0].id
	}
	g.protocol = g.selectProtocol()
	g.transition(CompletingRebalance, now)
	g.syncDeadline = now.Add(g.maxRebalanceTimeout())
	for _, m := range g.sortedMembers() {
		g.pendingSync[m.id] = true
		m.assignment = nil
		m.isNew = false
		m.deadline = now.Add(m.sessionTimeout)
		resp := g.joinResponse(m.join.version, m, m.id == g.leader)
		g.reply(m.join.id, resp)
		m.join = nil
	}
}

// joinResponse answers a member with the current generation; the leader
// also gets every member's metadata for the chosen protocol.
func (g *Group) joinResponse(version int16, m *member, leader bool) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = version
	resp.Generation = g.generation
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType = &pt
	resp.Protocol = &p
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if leader {
		for _, o := range g.sortedMembers() {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = o.id
			rm.InstanceID = o.instanceID
			rm.ProtocolMetadata = o.metadata(g.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

// selectProtocol picks the protocol every member supports that most members
// prefer; ties go to the leader's preference order.
func (g *Group) selectProtocol() string {
	ms := g.sortedMembers()
	leader := g.members[g.leader]
	var candidates []string
	for _, p := range leader.protocols {
		all := true
		for _, m := range ms {
			if !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, m := range ms {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// removeMember drops a member, answering any reply it waits for with
// UNKNOWN_MEMBER_ID. The caller decides what the group does next.
func (g *Group) removeMember(m *member, now time.Time) {
	if m.join != nil {
		g.joinError(Request{ID: m.join.id}, &kmsg.JoinGroupRequest{Version: m.join.version}, m.id, kerr.UnknownMemberID)
	}
	if m.sync != nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.Version = m.sync.version
		resp.ErrorCode = kerr.UnknownMemberID.Code
		g.reply(m.sync.id, resp)
	}
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

// afterMemberRemoved moves the group on after members left or expired.
func (g *Group) afterMemberRemoved(now time.Time) {
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance(now)
		g.maybeCompleteJoin(now)
	case PreparingRebalance:
		g.maybeCompleteJoin(now)
	}
}

func (g *Group) syncGroup(now time.Time, req Request, r *kmsg.SyncGroupRequest) {
	resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(err *kerr.Error) {
		resp.ErrorCode = err.Code
		g.reply(req.ID, resp)
	}
	m, ok := g.members[r.MemberID]
	if err := g.checkInstance(r.MemberID, r.InstanceID); err != nil {
		fail(err)
		return
	}
	switch {
	case !ok:
		fail(kerr.UnknownMemberID)
		return
	case r.Generation != g.generation:
		fail(kerr.IllegalGeneration)
		return
	case (r.ProtocolType != nil && *r.ProtocolType != g.protocolType) || (r.Protocol != nil && *r.Protocol != g.protocol):
		fail(kerr.InconsistentGroupProtocol)
		return
	}
	m.deadline = now.Add(m.sessionTimeout)
	switch g.state {
	case PreparingRebalance:
		fail(kerr.RebalanceInProgress)
	case CompletingRebalance:
		delete(g.pendingSync, m.id)
		m.sync = &pendingReply{id: req.ID, version: r.Version}
		if m.id != g.leader {
			return
		}
		for _, a := range r.GroupAssignment {
			if am, ok := g.members[a.MemberID]; ok {
				am.assignment = a.MemberAssignment
			}
		}
		g.transition(Stable, now)
		g.persistGroup(now)
		for _, o := range g.sortedMembers() {
			if o.sync != nil {
				g.reply(o.sync.id, g.syncResponse(o.sync.version, o))
				o.sync = nil
			}
		}
	case Stable:
		delete(g.pendingSync, m.id)
		g.reply(req.ID, g.syncResponse(r.Version, m))
	default:
		fail(kerr.UnknownMemberID)
	}
}

func (g *Group) syncResponse(version int16, m *member) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = version
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	resp.MemberAssignment = m.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

func (g *Group) heartbeat(now time.Time, req Request, r *kmsg.HeartbeatRequest) {
	resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
	defer g.reply(req.ID, resp)
	m, ok := g.members[r.MemberID]
	if err := g.checkInstance(r.MemberID, r.InstanceID); err != nil {
		resp.ErrorCode = err.Code
		return
	}
	switch {
	case !ok || g.state == Empty || g.state == Dead:
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return
	case r.Generation != g.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
		return
	}
	m.deadline = now.Add(m.sessionTimeout)
	if g.state == PreparingRebalance {
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
}

func (g *Group) leave(now time.Time, req Request, r *kmsg.LeaveGroupRequest) {
	resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
	leavers := r.Members
	if r.Version < 3 {
		leavers = []kmsg.LeaveGroupRequestMember{{MemberID: r.MemberID}}
	}
	var removed bool
	type leaver struct {
		member   string
		instance string
		static   bool
	}
	seen := mention.Seen[leaver]{}
	for _, l := range leavers {
		k := leaver{member: l.MemberID, static: l.InstanceID != nil}
		if l.InstanceID != nil {
			k.instance = *l.InstanceID
		}
		if !seen.First(k) {
			continue // a member named more than once is answered once
		}
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = l.MemberID, l.InstanceID
		id := l.MemberID
		if l.InstanceID != nil {
			owner, ok := g.static[*l.InstanceID]
			switch {
			case !ok:
				rm.ErrorCode = kerr.UnknownMemberID.Code
			case l.MemberID != "" && l.MemberID != owner:
				rm.ErrorCode = kerr.FencedInstanceID.Code
			}
			id = owner
		}
		if rm.ErrorCode == 0 {
			if _, ok := g.pending[id]; ok {
				delete(g.pending, id)
			} else if m, ok := g.members[id]; ok {
				g.removeMember(m, now)
				removed = true
			} else {
				rm.ErrorCode = kerr.UnknownMemberID.Code
			}
		}
		resp.Members = append(resp.Members, rm)
	}
	if r.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	if removed {
		g.afterMemberRemoved(now)
	}
	if g.state == PreparingRebalance {
		g.maybeCompleteJoin(now)
	}
	g.reply(req.ID, resp)
}
