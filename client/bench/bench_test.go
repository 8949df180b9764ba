package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/client"
)

// TestMain fails the package's tests if any leave a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCluster(t *testing.T) client.Cluster {
	t.Helper()
	return client.Cluster{Seeds: []string{brokertest.Start(t).Addr()}, ClientID: "bench-test", Timeout: 20 * time.Second}
}

// A cancelled context ends a long run promptly with the result so far.
func TestInterrupt(t *testing.T) {
	c := testCluster(t)
	for _, run := range []struct {
		name string
		f    func(context.Context) (Result, error)
	}{
		{"produce", func(ctx context.Context) (Result, error) {
			cfg := DefaultProduceConfig()
			cfg.Topic, cfg.Duration = "p", time.Hour
			return Produce(ctx, c, cfg)
		}},
		{"latency", func(ctx context.Context) (Result, error) {
			cfg := DefaultLatencyConfig()
			cfg.Topic, cfg.Rate, cfg.Duration = "l", 100, time.Hour
			return Latency(ctx, c, cfg)
		}},
	} {
		t.Run(run.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, cancel)
			begin := time.Now()
			res, err := run.f(ctx)
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("error %v, want ErrInterrupted", err)
			}
			if res.Mode != run.name || time.Since(begin) > 30*time.Second {
				t.Errorf("result %+v after %s", res, time.Since(begin))
			}
		})
	}
}

// BenchmarkProduce reports the in-process broker's produce throughput of
// 100-byte records at acks=all.
func BenchmarkProduce(b *testing.B) {
	c := client.Cluster{Seeds: []string{brokertest.Start(b).Addr()}, ClientID: "bench", Timeout: 20 * time.Second}
	cfg := DefaultProduceConfig()
	cfg.Topic, cfg.Duration, cfg.Records = "b", 0, int64(max(b.N, 1000))
	b.ResetTimer()
	res, err := Produce(context.Background(), c, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.RecordsPerS, "records/s")
	b.ReportMetric(res.MBPerS, "MB/s")
}
