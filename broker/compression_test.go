package broker_test

import (
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/batchtest"
	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
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

// TestCleanerKeepsBombOnDisk: a real sluice server refuses a zstd bomb on
// a compacted topic, and when its data dir already holds one (written by a
// version that accepted it), the cleaner streams past it in bounded memory,
// keeps it as it is, logs it once and counts it in
// sluice_log_cleaner_uncleanable_batches_total. Before, cleaning
// decompressed it whole (3.9 GB RSS for the 1.9 GiB bomb, 966 MB
// for this 200 MiB one) or failed every round.
func TestCleanerKeepsBombOnDisk(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"--http", "127.0.0.1:0", "--set", "log.cleaner.backoff.ms=50", "--set", "log.retention.check.interval.ms=50"}
	c := startChild(t, dir, flags...)
	cl := newClient(t, c.addr, kgo.DefaultProduceTopic("compacted"))
	createTopic(t, kadmClient(t, cl), "compacted", 1, map[string]*string{"cleanup.policy": strp("compact"), "segment.ms": strp("1")})
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Key: []byte("a"), Value: []byte("old")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	bomb := batchtest.ZstdBomb(1, 200, 1<<20)
	if code := produceRaw(t, cl, "compacted", bomb); code != kerr.MessageTooLarge.Code {
		t.Fatalf("bomb: %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(code))
	}
	cl.Close()
	c.stop(t)

	brokertest.AppendToSegment(t, filepath.Join(dir, "topics", "compacted-0"), bomb)
	c = startChild(t, dir, flags...)
	cl = newClient(t, c.addr, kgo.DefaultProduceTopic("compacted"))
	for _, v := range []string{"new", "newer"} {
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Key: []byte("a"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	const sample = `sluice_log_cleaner_uncleanable_batches_total{topic="compacted"}`
	testutil.Eventually(t, 60*time.Second, "the cleaner never reported the bomb", func() bool { return c.metric(t, sample) >= 1 })
	peak := procStatusBytes(t, c.cmd.Process.Pid, "VmHWM")
	t.Logf("peak RSS of the server cleaning past a %d-byte batch of 200 MiB: %.0f MiB", len(bomb), peak/mib)
	if peak > 150*mib {
		t.Errorf("peak RSS %.0f MiB while cleaning past the bomb, want under 150", peak/mib)
	}
	if n := strings.Count(c.stderr.String(), "log cleaner keeps a batch it cannot read as it is"); n != 1 || c.metric(t, sample) != 1 {
		t.Errorf("bomb logged %d times and counted %v, want once", n, c.metric(t, sample))
	}
	// The broker still takes writes to the partition.
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Key: []byte("b"), Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
