package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
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

// fetchAt sends one Fetch for partition 0 of topic (named and by ID, so
// that any version works) at offset and returns the partition's error code
// and the offsets of the records in the answer.
func fetchAt(t *testing.T, cl *kgo.Client, topic string, id [16]byte, offset int64) (int16, []int64) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = -1, 1<<20, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	var offs []int64
	for b := sp.RecordBatches; len(b) > 0; {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatalf("fetch at %d: answer holds bytes that are not a record batch: %v", offset, err)
		}
		for i := int32(0); i < rb.NumRecords; i++ {
			offs = append(offs, rb.FirstOffset+int64(i))
		}
		b = b[12+int(rb.Length):]
	}
	return sp.ErrorCode, offs
}

// TestDamagedMiddleSegmentServed cuts a middle segment of a real sluice
// server's partition while it is stopped (the fault: recovery used
// to delete the four intact segments after it, 4,883 records, and reuse
// their offsets). After a restart: the end offset is unchanged, a fetch in
// the damaged range answers CORRUPT_MESSAGE with no records, fetches just
// before and after it work, a consumer from after it gets every later
// record, the next produce continues at the old end, and the range is on
// /metrics, in the log and in `sluice topic describe`.
func TestDamagedMiddleSegmentServed(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, dir, "--http", "127.0.0.1:0")
	adm := kadm.NewClient(newClient(t, c.addr))
	createTopic(t, adm, "mid", 1, map[string]*string{"segment.bytes": kadm.StringPtr("1048576")})
	const n = 5000
	produceNumbered(t, c.addr, "mid", n)
	c.stop(t)
	part := filepath.Join(dir, "topics", "mid-0")
	logs := segmentFiles(t, part, ".log")
	if len(logs) < 5 {
		t.Fatalf("%d segments, want 5 or more", len(logs))
	}
	b, err := os.ReadFile(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logs[1], b[:len(b)/2+100], 0o644); err != nil { // cut inside a batch
		t.Fatal(err)
	}

	c2 := startChild(t, dir, "--http", "127.0.0.1:0")
	cl := newClient(t, c2.addr)
	td, err := kadm.NewClient(cl).ListTopics(testCtx(t), "mid")
	if err != nil {
		t.Fatal(err)
	}
	id := td["mid"].ID
	if end := endOffsets(t, c2.addr, "mid")[0]; end != n {
		t.Fatalf("end offset %d after the restart, want %d", end, n)
	}
	first, last := int64(-1), int64(-1)
	for off := int64(0); off < n; {
		code, offs := fetchAt(t, cl, "mid", id, off)
		if code == kerr.CorruptMessage.Code {
			if first < 0 {
				first = off
			} else if last != off-1 {
				t.Fatalf("two damaged ranges: %d-%d and %d", first, last, off)
			}
			last = off
			off++
			continue
		}
		if code != 0 || len(offs) == 0 || offs[0] > off {
			t.Fatalf("fetch at %d: error %d, offsets from %v", off, code, offs[:min(len(offs), 1)])
		}
		off = offs[len(offs)-1] + 1
	}
	if first < 0 {
		t.Fatal("no fetch answered CORRUPT_MESSAGE")
	}
	t.Logf("offsets %d-%d answer CORRUPT_MESSAGE", first, last)
	checkNumbered(t, consumeAll(t, c2.addr, "mid", last+1, int(n-last-1)), last+1)
	res := newClient(t, c2.addr).ProduceSync(testCtx(t), &kgo.Record{Topic: "mid", Partition: 0, Value: []byte(numbered(n))})
	if r, err := res.First(); err != nil || r.Offset != n {
		t.Fatalf("produce after the restart: offset %v, %v; want %d", r, err, n)
	}
	if v := c2.metric(t, `sluice_partition_damaged_ranges{partition="0",topic="mid"}`); v != 1 {
		t.Errorf("sluice_partition_damaged_ranges = %v, want 1", v)
	}
	if v := c2.metric(t, `sluice_partition_damaged_offsets{partition="0",topic="mid"}`); v != float64(last-first+1) {
		t.Errorf("sluice_partition_damaged_offsets = %v, want %d", v, last-first+1)
	}
	if !strings.Contains(c2.stderr.String(), "damaged bytes in a sealed segment") || strings.Contains(c2.stderr.String(), "deleting segment") {
		t.Errorf("want the damage logged and no segment deleted:\n%s", c2.stderr.String())
	}
	out, err := exec.Command(buildSluice(t), "topic", "describe", "--brokers", c2.addr, "mid").CombinedOutput()
	if err != nil {
		t.Fatalf("sluice topic describe: %v\n%s", err, out)
	}
	row := regexp.MustCompile(fmt.Sprintf(`(?m)^0 +\d+ +%s +\d+-\d+ +%d-%d +open +`, filepath.Base(logs[1]), first, last))
	if !strings.Contains(string(out), "Damaged data") || !row.Match(out) {
		t.Errorf("sluice topic describe does not show the range %d-%d of %s:\n%s", first, last, filepath.Base(logs[1]), out)
	}
}

