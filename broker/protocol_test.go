package broker_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// rawConn speaks the Kafka framing directly, for inputs no client sends.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// send frames a request with header v1 (or v2 when flexible) and returns
// the frame's size in bytes.
func (c *rawConn) send(req kmsg.Request, corr int32) int {
	c.t.Helper()
	b := frameRequest(req, corr)
	c.writeFrame(b)
	return len(b)
}

// frameRequest frames req with header v1 (or v2 when flexible), size first.
func frameRequest(req kmsg.Request, corr int32) []byte {
	id := "test"
	return frameRequestAs(req, corr, &id)
}

// frameRequestAs frames req with clientID (nil: null) in its header.
func frameRequestAs(req kmsg.Request, corr int32, clientID *string) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
		b = append(b, *clientID...)
	}
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func (c *rawConn) writeFrame(b []byte) {
	c.t.Helper()
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads one response frame and returns its body after the correlation id.
func (c *rawConn) recv() (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.r, b); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

func TestApiVersionsDowngrade(t *testing.T) {
	b := brokertest.Start(t)
	c := dialRaw(t, b.Addr())
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(4)
	c.send(req, 1)
	// Now an unknown future version: KIP-511 says answer v0 with UNSUPPORTED_VERSION.
	raw := []byte{0, 0, 0, 0, 0, 18, 0, 99, 0, 0, 0, 2, 0, 0}
	c.writeFrame(raw)
	for want := int32(1); want <= 2; want++ {
		corr, body, err := c.recv()
		if err != nil || corr != want {
			t.Fatalf("response %d: corr %d err %v", want, corr, err)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		if want == 1 {
			resp.SetVersion(4)
			// v3+ responses still use header v0: the body starts right after the correlation id.
		}
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decode response %d: %v", want, err)
		}
		if want == 2 && resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("unknown version: error %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
		}
		seen := map[int16]bool{}
		for _, k := range resp.ApiKeys {
			seen[k.ApiKey] = true
			if k.MinVersion > k.MaxVersion {
				t.Errorf("api %d: min %d > max %d", k.ApiKey, k.MinVersion, k.MaxVersion)
			}
			if k.ApiKey == 0 && (k.MinVersion != 0 || k.MaxVersion < 9) {
				t.Errorf("produce advertised %d-%d, want 0-(>=9)", k.MinVersion, k.MaxVersion)
			}
		}
		for _, k := range []int16{0, 1, 2, 3, 18, 19, 20, 21, 22, 23, 32, 33, 37, 44, 60} {
			if !seen[k] {
				t.Errorf("api %s not advertised", kmsg.NameForKey(k))
			}
		}
	}
}

func TestMalformedFrameClosesOnlyThatConnection(t *testing.T) {
	b := brokertest.Start(t)
	for name, frame := range map[string][]byte{
		"oversize":      {0x7f, 0xff, 0xff, 0xff},
		"negative size": {0xff, 0xff, 0xff, 0xff},
		"garbage body":  {0, 0, 0, 12, 0, 3, 0, 9, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff},
		"unknown api":   {0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff},
	} {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, b.Addr())
			if _, err := c.nc.Write(frame); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.recv(); err == nil {
				t.Fatalf("got a response to a malformed frame; want the connection closed")
			}
			// The broker still serves others.
			cl := newClient(t, b.Addr())
			if err := cl.Ping(testCtx(t)); err != nil {
				t.Fatalf("broker unusable after a malformed frame: %v", err)
			}
		})
	}
}

