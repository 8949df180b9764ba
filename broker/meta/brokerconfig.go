package meta

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
)

// BrokerConfig holds the broker settings the server uses, under Kafka's
// keys. Start from DefaultBrokerConfig, change fields or call Set, then
// Validate; or build one from a flat key/value map with ParseBrokerConfig
// (the server's YAML --config file maps onto that map).
//
// Optional keys that Kafka leaves null by default (log.retention.ms,
// log.roll.ms, ...) are pointers; nil means unset.
type BrokerConfig struct {
	NodeID                   int32    // node.id
	Listeners                string   // listeners, e.g. "PLAINTEXT://127.0.0.1:9092"
	AdvertisedListeners      string   // advertised.listeners; "" means the same as listeners
	LogDirs                  []string // log.dirs
	NumPartitions            int32    // num.partitions
	DefaultReplicationFactor int32    // default.replication.factor
	AutoCreateTopicsEnable   bool     // auto.create.topics.enable
	DeleteTopicEnable        bool     // delete.topic.enable
	SocketRequestMaxBytes    int32    // socket.request.max.bytes
	MessageMaxBytes          int32    // message.max.bytes

	LogSegmentBytes                int32    // log.segment.bytes
	LogRollMs                      *int64   // log.roll.ms
	LogRollHours                   int32    // log.roll.hours
	LogRollJitterMs                *int64   // log.roll.jitter.ms
	LogRollJitterHours             int32    // log.roll.jitter.hours
	LogRetentionMs                 *int64   // log.retention.ms
	LogRetentionMinutes            *int64   // log.retention.minutes
	LogRetentionHours              int32    // log.retention.hours
	LogRetentionBytes              int64    // log.retention.bytes
	LogRetentionCheckIntervalMs    int64    // log.retention.check.interval.ms
	LogCleanupPolicy               []string // log.cleanup.policy
	LogIndexSizeMaxBytes           int32    // log.index.size.max.bytes
	LogIndexIntervalBytes          int32    // log.index.interval.bytes
	LogFlushIntervalMessages       int64    // log.flush.interval.messages
	LogFlushIntervalMs             *int64   // log.flush.interval.ms
	LogFlushSchedulerIntervalMs    int64    // log.flush.scheduler.interval.ms
	LogSegmentDeleteDelayMs        int64    // log.segment.delete.delay.ms
	LogPreallocate                 bool     // log.preallocate
	LogMessageTimestampType        string   // log.message.timestamp.type
	LogMessageTimestampBeforeMaxMs int64    // log.message.timestamp.before.max.ms
	LogMessageTimestampAfterMaxMs  int64    // log.message.timestamp.after.max.ms
	CompressionType                string   // compression.type
	CompressionGzipLevel           int32    // compression.gzip.level
	CompressionLz4Level            int32    // compression.lz4.level
	CompressionZstdLevel           int32    // compression.zstd.level
	MinInsyncReplicas              int32    // min.insync.replicas
	UncleanLeaderElectionEnable    bool     // unclean.leader.election.enable
	MaxDecompressedMessageBytes    int32    // max.decompressed.message.bytes

	// Tiered-storage defaults, accepted so configs copied from Kafka
	// validate; Sluice has no tiered storage.
	LogLocalRetentionMs    int64 // log.local.retention.ms
	LogLocalRetentionBytes int64 // log.local.retention.bytes
	LogRemoteCopyLagMs     int64 // log.remote.copy.lag.ms
	LogRemoteCopyLagBytes  int64 // log.remote.copy.lag.bytes

	LogCleanerEnable             bool    // log.cleaner.enable
	LogCleanerThreads            int32   // log.cleaner.threads
	LogCleanerBackoffMs          int64   // log.cleaner.backoff.ms
	LogCleanerDedupeBufferSize   int64   // log.cleaner.dedupe.buffer.size
	LogCleanerDeleteRetentionMs  int64   // log.cleaner.delete.retention.ms
	LogCleanerMinCleanableRatio  float64 // log.cleaner.min.cleanable.ratio
	LogCleanerMinCompactionLagMs int64   // log.cleaner.min.compaction.lag.ms
	LogCleanerMaxCompactionLagMs int64   // log.cleaner.max.compaction.lag.ms

	OffsetsRetentionMinutes      int32 // offsets.retention.minutes
	OffsetsTopicNumPartitions    int32 // offsets.topic.num.partitions
	GroupMaxSize                 int32 // group.max.size
	GroupMinSessionTimeoutMs     int32 // group.min.session.timeout.ms
	GroupMaxSessionTimeoutMs     int32 // group.max.session.timeout.ms
	GroupInitialRebalanceDelayMs int32 // group.initial.rebalance.delay.ms

	// Connections and request memory.
	MaxConnections               int32  // max.connections
	MaxConnectionsPerIP          int32  // max.connections.per.ip
	MaxConnectionsPerIPOverrides string // max.connections.per.ip.overrides
	ConnectionsMaxIdleMs         int64  // connections.max.idle.ms
	QueuedMaxRequestBytes        int64  // queued.max.request.bytes
	SocketRequestReadTimeoutMs   int64  // socket.request.read.timeout.ms (Sluice's own)
	ConnectionsFDReserve         int32  // connections.fd.reserve (Sluice's own)

	// Storage failures (a full disk).
	LogDirFailureRetryBackoffMs    int64 // log.dir.failure.retry.backoff.ms (Sluice's own)
	LogDirFailureRetryBackoffMaxMs int64 // log.dir.failure.retry.backoff.max.ms (Sluice's own)

	// Partition count and open files (issue 9).
	MaxBrokerPartitions int32 // max.broker.partitions (KIP-578)
	LogOpenFilesMax     int32 // log.open.files.max (Sluice's own)

	// Damaged data (issue 9).
	LogScrubBytesPerSec int64 // log.scrub.bytes.per.sec (Sluice's own)

	// The cluster (clusterconfig.go).
	ProcessRoles                     []string // process.roles
	ControllerQuorumVoters           []string // controller.quorum.voters
	ControllerQuorumBootstrapServers []string // controller.quorum.bootstrap.servers
	ControllerListenerNames          []string // controller.listener.names
	BrokerRack                       string   // broker.rack
	ReplicaLagTimeMaxMs              int64    // replica.lag.time.max.ms
	BrokerSessionTimeoutMs           int32    // broker.session.timeout.ms
	ControllerQuorumElectionTimeout  int32    // controller.quorum.election.timeout.ms

	// explicit records keys set through Set or ParseBrokerConfig, which
	// DescribeConfigs reports as STATIC_BROKER_CONFIG even when they equal
	// the default.
	explicit map[string]bool
}

