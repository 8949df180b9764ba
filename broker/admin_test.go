package broker_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
)

func strp(s string) *string { return &s }

func TestTopicAdmin(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "admin-a", 3, nil)
	createTopic(t, adm, "admin-b", 1, map[string]*string{"retention.ms": strp("3600000")})

	resp, _ := adm.CreateTopic(ctx, 1, 1, nil, "admin-a")
	if !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		t.Errorf("recreate: err %v, want TOPIC_ALREADY_EXISTS", resp.Err)
	}
	resp, _ = adm.CreateTopic(ctx, 1, 3, nil, "admin-rf3")
	if !errors.Is(resp.Err, kerr.InvalidReplicationFactor) {
		t.Errorf("rf 3: err %v, want INVALID_REPLICATION_FACTOR", resp.Err)
	}
	resp, _ = adm.CreateTopic(ctx, 1, 1, nil, "bad/name")
	if !errors.Is(resp.Err, kerr.InvalidTopicException) {
		t.Errorf("bad name: err %v, want INVALID_TOPIC_EXCEPTION", resp.Err)
	}
	resp, _ = adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": strp("soon")}, "admin-badcfg")
	if !errors.Is(resp.Err, kerr.InvalidConfig) {
		t.Errorf("bad config: err %v, want INVALID_CONFIG", resp.Err)
	}

	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !td.Has("admin-a") || !td.Has("admin-b") || td.Has("admin-rf3") || td.Has("admin-badcfg") {
		t.Fatalf("topics listed: %v", td.Names())
	}
	if n := len(td["admin-a"].Partitions); n != 3 {
		t.Fatalf("admin-a has %d partitions, want 3", n)
	}
	if _, err := adm.CreatePartitions(ctx, 2, "admin-a"); err != nil {
		t.Fatal(err)
	}
	cr, err := adm.CreatePartitions(ctx, -4, "admin-a")
	if err == nil {
		if r, _ := cr.On("admin-a", nil); r.Err == nil {
			t.Errorf("shrinking partitions succeeded")
		}
	}
	td, _ = adm.ListTopics(ctx, "admin-a")
	if n := len(td["admin-a"].Partitions); n != 5 {
		t.Fatalf("admin-a has %d partitions after growth, want 5", n)
	}
	// The new partitions take writes.
	cl := newClient(t, b.Addr())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "admin-a", Partition: 4, Value: []byte("x")}).FirstErr(); err != nil {
		// default partitioner may choose any partition; that is fine too
		t.Logf("produce after growth: %v", err)
	}

	dr, err := adm.DeleteTopics(ctx, "admin-a")
	if err != nil || dr["admin-a"].Err != nil {
		t.Fatalf("delete: %v %v", err, dr["admin-a"].Err)
	}
	// A fresh client: franz-go answers metadata from a short-lived cache.
	adm = kadm.NewClient(newClient(t, b.Addr()))
	td, _ = adm.ListTopics(ctx)
	if td.Has("admin-a") {
		t.Fatalf("admin-a still listed after delete: %+v", td["admin-a"])
	}
	if _, err := os.Stat(filepath.Join(b.Dir, "topics", "admin-a-0")); !os.IsNotExist(err) {
		t.Errorf("admin-a-0 folder still on disk after delete: %v", err)
	}
	dr, _ = adm.DeleteTopics(ctx, "admin-a")
	if !errors.Is(dr["admin-a"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete twice: %v, want UNKNOWN_TOPIC_OR_PARTITION", dr["admin-a"].Err)
	}
	// Recreating after delete starts from offset 0.
	createTopic(t, adm, "admin-a", 1, nil)
	end, _ := adm.ListEndOffsets(ctx, "admin-a")
	if o, _ := end.Lookup("admin-a", 0); o.Offset != 0 {
		t.Errorf("recreated topic end offset %d, want 0", o.Offset)
	}
}

