package group

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
)

// validateCommit applies Kafka's rules for who may commit: anyone while the
// group is empty and the commit carries no generation (standalone
// consumers, admin tools); otherwise a current member of the current
// generation, and not while the group waits for the leader's assignment.
func (g *Group) validateCommit(r *kmsg.OffsetCommitRequest) *kerr.Error {
	if g.cg != nil {
		return g.validateConsumerCommit(r)
	}
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if r.Generation < 0 && r.MemberID == "" && g.state == Empty {
		return nil
	}
	if err := g.checkInstance(r.MemberID, r.InstanceID); err != nil {
		return err
	}
	if _, ok := g.members[r.MemberID]; !ok {
		if g.state == Empty && g.generation == 0 && r.Generation >= 0 {
			return kerr.IllegalGeneration
		}
		return kerr.UnknownMemberID
	}
	if r.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

func (g *Group) commit(now time.Time, req Request, r *kmsg.OffsetCommitRequest) {
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	groupErr := g.validateCommit(r)
	if groupErr == nil {
		if m, ok := g.members[r.MemberID]; ok {
			m.deadline = now.Add(m.sessionTimeout) // a commit shows the member is alive
		}
	}
	// A partition named more than once is answered once with
	// INVALID_REQUEST and not committed (Kafka commits its last mention).
	counts := mention.CountNested(r.Topics,
		func(t *kmsg.OffsetCommitRequestTopic) []kmsg.OffsetCommitRequestTopicPartition { return t.Partitions },
		func(t *kmsg.OffsetCommitRequestTopic, p *kmsg.OffsetCommitRequestTopicPartition) topicPartition {
			return topicPartition{t.Topic, p.Partition}
		})
	topics := map[string]int{}
	for _, t := range r.Topics {
		ti := mention.Entry(topics, &resp.Topics, t.Topic, func() kmsg.OffsetCommitResponseTopic {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			return rt
		})
		rt := &resp.Topics[ti]
		for _, p := range t.Partitions {
			n := counts.Take(topicPartition{t.Topic, p.Partition})
			if n == 0 {
				continue // a duplicate, answered already
			}
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case groupErr != nil:
				rp.ErrorCode = groupErr.Code
			case n > 1:
				rp.ErrorCode = kerr.InvalidRequest.Code
			case g.cfg.TopicExists != nil && !g.cfg.TopicExists(t.Topic, p.Partition):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > g.cfg.MaxMetadataSize:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				e := offsetEntry{offset: p.Offset, epoch: p.LeaderEpoch, commitTime: now}
				if r.Version < 6 {
					e.epoch = -1
				}
				if p.Metadata != nil {
					e.metadata = *p.Metadata
				}
				g.setOffset(t.Topic, p.Partition, e)
				g.record(offsetKey(g.id, t.Topic, p.Partition), offsetValue(e))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	g.reply(req.ID, resp)
}

// topicPartition names a partition by topic name, as the classic group
// APIs do.
type topicPartition struct {
	topic     string
	partition int32
}

func (g *Group) setOffset(topic string, partition int32, e offsetEntry) {
	ps := g.offsets[topic]
	if ps == nil {
		ps = map[int32]offsetEntry{}
		g.offsets[topic] = ps
	}
	ps[partition] = e
}

func (g *Group) deleteOffset(topic string, partition int32) {
	ps := g.offsets[topic]
	delete(ps, partition)
	if len(ps) == 0 {
		delete(g.offsets, topic)
	}
}

func sortedTopics[V any](m map[string]V) []string {
	ts := make([]string, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

func sortedPartitions(m map[int32]offsetEntry) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// fetchOffsets answers OffsetFetch. From v8 the request names groups; the
// coordinator sends each group a request naming only that group.
func (g *Group) fetchOffsets(req Request, r *kmsg.OffsetFetchRequest) {
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.Version < 8 {
		var topics []kmsg.OffsetFetchRequestGroupTopic
		for _, t := range r.Topics {
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
		all := r.Topics == nil && r.Version >= 2
		for _, t := range g.fetchTopics(topics, all) {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		g.reply(req.ID, resp)
		return
	}
	for _, rg := range r.Groups {
		out := kmsg.NewOffsetFetchResponseGroup()
		out.Group = rg.Group
		out.Topics = g.fetchTopics(rg.Topics, rg.Topics == nil)
		resp.Groups = append(resp.Groups, out)
	}
	g.reply(req.ID, resp)
}

func (g *Group) fetchTopics(topics []kmsg.OffsetFetchRequestGroupTopic, all bool) []kmsg.OffsetFetchResponseGroupTopic {
	var out []kmsg.OffsetFetchResponseGroupTopic
	if all {
		for _, t := range sortedTopics(g.offsets) {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t
			for _, p := range sortedPartitions(g.offsets[t]) {
				rt.Partitions = append(rt.Partitions, g.fetchPartition(t, p))
			}
			out = append(out, rt)
		}
		return out
	}
	// Each partition is answered once, under one entry per topic.
	seen := mention.Seen[topicPartition]{}
	idx := map[string]int{}
	for _, t := range topics {
		i := mention.Entry(idx, &out, t.Topic, func() kmsg.OffsetFetchResponseGroupTopic {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			return rt
		})
		for _, p := range t.Partitions {
			if seen.First(topicPartition{t.Topic, p}) {
				out[i].Partitions = append(out[i].Partitions, g.fetchPartition(t.Topic, p))
			}
		}
	}
	return out
}

func (g *Group) fetchPartition(topic string, partition int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	rp.Partition = partition
	rp.Offset, rp.LeaderEpoch = -1, -1
	empty := ""
	rp.Metadata = &empty
	if e, ok := g.offsets[topic][partition]; ok {
		rp.Offset, rp.LeaderEpoch = e.offset, e.epoch
		md := e.metadata
		rp.Metadata = &md
	}
	return rp
}

// deleteOffsets answers OffsetDelete: offsets of topics no member is
// subscribed to may be deleted; a non-empty group of another protocol type
// refuses.
func (g *Group) deleteOffsets(req Request, r *kmsg.OffsetDeleteRequest) {
	resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if g.Unused() {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		g.reply(req.ID, resp)
		return
	}
	if g.state != Empty && g.protocolType != "consumer" && g.cg == nil {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		g.reply(req.ID, resp)
		return
	}
	subscribed := g.subscribedTopics()
	seen := mention.Seen[topicPartition]{}
	topics := map[string]int{}
	for _, t := range r.Topics {
		ti := mention.Entry(topics, &resp.Topics, t.Topic, func() kmsg.OffsetDeleteResponseTopic {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			return rt
		})
		rt := &resp.Topics[ti]
		for _, p := range t.Partitions {
			if !seen.First(topicPartition{t.Topic, p.Partition}) {
				continue // answered once
			}
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if subscribed[t.Topic] {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if _, ok := g.offsets[t.Topic][p.Partition]; ok {
				g.deleteOffset(t.Topic, p.Partition)
				g.record(offsetKey(g.id, t.Topic, p.Partition), nil)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	g.reply(req.ID, resp)
}

// subscribedTopics decodes the members' consumer-protocol subscriptions.
// A subscription that does not decode subscribes to nothing.
func (g *Group) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	if g.cg != nil {
		for _, m := range g.cg.members {
			for _, t := range g.subscribed(m) {
				out[t.Name] = true
			}
		}
		return out
	}
	if g.protocolType != "consumer" {
		return out
	}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if md.ReadFrom(m.metadata(g.protocol)) != nil {
			continue
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out
}

// expireOffsets drops the offsets of a group that has been empty for the
// retention period (KIP-211); a group left with nothing is deleted. A
// KIP-848 group with members keeps its offsets.
func (g *Group) expireOffsets(now time.Time) {
	if g.state != Empty || g.cg != nil && len(g.cg.members) > 0 {
		return
	}
	for _, t := range sortedTopics(g.offsets) {
		for _, p := range sortedPartitions(g.offsets[t]) {
			e := g.offsets[t][p]
			since := e.commitTime
			if g.protocolType != "" && g.stateSince.After(since) {
				since = g.stateSince
			}
			if !now.Before(since.Add(g.cfg.OffsetsRetention)) {
				g.deleteOffset(t, p)
				g.record(offsetKey(g.id, t, p), nil)
			}
		}
	}
	if len(g.offsets) == 0 && g.cg != nil {
		g.dropConsumerGroup()
		g.transition(Dead, now)
		return
	}
	if len(g.offsets) == 0 && len(g.pending) == 0 && (g.persisted || g.generation > 0) {
		g.record(groupKey(g.id), nil)
		g.persisted = false
		g.transition(Dead, now)
	}
}

// deleteGroup answers DeleteGroups for this group: only an empty group can
// be deleted; its offsets and metadata get tombstones.
func (g *Group) deleteGroup(now time.Time, req Request, r *kmsg.DeleteGroupsRequest) {
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	rg := kmsg.NewDeleteGroupsResponseGroup()
	rg.Group = g.id
	switch {
	case g.Unused():
		rg.ErrorCode = kerr.GroupIDNotFound.Code
	case g.state != Empty || g.cg != nil && len(g.cg.members) > 0:
		rg.ErrorCode = kerr.NonEmptyGroup.Code
	default:
		if g.cg != nil {
			g.dropConsumerGroup()
		}
		for _, t := range sortedTopics(g.offsets) {
			for _, p := range sortedPartitions(g.offsets[t]) {
				g.record(offsetKey(g.id, t, p), nil)
			}
		}
		g.offsets = map[string]map[int32]offsetEntry{}
		g.record(groupKey(g.id), nil)
		g.persisted = false
		g.transition(Dead, now)
	}
	resp.Groups = append(resp.Groups, rg)
	g.reply(req.ID, resp)
}

// describe answers DescribeGroups for this group. Member metadata and
// assignments are shown only when the group is stable, as Kafka does.
func (g *Group) describe(req Request, r *kmsg.DescribeGroupsRequest) {
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.Groups = append(resp.Groups, g.Describe(r.Version))
	g.reply(req.ID, resp)
}

// Describe is the group's DescribeGroups entry.
func (g *Group) Describe(version int16) kmsg.DescribeGroupsResponseGroup {
	rg := kmsg.NewDescribeGroupsResponseGroup()
	rg.Group = g.id
	if g.Unused() {
		rg.State = Dead.String()
		if version >= 6 {
			rg.ErrorCode = kerr.GroupIDNotFound.Code
		}
		return rg
	}
	if g.cg != nil {
		return g.describeConsumerAsClassic(rg)
	}
	rg.State = g.state.String()
	rg.ProtocolType = g.protocolType
	if g.state == Stable {
		rg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		rm := kmsg.NewDescribeGroupsResponseGroupMember()
		rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		rm.ProtocolMetadata, rm.MemberAssignment = []byte{}, []byte{}
		if g.state == Stable {
			rm.ProtocolMetadata = m.metadata(g.protocol)
			rm.MemberAssignment = m.assignment
		}
		rg.Members = append(rg.Members, rm)
	}
	return rg
}
