package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompactionEndToEnd produces many updates per key and tombstones to a
// cleanup.policy=compact topic, lets the server's cleaner run, and reads the topic from
// the start with franz-go: every key's latest value (or its tombstone) is
// there at the offset it was produced at, superseded values are gone from
// the cleaned segments, and offsets only ever increase.
func TestCompactionEndToEnd(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.HTTP = t.TempDir(), "127.0.0.1:0", ""
	cfg.Settings = map[string]string{"log.cleaner.backoff.ms": "50"}
	srv, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(serveCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.Addr()), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic, keys, rounds = "compacted", 50, 300
	one := "1048576"
	ratio := "0.01"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact"), "segment.bytes": &one, "min.cleanable.dirty.ratio": &ratio,
	}, topic); err != nil {
		t.Fatal(err)
	}
	type latest struct {
		offset int64
		value  []byte
	}
	want := map[string]latest{}
	pad := make([]byte, 200)
	for r := 0; r < rounds; r++ {
		var recs []*kgo.Record
		for k := 0; k < keys; k++ {
			v := append([]byte(fmt.Sprintf("round-%d-", r)), pad...)
			if r == rounds-1 && k%10 == 0 {
				v = nil // the last round deletes every tenth key
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%03d", k)), Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			want[string(rec.Key)] = latest{rec.Offset, rec.Value}
		}
	}
	end := int64(keys * rounds)

	p, kerr := srv.partition(topic, 0)
	if kerr != nil {
		t.Fatal(kerr)
	}
	if !p.log.Config().Compact {
		t.Fatal("cleanup.policy=compact did not reach the log's config")
	}
	// The server's cleaner (every log.cleaner.backoff.ms) compacts it.
	before := p.log.Size()
	for p.log.Size() >= before/2 {
		select {
		case <-ctx.Done():
			t.Fatalf("log still %d bytes (was %d): the cleaner never compacted it", p.log.Size(), before)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Logf("compaction: %d -> %d bytes over %d segments", before, p.log.Size(), len(p.log.Segments()))

	consumer, err := kgo.NewClient(kgo.SeedBrokers(srv.Addr()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	last := map[string]*kgo.Record{}
	var n int
	prev := int64(-1)
	for prev < end-1 {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed up to offset %d of %d", prev, end)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= prev {
				t.Fatalf("offset %d after %d", r.Offset, prev)
			}
			prev = r.Offset
			last[string(r.Key)] = r
			n++
		})
	}
	for k, w := range want {
		r := last[k]
		if r == nil || r.Offset != w.offset || string(r.Value) != string(w.value) || (r.Value == nil) != (w.value == nil) {
			t.Errorf("key %s: read %+v, want offset %d value %.10q", k, r, w.offset, w.value)
		}
	}
	if n >= int(end)/2 {
		t.Fatalf("read %d of %d records after compaction", n, end)
	}
	t.Logf("read %d records of %d produced; every key's latest value at its original offset", n, end)
}
