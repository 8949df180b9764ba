package jobs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// A scheduled pipeline over a replicated topic of a three-broker cluster
// goes on landing every record exactly once when a broker (the leader of
// some of its partitions, and of some of the scheduler's own history and
// group) stops, and no tick runs twice.
func TestScheduledRunsAcrossBrokerLoss(t *testing.T) {
	c := brokertest.StartCluster(t, 3, brokertest.WithSetting("default.replication.factor", "3"),
		brokertest.WithSetting("min.insync.replicas", "2"), brokertest.WithSetting("offsets.topic.num.partitions", "3"))
	e := &env{t: t, seeds: c.Addrs(), dir: t.TempDir(), lake: t.TempDir(), topic: "events"}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	testutil.EventuallyNil(t, 30*time.Second, "events created on three brokers", func() error {
		md, err := adm.Metadata(ctx)
		if err != nil || len(md.Brokers) != 3 {
			return fmt.Errorf("brokers %v: %v", md.Brokers.NodeIDs(), err)
		}
		_, err = adm.CreateTopic(ctx, 3, 3, nil, e.topic)
		return err
	})
	e.pipeline("pv", `schedule: "@every 1s"`)
	a := e.start("a")
	e.produce(0, 100)
	testutil.Eventually(t, 60*time.Second, "the first records landed", func() bool {
		n, _ := landed(a.runs(t, "pv"))
		return n == 100
	})
	md, err := adm.Metadata(ctx, e.topic)
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(int(md.Topics[e.topic].Partitions[0].Leader) - 1)
	e.produce(100, 100)
	testutil.Eventually(t, 60*time.Second, "records produced after the broker stopped landed, once", func() bool {
		n, _ := landed(a.runs(t, "pv"))
		return n == 200
	})
	checkNoTickTwice(t, a.runs(t, "pv"))
	a.close()
}
