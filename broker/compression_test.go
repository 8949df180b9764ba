package broker_test

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/batchtest"
	"github.com/sluicehq/sluice/broker/brokertest"
)

// TestProduceUnknownCodec: a batch whose attributes name codec 7 is
// refused with CORRUPT_MESSAGE naming the codec and the partition, and the
// partition stays readable: before, it was stored, answered OK, and every
// consumer of the partition then stopped at it ("unknown compression
// codec").
func TestProduceUnknownCodec(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, kadmClient(t, cl), "codecs", 1, nil)
	if code := produceRaw(t, cl, "codecs", batch("before")); code != 0 {
		t.Fatalf("valid batch: %v", kerr.ErrorForCode(code))
	}
	bad := batch("seven")
	binary.BigEndian.PutUint16(bad[21:], 7) // attributes: codec 7
	binary.BigEndian.PutUint32(bad[17:], crc32.Checksum(bad[21:], crc32.MakeTable(crc32.Castagnoli)))
	sp := producePartition(t, cl, "codecs", bad)
	if sp.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("codec 7: %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp.ErrorMessage == nil || !strings.Contains(*sp.ErrorMessage, "unknown compression codec 7") ||
		!strings.Contains(*sp.ErrorMessage, "topic codecs partition 0") {
		t.Errorf("codec 7: message %v does not name the codec and the partition", sp.ErrorMessage)
	}
	if code := produceRaw(t, cl, "codecs", batch("after")); code != 0 {
		t.Fatalf("valid batch after: %v", kerr.ErrorForCode(code))
	}
	recs := consumeN(t, b.Addr(), "codecs", 2)
	if string(recs[0].Value) != "before" || string(recs[1].Value) != "after" {
		t.Errorf("consumed %q, %q; want before, after", recs[0].Value, recs[1].Value)
	}
}

// TestProduceCompressionBomb: a zstd batch of a few KB that expands to
// 200 MiB is refused on a compacted topic with MESSAGE_TOO_LARGE naming the
// limit, so neither the cleaner nor any consumer ever holds it; a batch
// that compresses well but stays under the limit is accepted.
func TestProduceCompressionBomb(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, kadmClient(t, cl), "compacted", 1, map[string]*string{"cleanup.policy": strp("compact")})
	bomb := batchtest.ZstdBomb(0, 200, 1<<20)
	sp := producePartition(t, cl, "compacted", bomb)
	if sp.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("bomb of %d bytes: %v, want MESSAGE_TOO_LARGE", len(bomb), kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp.ErrorMessage == nil || !strings.Contains(*sp.ErrorMessage, "64 times max.message.bytes") {
		t.Errorf("bomb: message %v does not name the limit", sp.ErrorMessage)
	}
	if code := produceRaw(t, cl, "compacted", batchtest.ZstdBomb(0, 2, 1<<20)); code != 0 {
		t.Fatalf("2 MiB of zeros in one batch: %v", kerr.ErrorForCode(code))
	}
	recs := consumeN(t, b.Addr(), "compacted", 2, kgo.FetchMaxBytes(8<<20))
	if len(recs[1].Value) != 1<<20 {
		t.Errorf("consumed a value of %d bytes, want 1 MiB", len(recs[1].Value))
	}
}

// TestCleanerKeepsBombOnDisk: a compacted partition whose data dir already
// holds a zstd bomb (written by a version that accepted it) is cleaned
// without failing: the bomb is kept as it is, logged once and counted in
// sluice_log_cleaner_uncleanable_batches_total. Before, every round failed
// with the whole log uncleaned (or decompressed the bomb whole).
func TestCleanerKeepsBombOnDisk(t *testing.T) {
	settings := []brokertest.Option{brokertest.WithSetting("log.cleaner.backoff.ms", "50")}
	b := brokertest.Start(t, settings...)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("compacted"))
	createTopic(t, kadmClient(t, cl), "compacted", 1, map[string]*string{"cleanup.policy": strp("compact"), "segment.ms": strp("1")})
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Key: []byte("a"), Value: []byte("old")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	// The bomb at offset 1, behind the broker's back.
	b = brokertest.AppendUnchecked(t, b, "compacted", 0, batchtest.ZstdBomb(1, 200, 1<<20), settings...)
	cl = newClient(t, b.Addr(), kgo.DefaultProduceTopic("compacted"))
	for _, v := range []string{"new", "newer"} {
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Key: []byte("a"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := testCtx(t)
	for {
		if v := metricValue(t, b.HTTPAddr(), `sluice_log_cleaner_uncleanable_batches_total\{topic="compacted"\}`); v == 1 {
			break
		} else if v > 1 {
			t.Fatalf("bomb counted %v times", v)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the cleaner never reported the bomb")
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The broker still takes writes to the partition.
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Key: []byte("b"), Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// metricValue scrapes /metrics and returns the sample matching re (a
// regexp of the name and labels), or -1 if there is none.
func metricValue(t *testing.T, httpAddr, re string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(string(body))
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}
