// Command gen produces JSON activity events to a Kafka-protocol topic, fast,
// for the loader's end-to-end tests and benchmark.
//
//	go run ./e2e/loader/gen -brokers 127.0.0.1:9092 -topic events -n 1000000
//
// With -delete-before OFFSET it instead deletes each partition's records
// before OFFSET (DeleteRecords), to test what the loader does when
// retention removed records it has not loaded.
//
// Event i has user_id i%100003, event_time base + i*10ms (so 1,000,000
// events span about 2.8 hours of hourly partitions), and eight more fields
// of mixed types. Records are spread round-robin over the partitions.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "seed broker")
	topic := flag.String("topic", "events", "topic")
	n := flag.Int("n", 1_000_000, "events to produce")
	start := flag.Int("start", 0, "index of the first event")
	base := flag.Int64("base", 1764064800000, "event_time of event 0, epoch ms")
	deleteBefore := flag.Int64("delete-before", -1, "instead of producing, delete every partition's records before this offset (as retention would)")
	flag.Parse()
	var err error
	if *deleteBefore >= 0 {
		err = deleteRecords(*brokers, *topic, *deleteBefore)
	} else {
		err = run(*brokers, *topic, *start, *n, *base)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

var events = []string{"view", "click", "scroll", "purchase", "signup", "logout"}
var countries = []string{"DE", "FR", "US", "BR", "JP", "IN", "NG", "GB"}

// event renders event i as JSON into b.
func event(b []byte, i int, base int64) []byte {
	b = append(b, `{"user_id":`...)
	b = strconv.AppendInt(b, int64(i%100003), 10)
	b = append(b, `,"session_id":"s-`...)
	b = strconv.AppendInt(b, int64(i/37), 36)
	b = append(b, `","event":"`...)
	b = append(b, events[i%len(events)]...)
	b = append(b, `","page":"/products/`...)
	b = strconv.AppendInt(b, int64(i%997), 10)
	b = append(b, `","referrer":"https://example.com/r/`...)
	b = strconv.AppendInt(b, int64(i%13), 10)
	b = append(b, `","country":"`...)
	b = append(b, countries[i%len(countries)]...)
	b = append(b, `","duration_ms":`...)
	b = strconv.AppendInt(b, int64(i*7%30000), 10)
	b = append(b, `,"amount":`...)
	b = strconv.AppendFloat(b, float64(i%10000)/100, 'f', 2, 64)
	b = append(b, `,"mobile":`...)
	b = strconv.AppendBool(b, i%3 == 0)
	b = append(b, `,"event_time":`...)
	b = strconv.AppendInt(b, base+int64(i)*10, 10)
	return append(b, '}')
}

func run(brokers, topic string, start, n int, base int64) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(200_000),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		failed  atomic.Int64
		firstMu sync.Mutex
		first   error
	)
	began := time.Now()
	for i := start; i < start+n; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: event(nil, i, base)}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.Add(1)
				firstMu.Lock()
				if first == nil {
					first = err
				}
				firstMu.Unlock()
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d records failed, first: %w", f, n, first)
	}
	el := time.Since(began)
	fmt.Fprintf(os.Stderr, "gen: %d events to %s in %s (%.0f/s)\n", n, topic, el.Round(time.Millisecond), float64(n)/el.Seconds())
	return nil
}

func deleteRecords(brokers, topic string, before int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	os := make(kadm.Offsets)
	ends.Each(func(o kadm.ListedOffset) {
		os.Add(kadm.Offset{Topic: topic, Partition: o.Partition, At: min(before, o.Offset), LeaderEpoch: -1})
	})
	resp, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		return err
	}
	return resp.Error()
}
