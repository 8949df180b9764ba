package broker_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// TestConfigsTheLogCannotUseAreRefused: values within Kafka's bounds that
// a partition log cannot take (found by TestAPIFuzz: max.message.bytes=1
// was accepted, the topic's log never opened, and the broker could not
// start again on its data dir) are INVALID_CONFIG naming the key, on a new
// topic, a topic's config, the legacy alter and the broker's defaults; the
// broker then restarts on its data dir.
func TestConfigsTheLogCannotUseAreRefused(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, brokertest.WithDir(dir))
	ctx := testCtx(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "ok", 1, nil)

	wantRefused := func(what, key string, err error, errMsg string) {
		t.Helper()
		if !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(errMsg, key) {
			t.Errorf("%s: %v %q, want INVALID_CONFIG naming %s", what, err, errMsg, key)
		}
	}
	created, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": strp("1")}, "tiny")
	if err != nil && created.Err == nil {
		t.Fatal(err)
	}
	wantRefused("create with max.message.bytes=1", "max.message.bytes", created.Err, created.ErrMessage)

	alter := func(what, key, value string, state, brokerLevel bool, named string) {
		t.Helper()
		cfg := []kadm.AlterConfig{{Name: key, Value: strp(value)}}
		var rs kadm.AlterConfigsResponses
		var err error
		switch {
		case brokerLevel:
			rs, err = adm.AlterBrokerConfigs(ctx, cfg)
		case state:
			rs, err = adm.AlterTopicConfigsState(ctx, cfg, "ok")
		default:
			rs, err = adm.AlterTopicConfigs(ctx, cfg, "ok")
		}
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s: %v %v", what, err, rs)
		}
		wantRefused(what, named, rs[0].Err, rs[0].ErrMessage)
	}
	alter("incremental segment.index.bytes=4", "segment.index.bytes", "4", false, false, "segment.index.bytes")
	alter("legacy max.message.bytes=60", "max.message.bytes", "60", true, false, "max.message.bytes")
	// The broker default reaches every topic as its max.message.bytes.
	alter("broker message.max.bytes=1", "message.max.bytes", "1", false, true, "max.message.bytes")

	// flush.ms 0 is Kafka's "flush at every check": taken as the
	// shortest interval the log has.
	if rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "flush.ms", Value: strp("0")}}, "ok"); err != nil || rs[0].Err != nil {
		t.Fatalf("flush.ms=0: %v %v", err, rs)
	}

	b.Stop()
	b = brokertest.Start(t, brokertest.WithDir(dir))
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("ok"))
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce after the restart: %v", err)
	}
}
