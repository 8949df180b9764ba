package broker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// benchProduce produces b.N records of size bytes with acks=all through an
// idempotent franz-go producer, broker and client in this process.
func benchProduce(b *testing.B, size int, partitions int32) {
	br := brokertest.Start(b)
	adm := kadmClientB(b, br.Addr())
	if _, err := adm.CreateTopic(context.Background(), partitions, 1, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("bench"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := bytes.Repeat([]byte("x"), size)
	ctx := context.Background()
	var failed error
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil && failed == nil {
				failed = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
}

func BenchmarkProduce100B(b *testing.B) { benchProduce(b, 100, 1) }
func BenchmarkProduce1KB(b *testing.B)  { benchProduce(b, 1000, 1) }

// BenchmarkConsume writes b.N 1 KB records (untimed, so they sit in the
// page cache), then times one consumer reading them all from the start.
func BenchmarkConsume(b *testing.B) {
	br := brokertest.Start(b)
	n := b.N
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("consume"), kgo.AllowAutoTopicCreation(),
		kgo.MaxBufferedRecords(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	value := bytes.Repeat([]byte("y"), 1000)
	for i := 0; i < n; i++ {
		cl.Produce(context.Background(), &kgo.Record{Value: value}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	b.SetBytes(1000)
	b.ResetTimer()
	start := time.Now()
	c, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("consume"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(16<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	got := 0
	for got < n {
		fs := c.PollFetches(context.Background())
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		got += fs.NumRecords()
	}
	el := time.Since(start)
	b.ReportMetric(float64(n)/el.Seconds(), "records/s")
}

func kadmClientB(b *testing.B, addr string) *kadmClientT {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return kadmNew(cl)
}

// BenchmarkFetchRaw measures the broker's fetch path alone: a loop of raw
// Fetch requests whose record bytes are not decoded, over 1 KB records
// written beforehand.
func BenchmarkFetchRaw(b *testing.B) {
	br := brokertest.Start(b)
	const n = 200_000
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("raw"), kgo.AllowAutoTopicCreation(),
		kgo.MaxBufferedRecords(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := bytes.Repeat([]byte("z"), 1000)
	for i := 0; i < n; i++ {
		cl.Produce(context.Background(), &kgo.Record{Value: value}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	td, err := kadmNew(cl).ListTopics(context.Background(), "raw")
	if err != nil {
		b.Fatal(err)
	}
	id := td["raw"].ID
	b.ResetTimer()
	var total int64
	start := time.Now()
	offset := int64(0)
	for i := 0; i < b.N; i++ {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes = 64 << 20
		req.MaxWaitMillis = 0
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "raw", id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = 4 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			b.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			b.Fatalf("fetch error %d", p.ErrorCode)
		}
		total += int64(len(p.RecordBatches))
		// Walk the batch headers to find the next offset, as a client would.
		for rb := p.RecordBatches; len(rb) >= 61; {
			base := int64(binary.BigEndian.Uint64(rb))
			size := int(binary.BigEndian.Uint32(rb[8:])) + 12
			offset = base + int64(binary.BigEndian.Uint32(rb[23:])) + 1
			rb = rb[size:]
		}
		if offset >= n {
			offset = 0
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(total)/el.Seconds()/1e6, "MB/s")
}
