package meta

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Topic config keys (Kafka's names).
const (
	KeyCleanupPolicy               = "cleanup.policy"
	KeyCompressionType             = "compression.type"
	KeyCompressionGzipLevel        = "compression.gzip.level"
	KeyCompressionLz4Level         = "compression.lz4.level"
	KeyCompressionZstdLevel        = "compression.zstd.level"
	KeyFollowerThrottledReplicas   = "follower.replication.throttled.replicas"
	KeyLeaderThrottledReplicas     = "leader.replication.throttled.replicas"
	KeyRemoteStorageEnable         = "remote.storage.enable"
	KeyMaxDecompressedMessageBytes = "max.decompressed.message.bytes"
	KeyDeleteRetentionMs           = "delete.retention.ms"
	KeyFileDeleteDelayMs           = "file.delete.delay.ms"
	KeyFlushMessages               = "flush.messages"
	KeyFlushMs                     = "flush.ms"
	KeyIndexIntervalBytes          = "index.interval.bytes"
	KeyMaxCompactionLagMs          = "max.compaction.lag.ms"
	KeyMaxMessageBytes             = "max.message.bytes"
	KeyMessageTimestampAfterMaxMs  = "message.timestamp.after.max.ms"
	KeyMessageTimestampBeforeMaxMs = "message.timestamp.before.max.ms"
	KeyMessageTimestampType        = "message.timestamp.type"
	KeyMinCleanableDirtyRatio      = "min.cleanable.dirty.ratio"
	KeyMinCompactionLagMs          = "min.compaction.lag.ms"
	KeyMinInsyncReplicas           = "min.insync.replicas"
	KeyPreallocate                 = "preallocate"
	KeyRetentionBytes              = "retention.bytes"
	KeyRetentionMs                 = "retention.ms"
	KeySegmentBytes                = "segment.bytes"
	KeySegmentIndexBytes           = "segment.index.bytes"
	KeySegmentJitterMs             = "segment.jitter.ms"
	KeySegmentMs                   = "segment.ms"
	KeyUncleanLeaderElectionEnable = "unclean.leader.election.enable"
)

const (
	maxLongText                     = "9223372036854775807"
	msPerHour                       = 3600000
	msPerMinute                     = 60000
	minSegmentBytes                 = 1 << 20 // Kafka 4.0 (KIP-1030)
	timestampTypeCreate             = "CreateTime"
	timestampTypeLogAppend          = "LogAppendTime"
	compressionProducer             = "producer"
	cleanupDelete, cleanupCompact   = "delete", "compact"
	compressionUncompressedOrCodecs = "uncompressed,zstd,lz4,snappy,gzip,producer"
)

var (
	compressionTypes = strings.Split(compressionUncompressedOrCodecs, ",")
	timestampTypes   = []string{timestampTypeCreate, timestampTypeLogAppend}
	cleanupPolicies  = []string{cleanupCompact, cleanupDelete}
)

// TopicConfigs is the table of topic config keys Sluice accepts, sorted by
// name, with Kafka 4.0's types, defaults, valid ranges and broker synonyms.
var TopicConfigs = sortedDefs([]ConfigDef{
	{Name: KeyCleanupPolicy, Type: ConfigList, Default: cleanupDelete, check: listOf(cleanupPolicies...), valid: cleanupPolicies,
		Synonyms: syn("log.cleanup.policy"),
		Doc:      "The retention policy for old log segments: \"delete\" discards segments past retention.ms or retention.bytes; \"compact\" keeps the latest record per key; both may be listed; an empty list (Kafka 4.1+) keeps everything."},
	{Name: KeyCompressionGzipLevel, Type: ConfigInt, Default: "-1", check: gzipLevel,
		Synonyms: syn("compression.gzip.level"),
		Doc:      "The gzip level when compression.type is gzip: -1 for the codec's default, or 1 to 9."},
	{Name: KeyCompressionLz4Level, Type: ConfigInt, Default: "9", check: between(1, 17),
		Synonyms: syn("compression.lz4.level"),
		Doc:      "The lz4 level when compression.type is lz4: 1 to 17."},
	{Name: KeyCompressionType, Type: ConfigString, Default: compressionProducer, check: oneOf(compressionTypes...), valid: compressionTypes,
		Synonyms: syn("compression.type"),
		Doc:      "The final compression of a topic's batches: a codec (gzip, snappy, lz4, zstd), uncompressed, or producer to keep what the producer sent."},
	{Name: KeyCompressionZstdLevel, Type: ConfigInt, Default: "3", check: between(-131072, 22),
		Synonyms: syn("compression.zstd.level"),
		Doc:      "The zstd level when compression.type is zstd: -131072 to 22."},
	{Name: KeyDeleteRetentionMs, Type: ConfigLong, Default: "86400000", check: atLeast(0),
		Synonyms: syn("log.cleaner.delete.retention.ms"),
		Doc:      "How long delete tombstones are kept in compacted topics."},
	{Name: "errors.deadletterqueue.group.enable", Type: ConfigBoolean, Default: "false",
		Doc: "Whether share groups may use this topic as a dead-letter queue. Accepted for compatibility; Sluice has no share groups."},
	{Name: KeyFileDeleteDelayMs, Type: ConfigLong, Default: "60000", check: atLeast(0),
		Synonyms: syn("log.segment.delete.delay.ms"),
		Doc:      "How long to wait before deleting a segment file from the file system."},
	{Name: KeyFlushMessages, Type: ConfigLong, Default: maxLongText, check: atLeast(1),
		Synonyms: syn("log.flush.interval.messages"),
		Doc:      "Force an fsync after this many messages; the default relies on the page cache and replication."},
	{Name: KeyFlushMs, Type: ConfigLong, Default: maxLongText, check: atLeast(0),
		Synonyms: syn("log.flush.interval.ms"),
		Doc:      "Force an fsync after this many milliseconds; the default relies on the page cache and replication."},
	{Name: KeyFollowerThrottledReplicas, Type: ConfigList, Default: "", check: throttledReplicas,
		Doc: "Replicas whose follower fetching is throttled: partition:broker pairs, or * for all. Accepted for compatibility; Sluice does not throttle yet."},
	{Name: KeyIndexIntervalBytes, Type: ConfigInt, Default: "4096", check: atLeast(0),
		Synonyms: syn("log.index.interval.bytes"),
		Doc:      "How many bytes of batches between entries of the sparse offset index."},
	{Name: KeyLeaderThrottledReplicas, Type: ConfigList, Default: "", check: throttledReplicas,
		Doc: "Replicas whose leader-side log reads are throttled: partition:broker pairs, or * for all. Accepted for compatibility; Sluice does not throttle yet."},
	{Name: KeyMaxCompactionLagMs, Type: ConfigLong, Default: maxLongText, check: atLeast(1),
		Synonyms: syn("log.cleaner.max.compaction.lag.ms"),
		Doc:      "The longest a message stays ineligible for compaction."},
	{Name: "local.retention.bytes", Type: ConfigLong, Default: "-2", check: atLeast(-2),
		Synonyms: syn("log.local.retention.bytes"),
		Doc:      "Tiered storage: the most bytes kept locally (-2: retention.bytes). Accepted for compatibility; no effect in Sluice."},
	{Name: "local.retention.ms", Type: ConfigLong, Default: "-2", check: atLeast(-2),
		Synonyms: syn("log.local.retention.ms"),
		Doc:      "Tiered storage: how long segments are kept locally (-2: retention.ms). Accepted for compatibility; no effect in Sluice."},
	{Name: KeyMaxDecompressedMessageBytes, Type: ConfigInt, Default: "2147483639", check: atLeast(0),
		Synonyms: syn("max.decompressed.message.bytes"),
		Doc:      "The largest decompressed size of a single record of a compressed batch; a longer one is refused with INVALID_RECORD, as in Kafka. Uncompressed records are bounded by max.message.bytes alone. The records of a whole compressed batch may decompress to at most 64 times max.message.bytes (MESSAGE_TOO_LARGE otherwise)."},
	{Name: KeyMaxMessageBytes, Type: ConfigInt, Default: "1048588", check: atLeast(0),
		Synonyms: syn("message.max.bytes"),
		Doc:      "The largest record batch size allowed. A compressed batch's records may decompress to at most 64 times this; a larger one is refused with MESSAGE_TOO_LARGE (see max.decompressed.message.bytes for one record)."},
	{Name: KeyMessageTimestampAfterMaxMs, Type: ConfigLong, Default: "3600000", check: atLeast(0),
		Synonyms: syn("log.message.timestamp.after.max.ms"),
		Doc:      "How far a CreateTime timestamp may be after the broker's clock before the batch is rejected."},
	{Name: KeyMessageTimestampBeforeMaxMs, Type: ConfigLong, Default: maxLongText, check: atLeast(0),
		Synonyms: syn("log.message.timestamp.before.max.ms"),
		Doc:      "How far a CreateTime timestamp may be before the broker's clock before the batch is rejected."},
	{Name: KeyMessageTimestampType, Type: ConfigString, Default: timestampTypeCreate, check: oneOf(timestampTypes...), valid: timestampTypes,
		Synonyms: syn("log.message.timestamp.type"),
		Doc:      "Whether a batch keeps the producer's timestamp (CreateTime) or is stamped with the broker's (LogAppendTime)."},
	{Name: KeyMinCleanableDirtyRatio, Type: ConfigDouble, Default: "0.5", check: ratio,
		Synonyms: syn("log.cleaner.min.cleanable.ratio"),
		Doc:      "The least ratio of uncompacted to total log size that makes a log eligible for compaction."},
	{Name: KeyMinCompactionLagMs, Type: ConfigLong, Default: "0", check: atLeast(0),
		Synonyms: syn("log.cleaner.min.compaction.lag.ms"),
		Doc:      "The least time a message stays uncompacted."},
	{Name: KeyMinInsyncReplicas, Type: ConfigInt, Default: "1", check: atLeast(1),
		Synonyms: syn("min.insync.replicas"),
		Doc:      "The least number of in-sync replicas that must acknowledge an acks=all write."},
	{Name: KeyPreallocate, Type: ConfigBoolean, Default: "false",
		Synonyms: syn("log.preallocate"),
		Doc:      "Whether to preallocate segment files."},
	{Name: "remote.copy.lag.bytes", Type: ConfigLong, Default: "-1", check: atLeast(-1),
		Synonyms: syn("log.remote.copy.lag.bytes"),
		Doc:      "Tiered storage upload eligibility by size. Accepted for compatibility; no effect in Sluice."},
	{Name: "remote.copy.lag.ms", Type: ConfigLong, Default: "0", check: atLeast(-1),
		Synonyms: syn("log.remote.copy.lag.ms"),
		Doc:      "Tiered storage upload eligibility by time. Accepted for compatibility; no effect in Sluice."},
	{Name: "remote.log.copy.disable", Type: ConfigBoolean, Default: "false",
		Doc: "Tiered storage: stop uploading. Accepted for compatibility; no effect in Sluice."},
	{Name: "remote.log.delete.on.disable", Type: ConfigBoolean, Default: "false",
		Doc: "Tiered storage: delete remote data when disabled. Accepted for compatibility; no effect in Sluice."},
	{Name: KeyRemoteStorageEnable, Type: ConfigBoolean, Default: "false", check: noTieredStorage,
		Doc: "Tiered storage for the topic. Sluice has no tiered storage, so only false is accepted."},
	{Name: KeyRetentionBytes, Type: ConfigLong, Default: "-1",
		Synonyms: syn("log.retention.bytes"),
		Doc:      "The most bytes a partition keeps before deleting old segments; -1 for no limit."},
	{Name: KeyRetentionMs, Type: ConfigLong, Default: "604800000", check: atLeast(-1),
		Synonyms: []Synonym{{Name: "log.retention.ms"}, {Name: "log.retention.minutes", Multiplier: msPerMinute}, {Name: "log.retention.hours", Multiplier: msPerHour}},
		Doc:      "How long a segment is kept before it is deleted; -1 for no limit."},
	{Name: KeySegmentBytes, Type: ConfigInt, Default: "1073741824", check: atLeast(minSegmentBytes),
		Synonyms: syn("log.segment.bytes"),
		Doc:      "The size at which a new segment is rolled."},
	{Name: KeySegmentIndexBytes, Type: ConfigInt, Default: "10485760", check: atLeast(4),
		Synonyms: syn("log.index.size.max.bytes"),
		Doc:      "The largest size of a segment's offset index."},
	{Name: KeySegmentJitterMs, Type: ConfigLong, Default: "0", check: atLeast(0),
		Synonyms: []Synonym{{Name: "log.roll.jitter.ms"}, {Name: "log.roll.jitter.hours", Multiplier: msPerHour}},
		Doc:      "The most random jitter subtracted from segment.ms."},
	{Name: KeySegmentMs, Type: ConfigLong, Default: "604800000", check: atLeast(1),
		Synonyms: []Synonym{{Name: "log.roll.ms"}, {Name: "log.roll.hours", Multiplier: msPerHour}},
		Doc:      "The age at which a new segment is rolled even if it is not full."},
	{Name: KeyUncleanLeaderElectionEnable, Type: ConfigBoolean, Default: "false",
		Synonyms: syn("unclean.leader.election.enable"),
		Doc:      "Whether a replica outside the ISR may become leader, at the risk of data loss."},
})

func gzipLevel(v any) error {
	if n := v.(int64); n != -1 && (n < 1 || n > 9) {
		return fmt.Errorf("must be -1 or between 1 and 9")
	}
	return nil
}

func noTieredStorage(v any) error {
	if v.(bool) {
		return fmt.Errorf("tiered storage is not supported by this broker")
	}
	return nil
}

// throttledReplicas checks Kafka's throttled replica list: "*" alone, or
// partition:broker pairs of non-negative integers.
func throttledReplicas(v any) error {
	l := v.([]string)
	if len(l) == 1 && l[0] == "*" {
		return nil
	}
	for _, e := range l {
		p, b, ok := strings.Cut(e, ":")
		pn, perr := strconv.ParseUint(p, 10, 31)
		bn, berr := strconv.ParseUint(b, 10, 31)
		if !ok || perr != nil || berr != nil || pn > math.MaxInt32 || bn > math.MaxInt32 {
			return fmt.Errorf("%q is not partition:broker; the list must be * or partition:broker pairs", e)
		}
	}
	return nil
}

func sortedDefs(defs []ConfigDef) []ConfigDef {
	slices.SortFunc(defs, func(a, b ConfigDef) int { return strings.Compare(a.Name, b.Name) })
	return defs
}

func syn(names ...string) []Synonym {
	out := make([]Synonym, len(names))
	for i, n := range names {
		out[i] = Synonym{Name: n}
	}
	return out
}

// TopicConfigDef returns the definition of a topic config key.
func TopicConfigDef(name string) (*ConfigDef, bool) {
	i, ok := slices.BinarySearchFunc(TopicConfigs, name, func(d ConfigDef, n string) int { return strings.Compare(d.Name, n) })
	if !ok {
		return nil, false
	}
	return &TopicConfigs[i], true
}

// ValidateTopicConfigs checks that every key is a known, writable topic
// config and every value parses; the error wraps ErrInvalidConfig and names
// the first bad key (in sorted order) and its value.
func ValidateTopicConfigs(configs map[string]string) error {
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d, ok := TopicConfigDef(k)
		if !ok {
			return invalid(ErrInvalidConfig, "unknown topic config %q (value %q)", k, configs[k])
		}
		if d.ReadOnly {
			return invalid(ErrInvalidConfig, "topic config %s is read-only", k)
		}
		if err := d.Validate(configs[k]); err != nil {
			return err
		}
	}
	return nil
}

