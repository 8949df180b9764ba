package client

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// TestMain fails the package's tests if any leave a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCluster starts a real in-process broker and returns the cluster and
// an admin client for it; both end with the test.
func testCluster(t *testing.T, opts ...brokertest.Option) (Cluster, *Admin) {
	t.Helper()
	c := Cluster{Seeds: []string{brokertest.Start(t, opts...).Addr()}, ClientID: "client-test", Timeout: 20 * time.Second}
	adm, err := c.NewAdmin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	return c, adm
}

// testContext is a context that ends with the test, bounded to a minute.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// mustCreate creates a topic with partitions partitions.
func mustCreate(t *testing.T, adm *Admin, topic string, partitions int32) {
	t.Helper()
	if _, err := adm.CreateTopics(testContext(t), partitions, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
}
