package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/history"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestCrashKeepsAcknowledgedRecords SIGKILLs a broker while an idempotent
// acks=all producer runs: after a restart every acknowledged record is
// there exactly once and in order.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		c := startChild(t, dir, "--set", "num.partitions=3", "--set", "log.segment.bytes=1048576")
		cl := newClient(t, c.addr, kgo.DefaultProduceTopic("crash"), kgo.AllowAutoTopicCreation(),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RecordRetries(3),
			kgo.RecordDeliveryTimeout(5*time.Second))
		h := history.New()
		ctx, cancel := context.WithCancel(context.Background())
		killAt := 3000 + round*2000
		produced := make(chan struct{})
		go func() {
			defer close(produced)
			for i := 0; ctx.Err() == nil; i++ {
				v := fmt.Sprintf("r%d-%08d", round, i)
				cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 7)), Value: []byte(v)}, func(r *kgo.Record, err error) {
					if err == nil {
						h.Acked("p", i, string(r.Value), r.Partition, r.Offset)
					}
				})
			}
		}()
		testutil.EventuallyNil(t, 60*time.Second, "the producer's progress", func() error {
			if n := h.AckedCount(); n < killAt {
				return fmt.Errorf("only %d records acknowledged:\n%s", n, c.stderr.String())
			}
			return nil
		})
		c.kill(t)
		cancel()
		<-produced
		cl.Close()

		c2 := startChild(t, dir)
		cons := newClient(t, c2.addr, kgo.ConsumeTopics("crash"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond))
		final := map[int32][]history.Stored{}
		end := endOffsets(t, c2.addr, "crash")
		var total int64
		for _, o := range end {
			total += o
		}
		var got int64
		pctx, pcancel := context.WithTimeout(context.Background(), 60*time.Second)
		for got < total {
			fs := cons.PollFetches(pctx)
			if pctx.Err() != nil {
				t.Fatalf("round %d: read %d of %d records", round, got, total)
			}
			fs.EachRecord(func(r *kgo.Record) {
				got++
				final[r.Partition] = append(final[r.Partition], history.Stored{Offset: r.Offset, Value: string(r.Value)})
			})
		}
		pcancel()
		// A promise can still finish after Close: the check copies under the history's lock.
		rep := h.Check(final)
		if err := rep.Err(); err != nil {
			t.Fatalf("round %d after SIGKILL: %v", round, err)
		}
		t.Logf("round %d: %d acknowledged, %d stored, every acknowledged record once at its offset", round, rep.Acked, total)
		c2.kill(t)
	}
}

// endOffsets lists the end offset of each partition of topic.
func endOffsets(t *testing.T, addr, topic string) map[int32]int64 {
	t.Helper()
	adm := kadmClient(t, newClient(t, addr))
	lo, err := adm.ListEndOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// TestCorruptTailTruncated flips and chops bytes at the end of the active
// segment after an unclean stop: the broker truncates the bad tail with a
// log line and serves everything before it.
func TestCorruptTailTruncated(t *testing.T) {
	for _, mode := range []string{"flip", "chop"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			c := startChild(t, dir)
			cl := newClient(t, c.addr, kgo.DefaultProduceTopic("tail"), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
			for i := 0; i < 20; i++ {
				if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(fmt.Sprintf("v%02d", i))}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			cl.Close()
			c.kill(t)
			segs, _ := filepath.Glob(filepath.Join(dir, "topics", "tail-0", "*.log"))
			sort.Strings(segs)
			if len(segs) == 0 {
				t.Fatalf("no segment files in %s", dir)
			}
			last := segs[len(segs)-1]
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			switch mode {
			case "flip":
				b[len(b)-2] ^= 0x55 // inside the last batch's records: CRC mismatch
			case "chop":
				b = b[:len(b)-5] // a torn last batch
			}
			if err := os.WriteFile(last, b, 0o644); err != nil {
				t.Fatal(err)
			}
			c2 := startChild(t, dir)
			recs := consumeN(t, c2.addr, "tail", 19)
			for i, r := range recs {
				if want := fmt.Sprintf("v%02d", i); string(r.Value) != want {
					t.Fatalf("record %d = %q, want %q", i, r.Value, want)
				}
			}
			if end := endOffsets(t, c2.addr, "tail")[0]; end != 19 {
				t.Fatalf("end offset %d after truncating the corrupt last batch, want 19", end)
			}
			if !regexp.MustCompile(`(?i)truncat`).MatchString(c2.stderr.String()) {
				t.Errorf("no log line about the truncation:\n%s", c2.stderr.String())
			}
		})
	}
}

// TestSIGTERMShutsDownCleanly: SIGTERM stops the broker with exit status 0
// after flushing; the restart finds a clean shutdown (no recovery) and every
// record.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, dir)
	cl := newClient(t, c.addr, kgo.DefaultProduceTopic("term"), kgo.AllowAutoTopicCreation())
	for i := 0; i < 100; i++ {
		cl.Produce(testCtx(t), &kgo.Record{Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := cl.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	c.stop(t)
	if !regexp.MustCompile(`sluice broker stopped`).MatchString(c.stderr.String()) {
		t.Errorf("no stop line in the log:\n%s", c.stderr.String())
	}
	c2 := startChild(t, dir)
	if regexp.MustCompile(`(?i)recover|truncat`).MatchString(c2.stderr.String()) {
		t.Errorf("restart after SIGTERM ran recovery:\n%s", c2.stderr.String())
	}
	recs := consumeN(t, c2.addr, "term", 100)
	if string(recs[99].Value) != "99" {
		t.Errorf("last record %q", recs[99].Value)
	}
}
