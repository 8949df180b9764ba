package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicAdmin creates, lists, describes, alters and deletes topics, and
// checks that each failure names its topic while the others succeed.
func TestTopicAdmin(t *testing.T) {
	c, adm := testCluster(t)
	ctx := testContext(t)

	created, err := adm.CreateTopics(ctx, 3, -1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "orders", "audit")
	if err != nil || len(created) != 2 || created[0].Topic != "orders" || created[0].NumPartitions != 3 || created[1].Topic != "audit" {
		t.Fatalf("CreateTopics = %+v, %v", created, err)
	}
	created, err = adm.CreateTopics(ctx, 1, -1, nil, "orders", "logs")
	if len(created) != 1 || created[0].Topic != "logs" ||
		!errors.Is(err, kerr.TopicAlreadyExists) || !strings.HasPrefix(err.Error(), `topic "orders": TOPIC_ALREADY_EXISTS`) {
		t.Errorf("creating an existing and a new topic: %+v, %v", created, err)
	}

	listed, err := adm.ListTopics(ctx, false)
	var names []string
	for _, d := range listed {
		names = append(names, d.Topic)
	}
	if err != nil || strings.Join(names, ",") != "audit,logs,orders" {
		t.Errorf("ListTopics = %v, %v; want audit,logs,orders sorted", names, err)
	}

	produceTo(t, c, "orders", 1, "x", "y")
	altered, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
	}, "orders")
	if err != nil || len(altered) != 1 {
		t.Fatalf("AlterTopicConfigs = %v, %v", altered, err)
	}
	descs, err := adm.DescribeTopics(ctx, "orders", "missing", "logs")
	if !errors.Is(err, kerr.UnknownTopicOrPartition) || !strings.Contains(err.Error(), `topic "missing": `) {
		t.Errorf("describing a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION naming it", err)
	}
	if len(descs) != 2 || descs[0].Topic != "orders" || descs[1].Topic != "logs" {
		t.Fatalf("DescribeTopics described %d topics, want orders and logs in order", len(descs))
	}
	o := descs[0]
	var set []string
	for _, cfg := range o.Configs {
		set = append(set, cfg.Key+"="+cfg.MaybeValue()+" "+ConfigSourceName(cfg.Source))
	}
	if o.ConfigErr != nil || strings.Join(set, ", ") != "cleanup.policy=compact topic, retention.ms=3600000 topic" {
		t.Errorf("orders' non-default configs = %q (%v), want cleanup.policy then retention.ms, both on the topic", set, o.ConfigErr)
	}
	if len(o.Partitions) != 3 || o.LogStart[1] != 0 || o.HighWatermark[1] != 2 || o.HighWatermark[0] != 0 {
		t.Errorf("orders: %d partitions, log starts %v, high watermarks %v", len(o.Partitions), o.LogStart, o.HighWatermark)
	}
	if len(o.Damage) != 0 {
		t.Errorf("a healthy topic reports damage %+v", o.Damage)
	}
	if l := descs[1]; l.ConfigErr != nil || len(l.Configs) != 0 {
		t.Errorf("logs has configs %v (%v), want none set", l.Configs, l.ConfigErr)
	}

	deleted, err := adm.DeleteTopics(ctx, "orders", "missing")
	if len(deleted) != 1 || deleted[0] != "orders" || !strings.HasPrefix(err.Error(), `topic "missing": UNKNOWN_TOPIC_OR_PARTITION`) {
		t.Errorf("DeleteTopics = %v, %v", deleted, err)
	}
}

func TestConfigSourceName(t *testing.T) {
	for s, want := range map[kmsg.ConfigSource]string{
		kmsg.ConfigSourceDynamicTopicConfig:  "topic",
		kmsg.ConfigSourceStaticBrokerConfig:  "static broker",
		kmsg.ConfigSourceDynamicBrokerConfig: "dynamic broker",
		kmsg.ConfigSourceDefaultConfig:       "default_config",
	} {
		if got := ConfigSourceName(s); got != want {
			t.Errorf("ConfigSourceName(%v) = %q, want %q", s, got, want)
		}
	}
}
