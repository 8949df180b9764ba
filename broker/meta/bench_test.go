package meta

import (
	"context"
	"fmt"
	"testing"
)

// imageWithTopics returns an image holding n topics.
func imageWithTopics(b *testing.B, n int) *Image {
	b.Helper()
	img := NewImage()
	for i := range n {
		var err error
		img, err = Apply(img, CreateTopic{Name: fmt.Sprintf("topic-%06d", i), ID: NewTopicID(), Partitions: 3, ReplicationFactor: 1})
		if err != nil {
			b.Fatal(err)
		}
	}
	return img
}

// BenchmarkApplyAlterConfigs measures the pure applier's copy-on-write cost
// against an image of N topics.
func BenchmarkApplyAlterConfigs(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			img := imageWithTopics(b, n)
			id := img.Topics()[n/2].ID
			rec := AlterTopicConfigs{ID: id, Set: map[string]string{"retention.ms": "1000"}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Apply(img, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStoreApply measures a durable change: validate, encode, append
// with fsync, publish.
func BenchmarkStoreApply(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(context.Background(), CreateTopic{Name: "t", Partitions: 1, ReplicationFactor: 1}); err != nil {
		b.Fatal(err)
	}
	id := s.Image().Topics()[0].ID
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		if err := s.Apply(context.Background(), AlterTopicConfigs{ID: id, Set: map[string]string{"retention.ms": fmt.Sprint(i)}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkImageLookup measures a reader's lock-free topic lookup, as the
// produce and fetch paths do.
func BenchmarkImageLookup(b *testing.B) {
	img := imageWithTopics(b, 1000)
	s := &Store{}
	s.img.Store(img)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := s.Image().Topic("topic-000500"); !ok {
				b.Fatal("missing")
			}
		}
	})
}

// BenchmarkResolveTopicConfig measures resolving a topic's effective config.
func BenchmarkResolveTopicConfig(b *testing.B) {
	bc := DefaultBrokerConfig()
	overrides := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}
	b.ReportAllocs()
	for b.Loop() {
		_ = ResolveTopicConfig(nil, overrides, bc)
	}
}

// BenchmarkReplay measures Open replaying a journal of 10,000 entries.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	const n = 2000
	for i := range n {
		if err := s.Apply(context.Background(), CreateTopic{Name: fmt.Sprintf("t%05d", i), Partitions: 1, ReplicationFactor: 1}); err != nil {
			b.Fatal(err)
		}
	}
	_ = s.Close()
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkImageTopicConfig measures the memoized config lookup a produce
// request makes.
func BenchmarkImageTopicConfig(b *testing.B) {
	img := imageWithTopics(b, 100)
	t, _ := img.Topic("topic-000050")
	bc := DefaultBrokerConfig()
	b.ReportAllocs()
	for b.Loop() {
		if img.TopicConfig(t, bc).Int32(KeyMaxMessageBytes) != 1048588 {
			b.Fatal("wrong value")
		}
	}
}
