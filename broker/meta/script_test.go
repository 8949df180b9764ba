package meta

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestScripts runs the state-machine scripts in testdata/ with
// cockroachdb/datadriven, as etcd raft's interaction tests do: each block
// is a command, a "----" line and the expected output. Run with -rewrite to
// regenerate the expected output. After each script the store is reopened
// and the replayed image must equal the live one.
//
// Commands (a bare word is positional, k=v an argument; "-k" deletes k):
//
//	create-topic NAME [partitions=N] [rf=N] [id=N] [assign=1,2/2,3] [config=value ...]
//	delete-topic NAME|id=N
//	create-partitions NAME|id=N count=N [assign=3,1]
//	alter-configs NAME|id=N [replace] [config=value ...] [-config ...]
//	register-broker NODE host=H port=P [rack=R] [fenced] [epoch=N]
//	partition NAME N replicas=1,2 isr=1,2 [elr=..] [last-known-elr=..] leader=N leader-epoch=N partition-epoch=N [recovering] [adding=..] [removing=..]
//	set-cluster ID
//	broker-state NODE [fenced] [shutting-down]
//	producer-ids NODE count=N [start=N]   (then the node's block)
//	alter-broker-configs NODE [key=value ...] [-key ...]
//	static-broker-config [key=value ...]
//	describe NAME [key ...]
//	describe-broker [key ...]
//	validate-name (then the name, Go-quoted, on the input line)
//	dump
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) { runScript(t, file) })
	}
}

type scriptEnv struct {
	t      *testing.T
	dir    string
	store  *Store
	static *BrokerConfig
}

func runScript(t *testing.T, file string) {
	dir := t.TempDir()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := Open(dir, Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	env := &scriptEnv{t: t, dir: dir, store: s, static: DefaultBrokerConfig()}
	datadriven.RunTest(t, file, func(t *testing.T, d *datadriven.TestData) string {
		return strings.TrimRight(env.run(commandLine(d), d.Input), "\n") + "\n"
	})
	live := s.Image().String()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after script: %v", err)
	}
	defer s2.Close()
	if got := s2.Image().String(); got != live {
		t.Errorf("%s: replayed image differs from live image\n--- live\n%s--- replayed\n%s", file, live, got)
	}
}

// commandLine is a datadriven command as the line it was written as.
func commandLine(d *datadriven.TestData) string {
	parts := []string{d.Cmd}
	for _, a := range d.CmdArgs {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, " ")
}

// scriptArgs splits a command line into positionals, k=v settings and -k
// deletions, keeping the order of settings for deterministic use.
type scriptArgs struct {
	pos  []string
	kv   map[string]string
	dels []string
}

func parseArgs(fields []string) scriptArgs {
	a := scriptArgs{kv: map[string]string{}}
	for _, f := range fields {
		switch k, v, ok := strings.Cut(f, "="); {
		case ok:
			a.kv[k] = v
		case strings.HasPrefix(f, "-") && len(f) > 1 && !isInt(f):
			a.dels = append(a.dels, f[1:])
		default:
			a.pos = append(a.pos, f)
		}
	}
	return a
}

func isInt(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// take removes and returns a reserved argument.
func (a *scriptArgs) take(key string) (string, bool) {
	v, ok := a.kv[key]
	delete(a.kv, key)
	return v, ok
}

// ids takes a comma-separated list of broker ids ("" or absent: none).
func (a *scriptArgs) ids(key string) []int32 {
	v, _ := a.take(key)
	var out []int32
	for _, f := range strings.Split(v, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			panic(fmt.Sprintf("argument %s=%q is not a list of ids", key, v))
		}
		out = append(out, int32(n))
	}
	return out
}

// assignment takes assign=1,2/2,3: one partition's replicas per slash,
// each starting with its leader and all in the ISR.
func assignment(a *scriptArgs) []PartitionState {
	v, ok := a.take("assign")
	if !ok {
		return nil
	}
	var out []PartitionState
	for _, p := range strings.Split(v, "/") {
		tmp := scriptArgs{kv: map[string]string{"r": p}}
		r := tmp.ids("r")
		out = append(out, PartitionState{Replicas: r, ISR: slices.Clone(r), Leader: r[0]})
	}
	return out
}

