package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics creates the named topics; partitions and replication -1 take
// the broker's defaults (num.partitions, default.replication.factor), and
// configs are topic configs by Kafka's keys. It returns the topics created,
// in the order named, and an error naming each topic that was not.
func (a *Admin) CreateTopics(ctx context.Context, partitions int32, replication int16, configs map[string]*string, names ...string) ([]kadm.CreateTopicResponse, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	resps, err := a.adm.CreateTopics(ctx, partitions, replication, configs, names...)
	if err != nil {
		return nil, a.cluster.requestErr("create topics", err)
	}
	return eachTopic(names, "CreateTopics", func(name string) (kadm.CreateTopicResponse, topicOutcome) {
		r, ok := resps[name]
		return r, topicOutcome{ok, r.Err, r.ErrMessage}
	})
}

// ListTopics lists the topics, sorted by name, with internal ones
// (__consumer_offsets, ...) if internal is set. A topic the broker could not
// describe carries its Err.
func (a *Admin) ListTopics(ctx context.Context, internal bool) ([]kadm.TopicDetail, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	list := a.adm.ListTopics
	if internal {
		list = a.adm.ListTopicsWithInternal
	}
	topics, err := list(ctx)
	if err != nil {
		return nil, a.cluster.requestErr("list topics", err)
	}
	return topics.Sorted(), nil
}

// DeleteTopics deletes the named topics and all their records. It returns
// the topics deleted, in the order named, and an error naming each topic
// that was not.
func (a *Admin) DeleteTopics(ctx context.Context, names ...string) ([]string, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	resps, err := a.adm.DeleteTopics(ctx, names...)
	if err != nil {
		return nil, a.cluster.requestErr("delete topics", err)
	}
	return eachTopic(names, "DeleteTopics", func(name string) (string, topicOutcome) {
		r, ok := resps[name]
		return name, topicOutcome{ok, r.Err, r.ErrMessage}
	})
}

// AlterTopicConfigs applies incremental config changes to the named topics
// (IncrementalAlterConfigs): keys not named are untouched. It returns the
// topics altered, in the order named, and an error naming each topic that
// was not.
func (a *Admin) AlterTopicConfigs(ctx context.Context, changes []kadm.AlterConfig, names ...string) ([]string, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	resps, err := a.adm.AlterTopicConfigs(ctx, changes, names...)
	if err != nil {
		return nil, a.cluster.requestErr("alter topic configs", err)
	}
	return eachTopic(names, "IncrementalAlterConfigs", func(name string) (string, topicOutcome) {
		r, err := resps.On(name, nil)
		return name, topicOutcome{err == nil, r.Err, r.ErrMessage}
	})
}

// topicOutcome is one topic's result in an admin response.
type topicOutcome struct {
	answered bool   // the response names the topic
	err      error  // its error code
	errMsg   string // the broker's error message
}

// eachTopic collects the results of the named topics that succeeded, in
// order, and joins an error for each other one; api names the request for
// a topic the response left out.
func eachTopic[T any](names []string, api string, lookup func(string) (T, topicOutcome)) ([]T, error) {
	var (
		ok   []T
		errs []error
	)
	for _, name := range names {
		r, o := lookup(name)
		switch {
		case !o.answered:
			errs = append(errs, fmt.Errorf("topic %q: missing from the %s response", name, api))
		case o.err != nil:
			errs = append(errs, topicErr(name, o.err, o.errMsg))
		default:
			ok = append(ok, r)
		}
	}
	return ok, errors.Join(errs...)
}

// TopicDescription is what DescribeTopics tells of one topic.
type TopicDescription struct {
	kadm.TopicDetail // ID, partitions with leaders, epochs, replicas and ISR

	// Configs are the configs that do not come from Kafka's built-in
	// defaults (set on the topic or the broker), sorted by key; ConfigErr
	// says why they are missing.
	Configs   []kadm.Config
	ConfigErr error

	// Offsets per partition, informative: a partition whose offsets could
	// not be listed is missing.
	LogStart      map[int32]int64
	HighWatermark map[int32]int64

	// Damage lists, on Sluice, the partitions with damaged data on disk,
	// sorted by partition; it is empty on other clusters.
	Damage []PartitionDamage
}

// DescribeTopics describes the named topics, in order, with their damaged
// ranges where the cluster is Sluice (DescribeLogDirs). A topic that does
// not exist, or whose configs cannot be read, is an error naming it; the
// others are still described.
func (a *Admin) DescribeTopics(ctx context.Context, names ...string) ([]TopicDescription, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	topics, err := a.adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, a.cluster.requestErr("describe topics", err)
	}
	var errs []error
	var found []string
	for _, name := range names {
		t, ok := topics[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: missing from the metadata response", name))
		case t.Err != nil:
			errs = append(errs, topicErr(name, t.Err, ""))
		default:
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return nil, errors.Join(errs...)
	}
	configs, err := a.adm.DescribeTopicConfigs(ctx, found...)
	if err != nil {
		return nil, a.cluster.requestErr("describe topic configs", err)
	}
	// Offsets are informative; a failure to list them leaves them out.
	starts, _ := a.adm.ListStartOffsets(ctx, found...)
	ends, _ := a.adm.ListEndOffsets(ctx, found...)
	damage := a.describeDamage(ctx, topics, found)

	out := make([]TopicDescription, 0, len(found))
	for _, name := range found {
		d := TopicDescription{
			TopicDetail:   topics[name],
			LogStart:      listedOffsets(starts, name),
			HighWatermark: listedOffsets(ends, name),
			Damage:        damage[name],
		}
		rc, cerr := configs.On(name, nil)
		switch {
		case cerr != nil:
			d.ConfigErr = topicErr(name, fmt.Errorf("configs: %w", cerr), "")
		case rc.Err != nil:
			d.ConfigErr = topicErr(name, fmt.Errorf("configs: %w", rc.Err), rc.ErrMessage)
		default:
			d.Configs = nonDefaultConfigs(rc.Configs)
		}
		if d.ConfigErr != nil {
			errs = append(errs, d.ConfigErr)
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

// nonDefaultConfigs keeps the configs that do not come from Kafka's
// built-in defaults, sorted by key.
func nonDefaultConfigs(cfgs []kadm.Config) []kadm.Config {
	set := []kadm.Config{}
	for _, c := range cfgs {
		if c.Source != kmsg.ConfigSourceDefaultConfig && c.Source != kmsg.ConfigSourceUnknown {
			set = append(set, c)
		}
	}
	slices.SortFunc(set, func(a, b kadm.Config) int { return strings.Compare(a.Key, b.Key) })
	return set
}

// listedOffsets is topic's offsets in l, without the partitions that failed.
func listedOffsets(l kadm.ListedOffsets, topic string) map[int32]int64 {
	out := make(map[int32]int64, len(l[topic]))
	for p, o := range l[topic] {
		if o.Err == nil {
			out[p] = o.Offset
		}
	}
	return out
}

// ConfigSourceName names where a config is set, the way kafka-configs does.
func ConfigSourceName(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "dynamic broker"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "dynamic default broker"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "static broker"
	case kmsg.ConfigSourceDynamicBrokerLoggerConfig:
		return "broker logger"
	case kmsg.ConfigSourceGroupConfig:
		return "group"
	default:
		return strings.ToLower(s.String())
	}
}