// brokerKey binds a broker config key to its field.
type brokerKey struct {
	def ConfigDef
	// dynamic keys may be changed at runtime with AlterBrokerConfigs.
	dynamic bool
	// field returns a pointer to the field: *int32, *int64, **int64, *bool,
	// *float64, *string or *[]string.
	field func(c *BrokerConfig) any
}

func bk(name string, t ConfigType, def string, check func(any) error, doc string, field func(*BrokerConfig) any) brokerKey {
	return brokerKey{def: ConfigDef{Name: name, Type: t, Default: def, check: check, Doc: doc}, field: field}
}

func bkOptional(name string, t ConfigType, check func(any) error, doc string, field func(*BrokerConfig) any) brokerKey {
	return brokerKey{def: ConfigDef{Name: name, Type: t, NoDefault: true, check: check, Doc: doc}, field: field}
}

var int32Range = between(math.MinInt32, math.MaxInt32)

// brokerKeys is the table of broker keys, sorted by name. Every topic
// config's synonym is here and is dynamic.
var brokerKeys = sortedBrokerKeys(append([]brokerKey{
	bk("node.id", ConfigInt, "0", atLeast(0), "This broker's ID in the cluster.", func(c *BrokerConfig) any { return &c.NodeID }),
	bk("listeners", ConfigString, "PLAINTEXT://127.0.0.1:9092", nil, "Comma-separated listeners, NAME://host:port (a bare host:port is PLAINTEXT).", func(c *BrokerConfig) any { return &c.Listeners }),
	bkOptional("advertised.listeners", ConfigString, nil, "Listeners given to clients, if they differ from listeners.", func(c *BrokerConfig) any { return &c.AdvertisedListeners }),
	bk("log.dirs", ConfigList, "./data", nil, "Directories that hold partition logs and metadata.", func(c *BrokerConfig) any { return &c.LogDirs }),
	bk("num.partitions", ConfigInt, "1", atLeast(1), "Partitions of a topic created without a count, including auto-created topics.", func(c *BrokerConfig) any { return &c.NumPartitions }),
	bk("default.replication.factor", ConfigInt, "1", atLeast(1), "Replication factor of a topic created without one.", func(c *BrokerConfig) any { return &c.DefaultReplicationFactor }),
	bk("auto.create.topics.enable", ConfigBoolean, "true", nil, "Create a topic when a client produces to or asks metadata of one that does not exist.", func(c *BrokerConfig) any { return &c.AutoCreateTopicsEnable }),
	bk("delete.topic.enable", ConfigBoolean, "true", nil, "Whether DeleteTopics is allowed.", func(c *BrokerConfig) any { return &c.DeleteTopicEnable }),
	bk("socket.request.max.bytes", ConfigInt, "104857600", atLeast(1), "The largest request the broker reads; larger ones close the connection.", func(c *BrokerConfig) any { return &c.SocketRequestMaxBytes }),
	bk("message.max.bytes", ConfigInt, "1048588", atLeast(0), "The largest record batch a topic accepts unless max.message.bytes overrides it.", func(c *BrokerConfig) any { return &c.MessageMaxBytes }),
	bk("log.segment.bytes", ConfigInt, "1073741824", atLeast(minSegmentBytes), "The default segment.bytes.", func(c *BrokerConfig) any { return &c.LogSegmentBytes }),
	bkOptional("log.roll.ms", ConfigLong, atLeast(1), "The default segment.ms; overrides log.roll.hours.", func(c *BrokerConfig) any { return &c.LogRollMs }),
	bk("log.roll.hours", ConfigInt, "168", atLeast(1), "The default segment.ms in hours.", func(c *BrokerConfig) any { return &c.LogRollHours }),
	bkOptional("log.roll.jitter.ms", ConfigLong, atLeast(0), "The default segment.jitter.ms; overrides log.roll.jitter.hours.", func(c *BrokerConfig) any { return &c.LogRollJitterMs }),
	bk("log.roll.jitter.hours", ConfigInt, "0", atLeast(0), "The default segment.jitter.ms in hours.", func(c *BrokerConfig) any { return &c.LogRollJitterHours }),
	bkOptional("log.retention.ms", ConfigLong, atLeast(-1), "The default retention.ms; overrides log.retention.minutes and log.retention.hours.", func(c *BrokerConfig) any { return &c.LogRetentionMs }),
	bkOptional("log.retention.minutes", ConfigInt, int32Range, "The default retention.ms in minutes; overrides log.retention.hours.", func(c *BrokerConfig) any { return &c.LogRetentionMinutes }),
	bk("log.retention.hours", ConfigInt, "168", nil, "The default retention.ms in hours.", func(c *BrokerConfig) any { return &c.LogRetentionHours }),
	bk("log.retention.bytes", ConfigLong, "-1", nil, "The default retention.bytes.", func(c *BrokerConfig) any { return &c.LogRetentionBytes }),
	bk("log.retention.check.interval.ms", ConfigLong, "300000", atLeast(1), "How often retention is enforced.", func(c *BrokerConfig) any { return &c.LogRetentionCheckIntervalMs }),
	brokerKey{def: ConfigDef{Name: "log.cleanup.policy", Type: ConfigList, Default: cleanupDelete, check: listOf(cleanupPolicies...), valid: cleanupPolicies, Doc: "The default cleanup.policy."}, field: func(c *BrokerConfig) any { return &c.LogCleanupPolicy }},
	bk("log.index.size.max.bytes", ConfigInt, "10485760", atLeast(4), "The default segment.index.bytes.", func(c *BrokerConfig) any { return &c.LogIndexSizeMaxBytes }),
	bk("log.index.interval.bytes", ConfigInt, "4096", atLeast(0), "The default index.interval.bytes.", func(c *BrokerConfig) any { return &c.LogIndexIntervalBytes }),
	bk("log.flush.interval.messages", ConfigLong, maxLongText, atLeast(1), "The default flush.messages.", func(c *BrokerConfig) any { return &c.LogFlushIntervalMessages }),
	bkOptional("log.flush.interval.ms", ConfigLong, atLeast(0), "The default flush.ms; unset means log.flush.scheduler.interval.ms.", func(c *BrokerConfig) any { return &c.LogFlushIntervalMs }),
	bk("log.flush.scheduler.interval.ms", ConfigLong, maxLongText, atLeast(0), "How often the flusher checks whether a log needs flushing.", func(c *BrokerConfig) any { return &c.LogFlushSchedulerIntervalMs }),
	bk("log.segment.delete.delay.ms", ConfigLong, "60000", atLeast(0), "The default file.delete.delay.ms.", func(c *BrokerConfig) any { return &c.LogSegmentDeleteDelayMs }),
	bk("log.preallocate", ConfigBoolean, "false", nil, "The default preallocate.", func(c *BrokerConfig) any { return &c.LogPreallocate }),
	brokerKey{def: ConfigDef{Name: "log.message.timestamp.type", Type: ConfigString, Default: timestampTypeCreate, check: oneOf(timestampTypes...), valid: timestampTypes, Doc: "The default message.timestamp.type."}, field: func(c *BrokerConfig) any { return &c.LogMessageTimestampType }},
	bk("log.message.timestamp.before.max.ms", ConfigLong, maxLongText, atLeast(0), "The default message.timestamp.before.max.ms.", func(c *BrokerConfig) any { return &c.LogMessageTimestampBeforeMaxMs }),
	bk("log.message.timestamp.after.max.ms", ConfigLong, "3600000", atLeast(0), "The default message.timestamp.after.max.ms.", func(c *BrokerConfig) any { return &c.LogMessageTimestampAfterMaxMs }),
	bk("compression.gzip.level", ConfigInt, "-1", gzipLevel, "The default compression.gzip.level.", func(c *BrokerConfig) any { return &c.CompressionGzipLevel }),
	bk("compression.lz4.level", ConfigInt, "9", between(1, 17), "The default compression.lz4.level.", func(c *BrokerConfig) any { return &c.CompressionLz4Level }),
	bk("compression.zstd.level", ConfigInt, "3", between(-131072, 22), "The default compression.zstd.level.", func(c *BrokerConfig) any { return &c.CompressionZstdLevel }),
	brokerKey{def: ConfigDef{Name: "compression.type", Type: ConfigString, Default: compressionProducer, check: oneOf(compressionTypes...), valid: compressionTypes, Doc: "The default compression.type."}, field: func(c *BrokerConfig) any { return &c.CompressionType }},
	bk("min.insync.replicas", ConfigInt, "1", atLeast(1), "The default min.insync.replicas.", func(c *BrokerConfig) any { return &c.MinInsyncReplicas }),
	bk("unclean.leader.election.enable", ConfigBoolean, "false", nil, "The default unclean.leader.election.enable.", func(c *BrokerConfig) any { return &c.UncleanLeaderElectionEnable }),
	bk("log.local.retention.ms", ConfigLong, "-2", atLeast(-2), "The default local.retention.ms (tiered storage; no effect in Sluice).", func(c *BrokerConfig) any { return &c.LogLocalRetentionMs }),
	bk("log.local.retention.bytes", ConfigLong, "-2", atLeast(-2), "The default local.retention.bytes (tiered storage; no effect in Sluice).", func(c *BrokerConfig) any { return &c.LogLocalRetentionBytes }),
	bk("log.remote.copy.lag.ms", ConfigLong, "0", atLeast(-1), "The default remote.copy.lag.ms (tiered storage; no effect in Sluice).", func(c *BrokerConfig) any { return &c.LogRemoteCopyLagMs }),
	bk("log.remote.copy.lag.bytes", ConfigLong, "-1", atLeast(-1), "The default remote.copy.lag.bytes (tiered storage; no effect in Sluice).", func(c *BrokerConfig) any { return &c.LogRemoteCopyLagBytes }),
	bk("max.decompressed.message.bytes", ConfigInt, "2147483639", atLeast(0), "The default max.decompressed.message.bytes.", func(c *BrokerConfig) any { return &c.MaxDecompressedMessageBytes }),
	bk("log.cleaner.enable", ConfigBoolean, "true", nil, "Whether the log cleaner (compaction) runs.", func(c *BrokerConfig) any { return &c.LogCleanerEnable }),
	bk("log.cleaner.threads", ConfigInt, "1", atLeast(0), "Threads that compact logs.", func(c *BrokerConfig) any { return &c.LogCleanerThreads }),
	bk("log.cleaner.backoff.ms", ConfigLong, "15000", atLeast(0), "How long the cleaner sleeps when no log needs cleaning.", func(c *BrokerConfig) any { return &c.LogCleanerBackoffMs }),
	bk("log.cleaner.dedupe.buffer.size", ConfigLong, "134217728", atLeast(0), "Memory for deduplicating keys across all cleaner threads.", func(c *BrokerConfig) any { return &c.LogCleanerDedupeBufferSize }),
	bk("log.cleaner.delete.retention.ms", ConfigLong, "86400000", atLeast(0), "The default delete.retention.ms.", func(c *BrokerConfig) any { return &c.LogCleanerDeleteRetentionMs }),
	brokerKey{def: ConfigDef{Name: "log.cleaner.min.cleanable.ratio", Type: ConfigDouble, Default: "0.5", check: ratio, Doc: "The default min.cleanable.dirty.ratio."}, field: func(c *BrokerConfig) any { return &c.LogCleanerMinCleanableRatio }},
	bk("log.cleaner.min.compaction.lag.ms", ConfigLong, "0", atLeast(0), "The default min.compaction.lag.ms.", func(c *BrokerConfig) any { return &c.LogCleanerMinCompactionLagMs }),
	bk("log.cleaner.max.compaction.lag.ms", ConfigLong, maxLongText, atLeast(1), "The default max.compaction.lag.ms.", func(c *BrokerConfig) any { return &c.LogCleanerMaxCompactionLagMs }),
	bk("offsets.retention.minutes", ConfigInt, "10080", atLeast(1), "How long committed offsets of an empty group are kept.", func(c *BrokerConfig) any { return &c.OffsetsRetentionMinutes }),
	bk("offsets.topic.num.partitions", ConfigInt, "50", atLeast(1), "Partitions of the committed-offsets topic.", func(c *BrokerConfig) any { return &c.OffsetsTopicNumPartitions }),
	bk("group.max.size", ConfigInt, "2147483647", atLeast(1), "The most members a consumer group may have.", func(c *BrokerConfig) any { return &c.GroupMaxSize }),
	bk("group.min.session.timeout.ms", ConfigInt, "6000", atLeast(0), "The shortest session timeout a member may ask for.", func(c *BrokerConfig) any { return &c.GroupMinSessionTimeoutMs }),
	bk("group.max.session.timeout.ms", ConfigInt, "1800000", atLeast(0), "The longest session timeout a member may ask for.", func(c *BrokerConfig) any { return &c.GroupMaxSessionTimeoutMs }),
	bk("group.initial.rebalance.delay.ms", ConfigInt, "3000", atLeast(0), "How long a new group waits for more members before its first rebalance.", func(c *BrokerConfig) any { return &c.GroupInitialRebalanceDelayMs }),

	// Connections and request memory: what bounds the descriptors and the
	// memory clients can make the broker hold (broker/limits.go, reqmem.go).
	bk("max.connections", ConfigInt, "2147483647", atLeast(0), "The most client connections the broker holds at once. At the limit the broker stops accepting (new connections wait in the kernel's backlog) until one closes, as Kafka does.", func(c *BrokerConfig) any { return &c.MaxConnections }),
	bk("max.connections.per.ip", ConfigInt, "2147483647", atLeast(0), "The most connections from one IP address; more are closed right after they are accepted. 0 is allowed only with max.connections.per.ip.overrides.", func(c *BrokerConfig) any { return &c.MaxConnectionsPerIP }),
	brokerKey{def: ConfigDef{Name: "max.connections.per.ip.overrides", Type: ConfigString, Default: "", check: connectionOverrides, Doc: "Per-host exceptions to max.connections.per.ip, as host:count,host:count. A host is an IP address or a hostname, resolved once at start (every address it resolves to gets the count)."}, field: func(c *BrokerConfig) any { return &c.MaxConnectionsPerIPOverrides }},
	bk("connections.max.idle.ms", ConfigLong, "600000", atLeast(-1), "Close a connection that has sent no request, or whose client has not read its response, for this long; -1 never does.", func(c *BrokerConfig) any { return &c.ConnectionsMaxIdleMs }),
	bk("queued.max.request.bytes", ConfigLong, "268435456", positiveOrUnbounded, "Request bytes the broker holds at once across all connections, being read or handled. A connection that would exceed it stops reading until memory frees; one request at a time may go past it, so a request up to socket.request.max.bytes is always served. -1 is unbounded (Kafka's default); Sluice bounds it by default (256 MiB) so that clients cannot make the broker run out of memory.", func(c *BrokerConfig) any { return &c.QueuedMaxRequestBytes }),
	bk("socket.request.read.timeout.ms", ConfigLong, "30000", atLeast(1), "Sluice's own (Kafka has none): once a request's size has been read, the whole request must arrive within this time, or the connection is closed and the request's memory freed. Time spent waiting for queued.max.request.bytes does not count.", func(c *BrokerConfig) any { return &c.SocketRequestReadTimeoutMs }),
	bk("connections.fd.reserve", ConfigInt, "-1", atLeast(-1), "Sluice's own: file descriptors kept back from Kafka client connections for logs, indexes, checkpoints, metadata and --http connections (at most 32). Connections beyond the process's RLIMIT_NOFILE less this reserve are closed right after they are accepted. -1 reserves a quarter of the limit, at least 128 and at most half.", func(c *BrokerConfig) any { return &c.ConnectionsFDReserve }),

	// Storage failures (a full disk): Sluice's own keys; Kafka takes a
	// failed log dir offline until a restart.
	bk("log.dir.failure.retry.backoff.ms", ConfigLong, "1000", atLeast(1), "Sluice's own (Kafka takes a failed log dir offline until a restart): after a write to a partition log or the metadata journal fails (a full disk, an I/O error), it is read-only (reads go on, writes get KAFKA_STORAGE_ERROR) and the broker first probes whether the disk takes writes again this long after the failure; each failed probe doubles the wait up to log.dir.failure.retry.backoff.max.ms. A successful probe recovers the log's tail as after a crash and resumes writes, without a restart.", func(c *BrokerConfig) any { return &c.LogDirFailureRetryBackoffMs }),
	bk("log.dir.failure.retry.backoff.max.ms", ConfigLong, "10000", atLeast(1), "Sluice's own: the longest wait between two probes of a read-only log (see log.dir.failure.retry.backoff.ms): writes resume at most about this long after space is freed.", func(c *BrokerConfig) any { return &c.LogDirFailureRetryBackoffMaxMs }),

	// Partition count and open files (issue 9).
	bk("max.broker.partitions", ConfigInt, "10000", atLeast(1),
		"The most partitions this broker holds, internal topics included (the name KIP-578 proposed; Kafka has no such limit). "+
			"CreateTopics, CreatePartitions and topic auto-creation that would go above it are refused with POLICY_VIOLATION. "+
			"Partition files are opened on demand (log.open.files.max), so the limit is one of memory and disk, not descriptors. "+
			"Lowering it below the partitions already held refuses new ones but never stops the broker from starting.",
		func(c *BrokerConfig) any { return &c.MaxBrokerPartitions }),
	bk("log.open.files.max", ConfigInt, "0", atLeast(0),
		"Sluice's own: the most segment and index files held open across all partition logs (a least-recently-used cache; a file in use is never closed, "+
			"and a file written since its last fsync is fsynced before it is closed). 0 means connections.fd.reserve less 64 (at most half of it) "+
			"for the broker's other files, at least 8; a larger value is lowered to that, so raise connections.fd.reserve to hold more files open.",
		func(c *BrokerConfig) any { return &c.LogOpenFilesMax }),

	// Damaged data (issue 9): Sluice's own; Kafka never re-reads sealed
	// segments, so bit rot shows only when a consumer reaches it.
	bk("log.scrub.bytes.per.sec", ConfigLong, "1048576", atLeast(0),
		"Sluice's own: how fast the background scrubber re-reads sealed (closed) segments, every partition in turn, checking each batch's CRC32C "+
			"and offsets; 0 turns it off. Damage it finds is kept, logged, shown on /metrics and by sluice topic describe, and fetches of its offsets "+
			"answer CORRUPT_MESSAGE while the batches around it stay readable. Reads skip the page cache (fadvise), so they test the disk. "+
			"The default, 1 MiB/s, checks about 86 GB a day at a cost few disks notice; raise it to cover more data per day, lower it on a busy spinning disk.",
		func(c *BrokerConfig) any { return &c.LogScrubBytesPerSec }),
}, clusterBrokerKeys...))

