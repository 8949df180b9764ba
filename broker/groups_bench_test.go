package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// BenchmarkGroupConsume reads a 6-partition topic with a group of 1 and of
// 3 franz-go consumers, each iteration a fresh group reading from the
// start. The members join with fetching paused; once the group is stable
// they resume, and records/s and MB/s count from there to the last record.
// ms-to-stable is how long the members, started together, take to form a
// stable group (the client's own timers included).
func BenchmarkGroupConsume(b *testing.B) {
	br := brokertest.Start(b, groupSettings("")...)
	ctx := context.Background()
	const topic, parts, perPartition, size = "bench", 6, 200_000, 200
	prod, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, size)
	for p := int32(0); p < parts; p++ {
		for i := 0; i < perPartition; i++ {
			prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: value}, nil)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	total := parts * perPartition

	for _, members := range []int{1, 3} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			var forming, reading time.Duration
			for i := 0; i < b.N; i++ {
				group := fmt.Sprintf("bench-%d-%d", members, i)
				got := make(chan int, 1024)
				start := time.Now()
				var clients []*kgo.Client
				for m := 0; m < members; m++ {
					cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
						kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
					if err != nil {
						b.Fatal(err)
					}
					cl.PauseFetchTopics(topic)
					clients = append(clients, cl)
					go func() {
						for {
							fs := cl.PollFetches(ctx)
							if fs.IsClientClosed() {
								return
							}
							got <- fs.NumRecords()
						}
					}()
				}
				tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				for {
					gs, err := adm.DescribeGroups(tctx, group)
					if err == nil && gs[group].State == "Stable" && len(gs[group].Members) == members {
						break
					}
					if tctx.Err() != nil {
						b.Fatal("group never stable")
					}
					time.Sleep(2 * time.Millisecond) // a benchmark's poll interval, not a wait for correctness
				}
				cancel()
				forming += time.Since(start)
				readStart := time.Now()
				for _, cl := range clients {
					cl.ResumeFetchTopics(topic)
				}
				for n := 0; n < total; {
					n += <-got
				}
				reading += time.Since(readStart)
				for _, cl := range clients {
					cl.Close()
				}
			}
			b.ReportMetric(float64(total*b.N)/reading.Seconds(), "records/s")
			b.ReportMetric(float64(total*size*b.N)/reading.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(forming.Milliseconds())/float64(b.N), "ms-to-stable")
		})
	}
}