// ConfigSynonym is one candidate source of a config value, as
// DescribeConfigs reports it.
type ConfigSynonym struct {
	Name   string
	Value  string
	Source ConfigSource
}

// ConfigValue is a resolved config: its effective value, where it came from,
// and every synonym that could supply it, most preferred first.
type ConfigValue struct {
	Def   *ConfigDef
	Value string // canonical text form
	// Null is true when the key has no value at all (Kafka's null: an
	// optional broker key such as log.retention.ms that is not set).
	Null     bool
	Source   ConfigSource
	Synonyms []ConfigSynonym
	parsed   any
}

// TopicConfig is a topic's effective config: override > dynamic broker
// config > static broker config > default. It is immutable.
type TopicConfig struct {
	values map[string]*ConfigValue
}

// ResolveTopicConfig computes the effective config of a topic whose
// overrides are overrides (Topic.Configs, or a CreateTopic's Configs; nil for
// a topic without any). Dynamic broker configs come from img (for
// bc.NodeID and for all brokers; img may be nil), static ones from bc (nil
// means DefaultBrokerConfig). Overrides that do not parse are ignored (Apply
// never admits them).
func ResolveTopicConfig(img *Image, overrides map[string]string, bc *BrokerConfig) *TopicConfig {
	if bc == nil {
		bc = DefaultBrokerConfig()
	}
	var nodeDyn, allDyn map[string]string
	if img != nil {
		nodeDyn = img.BrokerConfigs(bc.NodeID)
		allDyn = img.BrokerConfigs(AllBrokers)
	}
	tc := &TopicConfig{values: make(map[string]*ConfigValue, len(TopicConfigs))}
	for i := range TopicConfigs {
		d := &TopicConfigs[i]
		cv := &ConfigValue{Def: d}
		if v, ok := overrides[d.Name]; ok {
			cv.Synonyms = append(cv.Synonyms, ConfigSynonym{Name: d.Name, Value: v, Source: SourceDynamicTopic})
		}
		for _, layer := range []struct {
			m   map[string]string
			src ConfigSource
		}{{nodeDyn, SourceDynamicBroker}, {allDyn, SourceDynamicDefaultBroker}} {
			for _, s := range d.Synonyms {
				if v, ok := layer.m[s.Name]; ok {
					cv.Synonyms = append(cv.Synonyms, ConfigSynonym{Name: s.Name, Value: v, Source: layer.src})
				}
			}
		}
		for _, s := range d.Synonyms {
			if v, ok := bc.staticValue(s.Name); ok {
				cv.Synonyms = append(cv.Synonyms, ConfigSynonym{Name: s.Name, Value: v, Source: SourceStaticBroker})
			}
		}
		brokerLayers := len(cv.Synonyms)
		for _, s := range d.Synonyms {
			if bk, ok := brokerKeyByName(s.Name); ok && !bk.def.NoDefault {
				cv.Synonyms = append(cv.Synonyms, ConfigSynonym{Name: s.Name, Value: bk.def.Default, Source: SourceDefault})
			}
		}
		// Kafka lists broker synonyms only from the primary one on: when
		// nothing but a secondary key's default applies (retention.ms from
		// log.retention.hours=168), it reports no synonyms. Match that;
		// when a broker value is set we keep every synonym, which says more.
		if len(cv.Synonyms) > brokerLayers && !hasBrokerLayer(cv.Synonyms[:brokerLayers]) &&
			cv.Synonyms[brokerLayers].Name != d.Synonyms[0].Name {
			cv.Synonyms = cv.Synonyms[:brokerLayers]
		}
		cv.Value, cv.Source, cv.parsed = d.Default, SourceDefault, nil
		for _, s := range cv.Synonyms {
			if v, ok := convertSynonym(d, s); ok {
				cv.Value, cv.Source, cv.parsed = formatConfigValue(v), s.Source, v
				break
			}
		}
		if cv.parsed == nil {
			cv.parsed, _ = parseConfigValue(d.Type, d.Default)
		}
		if d.Sensitive {
			for i := range cv.Synonyms {
				cv.Synonyms[i].Value = ""
			}
		}
		tc.values[d.Name] = cv
	}
	return tc
}