// TestDescribeLogDirs is Kafka's per-partition disk state as kadm (and
// kafka-log-dirs.sh) read it: one log dir, each partition's size, unknown
// topics left out, a partition named twice answered once.
func TestDescribeLogDirs(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	createTopic(t, adm, "dirs", 2, nil)
	produceNumbered(t, b.Addr(), "dirs", 3)
	all, err := adm.DescribeAllLogDirs(testCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[0]
	if len(dirs) != 1 {
		t.Fatalf("%d log dirs, want 1: %v", len(dirs), dirs)
	}
	p0, ok := dirs.LookupPartition("dirs", 0)
	if !ok || p0.Size == 0 {
		t.Fatalf("partition 0: %+v %v", p0, ok)
	}
	if p1, ok := dirs.LookupPartition("dirs", 1); !ok || p1.Size != 0 {
		t.Fatalf("partition 1 (empty): %+v %v", p1, ok)
	}
	req := kmsg.NewPtrDescribeLogDirsRequest()
	for _, topic := range []string{"dirs", "dirs", "nope"} {
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0, 0, 7}
		req.Topics = append(req.Topics, rt)
	}
	kresp, err := cl.SeedBrokers()[0].Request(testCtx(t), req) // straight to it: kgo would route by partition
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.DescribeLogDirsResponse)
	if n := len(resp.Dirs); n != 1 || len(resp.Dirs[0].Topics) != 1 || len(resp.Dirs[0].Topics[0].Partitions) != 1 {
		t.Fatalf("want one dir with topic dirs partition 0 once, got %+v", resp.Dirs)
	}
	if d := resp.Dirs[0]; d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Errorf("total %d, usable %d bytes", d.TotalBytes, d.UsableBytes)
	}
}

var partitionMetadataFormat = regexp.MustCompile(`^version: 0\ntopic_id: [A-Za-z0-9_-]{22}\n$`)

