package loader

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// A batch run reading a replicated topic from a three-broker cluster
// whose leader of partition 0 stops under it (its leadership moves to
// another in-sync replica) lands every record exactly once.
func TestRunSurvivesLeaderFailover(t *testing.T) {
	c := brokertest.StartCluster(t, 3, brokertest.WithSetting("min.insync.replicas", "2"))
	seeds := c.Addrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var leader0 int32
	testutil.EventuallyNil(t, 30*time.Second, "topic failover created and fully replicated", func() error {
		if _, err := adm.CreateTopic(ctx, 2, 3, nil, "failover"); err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
			return err
		}
		md, err := adm.Metadata(ctx, "failover")
		if err != nil {
			return err
		}
		for _, p := range md.Topics["failover"].Partitions {
			if p.Leader < 0 || len(p.ISR) != 3 {
				return fmt.Errorf("partition %d leader %d isr %v", p.Partition, p.Leader, p.ISR)
			}
			if p.Partition == 0 {
				leader0 = p.Leader
			}
		}
		return nil
	})
	e := &kafkaEnv{addr: strings.Join(seeds, `","`), topic: "failover", parts: 2, cl: cl}
	e.produce(t, 5000)
	sink := filepath.Join(t.TempDir(), "lake")
	spec := e.spec(t, "failover", sink)
	stopped := make(chan struct{})
	var once sync.Once
	prog := &publishHook{Progress: quietProgress(), onPublish: func() {
		once.Do(func() {
			go func() {
				defer close(stopped)
				c.Stop(int(leader0) - 1)
			}()
		})
	}}
	cfg := DefaultConfig(spec)
	cfg.Progress, cfg.RetryBackoff = prog, 50*time.Millisecond
	sum, err := Run(ctx, cfg)
	<-stopped
	if err != nil {
		t.Fatalf("run across a leader failover: %v", err)
	}
	if got := sum.Totals().Records; got != int64(2*e.sent) {
		t.Errorf("run reports %d records, want %d", got, 2*e.sent)
	}
	if !e.coverage(t, sink, int64(e.sent)) {
		t.Errorf("not every record landed: %v", landedSpans(t, sink))
	}
	assertNoTemporaries(t, sink)
}
