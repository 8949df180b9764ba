package client

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestClusterStatus checks what `sluice cluster status` reports of a
// three-broker cluster: every broker and the controller, nothing missing
// while all are up, and once one is stopped the partitions it held as
// under-replicated, or under min ISR where min.insync.replicas=3.
func TestClusterStatus(t *testing.T) {
	bc := brokertest.StartCluster(t, 3)
	c := Cluster{Seeds: bc.Addrs(), ClientID: "status-test", Timeout: 20 * time.Second}
	adm, err := c.NewAdmin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	ctx := testContext(t)
	status := func(what string, ok func(*ClusterStatus) error) *ClusterStatus {
		t.Helper()
		var st *ClusterStatus
		testutil.EventuallyNil(t, 30*time.Second, what, func() error {
			var err error
			if st, err = adm.Status(ctx); err != nil {
				return err
			}
			return ok(st)
		})
		return st
	}
	status("three brokers", func(st *ClusterStatus) error {
		if len(st.Brokers) != 3 || st.Controller < 1 || st.ClusterID == "" {
			return fmt.Errorf("%d brokers, controller %d, cluster %q", len(st.Brokers), st.Controller, st.ClusterID)
		}
		return nil
	})
	if _, err := adm.CreateTopics(ctx, 2, 3, nil, "loose"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopics(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, "strict"); err != nil {
		t.Fatal(err)
	}
	status("every partition fully replicated", func(st *ClusterStatus) error {
		if st.Partitions < 3 || len(st.UnderReplicated)+len(st.UnderMinISR)+len(st.Offline) != 0 {
			return fmt.Errorf("%d partitions, under-replicated %v, under min ISR %v, offline %v", st.Partitions, st.UnderReplicated, st.UnderMinISR, st.Offline)
		}
		return nil
	})
	bc.Stop(2)
	st := status("broker 3's partitions reported", func(st *ClusterStatus) error {
		if len(st.Brokers) != 2 || len(st.UnderReplicated) < 2 || len(st.UnderMinISR) != 1 {
			return fmt.Errorf("%d brokers, under-replicated %v, under min ISR %v", len(st.Brokers), st.UnderReplicated, st.UnderMinISR)
		}
		return nil
	})
	if p := st.UnderMinISR[0]; p.Topic != "strict" || p.MinISR != 3 || len(p.ISR) != 2 {
		t.Errorf("under min ISR: %+v, want strict with 2 of 3 in sync", p)
	}
}

// startTestCluster starts three clustered brokers and an admin client,
// once all three are registered.
func startTestCluster(t *testing.T, clientID string) (*brokertest.Cluster, Cluster, *Admin) {
	t.Helper()
	bc := brokertest.StartCluster(t, 3)
	c := Cluster{Seeds: bc.Addrs(), ClientID: clientID, Timeout: 20 * time.Second}
	adm, err := c.NewAdmin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	ctx := testContext(t)
	testutil.EventuallyNil(t, 30*time.Second, "three brokers", func() error {
		st, err := adm.Status(ctx)
		if err == nil && len(st.Brokers) != 3 {
			err = fmt.Errorf("%d brokers", len(st.Brokers))
		}
		return err
	})
	return bc, c, adm
}

// TestReassign moves a partition's replicas to other brokers on a
// three-broker cluster (as kafka-reassign-partitions does) and checks the
// partition ends on the target with both in sync, the broker left out
// drops its copy, no record is lost, and a bad target is refused naming
// the partition.
func TestReassign(t *testing.T) {
	bc, c, adm := startTestCluster(t, "reassign-test")
	ctx := testContext(t)
	if _, err := adm.CreateTopics(ctx, 1, 2, nil, "moving"); err != nil {
		t.Fatal(err)
	}
	var from []int32
	testutil.EventuallyNil(t, 30*time.Second, "moving fully replicated", func() error {
		d, err := adm.DescribeTopics(ctx, "moving")
		if err != nil {
			return err
		}
		p := d[0].Partitions[0]
		if len(p.ISR) != 2 {
			return fmt.Errorf("isr %v", p.ISR)
		}
		from = p.Replicas
		return nil
	})
	produceTo(t, c, "moving", 0, "a", "b", "c")
	var spare int32
	for id := int32(1); id <= 3; id++ {
		if id != from[0] && id != from[1] {
			spare = id
		}
	}
	target := []int32{spare, from[0]}
	if err := adm.Reassign(ctx, "moving", map[int32][]int32{0: target}); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyNil(t, 30*time.Second, fmt.Sprintf("moving-0 on %v, both in sync", target), func() error {
		d, err := adm.DescribeTopics(ctx, "moving")
		if err != nil {
			return err
		}
		p := d[0].Partitions[0]
		if fmt.Sprint(p.Replicas) != fmt.Sprint(target) || len(p.ISR) != 2 || !slices.Contains(target, p.Leader) {
			return fmt.Errorf("replicas %v isr %v leader %d", p.Replicas, p.ISR, p.Leader)
		}
		if rs, err := adm.Reassignments(ctx, "moving"); err != nil || len(rs) != 0 {
			return fmt.Errorf("reassignments in progress %v %v", rs, err)
		}
		return nil
	})
	gone := bc.Brokers[from[1]-1].PartitionDir("moving", 0)
	testutil.EventuallyNil(t, 30*time.Second, "the broker left out drops its copy", func() error {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			return fmt.Errorf("%s: %v", gone, err)
		}
		return nil
	})
	r, err := c.NewReader(ctx, ReadOptions{Topic: "moving", Partition: 0, UntilEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := strings.Join(readAll(t, r), " "); got != "0:0:a 0:1:b 0:2:c" {
		t.Errorf("after the move: %v", got)
	}
	err = adm.Reassign(ctx, "moving", map[int32][]int32{0: {spare, 9}})
	if err == nil || !strings.Contains(err.Error(), "moving-0") || !strings.Contains(err.Error(), "not a registered broker") {
		t.Errorf("reassign to broker 9: %v", err)
	}
	if err := adm.Reassign(ctx, "moving", map[int32][]int32{0: nil}); err == nil || !strings.Contains(err.Error(), "NO_REASSIGNMENT_IN_PROGRESS") {
		t.Errorf("cancel with none in progress: %v", err)
	}
}

// TestDrain decommissions a broker of a three-broker cluster: every
// replica it held moves to the other two, and no record is lost.
func TestDrain(t *testing.T) {
	_, c, adm := startTestCluster(t, "drain-test")
	ctx := testContext(t)
	if _, err := adm.CreateTopics(ctx, 3, 2, nil, "drained"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyNil(t, 30*time.Second, "broker 3 holds replicas", func() error {
		if n, err := adm.Drained(ctx, 3); err != nil || n != 2 {
			return fmt.Errorf("broker 3 holds %d replicas (%v), want 2 of 3 partitions with RF 2", n, err)
		}
		return nil
	})
	for p := int32(0); p < 3; p++ {
		produceTo(t, c, "drained", p, fmt.Sprint("v", p))
	}
	plan, err := adm.Drain(ctx, 3)
	if err != nil || len(plan["drained"]) != 2 {
		t.Fatalf("drain: %v, %v", plan, err)
	}
	testutil.EventuallyNil(t, 30*time.Second, "broker 3 drained", func() error {
		if n, err := adm.Drained(ctx, 3); err != nil || n != 0 {
			return fmt.Errorf("broker 3 still holds %d replicas (%v)", n, err)
		}
		return nil
	})
	r, err := c.NewReader(ctx, ReadOptions{Topic: "drained", Partition: -1, UntilEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)
	slices.Sort(got) // partitions come in any order
	if strings.Join(got, " ") != "0:0:v0 1:0:v1 2:0:v2" {
		t.Errorf("after the drain: %v", got)
	}
}
