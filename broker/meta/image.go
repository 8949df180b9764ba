package meta

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Image is an immutable snapshot of the cluster metadata. Its accessors may
// be called from any goroutine without locks. Values it returns (topics,
// brokers, config maps) are shared with other readers and must not be
// modified.
type Image struct {
	offset int64
	topics cowMap[string, *Topic]
	byID   cowMap[TopicID, *Topic]
	// collisions maps a topic name with '.' replaced by '_' to the topic
	// holding it, for Kafka's collision rule.
	collisions cowMap[string, string]
	brokers    map[int32]*Broker
	// clusterID is the cluster's id once SetCluster is applied.
	clusterID string
	// pidBlocks is each broker's last producer-id block, nextPID the
	// first id no block holds (ProducerIDs).
	pidBlocks map[int32][2]int64
	nextPID   int64
	// partitions is the sum of every topic's partition count.
	partitions int64
	// brokerConfigs holds dynamic broker configs by node ID; AllBrokers (-1)
	// holds the cluster-wide defaults.
	brokerConfigs map[int32]map[string]string
	// configs memoizes TopicConfig per (topic, broker config); each image
	// has its own, so a change never serves a stale config.
	configs *sync.Map
}

// Topic is one topic in an Image. Do not modify it.
type Topic struct {
	Name              string
	ID                TopicID
	Partitions        int32
	ReplicationFactor int16
	// Configs are the topic's overrides (DYNAMIC_TOPIC_CONFIG) with Kafka
	// keys; absent keys take the broker or default value (see
	// ResolveTopicConfig).
	Configs map[string]string
	// Parts is each partition's replication state in a cluster; nil for
	// a single node's topic, whose every partition this node leads.
	Parts []PartitionState
}

// Broker is a registered broker. Do not modify it.
type Broker struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   string
	// Fenced brokers lead nothing and are left out of Metadata;
	// ShuttingDown ones are moving their leadership away.
	Fenced, ShuttingDown bool
	// UncleanShutdown: the broker registered after an unclean stop.
	UncleanShutdown bool
	// Incarnation and Epoch are the registration's (RegisterBroker).
	Incarnation string
	Epoch       int64
}

// NewImage returns the empty image at offset -1 (nothing applied).
func NewImage() *Image {
	return &Image{
		offset:        -1,
		brokers:       map[int32]*Broker{},
		brokerConfigs: map[int32]map[string]string{},
		configs:       &sync.Map{},
	}
}

// Offset is the journal offset of the last entry applied to this image, -1
// for the empty image. It only grows from one published image to the next.
func (img *Image) Offset() int64 { return img.offset }

// Topic returns the topic with this name.
func (img *Image) Topic(name string) (*Topic, bool) {
	return img.topics.get(name)
}

// TopicByID returns the topic with this ID.
func (img *Image) TopicByID(id TopicID) (*Topic, bool) {
	return img.byID.get(id)
}

// Topics returns every topic sorted by name.
func (img *Image) Topics() []*Topic {
	out := make([]*Topic, 0, img.topics.len())
	for _, t := range img.topics.all {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Topic) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// NumTopics returns the number of topics.
func (img *Image) NumTopics() int { return img.topics.len() }

// NumPartitions returns the number of partitions of all topics.
func (img *Image) NumPartitions() int64 { return img.partitions }

// Broker returns the registered broker with this node ID.
func (img *Image) Broker(nodeID int32) (*Broker, bool) {
	b, ok := img.brokers[nodeID]
	return b, ok
}

// Brokers returns every registered broker sorted by node ID.
func (img *Image) Brokers() []*Broker {
	out := make([]*Broker, 0, len(img.brokers))
	for _, b := range img.brokers {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b *Broker) int { return int(a.NodeID) - int(b.NodeID) })
	return out
}

// BrokerConfigs returns the dynamic broker configs set for nodeID (use
// AllBrokers for the cluster-wide defaults); nil if none.
func (img *Image) BrokerConfigs(nodeID int32) map[string]string {
	return img.brokerConfigs[nodeID]
}

// clone returns a copy that may be changed: topic indexes are
// copy-on-write, so only the shards written later are copied; the small
// broker maps are copied now.
func (img *Image) clone() *Image {
	c := *img
	c.brokers = maps.Clone(img.brokers)
	c.brokerConfigs = maps.Clone(img.brokerConfigs)
	c.configs = &sync.Map{}
	return &c
}

// withOffset returns a copy of img at offset off. Only the header is copied.
func (img *Image) withOffset(off int64) *Image {
	c := *img
	c.offset = off
	c.configs = &sync.Map{}
	return &c
}

type configKey struct {
	topic  *Topic
	broker *BrokerConfig
}