// batch builds a valid uncompressed v2 record batch holding values.
func batch(values ...string) []byte {
	rb := kmsg.RecordBatch{Magic: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli()}
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		body := r.AppendTo(nil)[1:] // drop the zero Length varint
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	rb.NumRecords = int32(len(values))
	rb.LastOffsetDelta = int32(len(values) - 1)
	rb.Records = recs
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func produceRaw(t *testing.T, cl *kgo.Client, topic string, records []byte) int16 {
	t.Helper()
	return producePartition(t, cl, topic, records).ErrorCode
}

// producePartition sends records to partition 0 of topic in one Produce
// request and returns the partition's answer.
func producePartition(t *testing.T, cl *kgo.Client, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func TestBadProduceInput(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithSetting("auto.create.topics.enable", "false"))
	cl := newClient(t, b.Addr())
	createTopic(t, kadmClient(t, cl), "bad", 1, map[string]*string{"max.message.bytes": strp("2000")})

	if code := produceRaw(t, cl, "bad", batch("ok")); code != 0 {
		t.Fatalf("valid batch: error %v", kerr.ErrorForCode(code))
	}
	flipped := batch("hello")
	flipped[len(flipped)-1] ^= 0xff
	if code := produceRaw(t, cl, "bad", flipped); code != kerr.CorruptMessage.Code {
		t.Errorf("bad CRC: %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(code))
	}
	big := batch(strings.Repeat("x", 5000))
	if code := produceRaw(t, cl, "bad", big); code != kerr.MessageTooLarge.Code {
		t.Errorf("oversize batch: %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(code))
	}
	truncated := batch("hello")
	if code := produceRaw(t, cl, "bad", truncated[:len(truncated)-3]); code != kerr.CorruptMessage.Code {
		t.Errorf("truncated batch: %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(code))
	}
	if code := produceRaw(t, cl, "nope", batch("x")); code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
	}
	// Metadata for an unknown topic with auto-create off, and for an invalid name.
	mreq := kmsg.NewPtrMetadataRequest()
	for _, n := range []string{"nope", "bad name!"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = strp(n)
		mreq.Topics = append(mreq.Topics, rt)
	}
	mreq.AllowAutoTopicCreation = true
	mresp, err := mreq.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if c := mresp.Topics[0].ErrorCode; c != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("metadata unknown topic: %v", kerr.ErrorForCode(c))
	}
	if c := mresp.Topics[1].ErrorCode; c != kerr.InvalidTopicException.Code {
		t.Errorf("metadata invalid topic: %v", kerr.ErrorForCode(c))
	}
	// Only the valid batch is stored.
	recs := consumeN(t, b.Addr(), "bad", 1)
	if string(recs[0].Value) != "ok" {
		t.Errorf("stored %q", recs[0].Value)
	}
	// Fetch out of range.
	freq := kmsg.NewPtrFetchRequest()
	freq.SetVersion(12)
	freq.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "bad"
	td, err := kadmClient(t, cl).ListTopics(testCtx(t), "bad")
	if err != nil {
		t.Fatal(err)
	}
	ft.TopicID = td["bad"].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset = 42
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp, err := freq.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if c := fresp.Topics[0].Partitions[0].ErrorCode; c != kerr.OffsetOutOfRange.Code {
		t.Errorf("fetch past end: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(c))
	}
}

// TestFetchEmptyPartitionRecordsNotNull: a fetch with nothing to return
// carries an empty record set, not a null one, which librdkafka rejects
// ("invalid MessageSetSize -1") in non-flexible versions.
func TestFetchEmptyPartitionRecordsNotNull(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, kadmClient(t, cl), "empty", 1, nil)
	c := dialRaw(t, b.Addr())
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "empty"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.send(req, 9)
	_, body, err := c.recv()
	if err != nil {
		t.Fatal(err)
	}
	// v11 is not flexible: the partition's record set is the last 4 bytes
	// (int32 length) before the end of the response.
	if n := int32(binary.BigEndian.Uint32(body[len(body)-4:])); n != 0 {
		t.Fatalf("empty partition record set length %d, want 0", n)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(11)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 0 {
		t.Fatalf("partition: error %d high watermark %d", p.ErrorCode, p.HighWatermark)
	}
}

// TestProduceToInternalTopicRefused: clients cannot write into
// __consumer_offsets, whose records the broker replays as group state.
func TestProduceToInternalTopicRefused(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr(), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("x"), kgo.AllowAutoTopicCreation())
	// A group request makes the broker create __consumer_offsets.
	adm := kadmClient(t, cl)
	if _, err := adm.ListGroups(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.FetchOffsets(testCtx(t), "g"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyNil(t, 10*time.Second, "__consumer_offsets never created", func() error {
		td, err := adm.ListTopics(testCtx(t), "__consumer_offsets")
		if err != nil {
			return err
		}
		if !td.Has("__consumer_offsets") {
			return errors.New("not listed")
		}
		return td["__consumer_offsets"].Err
	})
	if code := produceRaw(t, newClient(t, b.Addr()), "__consumer_offsets", batch("garbage")); code != kerr.InvalidTopicException.Code {
		t.Fatalf("produce to __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", kerr.ErrorForCode(code))
	}
}

// TestInternalTopicsNotCreatedByClients: a metadata request naming
// __consumer_offsets before any group exists creates it with its own layout
// (compacted), not as an ordinary auto-created topic, and CreateTopics
// cannot create it.
func TestInternalTopicsNotCreatedByClients(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	adm := kadmClient(t, cl)
	resp, _ := adm.CreateTopic(testCtx(t), 1, 1, nil, "__consumer_offsets")
	if !errors.Is(resp.Err, kerr.InvalidRequest) {
		t.Errorf("CreateTopics __consumer_offsets: %v, want INVALID_REQUEST", resp.Err)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = strp("__consumer_offsets")
	mreq.Topics = append(mreq.Topics, rt)
	mreq.AllowAutoTopicCreation = true
	mresp, err := mreq.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	mt := mresp.Topics[0]
	if mt.ErrorCode != 0 || !mt.IsInternal || len(mt.Partitions) <= 1 {
		t.Fatalf("metadata for __consumer_offsets: error %d internal %v partitions %d; want the internal layout",
			mt.ErrorCode, mt.IsInternal, len(mt.Partitions))
	}
	rc, err := adm.DescribeTopicConfigs(testCtx(t), "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := rc.On("__consumer_offsets", nil)
	for _, c := range r.Configs {
		if c.Key == "cleanup.policy" && c.MaybeValue() != "compact" {
			t.Errorf("__consumer_offsets cleanup.policy = %q, want compact", c.MaybeValue())
		}
	}
}