// TestTornJournalOrphanedDir cuts 3 bytes off the metadata journal of a
// stopped sluice server, so that it forgets the last topic created while
// that topic's data stays on disk (the fault: re-creating the name
// then adopted the old data). After a restart the journal's log line says
// which record it dropped, the topic's folders are moved aside (not
// deleted) and counted on /metrics, and the re-created topic starts empty.
// A folder from before partition.metadata existed (the file removed) is
// adopted and gets the file.
func TestTornJournalOrphanedDir(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, dir)
	adm := kadm.NewClient(newClient(t, c.addr))
	createTopic(t, adm, "kept", 1, nil)
	createTopic(t, adm, "lost", 2, nil)
	produceNumbered(t, c.addr, "kept", 10)
	produceNumbered(t, c.addr, "lost", 10)
	c.stop(t)
	topics := filepath.Join(dir, "topics")
	for _, p := range []string{"kept-0", "lost-0", "lost-1"} {
		b, err := os.ReadFile(filepath.Join(topics, p, "partition.metadata"))
		if err != nil || !partitionMetadataFormat.Match(b) {
			t.Fatalf("%s/partition.metadata: %q, %v; want Kafka's format", p, b, err)
		}
	}
	journal := filepath.Join(dir, "meta", "journal.log")
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(journal, b[:len(b)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(topics, "kept-0", "partition.metadata")); err != nil {
		t.Fatal(err)
	}

	c2 := startChild(t, dir, "--http", "127.0.0.1:0")
	logs := c2.stderr.String()
	if !regexp.MustCompile(`truncating torn journal tail.*CreateTopic .*lost`).MatchString(logs) {
		t.Errorf("the journal's log line does not name the dropped CreateTopic of lost:\n%s", logs)
	}
	stray, _ := filepath.Glob(filepath.Join(topics, "lost-*-stray"))
	if len(stray) != 2 || strings.Count(logs, "moved aside, not deleted") != 2 {
		t.Fatalf("stray folders %v, want lost-0 and lost-1 moved aside and logged:\n%s", stray, logs)
	}
	for _, s := range stray {
		if segs := segmentFiles(t, s, ".log"); len(segs) == 0 {
			t.Errorf("%s holds no segment: the old data was not kept", s)
		}
	}
	if v := c2.metric(t, "sluice_stray_partition_dirs"); v != 2 {
		t.Errorf("sluice_stray_partition_dirs = %v, want 2", v)
	}
	if b, err := os.ReadFile(filepath.Join(topics, "kept-0", "partition.metadata")); err != nil || !partitionMetadataFormat.Match(b) {
		t.Errorf("kept-0/partition.metadata was not written back: %q, %v", b, err)
	}
	checkNumbered(t, consumeAll(t, c2.addr, "kept", 0, 10), 0)

	adm2 := kadm.NewClient(newClient(t, c2.addr))
	createTopic(t, adm2, "lost", 1, nil)
	if end := endOffsets(t, c2.addr, "lost")[0]; end != 0 {
		t.Fatalf("re-created topic lost has end offset %d, want 0: it adopted the old data", end)
	}
	produceNumbered(t, c2.addr, "lost", 1)
	checkNumbered(t, consumeAll(t, c2.addr, "lost", 0, 1), 0)
}

// TestPartitionDirOfAnotherTopicMovedAside: a folder whose partition.metadata
// names another topic ID is moved aside when the broker starts, and a
// folder that is already there when a topic is created (without the file)
// is moved aside rather than adopted; both topics start empty.
func TestPartitionDirOfAnotherTopicMovedAside(t *testing.T) {
	b := brokertest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "x", 1, nil)
	produceNumbered(t, b.Addr(), "x", 5)
	b.Stop()
	topics := filepath.Join(b.Dir, "topics")
	other := "AAAAAAAAAAAAAAAAAAAAAg"
	if err := os.WriteFile(filepath.Join(topics, "x-0", "partition.metadata"), []byte("version: 0\ntopic_id: "+other+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b2 := brokertest.Start(t, brokertest.WithDir(b.Dir))
	if end := endOffsets(t, b2.Addr(), "x")[0]; end != 0 {
		t.Fatalf("x has end offset %d, want 0: it adopted a folder of topic ID %s", end, other)
	}
	if _, err := os.Stat(filepath.Join(topics, "x-0.00000000000000000000000000000002-stray", "00000000000000000000.log")); err != nil {
		t.Fatalf("the other topic's folder was not kept aside: %v", err)
	}
	if err := os.CopyFS(filepath.Join(topics, "y-0"), os.DirFS(filepath.Join(topics, "x-0.00000000000000000000000000000002-stray"))); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(topics, "y-0", "partition.metadata"))
	createTopic(t, kadm.NewClient(newClient(t, b2.Addr())), "y", 1, nil)
	if end := endOffsets(t, b2.Addr(), "y")[0]; end != 0 {
		t.Fatalf("new topic y has end offset %d, want 0: it adopted a folder that was there before it", end)
	}
	if stray, _ := filepath.Glob(filepath.Join(topics, "y-0.*-stray")); len(stray) != 1 {
		t.Fatalf("y-0 not moved aside: %v", stray)
	}
}