// hasBrokerLayer reports whether any synonym comes from a broker setting
// (dynamic or static), not the topic override.
func hasBrokerLayer(syns []ConfigSynonym) bool {
	for _, s := range syns {
		if s.Source != SourceDynamicTopic {
			return true
		}
	}
	return false
}

// convertSynonym turns a synonym's value into the topic key's value,
// applying the unit multiplier; ok is false if it does not parse.
func convertSynonym(d *ConfigDef, s ConfigSynonym) (any, bool) {
	mult := int64(1)
	if s.Source != SourceDynamicTopic {
		for _, sy := range d.Synonyms {
			if sy.Name == s.Name && sy.Multiplier > 1 {
				mult = sy.Multiplier
			}
		}
	}
	if mult == 1 {
		v, err := d.Parse(s.Value)
		return v, err == nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s.Value), 10, 64)
	if err != nil {
		return nil, false
	}
	if n < 0 { // -1 hours means unlimited, as -1 ms does
		return int64(-1), true
	}
	if n > math.MaxInt64/mult {
		return int64(math.MaxInt64), true
	}
	return n * mult, true
}

// Get returns the resolved value of a topic config key.
func (c *TopicConfig) Get(name string) (*ConfigValue, bool) {
	v, ok := c.values[name]
	return v, ok
}

