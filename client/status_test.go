package client

import (
	"fmt"
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
