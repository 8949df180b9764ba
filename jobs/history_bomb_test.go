package jobs

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/batchtest"
	"github.com/sluicehq/sluice/batchcodec/bounded"
	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestHistoryStopsAtCompressionBomb: a zstd batch of 45 KB whose frame
// declares 200 MiB, in the history topic after a pause record, is refused
// by the scheduler's history reader on its header: the record before it is
// applied, CaughtUp fails with an error naming the topic, the partition
// and the batch's offset (so a scheduler does not start on a history it
// cannot read), an error is logged, and reading allocated a few MiB. The
// broker accepts the batch because the topic's max.message.bytes (4 MiB)
// lets a batch decompress to 256 MiB. Before, the history client used
// franz-go's decompressor, which expands a batch up to 1 GiB: it
// allocated the 200 MiB and reported itself caught up.
func TestHistoryStopsAtCompressionBomb(t *testing.T) {
	b := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "_sluice_runs_bomb"
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	compact, maxMessage := "compact", "4194304"
	res, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &compact, "max.message.bytes": &maxMessage}, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("pause/a"), Value: []byte(`{"paused":true}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if p := brokertest.Produce(t, cl, topic, 0, batchtest.ZstdBombDeclared(0, 200, 1<<20)); p.ErrorCode != 0 {
		t.Fatalf("produce the bomb: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	var logs testutil.Buffer
	var h *History
	alloc := batchtest.Allocated(func() {
		h, err = OpenHistory(ctx, []string{b.Addr()}, topic, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			return
		}
		tailCtx, stopTail := context.WithCancel(ctx)
		tailed := make(chan struct{})
		go func() { defer close(tailed); h.Tail(tailCtx) }()
		err = h.CaughtUp(ctx)
		stopTail()
		<-tailed
	})
	if h != nil {
		defer h.Close()
	}
	var tooLarge *bounded.TooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Topic != topic || tooLarge.Partition != 0 || tooLarge.Offset != 1 {
		t.Fatalf("CaughtUp over the bomb: %v; want a *bounded.TooLargeError for %s partition 0 offset 1", err, topic)
	}
	if !h.Paused("a") {
		t.Error("the pause record before the bomb was not applied")
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "the batch at offset 1 decompresses to more than 128 MiB") {
		t.Errorf("log does not report the batch as an error:\n%s", out)
	}
	if alloc > 32<<20 {
		t.Errorf("reading the history up to a 200 MiB bomb allocated %d MiB", alloc>>20)
	}
	t.Logf("history over a 200 MiB bomb: allocated %.1f MiB; %v", float64(alloc)/(1<<20), err)
}