// All returns every resolved key sorted by name.
func (c *TopicConfig) All() []*ConfigValue {
	out := make([]*ConfigValue, 0, len(c.values))
	for i := range TopicConfigs {
		out = append(out, c.values[TopicConfigs[i].Name])
	}
	return out
}

// Int64 returns an int, short or long key's value; 0 for an unknown key or
// another type.
func (c *TopicConfig) Int64(name string) int64 {
	if v, ok := c.values[name]; ok {
		n, _ := v.parsed.(int64)
		return n
	}
	return 0
}

// Int32 returns an int or short key's value, clamped to the int32 range.
func (c *TopicConfig) Int32(name string) int32 {
	return int32(max(math.MinInt32, min(math.MaxInt32, c.Int64(name))))
}

// Float64 returns a double key's value; 0 for an unknown key or another type.
func (c *TopicConfig) Float64(name string) float64 {
	if v, ok := c.values[name]; ok {
		f, _ := v.parsed.(float64)
		return f
	}
	return 0
}

// Bool returns a boolean key's value; false for an unknown key or another type.
func (c *TopicConfig) Bool(name string) bool {
	if v, ok := c.values[name]; ok {
		b, _ := v.parsed.(bool)
		return b
	}
	return false
}

// String returns any key's value in text form; "" for an unknown key.
func (c *TopicConfig) String(name string) string {
	if v, ok := c.values[name]; ok {
		return v.Value
	}
	return ""
}

// List returns a list key's elements; nil for an unknown key or another type.
func (c *TopicConfig) List(name string) []string {
	if v, ok := c.values[name]; ok {
		l, _ := v.parsed.([]string)
		return slices.Clone(l)
	}
	return nil
}
