package group

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The KIP-848 side of the testdata scripts: members named by alias (the
// alias is the member ID, as KIP-848 clients make their own) heartbeat
// like a client that applies each assignment it is sent and reports what
// it owns.

// scriptTopics are the topics KIP-848 script members subscribe to.
var scriptTopics = fakeTopics{
	"t": {Name: "t", ID: [16]byte{1}, Partitions: 4},
	"u": {Name: "u", ID: [16]byte{2}, Partitions: 2},
}

type scriptConsumer struct {
	epoch int32
	owned map[tp]bool
}

// runConsumer runs the KIP-848 commands; it reports false for a command
// it does not know.
func (e *scriptEnv) runConsumer(cmd, alias string, kv map[string]string) bool {
	switch cmd {
	case "cg":
		c := e.cg[alias]
		if c == nil {
			c = &scriptConsumer{owned: map[tp]bool{}}
			e.cg[alias] = c
		}
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Version, r.Group, r.MemberID = 1, "g", alias
		r.MemberEpoch = int32(e.num(kv, "epoch", int64(c.epoch)))
		r.RebalanceTimeoutMillis = -1
		if d, ok := kv["rebalance"]; ok {
			r.RebalanceTimeoutMillis = int32(e.dur(d) / time.Millisecond)
		}
		if sub, ok := kv["sub"]; ok || r.MemberEpoch == 0 {
			r.SubscribedTopicNames = strings.Split(orDefault(sub, "t"), ",")
		}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if r.MemberEpoch != 0 {
			for _, t := range toAssignment(c.owned).Topics {
				r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t.TopicID, Partitions: t.Partitions})
			}
		}
		e.send(alias, r)
	case "cgdescribe":
		r := kmsg.NewPtrConsumerGroupDescribeRequest()
		r.Groups = []string{"g"}
		e.send("", r)
	default:
		return false
	}
	return true
}

// compacted is what a compacted __consumer_offsets keeps of recs: the last
// record of each key, tombstones gone.
func compacted(recs []Record) []Record {
	last := map[string]int{}
	for i, r := range recs {
		last[string(r.Key)] = i
	}
	var out []Record
	for i, r := range recs {
		if last[string(r.Key)] == i && r.Value != nil {
			out = append(out, r)
		}
	}
	return out
}

// partitionsString shows partitions as "t:0,1 u:0".
func partitionsString(a map[tp]bool) string {
	names := map[[16]byte]string{}
	for _, t := range scriptTopics {
		names[t.ID] = t.Name
	}
	var ts []string
	for _, t := range toAssignment(a).Topics {
		ps := make([]string, len(t.Partitions))
		for i, p := range t.Partitions {
			ps[i] = fmt.Sprint(p)
		}
		ts = append(ts, names[t.TopicID]+":"+strings.Join(ps, ","))
	}
	sort.Strings(ts)
	return "[" + strings.Join(ts, " ") + "]"
}

func (e *scriptEnv) consumerLine() string {
	cg := e.g.cg
	line := fmt.Sprintf("consumer %s epoch=%d assignment-epoch=%d", cg.state(), cg.epoch, cg.assignmentEpoch)
	for _, m := range e.g.sortedConsumers() {
		line += fmt.Sprintf(" %s:%d%s", m.id, m.epoch, partitionsString(m.assigned))
		if len(m.revoking) > 0 {
			line += "-revoking" + partitionsString(m.revoking)
		}
	}
	return line
}

func (e *scriptEnv) describeConsumerRecord(rec Record) string {
	k, err := readConsumerKey(rec.Key)
	if err != nil {
		e.t.Fatalf("record key: %v", err)
	}
	name := map[int16]string{
		keyConsumerGroup: "cg", keyConsumerMember: "cg-member", keyConsumerTargetEpoch: "cg-target-epoch",
		keyConsumerTarget: "cg-target", keyConsumerCurrent: "cg-current",
	}[k.version]
	if k.member != "" {
		name += " " + k.member
	}
	if rec.Value == nil {
		return "record " + name + " tombstone"
	}
	var s string
	switch k.version {
	case keyConsumerGroup:
		epoch, _, err2 := readGroupEpochValue(rec.Value)
		s, err = fmt.Sprintf("epoch=%d", epoch), err2
	case keyConsumerMember:
		m, err2 := readMemberMetadataValue(k.member, rec.Value)
		s, err = fmt.Sprintf("sub=%v client=%s rebalance=%v", m.topics, m.clientID, m.rebalance), err2
	case keyConsumerTargetEpoch:
		epoch, err2 := readTargetEpochValue(rec.Value)
		s, err = fmt.Sprintf("%d", epoch), err2
	case keyConsumerTarget:
		a, err2 := readTargetValue(rec.Value)
		s, err = partitionsString(a), err2
	case keyConsumerCurrent:
		c, err2 := readCurrentValue(rec.Value)
		s = fmt.Sprintf("epoch=%d prev=%d state=%d assigned=%s revoking=%s",
			c.epoch, c.previousEpoch, c.state, partitionsString(c.assigned), partitionsString(c.revoking))
		err = err2
	}
	if err != nil {
		e.t.Fatalf("record %s: %v", name, err)
	}
	return "record " + name + " " + s
}

func (e *scriptEnv) describeConsumerReply(alias string, resp kmsg.Response) (string, bool) {
	switch r := resp.(type) {
	case *kmsg.ConsumerGroupHeartbeatResponse:
		c := e.cg[alias]
		s := fmt.Sprintf("%s cg %s", alias, errName(r.ErrorCode))
		switch {
		case r.ErrorCode == kerr.FencedMemberEpoch.Code || r.ErrorCode == kerr.UnknownMemberID.Code:
			c.epoch, c.owned = 0, map[tp]bool{} // the client rejoins
		case r.ErrorCode != 0:
		case r.MemberEpoch < 0:
			delete(e.cg, alias)
			s += fmt.Sprintf(" epoch=%d", r.MemberEpoch)
		default:
			c.epoch = r.MemberEpoch
			s += fmt.Sprintf(" epoch=%d", r.MemberEpoch)
			if r.Assignment != nil {
				c.owned = map[tp]bool{}
				for _, t := range r.Assignment.Topics {
					for _, p := range t.Partitions {
						c.owned[tp{t.TopicID, p}] = true
					}
				}
				s += " assignment=" + partitionsString(c.owned)
			}
		}
		return s, true
	case *kmsg.ConsumerGroupDescribeResponse:
		g := r.Groups[0]
		s := fmt.Sprintf("cgdescribe %s state=%s epoch=%d assignment-epoch=%d", errName(g.ErrorCode), g.State, g.Epoch, g.AssignmentEpoch)
		for _, m := range g.Members {
			var parts []string
			for _, t := range m.Assignment.TopicPartitions {
				parts = append(parts, fmt.Sprintf("%s:%v", t.Topic, t.Partitions))
			}
			s += fmt.Sprintf(" %s:%d%v", m.MemberID, m.MemberEpoch, parts)
		}
		return s, true
	}
	return "", false
}
