package loader

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/batchtest"
	"github.com/sluicehq/sluice/broker/brokertest"
)

// TestRunStopsAtCompressionBomb: batches that compress very well but stay
// under the bound land even when one fetch holds more of them than the
// budget, and a compression bomb stops the partition's run with an error
// naming its offset, after every record before it has landed. Before, the
// loader decompressed whatever franz-go's 1 GiB default allowed, per batch.
func TestRunStopsAtCompressionBomb(t *testing.T) {
	e := newKafkaEnv(t, "bombs", 1)
	e.produce(t, 20)
	// Six batches of 3 MiB of JSON that zstd takes to a few KB each.
	zcl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		kgo.ProducerBatchMaxBytes(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer zcl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	big := strings.Repeat("x", 3<<20)
	for i := range 6 {
		r := &kgo.Record{Topic: e.topic, Value: []byte(fmt.Sprintf(`{"user_id":%d,"event":"%s"}`, 100+i, big)), Timestamp: time.Now()}
		if err := zcl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	e.sent += 6
	// A bomb of 50 MiB at offset 26, as a foreign cluster may hold one.
	e.b = brokertest.AppendUnchecked(t, e.b, e.topic, 0, batchtest.ZstdBomb(int64(e.sent), 50, 1<<20))
	sink := filepath.Join(t.TempDir(), "lake")
	spec := e.spec(t, "bombs", sink)
	spec.Sink.Roll.Records = 5 // publish as it goes: what was read before the bomb lands
	_, err = Run(ctx, Config{Spec: spec, Progress: quietProgress(), MaxDecompressedBatchBytes: 4 << 20})
	if err == nil || !strings.Contains(err.Error(), "batch at offset 26 decompresses to more than 4 MiB") {
		t.Fatalf("run over a bomb: %v; want an error naming the batch at offset 26", err)
	}
	// The 3 MiB batches (offsets 20-25, more per fetch than the 8 MiB
	// budget) were read on the way: offsets 0-24 are in full files.
	if !e.coverage(t, sink, 25) {
		t.Errorf("not every record before the bomb landed: %v", landedSpans(t, sink))
	}
}
