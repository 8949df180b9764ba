package meta

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestDefaultBrokerConfigIsKafkas(t *testing.T) {
	c := DefaultBrokerConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"num.partitions", c.NumPartitions, int32(1)},
		{"default.replication.factor", c.DefaultReplicationFactor, int32(1)},
		{"auto.create.topics.enable", c.AutoCreateTopicsEnable, true},
		{"log.segment.bytes", c.LogSegmentBytes, int32(1 << 30)},
		{"log.retention.hours", c.LogRetentionHours, int32(168)},
		{"log.retention.ms", c.LogRetentionMs, (*int64)(nil)},
		{"log.retention.bytes", c.LogRetentionBytes, int64(-1)},
		{"message.max.bytes", c.MessageMaxBytes, int32(1048588)},
		{"socket.request.max.bytes", c.SocketRequestMaxBytes, int32(104857600)},
		{"log.flush.interval.messages", c.LogFlushIntervalMessages, int64(math.MaxInt64)},
		{"log.retention.check.interval.ms", c.LogRetentionCheckIntervalMs, int64(300000)},
		{"offsets.retention.minutes", c.OffsetsRetentionMinutes, int32(10080)},
		{"group.min.session.timeout.ms", c.GroupMinSessionTimeoutMs, int32(6000)},
		{"group.max.session.timeout.ms", c.GroupMaxSessionTimeoutMs, int32(1800000)},
		{"group.max.size", c.GroupMaxSize, int32(math.MaxInt32)},
		{"log.cleaner.enable", c.LogCleanerEnable, true},
		{"log.cleaner.min.cleanable.ratio", c.LogCleanerMinCleanableRatio, 0.5},
		{"log.cleanup.policy", c.LogCleanupPolicy, []string{"delete"}},
		{"listeners", c.Listeners, "PLAINTEXT://127.0.0.1:9092"},
		{"log.dirs", c.LogDirs, []string{"./data"}},
		{"node.id", c.NodeID, int32(0)},
	}
	for _, ch := range checks {
		if !equalAny(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	// Every topic config's synonym is a broker key whose default gives the
	// topic default.
	for _, d := range TopicConfigs {
		cv, _ := ResolveTopicConfig(nil, nil, nil).Get(d.Name)
		want, _ := parseConfigValue(d.Type, d.Default)
		if cv.Value != formatConfigValue(want) || cv.Source != SourceDefault {
			t.Errorf("%s resolves to %s (%s) by default, want %s", d.Name, cv.Value, cv.Source, d.Default)
		}
		for _, s := range d.Synonyms {
			if _, ok := BrokerConfigDef(s.Name); !ok {
				t.Errorf("%s: synonym %s is not a broker key", d.Name, s.Name)
			}
		}
	}
}

func equalAny(a, b any) bool {
	switch a := a.(type) {
	case []string:
		return slices.Equal(a, b.([]string))
	case *int64:
		bp := b.(*int64)
		return a == nil && bp == nil || a != nil && bp != nil && *a == *bp
	}
	return a == b
}

func TestParseBrokerConfig(t *testing.T) {
	c, err := ParseBrokerConfig(map[string]string{
		"node.id":                   "3",
		"listeners":                 "PLAINTEXT://0.0.0.0:19092,INTERNAL://127.0.0.1:19093",
		"advertised.listeners":      "PLAINTEXT://broker3:19092",
		"log.dirs":                  "/a, /b",
		"log.retention.ms":          "60000",
		"auto.create.topics.enable": "FALSE",
		"log.cleanup.policy":        "compact",
		"num.partitions":            " 6 ",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != 3 || *c.LogRetentionMs != 60000 || c.AutoCreateTopicsEnable || !slices.Equal(c.LogDirs, []string{"/a", "/b"}) || c.NumPartitions != 6 {
		t.Fatalf("parsed %+v", c)
	}
	ls, err := ParseListeners(c.Listeners)
	if err != nil || len(ls) != 2 || ls[1].Name != "INTERNAL" || ls[1].Addr() != "127.0.0.1:19093" {
		t.Fatalf("listeners %+v %v", ls, err)
	}
	for k, want := range map[string]string{"log.retention.ms": "60000", "log.dirs": "/a,/b", "auto.create.topics.enable": "false"} {
		if got, ok := c.Get(k); !ok || got != want {
			t.Errorf("Get(%s) = %q, %v; want %q", k, got, ok, want)
		}
	}
	if _, ok := c.Get("nope"); ok {
		t.Error("Get of unknown key succeeded")
	}
	if _, ok := DefaultBrokerConfig().Get("log.retention.ms"); ok {
		t.Error("unset optional key reported as set")
	}

	_, err = ParseBrokerConfig(map[string]string{
		"log.retention.hourz":          "1",
		"num.partitions":               "0",
		"message.max.bytes":            "big",
		"listeners":                    "nonsense",
		"group.min.session.timeout.ms": "10",
	})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad config: %v", err)
	}
	for _, want := range []string{`unknown broker config "log.retention.hourz"`, `"0" for configuration num.partitions`, `"big" for configuration message.max.bytes`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// Cross-key rules run once every key parses.
	for _, c := range []struct {
		m    map[string]string
		want string
	}{
		{map[string]string{"listeners": "nonsense"}, `listener "nonsense" is not NAME://host:port`},
		{map[string]string{"listeners": "PLAINTEXT://h:99999"}, `listener "PLAINTEXT://h:99999"`},
		{map[string]string{"listeners": "A://h:1,A://h:2"}, "listener name A is used twice"},
		{map[string]string{"advertised.listeners": "x://"}, `listener "x://"`},
		{map[string]string{"group.min.session.timeout.ms": "9999999", "group.max.session.timeout.ms": "10"}, "group.min.session.timeout.ms (9999999) is larger than group.max.session.timeout.ms (10)"},
		{map[string]string{"log.dirs": ""}, "log.dirs must name at least one directory"},
		{map[string]string{"max.connections.per.ip": "0"}, "max.connections.per.ip can be 0 only if max.connections.per.ip.overrides is set"},
		{map[string]string{"max.connections.per.ip.overrides": "host1:2,host2"}, `configuration max.connections.per.ip.overrides: entry "host2" is not host:count`},
		{map[string]string{"max.connections.per.ip.overrides": "host1:-2"}, `entry "host1:-2" is not host:count with a count of 0 or more`},
		{map[string]string{"queued.max.request.bytes": "0"}, "queued.max.request.bytes: must be -1 (unbounded) or positive"},
		{map[string]string{"socket.request.read.timeout.ms": "0"}, "socket.request.read.timeout.ms: must be at least 1"},
	} {
		if _, err := ParseBrokerConfig(c.m); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error mentioning %q", c.m, err, c.want)
		}
	}
}

func TestParseConnectionOverrides(t *testing.T) {
	got, err := ParseConnectionOverrides(" 127.0.0.1:5 , localhost : 2,::1:7,[fe80::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{"127.0.0.1": 5, "localhost": 2, "::1": 7, "fe80::1": 0}
	if !maps.Equal(got, want) {
		t.Errorf("overrides %v, want %v", got, want)
	}
	if got, err := ParseConnectionOverrides(""); err != nil || len(got) != 0 {
		t.Errorf("empty overrides: %v %v", got, err)
	}
	c, err := ParseBrokerConfig(map[string]string{"max.connections.per.ip": "0", "max.connections.per.ip.overrides": "10.0.0.1:3"})
	if err != nil || c.MaxConnectionsPerIP != 0 || c.MaxConnectionsPerIPOverrides != "10.0.0.1:3" {
		t.Errorf("per-ip 0 with overrides: %+v %v", c, err)
	}
}

func TestBrokerConfigKeysRoundTrip(t *testing.T) {
	c := DefaultBrokerConfig()
	for _, name := range BrokerConfigNames() {
		d, _ := BrokerConfigDef(name)
		v, ok := c.Get(name)
		if d.NoDefault {
			if ok {
				t.Errorf("%s has no default but Get returns %q", name, v)
			}
			continue
		}
		want, _ := parseConfigValue(d.Type, d.Default)
		if !ok || v != formatConfigValue(want) {
			t.Errorf("Get(%s) = %q, want default %q", name, v, d.Default)
		}
		if err := c.Set(name, v); err != nil {
			t.Errorf("Set(%s, %q): %v", name, v, err)
		}
		if d.Doc == "" {
			t.Errorf("%s has no documentation", name)
		}
	}
	if !slices.IsSorted(BrokerConfigNames()) {
		t.Error("broker keys not sorted")
	}
	if err := c.Set("log.segment.bytes", "100"); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "log.segment.bytes") {
		t.Errorf("Set out of range: %v", err)
	}
	d, _ := BrokerConfigDef("node.id")
	if !d.ReadOnly {
		t.Error("node.id should be read-only (not dynamic)")
	}
	d, _ = BrokerConfigDef("log.retention.ms")
	if d.ReadOnly {
		t.Error("log.retention.ms should be dynamic")
	}
}

func TestTopicConfigTable(t *testing.T) {
	if !slices.IsSortedFunc(TopicConfigs, func(a, b ConfigDef) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatal("TopicConfigs is not sorted by name (TopicConfigDef binary-searches it)")
	}
	want := map[string]string{
		"retention.ms": "604800000", "retention.bytes": "-1", "segment.bytes": "1073741824",
		"segment.ms": "604800000", "segment.index.bytes": "10485760", "index.interval.bytes": "4096",
		"cleanup.policy": "delete", "max.message.bytes": "1048588", "message.timestamp.type": "CreateTime",
		"compression.type": "producer", "min.insync.replicas": "1", "flush.messages": "9223372036854775807",
		"flush.ms": "9223372036854775807", "delete.retention.ms": "86400000", "min.cleanable.dirty.ratio": "0.5",
		"min.compaction.lag.ms": "0", "max.compaction.lag.ms": "9223372036854775807", "file.delete.delay.ms": "60000",
		"message.timestamp.before.max.ms": "9223372036854775807", "message.timestamp.after.max.ms": "3600000",
		"unclean.leader.election.enable": "false",
	}
	for name, def := range want {
		d, ok := TopicConfigDef(name)
		if !ok {
			t.Errorf("missing topic config %s", name)
			continue
		}
		if d.Default != def || d.Doc == "" {
			t.Errorf("%s default %q doc %q, want default %q", name, d.Default, d.Doc, def)
		}
		if err := d.Validate(d.Default); err != nil {
			t.Errorf("%s default does not validate: %v", name, err)
		}
	}
	cfg := ResolveTopicConfig(nil, map[string]string{"retention.ms": "5", "cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": "0.25", "preallocate": "true"}, nil)
	if cfg.Int64(KeyRetentionMs) != 5 || cfg.Int32(KeySegmentBytes) != 1<<30 || cfg.Float64(KeyMinCleanableDirtyRatio) != 0.25 ||
		!cfg.Bool(KeyPreallocate) || !slices.Equal(cfg.List(KeyCleanupPolicy), []string{"compact", "delete"}) ||
		cfg.String(KeyMessageTimestampType) != "CreateTime" {
		t.Fatal("typed accessors return wrong values")
	}
	if cfg.Int64("nope") != 0 || cfg.String("nope") != "" || cfg.List("nope") != nil || cfg.Bool("nope") || cfg.Float64("nope") != 0 {
		t.Fatal("unknown keys must give zero values")
	}
	if len(cfg.All()) != len(TopicConfigs) {
		t.Fatal("All does not list every key")
	}
	if v, _ := cfg.Get(KeyRetentionMs); v.Source != SourceDynamicTopic {
		t.Fatalf("retention.ms source %s", v.Source)
	}
}
