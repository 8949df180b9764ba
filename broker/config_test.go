package broker_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/brokertest"
)

// node.id given as a Kafka key is the broker's id everywhere: Metadata,
// DescribeCluster and DescribeConfigs (it used to be reported by
// DescribeConfigs and ignored by the server, which stayed node 0).
func TestNodeIDFromSettings(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithSetting("node.id", "3"))
	cl := newClient(t, b.Addr())
	ctx := testCtx(t)
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Brokers) != 1 || meta.Brokers[0].NodeID != 3 || meta.ControllerID != 3 {
		t.Errorf("Metadata brokers %+v, controller %d: want node 3", meta.Brokers, meta.ControllerID)
	}
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(dc.Brokers) != 1 || dc.Brokers[0].NodeID != 3 {
		t.Errorf("DescribeCluster brokers %+v: want node 3", dc.Brokers)
	}
	cfgs, err := kadm.NewClient(cl).DescribeBrokerConfigs(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfgs.On("3", nil)
	if err != nil || c.Err != nil {
		t.Fatalf("DescribeConfigs broker 3: %v %v", err, c.Err)
	}
	seen := map[string]bool{}
	for _, kv := range c.Configs {
		seen[kv.Key] = true
		switch kv.Key {
		case "node.id":
			if kv.MaybeValue() != "3" || kv.Source != kmsg.ConfigSourceStaticBrokerConfig {
				t.Errorf("node.id = %q from %v, want 3 from STATIC_BROKER_CONFIG", kv.MaybeValue(), kv.Source)
			}
		case "log.dirs":
			// Given as Config.DataDir, the alias of log.dirs: a static
			// setting of this broker, not Kafka's default ./data.
			if kv.MaybeValue() != b.Dir || kv.Source != kmsg.ConfigSourceStaticBrokerConfig {
				t.Errorf("log.dirs = %q from %v, want the data dir in use, %s, from STATIC_BROKER_CONFIG", kv.MaybeValue(), kv.Source, b.Dir)
			}
		}
	}
	for _, k := range []string{"node.id", "log.dirs"} {
		if !seen[k] {
			t.Errorf("DescribeConfigs broker 3 does not report %s", k)
		}
	}
}

// A Config field and the Kafka key it stands for must agree.
func TestConfigFieldAndKeyConflict(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.HTTP = t.TempDir(), "127.0.0.1:0", ""
	cfg.NodeID = 2
	cfg.Settings = map[string]string{"node.id": "3"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "node.id is given twice") {
		t.Errorf("Validate() = %v; want node.id named as given twice", err)
	}
	if _, err := broker.New(cfg, broker.Options{}); err == nil {
		t.Error("New accepted node.id 3 with Config.NodeID 2")
	}
	cfg.NodeID, cfg.Settings = 0, map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"}
	cfg.Listen = ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "one PLAINTEXT listener") {
		t.Errorf("Validate() with two listeners = %v", err)
	}
}