func TestConfigsRoundTrip(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "cfg", 1, map[string]*string{"retention.ms": strp("3600000"), "cleanup.policy": strp("compact")})

	describe := func() map[string]kadm.Config {
		t.Helper()
		rc, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		r, err := rc.On("cfg", nil)
		if err != nil || r.Err != nil {
			t.Fatalf("describe: %v %v", err, r.Err)
		}
		m := map[string]kadm.Config{}
		for _, c := range r.Configs {
			m[c.Key] = c
		}
		return m
	}
	m := describe()
	if c := m["retention.ms"]; c.MaybeValue() != "3600000" || c.Source.String() != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("retention.ms = %q from %v", c.MaybeValue(), c.Source)
	}
	if c := m["segment.bytes"]; c.MaybeValue() != "1073741824" || c.Source.String() != "DEFAULT_CONFIG" {
		t.Errorf("segment.bytes = %q from %v", c.MaybeValue(), c.Source)
	}
	if c := m["cleanup.policy"]; c.MaybeValue() != "compact" {
		t.Errorf("cleanup.policy = %q", c.MaybeValue())
	}

	// Incremental: set one, delete another.
	_, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: strp("2000000")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	m = describe()
	if c := m["max.message.bytes"]; c.MaybeValue() != "2000000" {
		t.Errorf("max.message.bytes = %q after set", c.MaybeValue())
	}
	if c := m["retention.ms"]; c.MaybeValue() != "604800000" || c.Source.String() != "DEFAULT_CONFIG" {
		t.Errorf("retention.ms = %q from %v after delete", c.MaybeValue(), c.Source)
	}
	// Bad value and unknown key are refused with INVALID_CONFIG, nothing changes.
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: strp("-5")}}, "cfg")
	if err == nil {
		if r, _ := rs.On("cfg", nil); !errors.Is(r.Err, kerr.InvalidConfig) {
			t.Errorf("segment.bytes=-5: %v, want INVALID_CONFIG", r.Err)
		}
	}
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.key", Value: strp("1")}}, "cfg")
	if err == nil {
		if r, _ := rs.On("cfg", nil); !errors.Is(r.Err, kerr.InvalidConfig) {
			t.Errorf("no.such.key: %v, want INVALID_CONFIG", r.Err)
		}
	}
	// Non-incremental AlterConfigs replaces the whole set.
	_, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: strp("1000000")}}, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	m = describe()
	if c := m["retention.bytes"]; c.MaybeValue() != "1000000" {
		t.Errorf("retention.bytes = %q after AlterConfigs", c.MaybeValue())
	}
	if c := m["max.message.bytes"]; c.Source.String() != "DEFAULT_CONFIG" {
		t.Errorf("max.message.bytes still %v after a replacing AlterConfigs", c.Source)
	}
	// Broker configs describe with Kafka's names.
	bc, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range bc {
		for _, c := range r.Configs {
			found = found || c.Key == "num.partitions"
		}
	}
	if !found {
		t.Errorf("broker configs lack num.partitions")
	}
}

// produceValues produces values to topic partition 0 synchronously.
func produceValues(t *testing.T, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	for _, v := range values {
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRetentionDeletesSegments(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	// Kafka 4's smallest segment.bytes is 1 MiB: write about 4 MiB in 100 KB records.
	createTopic(t, adm, "ret", 1, map[string]*string{"segment.bytes": strp("1048576"), "retention.bytes": strp("1048576")})
	val := strings.Repeat("v", 100_000)
	for i := 0; i < 42; i++ {
		produceValues(t, cl, "ret", val)
	}
	// Retention runs on the broker's tick: poll until the log is within
	// retention.bytes plus the active segment.
	testutil.EventuallyNil(t, 20*time.Second, "retention.bytes=1MiB with 1 MiB segments", func() error {
		segs, _ := filepath.Glob(filepath.Join(b.Dir, "topics", "ret-0", "*.log"))
		if len(segs) > 2 {
			return fmt.Errorf("%d segments left: %v", len(segs), segs)
		}
		return nil
	})
	// Consuming from the start begins at the new log start, after the deleted data.
	start, _ := adm.ListStartOffsets(ctx, "ret")
	so, _ := start.Lookup("ret", 0)
	if so.Offset == 0 {
		t.Fatalf("log start offset still 0 after retention deleted segments")
	}
	recs := consumeN(t, b.Addr(), "ret", int(42-so.Offset))
	if recs[0].Offset == 0 {
		t.Errorf("consumer read offset 0, which retention deleted")
	}
}

func TestDeleteRecords(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	createTopic(t, adm, "dr", 1, nil)
	produceValues(t, cl, "dr", "a", "b", "c", "d", "e")
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 3})
	res, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := res.Lookup("dr", 0)
	if r.Err != nil || r.LowWatermark != 3 {
		t.Fatalf("delete records: low watermark %d err %v, want 3", r.LowWatermark, r.Err)
	}
	recs := consumeN(t, b.Addr(), "dr", 2)
	if string(recs[0].Value) != "d" || recs[0].Offset != 3 {
		t.Fatalf("first record after DeleteRecords: offset %d %q, want 3 d", recs[0].Offset, recs[0].Value)
	}
	os = kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 99})
	res, _ = adm.DeleteRecords(ctx, os)
	if r, _ := res.Lookup("dr", 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Errorf("delete past end: %v, want OFFSET_OUT_OF_RANGE", r.Err)
	}
	// The new start survives a restart.
	b.Stop()
	b2 := brokertest.Start(t, brokertest.WithDir(b.Dir))
	adm2 := kadm.NewClient(newClient(t, b2.Addr()))
	start, _ := adm2.ListStartOffsets(ctx, "dr")
	if o, _ := start.Lookup("dr", 0); o.Offset != 3 {
		t.Errorf("log start offset after restart %d, want 3", o.Offset)
	}
}
