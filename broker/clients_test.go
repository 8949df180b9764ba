package broker_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// newClient returns a franz-go client with default (idempotent) settings.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(testCtx(t), partitions, 1, configs, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// consumeN reads exactly n records from topic, from the start.
func consumeN(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timeout", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("consumed %d records, want %d", len(out), n)
	}
	return out
}

func TestProduceConsumeEachCodec(t *testing.T) {
	b := brokertest.Start(t)
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "codec-" + name
			cl := newClient(t, b.Addr(), kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic),
				kgo.AllowAutoTopicCreation())
			const n = 500
			for i := 0; i < n; i++ {
				cl.Produce(testCtx(t), &kgo.Record{Key: []byte("k"), Value: []byte(fmt.Sprintf("%s-%d", name, i))}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			if err := cl.Flush(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			recs := consumeN(t, b.Addr(), topic, n)
			for i, r := range recs {
				if want := fmt.Sprintf("%s-%d", name, i); string(r.Value) != want || r.Offset != int64(i) {
					t.Fatalf("record %d: offset %d value %q, want offset %d value %q", i, r.Offset, r.Value, i, want)
				}
			}
		})
	}
}

func TestOrderPerKeyAcrossPartitions(t *testing.T) {
	b := brokertest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "orders", 6, nil)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("orders"), kgo.ProducerLinger(time.Millisecond))
	const keys, perKey = 20, 200
	for i := 0; i < perKey; i++ {
		for k := 0; k < keys; k++ {
			cl.Produce(testCtx(t), &kgo.Record{Key: []byte("key-" + strconv.Itoa(k)), Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
	}
	if err := cl.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	recs := consumeN(t, b.Addr(), "orders", keys*perKey)
	next := map[string]int{}
	partOf := map[string]int32{}
	for _, r := range recs {
		k := string(r.Key)
		if p, ok := partOf[k]; ok && p != r.Partition {
			t.Fatalf("key %s in partitions %d and %d", k, p, r.Partition)
		}
		partOf[k] = r.Partition
		if got := string(r.Value); got != strconv.Itoa(next[k]) {
			t.Fatalf("key %s: got value %s, want %d (order broken)", k, got, next[k])
		}
		next[k]++
	}
	used := map[int32]bool{}
	for _, p := range partOf {
		used[p] = true
	}
	if len(used) < 2 {
		t.Fatalf("all keys landed in %d partition(s); want a spread over 6", len(used))
	}
}

func TestListOffsetsByTime(t *testing.T) {
	b := brokertest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "times", 1, nil)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("times"))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := testCtx(t)
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{base.Add(-time.Hour), 0},
		{base, 0},
		{base.Add(90 * time.Second), 2},
		{base.Add(9 * time.Minute), 9},
		{base.Add(time.Hour), -1},
	} {
		lo, err := adm.ListOffsetsAfterMilli(ctx, tc.at.UnixMilli(), "times")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := lo.Lookup("times", 0)
		if got.Err != nil {
			t.Fatal(got.Err)
		}
		want := tc.want
		if want == -1 {
			want = 10 // kadm maps "no such offset" to the end offset
		}
		if got.Offset != want {
			t.Errorf("offset after %v = %d, want %d", tc.at, got.Offset, want)
		}
	}
	start, err := adm.ListStartOffsets(ctx, "times")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "times")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := start.Lookup("times", 0); s.Offset != 0 {
		t.Errorf("start offset %d, want 0", s.Offset)
	}
	if e, _ := end.Lookup("times", 0); e.Offset != 10 {
		t.Errorf("end offset %d, want 10", e.Offset)
	}
	mx, err := adm.ListMaxTimestampOffsets(ctx, "times")
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := mx.Lookup("times", 0); m.Offset != 9 || m.Timestamp != base.Add(9*time.Minute).UnixMilli() {
		t.Errorf("max timestamp offset %d ts %d, want 9 %d", m.Offset, m.Timestamp, base.Add(9*time.Minute).UnixMilli())
	}
}

func kadmClient(t *testing.T, cl *kgo.Client) *kadm.Client {
	t.Helper()
	return kadm.NewClient(cl)
}

type kadmClientT = kadm.Client

func kadmNew(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }

// TestLogAppendTime: a topic with message.timestamp.type=LogAppendTime
// stamps batches with the broker's clock, and consumers see that time.
func TestLogAppendTime(t *testing.T) {
	b := brokertest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "lat", 1, map[string]*string{"message.timestamp.type": strp("LogAppendTime")})
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("lat"))
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Now().Add(-time.Second)
	r := &kgo.Record{Value: []byte("x"), Timestamp: old}
	if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	recs := consumeN(t, b.Addr(), "lat", 1)
	got := recs[0]
	if got.Attrs.TimestampType() != 1 || got.Timestamp.Before(before) || got.Timestamp.After(time.Now().Add(time.Second)) {
		t.Fatalf("record timestamp %v (type %d), want the broker's append time, not %v", got.Timestamp, got.Attrs.TimestampType(), old)
	}
}