// TopicConfig returns t's effective config (ResolveTopicConfig with this
// image's dynamic broker configs), computed once per image, topic and
// broker config, for hot paths such as produce. bc must not be changed
// after it is first passed here; nil means DefaultBrokerConfig.
func (img *Image) TopicConfig(t *Topic, bc *BrokerConfig) *TopicConfig {
	k := configKey{t, bc}
	if c, ok := img.configs.Load(k); ok {
		return c.(*TopicConfig)
	}
	c, _ := img.configs.LoadOrStore(k, ResolveTopicConfig(img, t.Configs, bc))
	return c.(*TopicConfig)
}

// String dumps the image deterministically, one line per topic, broker and
// dynamic broker config set; used by tests and debugging.
func (img *Image) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "offset=%d topics=%d brokers=%d\n", img.offset, img.topics.len(), len(img.brokers))
	if img.clusterID != "" {
		fmt.Fprintf(&b, "cluster %s\n", img.clusterID)
	}
	for _, id := range slices.Sorted(maps.Keys(img.pidBlocks)) {
		fmt.Fprintf(&b, "producer-ids %d [%d,%d)\n", id, img.pidBlocks[id][0], img.pidBlocks[id][1])
	}
	for _, t := range img.Topics() {
		fmt.Fprintf(&b, "topic %s id=%s partitions=%d rf=%d", t.Name, t.ID, t.Partitions, t.ReplicationFactor)
		if len(t.Configs) > 0 {
			fmt.Fprintf(&b, " configs=%s", formatConfigs(t.Configs))
		}
		b.WriteByte('\n')
		for i, p := range t.Parts {
			fmt.Fprintf(&b, "  %d replicas=%v isr=%v leader=%d epoch=%d/%d", i, p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
			if len(p.ELR) > 0 || len(p.LastKnownELR) > 0 {
				fmt.Fprintf(&b, " elr=%v last-known-elr=%v", p.ELR, p.LastKnownELR)
			}
			if p.Recovering {
				b.WriteString(" recovering")
			}
			if len(p.Adding) > 0 || len(p.Removing) > 0 {
				fmt.Fprintf(&b, " adding=%v removing=%v", p.Adding, p.Removing)
			}
			b.WriteByte('\n')
		}
	}
	for _, br := range img.Brokers() {
		fmt.Fprintf(&b, "broker %d %s:%d", br.NodeID, br.Host, br.Port)
		if br.Rack != "" {
			fmt.Fprintf(&b, " rack=%s", br.Rack)
		}
		if br.Epoch != 0 {
			fmt.Fprintf(&b, " epoch=%d", br.Epoch)
		}
		if br.Fenced {
			b.WriteString(" fenced")
		}
		if br.ShuttingDown {
			b.WriteString(" shutting-down")
		}
		if br.UncleanShutdown {
			b.WriteString(" unclean-shutdown")
		}
		b.WriteByte('\n')
	}
	for _, id := range slices.Sorted(maps.Keys(img.brokerConfigs)) {
		fmt.Fprintf(&b, "broker-configs %d %s\n", id, formatConfigs(img.brokerConfigs[id]))
	}
	return b.String()
}

func formatConfigs(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Delta is what changed between two images, for the broker to create and
// delete partition logs and refresh caches.
type Delta struct {
	// Created are topics in the new image whose ID was not in the old one.
	Created []*Topic
	// Deleted are topics of the old image whose ID is gone.
	Deleted []*Topic
	// Grown are topics (new version) whose partition count increased; their
	// old count is in OldPartitions at the same index.
	Grown         []*Topic
	OldPartitions []int32
	// Reconfigured are topics (new version) whose overrides changed.
	Reconfigured []*Topic
	// Moved are topics (new version) whose partitions' replication state
	// changed (leaders, ISR, replicas).
	Moved []*Topic
	// BrokersChanged is true if registered brokers or dynamic broker configs
	// changed.
	BrokersChanged bool
}

// Diff returns what changed from old to new. A topic deleted and recreated
// under the same name appears in both Deleted and Created (its ID differs).
func Diff(old, new *Image) Delta {
	var d Delta
	if old == nil {
		old = NewImage()
	}
	for _, t := range new.Topics() {
		o, ok := old.byID.get(t.ID)
		switch {
		case !ok:
			d.Created = append(d.Created, t)
		case o == t:
		default:
			if t.Partitions > o.Partitions {
				d.Grown = append(d.Grown, t)
				d.OldPartitions = append(d.OldPartitions, o.Partitions)
			}
			if !maps.Equal(o.Configs, t.Configs) {
				d.Reconfigured = append(d.Reconfigured, t)
			}
			if !slices.EqualFunc(o.Parts, t.Parts, PartitionState.equal) {
				d.Moved = append(d.Moved, t)
			}
		}
	}
	for _, t := range old.Topics() {
		if _, ok := new.byID.get(t.ID); !ok {
			d.Deleted = append(d.Deleted, t)
		}
	}
	d.BrokersChanged = !maps.EqualFunc(old.brokers, new.brokers, func(a, b *Broker) bool { return *a == *b }) ||
		!maps.EqualFunc(old.brokerConfigs, new.brokerConfigs, func(a, b map[string]string) bool { return maps.Equal(a, b) })
	return d
}
