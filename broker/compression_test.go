package broker_test

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/broker/log/logtest"
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
	bomb := logtest.ZstdBomb(0, 200, 1<<20)
	sp := producePartition(t, cl, "compacted", bomb)
	if sp.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("bomb of %d bytes: %v, want MESSAGE_TOO_LARGE", len(bomb), kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp.ErrorMessage == nil || !strings.Contains(*sp.ErrorMessage, "64 times max.message.bytes") {
		t.Errorf("bomb: message %v does not name the limit", sp.ErrorMessage)
	}
	if code := produceRaw(t, cl, "compacted", logtest.ZstdBomb(0, 2, 1<<20)); code != 0 {
		t.Fatalf("2 MiB of zeros in one batch: %v", kerr.ErrorForCode(code))
	}
	recs := consumeN(t, b.Addr(), "compacted", 2, kgo.FetchMaxBytes(8<<20))
	if len(recs[1].Value) != 1<<20 {
		t.Errorf("consumed a value of %d bytes, want 1 MiB", len(recs[1].Value))
	}
}