func (a *scriptArgs) takeInt(key string, def int64) int64 {
	v, ok := a.take(key)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("argument %s=%q is not an integer", key, v))
	}
	return n
}

// scriptID is the deterministic topic ID for a script's id=N.
func scriptID(n int64) TopicID {
	var id TopicID
	id[0] = byte(n >> 8)
	id[1] = byte(n)
	id[15] = 0xff
	return id
}

// topicID resolves a topic positional (name) or id=N.
func (e *scriptEnv) topicID(a *scriptArgs) TopicID {
	if n, ok := a.take("id"); ok {
		v, _ := strconv.ParseInt(n, 10, 64)
		return scriptID(v)
	}
	if len(a.pos) == 0 {
		panic("command needs a topic name or id=N")
	}
	if t, ok := e.store.Image().Topic(a.pos[0]); ok {
		return t.ID
	}
	return scriptID(9999) // unknown: exercises ErrUnknownTopic
}

func (e *scriptEnv) run(line, input string) (out string) {
	defer func() {
		if r := recover(); r != nil {
			out = fmt.Sprintf("script error: %v", r)
		}
	}()
	fields := strings.Fields(line)
	cmd, a := fields[0], parseArgs(fields[1:])
	switch cmd {
	case "create-topic":
		r := CreateTopic{
			Name:              a.pos[0],
			Partitions:        int32(a.takeInt("partitions", 1)),
			ReplicationFactor: int16(a.takeInt("rf", 1)),
			ID:                scriptID(a.takeInt("id", int64(e.store.Image().Offset()+2))),
		}
		r.Parts = assignment(&a)
		if len(a.kv) > 0 {
			r.Configs = a.kv
		}
		return e.apply(r)
	case "delete-topic":
		return e.apply(DeleteTopic{ID: e.topicID(&a)})
	case "create-partitions":
		id := e.topicID(&a)
		return e.apply(CreatePartitions{ID: id, Count: int32(a.takeInt("count", 0)), Parts: assignment(&a)})
	case "alter-configs":
		id := e.topicID(&a)
		r := AlterTopicConfigs{ID: id, Delete: a.dels, Replace: slices.Contains(a.pos, "replace")}
		if len(a.kv) > 0 {
			r.Set = a.kv
		}
		return e.apply(r)
	case "register-broker":
		node, _ := strconv.Atoi(a.pos[0])
		host, _ := a.take("host")
		rack, _ := a.take("rack")
		return e.apply(RegisterBroker{NodeID: int32(node), Host: host, Port: int32(a.takeInt("port", 0)), Rack: rack,
			Fenced: slices.Contains(a.pos, "fenced"), Epoch: a.takeInt("epoch", 0)})
	case "partition":
		id := e.topicID(&a)
		p, _ := strconv.Atoi(a.pos[1])
		st := PartitionState{Replicas: a.ids("replicas"), ISR: a.ids("isr"), ELR: a.ids("elr"), LastKnownELR: a.ids("last-known-elr"),
			Leader: int32(a.takeInt("leader", -1)), LeaderEpoch: int32(a.takeInt("leader-epoch", 0)),
			PartitionEpoch: int32(a.takeInt("partition-epoch", 0)), Recovering: slices.Contains(a.pos, "recovering"),
			Adding: a.ids("adding"), Removing: a.ids("removing")}
		return e.apply(PartitionChange{ID: id, Partition: int32(p), State: st})
	case "producer-ids":
		node, _ := strconv.Atoi(a.pos[0])
		out := e.apply(ProducerIDs{NodeID: int32(node), Count: a.takeInt("count", 0), Start: a.takeInt("start", 0)})
		if start, end, ok := e.store.Image().ProducerIDBlock(int32(node)); ok {
			out += fmt.Sprintf(" block=[%d,%d)", start, end)
		}
		return out
	case "set-cluster":
		return e.apply(SetCluster{ID: a.pos[0]})
	case "broker-state":
		node, _ := strconv.Atoi(a.pos[0])
		return e.apply(BrokerState{NodeID: int32(node), Fenced: slices.Contains(a.pos, "fenced"), ShuttingDown: slices.Contains(a.pos, "shutting-down")})
	case "alter-broker-configs":
		node, _ := strconv.Atoi(a.pos[0])
		r := AlterBrokerConfigs{NodeID: int32(node), Delete: a.dels}
		if len(a.kv) > 0 {
			r.Set = a.kv
		}
		return e.apply(r)
	case "static-broker-config":
		m := map[string]string{}
		for k, v := range e.static.explicit {
			if v {
				m[k], _ = e.static.Get(k)
			}
		}
		maps.Copy(m, a.kv)
		for _, k := range a.dels {
			delete(m, k)
		}
		bc, err := ParseBrokerConfig(m)
		if err != nil {
			return "error: " + err.Error()
		}
		e.static = bc
		return "ok"
	case "describe":
		t, ok := e.store.Image().Topic(a.pos[0])
		if !ok {
			return "no such topic"
		}
		return describe(ResolveTopicConfig(e.store.Image(), t.Configs, e.static).All(), a.pos[1:])
	case "describe-broker":
		return describe(ResolveBrokerConfig(e.store.Image(), e.static), a.pos)
	case "validate-name":
		name, err := strconv.Unquote(input)
		if err != nil {
			return fmt.Sprintf("validate-name: the input must be one Go-quoted name: %v", err)
		}
		if err := ValidateTopicName(name); err != nil {
			return errorLine(err)
		}
		return "ok"
	case "dump":
		return e.store.Image().String()
	}
	return "unknown command " + cmd
}

