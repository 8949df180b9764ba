package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/broker/brokertest"
)

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 5
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	return cfg
}

// TestSarama produces with every codec through sarama's idempotent sync
// producer and reads back with its partition consumer.
func TestSarama(t *testing.T) {
	b := brokertest.Start(t)
	cfg := saramaConfig()
	adm, err := sarama.NewClusterAdmin([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.CreateTopic("sarama", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := topics["sarama"]; !ok || d.NumPartitions != 2 {
		t.Fatalf("sarama topic listed as %+v", d)
	}
	codecs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy,
		sarama.CompressionLZ4, sarama.CompressionZSTD}
	want := map[int32][]string{}
	for _, codec := range codecs {
		pc := saramaConfig()
		pc.Producer.Compression = codec
		prod, err := sarama.NewSyncProducer([]string{b.Addr()}, pc)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			v := fmt.Sprintf("%s-%d", codec, i)
			p, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama", Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(v)})
			if err != nil {
				t.Fatalf("%s: %v", codec, err)
			}
			if off != int64(len(want[p])) {
				t.Fatalf("%s: offset %d in partition %d, want %d", codec, off, p, len(want[p]))
			}
			want[p] = append(want[p], v)
		}
		prod.Close()
	}
	cons, err := sarama.NewConsumer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for p, vals := range want {
		pc, err := cons.ConsumePartition("sarama", p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			select {
			case m := <-pc.Messages():
				if string(m.Value) != v || m.Offset != int64(i) {
					t.Fatalf("partition %d record %d: offset %d %q, want %q", p, i, m.Offset, m.Value, v)
				}
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-time.After(30 * time.Second):
				t.Fatalf("partition %d: timed out after %d records", p, i)
			}
		}
		pc.Close()
	}
	// Configs through sarama's admin.
	res, err := adm.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: "sarama", ConfigNames: []string{"retention.ms"}}}, sarama.DescribeConfigsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Configs) != 1 || res[0].Configs[0].Value != "604800000" {
		t.Fatalf("retention.ms via sarama: %+v", res)
	}
	if err := adm.DeleteTopic("sarama"); err != nil {
		t.Fatal(err)
	}
}