func sortedBrokerKeys(keys []brokerKey) []brokerKey {
	// As in Kafka, only the primary broker synonym of each topic config can
	// change at runtime (log.retention.ms, not log.retention.hours).
	dynamic := map[string]bool{}
	for _, d := range TopicConfigs {
		if len(d.Synonyms) > 0 {
			dynamic[d.Synonyms[0].Name] = true
		}
	}
	for i := range keys {
		keys[i].dynamic = dynamic[keys[i].def.Name]
		keys[i].def.ReadOnly = !keys[i].dynamic
	}
	slices.SortFunc(keys, func(a, b brokerKey) int { return strings.Compare(a.def.Name, b.def.Name) })
	return keys
}

func brokerKeyByName(name string) (*brokerKey, bool) {
	i, ok := slices.BinarySearchFunc(brokerKeys, name, func(k brokerKey, n string) int { return strings.Compare(k.def.Name, n) })
	if !ok {
		return nil, false
	}
	return &brokerKeys[i], true
}

// BrokerConfigDef returns the definition of a broker config key. ReadOnly is
// set on keys that cannot be changed with AlterBrokerConfigs.
func BrokerConfigDef(name string) (*ConfigDef, bool) {
	k, ok := brokerKeyByName(name)
	if !ok {
		return nil, false
	}
	return &k.def, true
}

