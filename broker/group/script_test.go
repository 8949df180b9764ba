package group

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestScripts runs every testdata/*.txt script against one Group with
// cockroachdb/datadriven: each command, a "----" line, and the output it
// must produce; -rewrite regenerates the outputs. Time only moves with
// "> tick DURATION", so timeouts run in microseconds.
//
// Commands (members are named by alias; their IDs are learned from replies):
//
//	join A [v=N] [session=D] [rebalance=D] [instance=I] [proto=name:meta,...] [member=ID|none] [type=T] [client=C]
//	sync A [gen=N] [assign=A:bytes,...]
//	heartbeat A [gen=N] [instance=I]
//	leave A... [instance=I]
//	commit A [gen=N] [member=ID|none] [instance=I] topic/part=offset...
//	fetch [topic/part...]
//	describe | delete | offsetdelete topic/part... | tick D
//	reload [compacted]  (a restart; compacted replays only the last record per key)
//	cg A [sub=T,...] [epoch=N] [rebalance=D] | cgdescribe  (KIP-848, consumer_script_test.go)
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptEnv struct {
	t       *testing.T
	g       *Group
	cfg     Config
	now     time.Time
	reqID   uint64
	ids     map[string]string // alias -> member ID
	aliases map[string]string // member ID -> alias
	reqs    map[uint64]string // request ID -> alias
	store   []Record
	nextID  int
	cg      map[string]*scriptConsumer // KIP-848 members by alias (= member ID)
}

func runScript(t *testing.T, path string) {
	env := &scriptEnv{
		t:       t,
		now:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		ids:     map[string]string{},
		aliases: map[string]string{},
		reqs:    map[uint64]string{},
		cg:      map[string]*scriptConsumer{},
	}
	env.cfg = DefaultConfig()
	env.cfg.Topics = scriptTopics
	env.cfg.MaxSize = 4
	env.cfg.OffsetsRetention = time.Hour
	env.cfg.OffsetsRetentionCheckInterval = time.Minute
	env.cfg.NewMemberID = func(string) string { env.nextID++; return fmt.Sprintf("id%d", env.nextID) }
	env.cfg.TopicExists = func(topic string, _ int32) bool { return topic != "missing" }
	env.g = New("g", env.cfg, env.now)
	datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
		parts := []string{d.Cmd}
		for _, a := range d.CmdArgs {
			parts = append(parts, a.String())
		}
		got := env.run(strings.Join(parts, " "))
		if len(got) == 0 {
			return ""
		}
		return strings.Join(got, "\n") + "\n"
	})
}

func (e *scriptEnv) alias(id string) string {
	if a, ok := e.aliases[id]; ok {
		return a
	}
	return id
}

func (e *scriptEnv) args(fields []string) (pos []string, kv map[string]string) {
	kv = map[string]string{}
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok && !strings.Contains(k, "/") {
			kv[k] = v
		} else {
			pos = append(pos, f)
		}
	}
	return pos, kv
}

func (e *scriptEnv) dur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		e.t.Fatalf("bad duration %q: %v", s, err)
	}
	return d
}

func (e *scriptEnv) num(kv map[string]string, key string, def int64) int64 {
	s, ok := kv[key]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		e.t.Fatalf("bad %s=%q", key, s)
	}
	return n
}

func (e *scriptEnv) memberID(alias string, kv map[string]string) string {
	if m, ok := kv["member"]; ok {
		if m == "none" {
			return ""
		}
		return m
	}
	return e.ids[alias]
}

func optStr(kv map[string]string, key string) *string {
	if v, ok := kv[key]; ok {
		return &v
	}
	return nil
}

func partitionArgs(t *testing.T, pos []string) map[string][][2]int64 {
	out := map[string][][2]int64{}
	for _, p := range pos {
		tp, off, _ := strings.Cut(p, "=")
		topic, part, ok := strings.Cut(tp, "/")
		if !ok {
			t.Fatalf("want topic/partition[=offset], got %q", p)
		}
		pn, _ := strconv.ParseInt(part, 10, 32)
		on, _ := strconv.ParseInt(off, 10, 64)
		out[topic] = append(out[topic], [2]int64{pn, on})
	}
	return out
}

func (e *scriptEnv) send(alias string, body kmsg.Request) {
	e.reqID++
	e.reqs[e.reqID] = alias
	e.g.Step(e.now, Request{ID: e.reqID, ClientID: "client", ClientHost: "/127.0.0.1", Body: body})
}

func (e *scriptEnv) run(cmd string) []string {
	fields := strings.Fields(cmd)
	pos, kv := e.args(fields[1:])
	first := ""
	if len(pos) > 0 {
		first = pos[0]
	}
	gen := int32(e.num(kv, "gen", int64(e.g.generation)))
	switch fields[0] {
	case "join":
		r := kmsg.NewPtrJoinGroupRequest()
		r.Version = int16(e.num(kv, "v", 9))
		r.Group = "g"
		r.SessionTimeoutMillis = int32(e.dur(orDefault(kv["session"], "10s")) / time.Millisecond)
		r.RebalanceTimeoutMillis = int32(e.dur(orDefault(kv["rebalance"], "30s")) / time.Millisecond)
		r.MemberID = e.memberID(first, kv)
		r.InstanceID = optStr(kv, "instance")
		r.ProtocolType = orDefault(kv["type"], "consumer")
		for _, p := range strings.Split(orDefault(kv["proto"], "range:"+first), ",") {
			name, md, _ := strings.Cut(p, ":")
			r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: name, Metadata: []byte(md)})
		}
		if sub, ok := kv["sub"]; ok {
			// A real consumer-protocol subscription, for OffsetDelete.
			md := kmsg.NewConsumerMemberMetadata()
			md.Topics = strings.Split(sub, ",")
			r.Protocols[0].Metadata = md.AppendTo(nil)
		}
		e.send(first, r)
	case "sync":
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version = 5
		r.Group, r.Generation, r.MemberID = "g", gen, e.memberID(first, kv)
		r.InstanceID = optStr(kv, "instance")
		if a, ok := kv["assign"]; ok {
			for _, p := range strings.Split(a, ",") {
				who, what, _ := strings.Cut(p, ":")
				r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: e.ids[who], MemberAssignment: []byte(what)})
			}
		}
		e.send(first, r)
	case "heartbeat":
		r := kmsg.NewPtrHeartbeatRequest()
		r.Version = 4
		r.Group, r.Generation, r.MemberID = "g", gen, e.memberID(first, kv)
		r.InstanceID = optStr(kv, "instance")
		e.send(first, r)
	case "leave":
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Version = 5
		r.Group = "g"
		for _, a := range pos {
			r.Members = append(r.Members, kmsg.LeaveGroupRequestMember{MemberID: e.memberID(a, kv), InstanceID: optStr(kv, "instance")})
		}
		e.send(first, r)
	case "commit":
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version = 9
		r.Group, r.Generation = "g", gen
		if first != "" && !strings.Contains(first, "/") {
			r.MemberID = e.memberID(first, kv)
			pos = pos[1:]
		} else {
			first = "admin"
			r.Generation = int32(e.num(kv, "gen", -1))
		}
		r.InstanceID = optStr(kv, "instance")
		parts := partitionArgs(e.t, pos)
		for _, topic := range sortedTopics(parts) {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = topic
			for _, p := range parts[topic] {
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset = int32(p[0]), p[1]
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
		e.send(first, r)
	case "fetch":
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 8
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = "g"
		parts := partitionArgs(e.t, pos)
		for _, topic := range sortedTopics(parts) {
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic = topic
			for _, p := range parts[topic] {
				rt.Partitions = append(rt.Partitions, int32(p[0]))
			}
			rg.Topics = append(rg.Topics, rt)
		}
		r.Groups = append(r.Groups, rg)
		e.send("", r)
	case "describe":
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Version = 5
		r.Groups = []string{"g"}
		e.send("", r)
	case "delete":
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version = 2
		r.Groups = []string{"g"}
		e.send("", r)
	case "offsetdelete":
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = "g"
		parts := partitionArgs(e.t, pos)
		for _, topic := range sortedTopics(parts) {
			rt := kmsg.OffsetDeleteRequestTopic{Topic: topic}
			for _, p := range parts[topic] {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: int32(p[0])})
			}
			r.Topics = append(r.Topics, rt)
		}
		e.send("", r)
	case "tick":
		e.now = e.now.Add(e.dur(first))
		e.g.Tick(e.now)
	case "reload":
		// A restart: a fresh group replays what was persisted.
		e.g = New("g", e.cfg, e.now)
		recs := e.store
		if first == "compacted" {
			recs = compacted(recs)
		}
		for _, rec := range recs {
			if err := e.g.Replay(rec.Key, rec.Value); err != nil {
				e.t.Fatalf("replay: %v", err)
			}
		}
		e.g.Loaded(e.now)
	default:
		if !e.runConsumer(fields[0], first, kv) {
			e.t.Fatalf("unknown command %q", cmd)
		}
	}
	out := e.output()
	if e.g.Unused() {
		e.g = New("g", e.cfg, e.now) // the coordinator forgets such groups
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func errName(code int16) string {
	if code == 0 {
		return "OK"
	}
	return kerr.ErrorForCode(code).(*kerr.Error).Message
}

func (e *scriptEnv) output() []string {
	ready := e.g.Ready()
	var out []string
	for _, rec := range ready.Records {
		e.store = append(e.store, rec)
		out = append(out, e.describeRecord(rec))
	}
	for _, r := range ready.Replies {
		out = append(out, fmt.Sprintf("reply#%d %s", r.ID, e.describeReply(e.reqs[r.ID], r.Resp)))
	}
	var ms []string
	for _, m := range e.g.sortedMembers() {
		ms = append(ms, e.alias(m.id))
	}
	line := fmt.Sprintf("state %s gen=%d", e.g.state, e.g.generation)
	if g := e.g; g.leader != "" {
		line += " leader=" + e.alias(g.leader)
	}
	if len(ms) > 0 {
		line += " members=" + strings.Join(ms, ",")
	}
	if n := len(e.g.pending); n > 0 {
		line += fmt.Sprintf(" pending=%d", n)
	}
	out = append(out, line)
	if e.g.cg != nil {
		out = append(out, e.consumerLine())
	}
	return out
}

func (e *scriptEnv) describeRecord(rec Record) string {
	version := int16(rec.Key[0])<<8 | int16(rec.Key[1])
	if isConsumerKey(version) {
		return e.describeConsumerRecord(rec)
	}
	if version < 2 {
		var k kmsg.OffsetCommitKey
		k.ReadFrom(rec.Key)
		if rec.Value == nil {
			return fmt.Sprintf("record offset %s/%d tombstone", k.Topic, k.Partition)
		}
		var v kmsg.OffsetCommitValue
		v.ReadFrom(rec.Value)
		return fmt.Sprintf("record offset %s/%d=%d", k.Topic, k.Partition, v.Offset)
	}
	if rec.Value == nil {
		return "record group tombstone"
	}
	var v kmsg.GroupMetadataValue
	v.ReadFrom(rec.Value)
	var ms []string
	for _, m := range v.Members {
		ms = append(ms, fmt.Sprintf("%s:%q", e.alias(m.MemberID), m.Assignment))
	}
	return fmt.Sprintf("record group gen=%d protocol=%s members=[%s]", v.Generation, deref(v.Protocol), strings.Join(ms, " "))
}

// showMetadata shows a consumer-protocol subscription by its topics and
// anything else as text.
func showMetadata(b []byte) string {
	var md kmsg.ConsumerMemberMetadata
	if len(b) > 2 && md.ReadFrom(b) == nil {
		return "sub" + fmt.Sprint(md.Topics)
	}
	return string(b)
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func (e *scriptEnv) describeReply(alias string, resp kmsg.Response) string {
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		if r.MemberID != "" && (r.ErrorCode == 0 || r.ErrorCode == kerr.MemberIDRequired.Code) {
			if old, ok := e.ids[alias]; ok && old != r.MemberID {
				delete(e.aliases, old)
			}
			e.ids[alias], e.aliases[r.MemberID] = r.MemberID, alias
		}
		s := fmt.Sprintf("%s join %s", alias, errName(r.ErrorCode))
		if r.ErrorCode != 0 {
			return s + " member=" + r.MemberID
		}
		s += fmt.Sprintf(" gen=%d protocol=%s leader=%s", r.Generation, deref(r.Protocol), e.alias(r.LeaderID))
		if len(r.Members) > 0 {
			var ms []string
			for _, m := range r.Members {
				ms = append(ms, fmt.Sprintf("%s:%s", e.alias(m.MemberID), showMetadata(m.ProtocolMetadata)))
			}
			s += " members=" + strings.Join(ms, ",")
		}
		if r.SkipAssignment {
			s += " skip-assignment"
		}
		return s
	case *kmsg.SyncGroupResponse:
		s := fmt.Sprintf("%s sync %s", alias, errName(r.ErrorCode))
		if r.ErrorCode == 0 {
			s += fmt.Sprintf(" assignment=%q", r.MemberAssignment)
		}
		return s
	case *kmsg.HeartbeatResponse:
		return fmt.Sprintf("%s heartbeat %s", alias, errName(r.ErrorCode))
	case *kmsg.LeaveGroupResponse:
		var ms []string
		for _, m := range r.Members {
			ms = append(ms, e.alias(m.MemberID)+":"+errName(m.ErrorCode))
		}
		return fmt.Sprintf("leave %s [%s]", errName(r.ErrorCode), strings.Join(ms, " "))
	case *kmsg.OffsetCommitResponse:
		var ps []string
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				ps = append(ps, fmt.Sprintf("%s/%d:%s", t.Topic, p.Partition, errName(p.ErrorCode)))
			}
		}
		return fmt.Sprintf("%s commit %s", alias, strings.Join(ps, " "))
	case *kmsg.OffsetFetchResponse:
		var ps []string
		for _, g := range r.Groups {
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					ps = append(ps, fmt.Sprintf("%s/%d=%d", t.Topic, p.Partition, p.Offset))
				}
			}
		}
		return "fetch " + strings.Join(ps, " ")
	case *kmsg.DescribeGroupsResponse:
		g := r.Groups[0]
		var ms []string
		for _, m := range g.Members {
			ms = append(ms, fmt.Sprintf("%s:%q", e.alias(m.MemberID), m.MemberAssignment))
		}
		sort.Strings(ms)
		return fmt.Sprintf("describe %s state=%s protocol=%s members=[%s]", errName(g.ErrorCode), g.State, g.Protocol, strings.Join(ms, " "))
	case *kmsg.DeleteGroupsResponse:
		return "delete " + errName(r.Groups[0].ErrorCode)
	case *kmsg.OffsetDeleteResponse:
		var ps []string
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				ps = append(ps, fmt.Sprintf("%s/%d:%s", t.Topic, p.Partition, errName(p.ErrorCode)))
			}
		}
		return fmt.Sprintf("offsetdelete %s %s", errName(r.ErrorCode), strings.Join(ps, " "))
	}
	if s, ok := e.describeConsumerReply(alias, resp); ok {
		return s
	}
	return fmt.Sprintf("%T", resp)
}
