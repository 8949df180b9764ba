package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// numbered is the value of record i: "v00000-" and 1000 bytes of padding,
// so that a few thousand records fill several 1 MiB segments.
func numbered(i int64) string { return fmt.Sprintf("v%05d-%s", i, padding) }

var padding = strings.Repeat("x", 1000)

// produceNumbered produces n numbered records to partition 0 of topic, in
// batches of about 20, and waits for all of them.
func produceNumbered(t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := testCtx(t)
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Partition: 0, Value: []byte(numbered(int64(i)))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
		if i%20 == 19 {
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// consumeAll reads partition 0 of topic from offset from until n records
// arrived or the deadline passed, failing on any fetch error.
func consumeAll(t *testing.T, addr, topic string, from int64, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %d before the deadline", len(out), n, from)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func checkNumbered(t *testing.T, recs []*kgo.Record, first int64) {
	t.Helper()
	for i, r := range recs {
		want := first + int64(i)
		if r.Offset != want || string(r.Value) != numbered(want) {
			t.Fatalf("record %d: offset %d value %.10q, want offset %d", i, r.Offset, r.Value, want)
		}
	}
}

// segmentFiles lists a partition folder's files with suffix, sorted.
func segmentFiles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	fs, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(fs)
	return fs
}

// TestFetchWithShiftedIndex shifts every position of every closed
// segment's offset index by 7 bytes while the broker is stopped: plausible
// indexes that pass the open-time sanity check. A consumer from the start
// and one from the middle of a closed segment get every record, in order,
// with no fetch error (before, Fetch answered error 0 with non-batch bytes).
func TestFetchWithShiftedIndex(t *testing.T) {
	b := brokertest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "shift", 1, map[string]*string{"segment.bytes": kadm.StringPtr("1048576"), "index.interval.bytes": kadm.StringPtr("512")})
	const n = 4000
	produceNumbered(t, b.Addr(), "shift", n)
	b.Stop()
	part := filepath.Join(b.Dir, "topics", "shift-0")
	idx := segmentFiles(t, part, ".index")
	if len(idx) < 3 {
		t.Fatalf("%d segments, want 3 or more", len(idx))
	}
	for _, p := range idx[:len(idx)-1] {
		buf, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) == 0 {
			t.Fatalf("%s has no entries", p)
		}
		for i := 0; i+8 <= len(buf); i += 8 {
			binary.BigEndian.PutUint32(buf[i+4:], binary.BigEndian.Uint32(buf[i+4:])+7)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b2 := brokertest.Start(t, brokertest.WithDir(b.Dir))
	checkNumbered(t, consumeAll(t, b2.Addr(), "shift", 0, n), 0)
	checkNumbered(t, consumeAll(t, b2.Addr(), "shift", 1234, n-1234), 1234)
}