func (e *scriptEnv) apply(r Record) string {
	old := e.store.Image()
	if err := e.store.Apply(context.Background(), r); err != nil {
		if e.store.Image() != old {
			e.t.Errorf("image changed by a failed %s", r.Type())
		}
		return errorLine(err)
	}
	return "ok " + deltaLine(Diff(old, e.store.Image()))
}

func errorLine(err error) string {
	code := ErrorCode(err)
	name := "UNKNOWN"
	var ke *kerr.Error
	if kerrErr := kerr.ErrorForCode(code); kerrErr != nil {
		ke, _ = kerrErr.(*kerr.Error)
		name = ke.Message
	}
	return fmt.Sprintf("error %s: %s", name, ErrorMessage(err))
}

func deltaLine(d Delta) string {
	var parts []string
	names := func(ts []*Topic) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = t.Name
		}
		return strings.Join(s, ",")
	}
	if len(d.Created) > 0 {
		parts = append(parts, "created="+names(d.Created))
	}
	if len(d.Deleted) > 0 {
		parts = append(parts, "deleted="+names(d.Deleted))
	}
	for i, t := range d.Grown {
		parts = append(parts, fmt.Sprintf("grown=%s:%d->%d", t.Name, d.OldPartitions[i], t.Partitions))
	}
	if len(d.Reconfigured) > 0 {
		parts = append(parts, "reconfigured="+names(d.Reconfigured))
	}
	if len(d.Moved) > 0 {
		parts = append(parts, "moved="+names(d.Moved))
	}
	if d.BrokersChanged {
		parts = append(parts, "brokers-changed")
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// describe prints resolved configs: every listed key, or when none is
// listed every key whose source is not DEFAULT_CONFIG.
func describe(values []*ConfigValue, keys []string) string {
	var b strings.Builder
	for _, v := range values {
		if len(keys) > 0 && !slices.Contains(keys, v.Def.Name) || len(keys) == 0 && v.Source == SourceDefault {
			continue
		}
		val := v.Value
		if v.Null {
			val = "(null)"
		}
		fmt.Fprintf(&b, "%s=%s %s", v.Def.Name, val, v.Source)
		var syns []string
		for _, s := range v.Synonyms {
			syns = append(syns, fmt.Sprintf("%s:%s=%s", s.Source, s.Name, s.Value))
		}
		fmt.Fprintf(&b, " synonyms={%s}\n", strings.Join(syns, ", "))
	}
	if b.Len() == 0 {
		return "(all defaults)"
	}
	return b.String()
}
