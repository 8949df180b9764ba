package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// saramaHandler feeds claimed messages into consumed and marks them.
type saramaHandler struct{ got *consumed }

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.got.add(&kgo.Record{Partition: m.Partition, Offset: m.Offset})
		s.MarkMessage(m, "")
	}
	return nil
}

// startSaramaMember runs a sarama consumer group member with the range
// assignor until the test ends or stop is called.
func startSaramaMember(t *testing.T, addr, group, topic string, got *consumed) (stop func()) {
	t.Helper()
	cfg := saramaConfig()
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cfg.Consumer.Group.Session.Timeout = 3 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, saramaHandler{got}); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				t.Errorf("sarama consume: %v", err)
				return
			}
		}
	}()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		if err := cg.Close(); err != nil {
			t.Errorf("sarama close: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestGroupSaramaRange runs three sarama consumer group members with the
// range assignor over six partitions: every record once and in order, a
// member leaving, and a new member resuming from the committed offsets.
func TestGroupSaramaRange(t *testing.T) {
	b := brokertest.Start(t, groupSettings("")...)
	ctx := testCtx(t)
	const topic, group, parts = "sarama-events", "sarama-cg", 6
	prod := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(prod)
	createTopic(t, adm, topic, parts, nil)

	got := newConsumed()
	stop1 := startSaramaMember(t, b.Addr(), group, topic, got)
	stop2 := startSaramaMember(t, b.Addr(), group, topic, got)
	stop3 := startSaramaMember(t, b.Addr(), group, topic, got)
	g := waitStable(ctx, t, adm, group, 3, parts)
	if g.Protocol != "range" {
		t.Fatalf("group protocol %q, want range", g.Protocol)
	}
	ends := produceEach(ctx, t, prod, topic, parts, 50)
	got.waitFor(ctx, t, 50*parts)
	got.checkExactlyOnce(t, map[int32]int64{}, ends)

	stop2()
	waitStable(ctx, t, adm, group, 2, parts)
	from := ends
	ends = produceEach(ctx, t, prod, topic, parts, 50)
	got.waitFor(ctx, t, 100*parts)
	got.checkExactlyOnce(t, from, ends)

	// Everyone stops (committing on the way out); a new member resumes at
	// the committed offsets and reads only what came after.
	stop1()
	stop3()
	committedAll := func() bool {
		o, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		for p, end := range ends {
			if c, ok := o.Lookup(topic, p); !ok || c.At != end {
				return false
			}
		}
		return true
	}
	for !committedAll() {
		select {
		case <-ctx.Done():
			t.Fatal("offsets never committed up to the end")
		case <-time.After(50 * time.Millisecond):
		}
	}
	after := newConsumed()
	startSaramaMember(t, b.Addr(), group, topic, after)
	from = ends
	ends = produceEach(ctx, t, prod, topic, parts, 10)
	after.waitFor(ctx, t, 10*parts)
	after.checkExactlyOnce(t, from, ends)
}
