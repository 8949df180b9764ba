// Package brokertest starts real in-process Sluice brokers on 127.0.0.1 for
// tests of anything that speaks the Kafka protocol: clients, groups, the
// loader's end-to-end tests.
package brokertest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
)

// Broker is a running test broker.
type Broker struct {
	*broker.Server
	Dir  string
	stop func()
}

// Option adjusts a test broker's configuration.
type Option func(*broker.Config)

// WithSetting sets a Kafka-named broker setting.
func WithSetting(key, value string) Option {
	return func(c *broker.Config) { c.Settings[key] = value }
}

// WithDir uses dir as the data directory (to restart on the same data).
func WithDir(dir string) Option {
	return func(c *broker.Config) { c.DataDir = dir }
}

// WithListen listens on addr (host:port) instead of 127.0.0.1:0.
func WithListen(addr string) Option {
	return func(c *broker.Config) { c.Listen = addr }
}

// WithAdvertisedListener tells clients to connect to addr.
func WithAdvertisedListener(addr string) Option {
	return func(c *broker.Config) { c.AdvertisedListener = addr }
}

// WithConfig changes the broker's configuration with f (for fields that
// have no option of their own, such as PProf).
func WithConfig(f func(*broker.Config)) Option { return Option(f) }

// Start starts a broker on 127.0.0.1:0 with a fresh data directory and stops
// it when the test ends.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Settings = map[string]string{"log.retention.check.interval.ms": "100"}
	for _, o := range opts {
		o(&cfg)
	}
	return run(t, cfg, broker.Options{})
}

// run starts a server from cfg and stops it when the test ends.
func run(t testing.TB, cfg broker.Config, opts broker.Options) *Broker {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := broker.New(cfg, opts)
	if err != nil {
		t.Fatalf("brokertest: start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	b := &Broker{Server: srv, Dir: cfg.DataDir}
	stopped := false
	b.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("brokertest: serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("brokertest: broker did not stop within 30s")
		}
	}
	t.Cleanup(b.stop)
	return b
}

// Stop shuts the broker down cleanly (flush, clean-shutdown marker).
func (b *Broker) Stop() { b.stop() }

// AppendUnchecked stops b, appends batch to the active segment of a
// partition's log with none of the broker's checks (AppendToSegment), and
// starts a broker on the same data dir and address with opts, whose
// recovery takes the batch in.
func AppendUnchecked(t testing.TB, b *Broker, topic string, partition int32, batch []byte, opts ...Option) *Broker {
	t.Helper()
	dir, addr := b.PartitionDir(topic, partition), b.Addr()
	b.Stop()
	AppendToSegment(t, dir, batch)
	return Start(t, append([]Option{WithDir(b.Dir), WithListen(addr)}, opts...)...)
}

// AppendToSegment appends batch to the active (last) segment of the
// stopped partition log in dir, as a data dir written by an older version
// may hold it (a compression bomb, an unknown codec), and removes the
// clean-shutdown marker so that the next start's recovery rescans the tail
// and takes the batch in. The batch's base offset must be the partition's
// end offset and its CRC valid.
func AppendToSegment(t testing.TB, dir string, batch []byte) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("brokertest: no segment in %s: %v", dir, err)
	}
	slices.Sort(segs)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(batch); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "clean-shutdown")); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

// Produce sends records, the bytes of one or more record batches built by
// hand (package batchtest), to one partition in one Produce request with
// acks=all, through every check of the broker's produce path, and returns
// the partition's answer. It fails the test only if the request gets no
// answer.
func Produce(t testing.TB, cl *kgo.Client, topic string, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("brokertest: produce to %s partition %d: %v", topic, partition, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("brokertest: produce to %s partition %d: an answer of %d topics", topic, partition, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}
