//go:build kafka

// Conformance against a real Apache Kafka 4.x: run with
//
//	e2e/kafka/start.sh 19092 /tmp/kafka-meta
//	SLUICE_KAFKA_BROKERS=127.0.0.1:19092 go test -tags kafka -run Kafka -v ./broker/meta/
//	e2e/kafka/stop.sh /tmp/kafka-meta
//
// It compares our topic config table (defaults, types, broker synonyms) and
// our validation error codes with what Kafka answers for the same input.

package meta

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func kafkaClient(t *testing.T) *kgo.Client {
	t.Helper()
	brokers := os.Getenv("SLUICE_KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("SLUICE_KAFKA_BROKERS is not set: start Apache Kafka with e2e/kafka/start.sh and point this at it")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func kafkaCreate(t *testing.T, cl *kgo.Client, validateOnly bool, name string, partitions int32, rf int16, configs map[string]string) (int16, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = validateOnly
	req.TimeoutMillis = 20000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	msg := ""
	if resp.Topics[0].ErrorMessage != nil {
		msg = *resp.Topics[0].ErrorMessage
	}
	return resp.Topics[0].ErrorCode, msg
}

func codeName(c int16) string {
	if c == 0 {
		return "NONE"
	}
	return kerr.ErrorForCode(c).(*kerr.Error).Message
}

func TestKafkaTopicConfigConformance(t *testing.T) {
	cl := kafkaClient(t)
	name := fmt.Sprintf("conformance-%d", time.Now().UnixNano())
	if code, msg := kafkaCreate(t, cl, false, name, 1, 1, nil); code != 0 {
		t.Fatalf("create %s: %s %s", name, codeName(code), msg)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, name
	req.Resources = append(req.Resources, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	kafka := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		kafka[c.Name] = c
	}
	// Feed Kafka's cluster-wide dynamic broker configs (Kafka 4's storage
	// format writes min.insync.replicas there) into our image, so both
	// sides resolve from the same inputs.
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeBroker, ""
	dreq.Resources = append(dreq.Resources, dr)
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	dyn := map[string]string{}
	for _, c := range dresp.Resources[0].Configs {
		if c.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig && c.Value != nil {
			if _, ok := BrokerConfigDef(c.Name); ok {
				dyn[c.Name] = *c.Value
			}
		}
	}
	t.Logf("Kafka's cluster-wide dynamic broker configs: %v", dyn)
	img := NewImage()
	if len(dyn) > 0 {
		if img, err = Apply(img, AlterBrokerConfigs{NodeID: AllBrokers, Set: dyn}); err != nil {
			t.Fatal(err)
		}
	}
	ours := ResolveTopicConfig(img, nil, DefaultBrokerConfig())
	for _, v := range ours.All() {
		k, ok := kafka[v.Def.Name]
		if !ok {
			t.Errorf("%s: Kafka has no such topic config", v.Def.Name)
			continue
		}
		if k.Value == nil || *k.Value != v.Value {
			t.Errorf("%s: Kafka's value %s, ours %q", v.Def.Name, derefOr(k.Value), v.Value)
		}
		if ConfigType(k.ConfigType) != v.Def.Type {
			t.Errorf("%s: Kafka's type %s, ours %s", v.Def.Name, ConfigType(k.ConfigType), v.Def.Type)
		}
		if int8(k.Source) != int8(v.Source) {
			t.Errorf("%s: Kafka's source %s, ours %s", v.Def.Name, ConfigSource(k.Source), v.Source)
		}
		var kn, on []string
		for _, s := range k.ConfigSynonyms {
			kn = append(kn, fmt.Sprintf("%s:%s=%s", ConfigSource(s.Source), s.Name, derefOr(s.Value)))
		}
		for _, s := range v.Synonyms {
			on = append(on, fmt.Sprintf("%s:%s=%s", s.Source, s.Name, s.Value))
		}
		if !slices.Equal(kn, on) {
			t.Errorf("%s: synonyms differ: Kafka %v, ours %v", v.Def.Name, kn, on)
		}
	}
	var missing []string
	for n := range kafka {
		if _, ok := TopicConfigDef(n); !ok {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("Kafka topic configs Sluice does not accept: %s", strings.Join(missing, ", "))
	}
}

func derefOr(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func TestKafkaValidationConformance(t *testing.T) {
	cl := kafkaClient(t)
	prefix := fmt.Sprintf("conf%d", time.Now().UnixNano()%1e9)
	existing := prefix + ".dot"
	if code, msg := kafkaCreate(t, cl, false, existing, 2, 1, nil); code != 0 {
		t.Fatalf("create %s: %s %s", existing, codeName(code), msg)
	}
	img, err := Apply(NewImage(), CreateTopic{Name: existing, ID: NewTopicID(), Partitions: 2, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]string
	}{
		{prefix + "_dot", 1, 1, nil},
		{existing, 1, 1, nil},
		{".", 1, 1, nil},
		{"..", 1, 1, nil},
		{prefix + "/slash", 1, 1, nil},
		{strings.Repeat("a", 250), 1, 1, nil},
		{strings.Repeat("b", 249), 1, 1, nil},
		{prefix + "-p0", 0, 1, nil},
		{prefix + "-rf2", 1, 2, nil},
		{prefix + "-rf0", 1, 0, nil},
		{prefix + "-c1", 1, 1, map[string]string{"retention.msx": "1"}},
		{prefix + "-c2", 1, 1, map[string]string{"retention.ms": "forever"}},
		{prefix + "-c3", 1, 1, map[string]string{"cleanup.policy": "shred"}},
		{prefix + "-c4", 1, 1, map[string]string{"cleanup.policy": "delete,delete"}},
		{prefix + "-c5", 1, 1, map[string]string{"segment.bytes": "1024"}},
		{prefix + "-c6", 1, 1, map[string]string{"compression.type": "brotli"}},
		{prefix + "-c7", 1, 1, map[string]string{"min.cleanable.dirty.ratio": "1.5"}},
		{prefix + "-c8", 1, 1, map[string]string{"message.timestamp.type": "logappendtime"}},
		{prefix + "-c9", 1, 1, map[string]string{"max.message.bytes": "3000000000"}},
		{prefix + "-c10", 1, 1, map[string]string{"unclean.leader.election.enable": "yes"}},
		{prefix + "-c11", 1, 1, map[string]string{"compression.gzip.level": "0"}},
		{prefix + "-c12", 1, 1, map[string]string{"leader.replication.throttled.replicas": "1:x"}},
		{prefix + "-c13", 1, 1, map[string]string{"retention.ms": "-2"}},
		{prefix + "-c14", 1, 1, map[string]string{"segment.ms": "0"}},
		{prefix + "-c15", 1, 1, map[string]string{"min.insync.replicas": "0"}},
		{prefix + "-c16", 1, 1, map[string]string{"cleanup.policy": ""}},
		{prefix + "-c17", 1, 1, map[string]string{"retention.ms": " 5 "}},
		{prefix + "-c18", 1, 1, map[string]string{"unclean.leader.election.enable": "TRUE"}},
		{prefix + "-ok", 3, 1, map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete", "min.insync.replicas": "2"}},
	}
	for _, c := range cases {
		kcode, kmsgText := kafkaCreate(t, cl, true, c.name, c.partitions, c.rf, c.configs)
		_, err := Apply(img, CreateTopic{Name: c.name, ID: NewTopicID(), Partitions: c.partitions, ReplicationFactor: c.rf, Configs: c.configs})
		ocode := ErrorCode(err)
		label := c.name
		if len(label) > 30 {
			label = label[:30] + "..."
		}
		if kcode != ocode {
			t.Errorf("%s %v: Kafka %s (%s), ours %s (%v)", label, c.configs, codeName(kcode), kmsgText, codeName(ocode), err)
		} else {
			t.Logf("%s %v: both %s | Kafka: %s | ours: %s", label, c.configs, codeName(kcode), kmsgText, ErrorMessage(err))
		}
	}
}

func TestKafkaAlterConformance(t *testing.T) {
	cl := kafkaClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := fmt.Sprintf("alter-conf-%d", time.Now().UnixNano())
	if code, msg := kafkaCreate(t, cl, false, name, 3, 1, nil); code != 0 {
		t.Fatalf("create %s: %s %s", name, codeName(code), msg)
	}
	id := NewTopicID()
	img, err := Apply(NewImage(), CreateTopic{Name: name, ID: id, Partitions: 3, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	alter := func(typ kmsg.ConfigResourceType, res string, set map[string]string, del []string) (int16, string) {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.ValidateOnly = true
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = typ, res
		for k, v := range set {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value, c.Op = k, kmsg.StringPtr(v), kmsg.IncrementalAlterConfigOpSet
			r.Configs = append(r.Configs, c)
		}
		for _, k := range del {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op = k, kmsg.IncrementalAlterConfigOpDelete
			r.Configs = append(r.Configs, c)
		}
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0].ErrorCode, derefOr(resp.Resources[0].ErrorMessage)
	}
	compare := func(label string, kcode int16, kmsgText string, err error) {
		t.Helper()
		if ocode := ErrorCode(err); kcode != ocode {
			t.Errorf("%s: Kafka %s (%s), ours %s (%v)", label, codeName(kcode), kmsgText, codeName(ocode), err)
		} else {
			t.Logf("%s: both %s | Kafka: %s | ours: %s", label, codeName(kcode), kmsgText, ErrorMessage(err))
		}
	}
	for _, c := range []struct {
		set map[string]string
		del []string
	}{
		{map[string]string{"retention.ms": "1000"}, nil},
		{map[string]string{"retention.msx": "1"}, nil},
		{map[string]string{"retention.ms": "x"}, nil},
		{nil, []string{"retention.ms"}},
		{map[string]string{"cleanup.policy": "compact"}, nil},
	} {
		kcode, ktext := alter(kmsg.ConfigResourceTypeTopic, name, c.set, c.del)
		_, err := Apply(img, AlterTopicConfigs{ID: id, Set: c.set, Delete: c.del})
		compare(fmt.Sprintf("topic set %v delete %v", c.set, c.del), kcode, ktext, err)
	}
	for _, c := range []map[string]string{
		{"log.retention.ms": "5000"},
		{"node.id": "3"},
		{"log.retention.hours": "1"},
		{"log.roll.hours": "1"},
		{"num.partitions": "3"},
		{"log.retention.ms": "abc"},
		{"log.segment.bytes": "12"},
		{"message.max.bytes": "100"},
	} {
		kcode, ktext := alter(kmsg.ConfigResourceTypeBroker, "", c, nil)
		_, err := Apply(img, AlterBrokerConfigs{NodeID: AllBrokers, Set: c})
		compare(fmt.Sprintf("broker set %v", c), kcode, ktext, err)
	}
	for _, count := range []int32{3, 2, 5} {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.ValidateOnly, req.TimeoutMillis = true, 20000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, count
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		_, oerr := Apply(img, CreatePartitions{ID: id, Count: count})
		compare(fmt.Sprintf("create partitions %d", count), resp.Topics[0].ErrorCode, derefOr(resp.Topics[0].ErrorMessage), oerr)
	}
}

// TestKafkaBrokerConfigConformance compares our broker keys' defaults and
// types with Kafka's, for every key Kafka reports at its default. Sluice's
// own defaults for listeners, log.dirs and node.id differ on purpose.
func TestKafkaBrokerConfigConformance(t *testing.T) {
	cl := kafkaClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe broker 1: %s", codeName(resp.Resources[0].ErrorCode))
	}
	kafka := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		kafka[c.Name] = c
	}
	sluiceOwn := map[string]bool{"listeners": true, "log.dirs": true, "node.id": true, "advertised.listeners": true}
	// Keys only Sluice has, and keys whose default Sluice makes safer
	// (each key's doc says why).
	sluiceOnly := map[string]bool{"socket.request.read.timeout.ms": true, "connections.fd.reserve": true,
		"log.dir.failure.retry.backoff.ms": true, "log.dir.failure.retry.backoff.max.ms": true}
	saferDefault := map[string]bool{"queued.max.request.bytes": true}
	for _, name := range BrokerConfigNames() {
		d, _ := BrokerConfigDef(name)
		k, ok := kafka[name]
		switch {
		case sluiceOnly[name]:
			if ok {
				t.Errorf("%s: Kafka has this key now; compare it", name)
			}
			continue
		case !ok:
			t.Errorf("%s: Kafka has no such broker config", name)
			continue
		case sluiceOwn[name]:
			continue
		case ConfigType(k.ConfigType) != d.Type:
			t.Errorf("%s: Kafka's type %s, ours %s", name, ConfigType(k.ConfigType), d.Type)
		}
		if k.Source != kmsg.ConfigSourceDefaultConfig || saferDefault[name] {
			t.Logf("%s: Kafka's value comes from %s (%s); not compared", name, ConfigSource(k.Source), derefOr(k.Value))
			continue
		}
		want := "<null>"
		if !d.NoDefault {
			v, _ := parseConfigValue(d.Type, d.Default)
			want = formatConfigValue(v)
		}
		if got := derefOr(k.Value); got != want {
			t.Errorf("%s: Kafka's default %s, ours %s", name, got, want)
		}
	}
}