// BrokerConfigNames returns every broker key, sorted.
func BrokerConfigNames() []string {
	out := make([]string, len(brokerKeys))
	for i, k := range brokerKeys {
		out[i] = k.def.Name
	}
	return out
}

// DefaultBrokerConfig returns Kafka's defaults (with Sluice's listener on
// 127.0.0.1:9092 and log.dirs ./data).
func DefaultBrokerConfig() *BrokerConfig {
	c := &BrokerConfig{}
	for i := range brokerKeys {
		k := &brokerKeys[i]
		if k.def.NoDefault {
			continue
		}
		if err := c.assign(k, k.def.Default); err != nil {
			panic(fmt.Sprintf("meta: default of %s: %v", k.def.Name, err)) // a bug in the table
		}
	}
	return c
}

// ParseBrokerConfig returns DefaultBrokerConfig with the given keys set, then
// validated. Every unknown key and bad value is reported, each naming its
// key, joined in one error that wraps ErrInvalidConfig.
func ParseBrokerConfig(m map[string]string) (*BrokerConfig, error) {
	c := DefaultBrokerConfig()
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := c.Set(k, m[k]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Set sets one key from its text form. The error wraps ErrInvalidConfig and
// names the key.
func (c *BrokerConfig) Set(key, value string) error {
	k, ok := brokerKeyByName(key)
	if !ok {
		return invalid(ErrInvalidConfig, "unknown broker config %q (value %q)", key, value)
	}
	if err := c.assign(k, value); err != nil {
		return err
	}
	if c.explicit == nil {
		c.explicit = map[string]bool{}
	}
	c.explicit[key] = true
	return nil
}

// Get returns a key's value in text form; ok is false for an unknown key or
// an optional key that is unset.
func (c *BrokerConfig) Get(key string) (value string, ok bool) {
	k, found := brokerKeyByName(key)
	if !found {
		return "", false
	}
	switch p := k.field(c).(type) {
	case *int32:
		return strconv.FormatInt(int64(*p), 10), true
	case *int64:
		return strconv.FormatInt(*p, 10), true
	case **int64:
		if *p == nil {
			return "", false
		}
		return strconv.FormatInt(**p, 10), true
	case *bool:
		return strconv.FormatBool(*p), true
	case *float64:
		return strconv.FormatFloat(*p, 'f', -1, 64), true
	case *string:
		if k.def.NoDefault && *p == "" {
			return "", false
		}
		return *p, true
	case *[]string:
		return strings.Join(*p, ","), true
	}
	return "", false
}

// staticValue returns the value of a key that was explicitly set or differs
// from its default: what DescribeConfigs reports as STATIC_BROKER_CONFIG.
func (c *BrokerConfig) staticValue(key string) (string, bool) {
	v, ok := c.Get(key)
	if !ok {
		return "", false
	}
	if c.explicit[key] {
		return v, true
	}
	k, _ := brokerKeyByName(key)
	if k.def.NoDefault {
		return v, true
	}
	dv, _ := parseConfigValue(k.def.Type, k.def.Default)
	return v, formatConfigValue(dv) != v
}

func (c *BrokerConfig) assign(k *brokerKey, value string) error {
	v, err := k.def.Parse(value)
	if err != nil {
		return err
	}
	switch p := k.field(c).(type) {
	case *int32:
		n := v.(int64)
		if n < math.MinInt32 || n > math.MaxInt32 {
			return invalid(ErrInvalidConfig, "invalid value %q for configuration %s: out of range", value, k.def.Name)
		}
		*p = int32(n)
	case *int64:
		*p = v.(int64)
	case **int64:
		n := v.(int64)
		*p = &n
	case *bool:
		*p = v.(bool)
	case *float64:
		*p = v.(float64)
	case *string:
		*p = v.(string)
	case *[]string:
		*p = v.([]string)
	default:
		return fmt.Errorf("meta: broker config %s has unsupported field type %T", k.def.Name, p)
	}
	return nil
}

// Validate checks every value and the rules between keys. The error wraps
// ErrInvalidConfig and names the keys at fault.
func (c *BrokerConfig) Validate() error {
	var errs []error
	for i := range brokerKeys {
		k := &brokerKeys[i]
		if v, ok := c.Get(k.def.Name); ok {
			if err := k.def.Validate(v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(c.LogDirs) == 0 {
		errs = append(errs, invalid(ErrInvalidConfig, "log.dirs must name at least one directory"))
	}
	if _, err := ParseListeners(c.Listeners); err != nil {
		errs = append(errs, err)
	}
	if c.AdvertisedListeners != "" {
		if _, err := ParseListeners(c.AdvertisedListeners); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxConnectionsPerIP == 0 && c.MaxConnectionsPerIPOverrides == "" {
		errs = append(errs, invalid(ErrInvalidConfig, "max.connections.per.ip can be 0 only if max.connections.per.ip.overrides is set"))
	}
	if c.LogDirFailureRetryBackoffMs > c.LogDirFailureRetryBackoffMaxMs {
		errs = append(errs, invalid(ErrInvalidConfig, "log.dir.failure.retry.backoff.ms (%d) is larger than log.dir.failure.retry.backoff.max.ms (%d)", c.LogDirFailureRetryBackoffMs, c.LogDirFailureRetryBackoffMaxMs))
	}
	if c.GroupMinSessionTimeoutMs > c.GroupMaxSessionTimeoutMs {
		errs = append(errs, invalid(ErrInvalidConfig, "group.min.session.timeout.ms (%d) is larger than group.max.session.timeout.ms (%d)", c.GroupMinSessionTimeoutMs, c.GroupMaxSessionTimeoutMs))
	}
	if _, err := c.Cluster(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Listener is one entry of listeners or advertised.listeners.
type Listener struct {
	Name string // e.g. PLAINTEXT
	Host string
	Port int32
}

// Addr returns host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))) }

// ParseListeners parses Kafka's listener list "NAME://host:port,...". A bare
// "host:port" is a PLAINTEXT listener. The error wraps ErrInvalidConfig.
func ParseListeners(s string) ([]Listener, error) {
	var out []Listener
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		name, addr := "PLAINTEXT", part
		if i := strings.Index(part, "://"); i >= 0 {
			name, addr = part[:i], part[i+3:]
		}
		host, port, err := net.SplitHostPort(addr)
		p, perr := strconv.ParseUint(port, 10, 16)
		if name == "" || err != nil || perr != nil {
			return nil, invalid(ErrInvalidConfig, "listener %q is not NAME://host:port", part)
		}
		for _, l := range out {
			if l.Name == name {
				return nil, invalid(ErrInvalidConfig, "listener name %s is used twice in %q", name, s)
			}
		}
		out = append(out, Listener{Name: name, Host: host, Port: int32(p)})
	}
	return out, nil
}

// ParseConnectionOverrides parses max.connections.per.ip.overrides, Kafka's
// "host:count,host:count" (split at the last colon, so an IPv6 address may
// stand bare or in brackets). Hosts are returned as written; resolving
// hostnames is the caller's. The error wraps ErrInvalidConfig.
func ParseConnectionOverrides(s string) (map[string]int32, error) {
	m, err := parseConnectionOverrides(s)
	if err != nil {
		return nil, invalid(ErrInvalidConfig, "max.connections.per.ip.overrides: %v", err)
	}
	return m, nil
}

func parseConnectionOverrides(s string) (map[string]int32, error) {
	out := map[string]int32{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		i := strings.LastIndex(part, ":")
		if i < 0 {
			return nil, fmt.Errorf("entry %q is not host:count", part)
		}
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(part[:i]), "["), "]")
		n, err := strconv.ParseInt(strings.TrimSpace(part[i+1:]), 10, 32)
		if host == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("entry %q is not host:count with a count of 0 or more", part)
		}
		out[host] = int32(n)
	}
	return out, nil
}

func connectionOverrides(v any) error {
	_, err := parseConnectionOverrides(v.(string))
	return err
}

// positiveOrUnbounded checks a number is -1 (no bound) or positive.
func positiveOrUnbounded(v any) error {
	if n := v.(int64); n != -1 && n < 1 {
		return fmt.Errorf("must be -1 (unbounded) or positive")
	}
	return nil
}

// ResolveBrokerConfig returns every broker key's value for DescribeConfigs of
// a broker resource: dynamic for this node, dynamic default, static, default,
// in that order of preference. img may be nil.
func ResolveBrokerConfig(img *Image, bc *BrokerConfig) []*ConfigValue {
	var nodeDyn, allDyn map[string]string
	if img != nil {
		nodeDyn, allDyn = img.BrokerConfigs(bc.NodeID), img.BrokerConfigs(AllBrokers)
	}
	out := make([]*ConfigValue, 0, len(brokerKeys))
	for i := range brokerKeys {
		k := &brokerKeys[i]
		cv := &ConfigValue{Def: &k.def}
		if v, ok := nodeDyn[k.def.Name]; ok {
			cv.Synonyms = append(cv.Synonyms, ConfigSynonym{Name: k.def.Name, Value: v, Source: SourceDynamicBroker})
		}
		if v, ok := allDyn[k.def.Name]; ok {
			cv.Synonyms = append(cv.Synonyms, ConfigSynonym{Name: k.def.Name, Value: v, Source: SourceDynamicDefaultBroker})
		}
		if v, ok := bc.staticValue(k.def.Name); ok {
			cv.Synonyms = append(cv.Synonyms, ConfigSynonym{Name: k.def.Name, Value: v, Source: SourceStaticBroker})
		}
		if !k.def.NoDefault {
			cv.Synonyms = append(cv.Synonyms, ConfigSynonym{Name: k.def.Name, Value: k.def.Default, Source: SourceDefault})
		}
		if len(cv.Synonyms) > 0 {
			cv.Value, cv.Source = cv.Synonyms[0].Value, cv.Synonyms[0].Source
			cv.parsed, _ = k.def.Parse(cv.Value)
		} else {
			cv.Source, cv.Null = SourceDefault, true
		}
		out = append(out, cv)
	}
	return out
}

// validateBrokerConfigChange checks an AlterBrokerConfigs key and value.
// Like Kafka, it answers INVALID_REQUEST (ErrInvalidRequest) for keys that
// cannot change at runtime and for bad values. Unlike Kafka, which stores
// unknown keys for plugins, it refuses them: Sluice has no plugins, and a
// typo should not be silently kept.
func validateBrokerConfigChange(key, value string, deleting bool) error {
	k, ok := brokerKeyByName(key)
	if !ok {
		return invalid(ErrInvalidRequest, "unknown broker config %q", key)
	}
	if !k.dynamic {
		return invalid(ErrInvalidRequest, "broker config %s cannot be updated dynamically; set it in the server's config file", key)
	}
	if deleting {
		return nil
	}
	if err := k.def.Validate(value); err != nil {
		return invalid(ErrInvalidRequest, "%s", ErrorMessage(err))
	}
	return nil
}