// TestScrubberFindsFlippedBit flips one bit inside a batch of a sealed
// segment of a stopped sluice server (a clean stop: nothing rereads it on
// start). With the scrubber fast, the damage is found by itself: on
// /metrics, in the log and in sluice topic describe; a fetch of the batch
// answers CORRUPT_MESSAGE while fetches of the batches before and after it
// work.
func TestScrubberFindsFlippedBit(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, dir)
	adm := kadm.NewClient(newClient(t, c.addr))
	createTopic(t, adm, "rot", 1, map[string]*string{"segment.bytes": kadm.StringPtr("1048576")})
	produceNumbered(t, c.addr, "rot", 3000)
	c.stop(t)
	logs := segmentFiles(t, filepath.Join(dir, "topics", "rot-0"), ".log")
	if len(logs) < 3 {
		t.Fatalf("%d segments, want 3 or more", len(logs))
	}
	b, err := os.ReadFile(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	pos := 0
	for i := 0; i < 10; i++ { // the 11th batch
		pos += int(binary.BigEndian.Uint32(b[pos+8:])) + 12
	}
	size := int(binary.BigEndian.Uint32(b[pos+8:])) + 12
	first := int64(binary.BigEndian.Uint64(b[pos:]))
	last := first + int64(binary.BigEndian.Uint32(b[pos+23:]))
	b[pos+size-100] ^= 0x08 // inside the records: only the CRC notices
	if err := os.WriteFile(logs[1], b, 0o644); err != nil {
		t.Fatal(err)
	}

	c2 := startChild(t, dir, "--http", "127.0.0.1:0", "--set", "log.scrub.bytes.per.sec=104857600")
	testutil.Eventually(t, 30*time.Second, "the scrubber did not report the flipped bit", func() bool {
		return c2.metric(t, `sluice_partition_damaged_ranges{partition="0",topic="rot"}`) == 1
	})
	if v := c2.metric(t, `sluice_partition_damaged_offsets{partition="0",topic="rot"}`); v != float64(last-first+1) {
		t.Errorf("damaged offsets %v, want %d (the batch %d-%d)", v, last-first+1, first, last)
	}
	if c2.metric(t, "sluice_scrub_bytes_total") <= 0 {
		t.Error("sluice_scrub_bytes_total did not grow")
	}
	if !regexp.MustCompile(`damaged bytes in a sealed segment.* first_offset=` + fmt.Sprint(first) + ` last_offset=` + fmt.Sprint(last) + `.*found_by=scrub`).MatchString(c2.stderr.String()) {
		t.Errorf("no log line for the scrubbed damage at %d-%d:\n%s", first, last, c2.stderr.String())
	}
	cl := newClient(t, c2.addr)
	td, err := kadm.NewClient(cl).ListTopics(testCtx(t), "rot")
	if err != nil {
		t.Fatal(err)
	}
	id := td["rot"].ID
	if code, offs := fetchAt(t, cl, "rot", id, first); code != kerr.CorruptMessage.Code || len(offs) != 0 {
		t.Fatalf("fetch of the rotten batch at %d: error %d with %d records, want CORRUPT_MESSAGE and none", first, code, len(offs))
	}
	if code, offs := fetchAt(t, cl, "rot", id, first-1); code != 0 || len(offs) == 0 || offs[len(offs)-1] != first-1 {
		t.Fatalf("fetch before the rotten batch: error %d, offsets %v", code, offs)
	}
	checkNumbered(t, consumeAll(t, c2.addr, "rot", last+1, int(3000-last-1)), last+1)
	out, err := exec.Command(buildSluice(t), "topic", "describe", "--brokers", c2.addr, "rot").CombinedOutput()
	if err != nil || !regexp.MustCompile(fmt.Sprintf(`(?m)^0 .* %d-%d +scrub +log: corrupt record batch: crc32c`, first, last)).Match(out) {
		t.Errorf("sluice topic describe (%v) does not show the scrubbed range:\n%s", err, out)
	}
}
