package clusterfault_test

// What runs against the cluster throughout a test: idempotent acks=all
// producers (franz-go and sarama), a raw acks=all producer that sends
// each write to the leader it looked up and so knows which broker
// acknowledged it, and a consumer. Every acknowledged write goes into the
// history with its producer, sequence number and offset; every record
// read, with its offset.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/history"
	"github.com/sluicehq/sluice/internal/testutil"
)

// inflight is how many records each franz-go producer loop has
// unacknowledged at most.
const inflight = 8

// clientRetryBackoff is how long the raw producer waits before trying
// again after an error, as any client backs off.
const clientRetryBackoff = 50 * time.Millisecond

// ackRec is one acknowledged write: by which client, where, and (for the
// raw producer) which broker answered it.
type ackRec struct {
	client string
	p      int32
	offset int64
	broker int32 // -1 when the client does not say
	at     time.Time
}

// workload is the clients and what they were told.
type workload struct {
	c     *cluster
	h     *history.History
	clock *ackClock

	ctx    context.Context
	cancel context.CancelFunc
	prods  sync.WaitGroup // producer loops
	reads  sync.WaitGroup // the consumer loop

	kgoProd  *kgo.Client
	sarama   sarama.SyncProducer
	consumer *kgo.Client

	mu       sync.Mutex
	acks     []ackRec
	failures map[string][]string // client -> first errors
	failed   map[string]int
	read     atomic.Int64
	marks    []*mark
	// timings are other durations to report, by what they measure.
	timings map[string][]time.Duration
}

// mark is one fault: when it began, against which broker, and the
// partitions that broker led then, with their leader epochs. Its
// failover time is from since to the first write acknowledged in a later
// epoch on every one of them (worked out at the end, from the epochs the
// stored batches carry).
type mark struct {
	kind   string
	round  int
	victim int32
	since  time.Time
	parts  []int32
	epochs map[int32]int32
}

// newMark is a fault of the given kind against victim, starting now,
// with the partitions v says it leads.
func newMark(kind string, round int, victim int32, v *view) *mark {
	m := &mark{kind: kind, round: round, victim: victim, since: time.Now(), parts: v.led(victim), epochs: map[int32]int32{}}
	for _, p := range m.parts {
		m.epochs[p] = v.parts[p].epoch
	}
	return m
}

// startWorkload starts the producers and the consumer.
func (c *cluster) startWorkload() *workload {
	c.t.Helper()
	w := &workload{c: c, h: history.New(), clock: newAckClock(), failures: map[string][]string{}, failed: map[string]int{}, timings: map[string][]time.Duration{}}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	seeds := c.kafkaAddrs()
	var err error
	w.kgoProd, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("clusterfault-kgo"),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.UnknownTopicRetries(-1),
		kgo.ProduceRequestTimeout(3*time.Second), kgo.RequestTimeoutOverhead(2*time.Second),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.DialTimeout(2*time.Second),
		kgo.WithLogger(kgo.BasicLogger(c.clientLog, kgo.LogLevelInfo, func() string { return time.Now().Format("15:04:05.000 ") })))
	if err != nil {
		c.t.Fatal(err)
	}
	scfg := sarama.NewConfig()
	scfg.ClientID = "clusterfault-sarama"
	scfg.Version = sarama.V3_6_0_0
	scfg.Producer.Idempotent = true
	scfg.Producer.RequiredAcks = sarama.WaitForAll
	scfg.Producer.Return.Successes = true
	scfg.Producer.Partitioner = sarama.NewManualPartitioner
	scfg.Producer.Timeout = 3 * time.Second
	scfg.Producer.Retry.Max = 2000 // with the backoff, longer than any fault lasts
	scfg.Producer.Retry.Backoff = 50 * time.Millisecond
	scfg.Net.MaxOpenRequests = 1
	scfg.Net.DialTimeout = 2 * time.Second
	scfg.Net.ReadTimeout = 6 * time.Second
	scfg.Net.WriteTimeout = 6 * time.Second
	scfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	scfg.Metadata.Retry.Max = 50
	w.sarama, err = sarama.NewSyncProducer(seeds, scfg)
	if err != nil {
		w.kgoProd.Close()
		c.t.Fatalf("sarama producer: %v", err)
	}
	w.consumer, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("clusterfault-consumer"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.RequestTimeoutOverhead(2*time.Second),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.DialTimeout(2*time.Second))
	if err != nil {
		w.kgoProd.Close()
		w.sarama.Close()
		c.t.Fatal(err)
	}
	c.t.Cleanup(w.close) // if the test fails before stop
	for p := range int32(partitions) {
		w.prods.Add(3)
		go w.kgoLoop(p)
		go w.saramaLoop(p)
		go w.rawLoop(p, c.directClients(fmt.Sprintf("raw-p%d", p)))
	}
	w.reads.Add(1)
	go w.consume()
	testutil.EventuallyNil(c.t, within, "every producer writing to every partition", func() error {
		c.checkAlive()
		if err := w.clock.allWriting(time.Time{}); err != nil {
			return err
		}
		if w.read.Load() == 0 {
			return fmt.Errorf("the consumer has read nothing")
		}
		return nil
	})
	c.logf("workload started: franz-go, sarama and raw acks=all producers on every partition, a consumer")
	return w
}

// kgoLoop produces "pk<p>-<seq>" to partition p with franz-go.
func (w *workload) kgoLoop(p int32) {
	defer w.prods.Done()
	name := fmt.Sprintf("k%d", p)
	sem := make(chan struct{}, inflight)
	for seq := 0; ; seq++ {
		select {
		case sem <- struct{}{}:
		case <-w.ctx.Done():
			return
		}
		v := fmt.Sprintf("p%s-%d", name, seq)
		// Not w.ctx: stopping must not abort what is buffered; stop
		// flushes it.
		w.kgoProd.Produce(context.Background(), &kgo.Record{Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
			<-sem
			if err != nil {
				w.fail("franz-go", err)
				return
			}
			w.acked(name, seq, v, "franz-go", r.Partition, r.Offset, -1)
		})
	}
}

// saramaLoop produces "ps<p>-<seq>" to partition p with sarama's
// idempotent SyncProducer.
func (w *workload) saramaLoop(p int32) {
	defer w.prods.Done()
	name := fmt.Sprintf("s%d", p)
	for seq := 0; w.ctx.Err() == nil; seq++ {
		v := fmt.Sprintf("p%s-%d", name, seq)
		part, off, err := w.sarama.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder(v)})
		if err != nil {
			w.fail("sarama", err)
			continue
		}
		w.acked(name, seq, v, "sarama", part, off, -1)
	}
}

// rawLoop produces "pr<p>-<seq>" to partition p one record at a time,
// each to the leader the nodes' metadata names (the newest epoch any
// node reports), never retried (so never duplicated), recording which
// broker acknowledged it. It has clients of its own, so that no other
// request waits behind its produces nor its behind others'.
func (w *workload) rawLoop(p int32, direct []*kgo.Client) {
	defer w.prods.Done()
	defer func() {
		for _, cl := range direct {
			cl.Close()
		}
	}()
	name := fmt.Sprintf("r%d", p)
	leader := int32(-1)
	for seq := 0; w.ctx.Err() == nil; seq++ {
		if leader < 0 {
			if leader = newestLeader(direct, p); leader < 0 {
				w.backoff()
				continue
			}
		}
		v := fmt.Sprintf("p%s-%d", name, seq)
		off, err := produceTo(w.ctx, direct[leader-1], leader, p, v)
		if err != nil {
			if w.ctx.Err() == nil {
				w.fail("raw", err)
			}
			leader = -1
			w.backoff()
			continue
		}
		w.acked(name, seq, v, "raw", p, off, leader)
	}
}

// newestLeader asks every node at once for partition p's leader and
// returns the one in the newest leader epoch among the first majority of
// answers (a node that does not answer, paused or cut off, is not waited
// for), -1 if none names one.
func newestLeader(direct []*kgo.Client, p int32) int32 {
	answers := make(chan *view, len(direct))
	for i, cl := range direct {
		go func() {
			v, _ := metadataFrom(cl, i)
			answers <- v
		}()
	}
	leader, epoch := int32(-1), int32(-1)
	for got, named := 0, 0; got < len(direct) && named <= len(direct)/2; got++ {
		v := <-answers
		if v == nil {
			continue
		}
		if pv, ok := v.parts[p]; ok && pv.leader > 0 {
			named++
			if pv.epoch > epoch {
				leader, epoch = pv.leader, pv.epoch
			}
		}
	}
	return leader
}

func (w *workload) backoff() {
	select {
	case <-w.ctx.Done():
	case <-time.After(clientRetryBackoff):
	}
}

// consume reads the topic from the start for as long as the workload
// runs.
func (w *workload) consume() {
	defer w.reads.Done()
	for w.ctx.Err() == nil {
		fs := w.consumer.PollFetches(w.ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if w.ctx.Err() == nil {
				w.fail("consumer", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			w.h.Read(string(r.Value), r.Partition, r.Offset)
			w.read.Add(1)
		})
	}
}

func (w *workload) acked(producer string, seq int, value, client string, p int32, offset int64, broker int32) {
	now := time.Now()
	w.h.Acked(producer, seq, value, p, offset)
	w.clock.acked(client, p, now)
	w.mu.Lock()
	w.acks = append(w.acks, ackRec{client: client, p: p, offset: offset, broker: broker, at: now})
	w.mu.Unlock()
}

// fail counts a client's error, keeping the first few of each kind.
func (w *workload) fail(client string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failed[client]++
	msg := err.Error()
	if len(w.failures[client]) < 5 && !slices.Contains(w.failures[client], msg) {
		w.failures[client] = append(w.failures[client], msg)
	}
}

// stop ends the producers (letting franz-go deliver what it buffered)
// and the consumer.
func (w *workload) stop() {
	w.c.t.Helper()
	w.cancel()
	w.prods.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := w.kgoProd.Flush(ctx); err != nil {
		w.c.t.Errorf("franz-go could not deliver its buffered records on a healthy cluster: %v", err)
	}
	w.reads.Wait()
	w.close()
	w.mu.Lock()
	defer w.mu.Unlock()
	counts := map[string]int{}
	for _, a := range w.acks {
		counts[a.client]++
	}
	w.c.logf("workload stopped: acknowledged franz-go %d, sarama %d, raw %d; %d records read",
		counts["franz-go"], counts["sarama"], counts["raw"], w.read.Load())
	for _, client := range []string{"franz-go", "sarama", "raw", "consumer"} {
		if n := w.failed[client]; n > 0 {
			w.c.logf("%s saw %d errors, first: %s", client, n, strings.Join(w.failures[client], " | "))
		}
	}
}

// close closes the clients (once).
func (w *workload) close() {
	w.cancel()
	if w.kgoProd != nil {
		w.prods.Wait()
		w.kgoProd.Close()
		w.sarama.Close()
		w.reads.Wait()
		w.consumer.Close()
		w.kgoProd = nil
	}
}

// addMark keeps a fault whose failover is to be timed.
func (w *workload) addMark(m *mark) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.marks = append(w.marks, m)
}

// addTiming keeps a duration to report under what.
func (w *workload) addTiming(what string, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timings[what] = append(w.timings[what], d)
}

// summary is the median and worst of ds, and all of them.
func summary(ds []time.Duration) string {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	med := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		med = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	all := make([]string, len(ds))
	for i, d := range ds {
		all[i] = d.Round(10 * time.Millisecond).String()
	}
	return fmt.Sprintf("%d rounds, median %v, worst %v (all: %s)", len(ds), med.Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), strings.Join(all, " "))
}

// errProduce is a produce answered with an error code.
type errProduce struct{ code int16 }

func (e errProduce) Error() string {
	return fmt.Sprintf("produce answered %v", kerr.ErrorForCode(e.code))
}

// produceTo sends one acks=all record with value to node id, through cl
// (seeded with that node), for partition p, as a single non-idempotent
// batch, and returns the offset it was acknowledged at. An error answer
// is an errProduce.
func produceTo(ctx context.Context, cl *kgo.Client, id, p int32, value string) (int64, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 2000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p
	rp.Records = oneRecordBatch([]byte(value), time.Now().UnixMilli())
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	kr, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("produce to node %d: %w", id, err)
	}
	resp := kr.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("produce to node %d: answer without partition %d", id, p)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		return 0, errProduce{sp.ErrorCode}
	}
	return sp.BaseOffset, nil
}

// produceCode is the Kafka error code of a produceTo error, or a
// description of an error that is no answer (a timeout, a dial error).
func produceCode(err error) string {
	var ep errProduce
	switch {
	case err == nil:
		return "acknowledged"
	case errors.As(err, &ep):
		if ke, ok := kerr.ErrorForCode(ep.code).(*kerr.Error); ok {
			return ke.Message
		}
		return fmt.Sprintf("error code %d", ep.code)
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in 3s"
	default:
		return "no answer: " + err.Error()
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// oneRecordBatch is a v2 record batch of one record (no key, no headers)
// with no producer id, as a non-idempotent producer sends it.
func oneRecordBatch(value []byte, ts int64) []byte {
	var rec []byte
	rec = append(rec, 0)               // attributes
	rec = binary.AppendVarint(rec, 0)  // timestamp delta
	rec = binary.AppendVarint(rec, 0)  // offset delta
	rec = binary.AppendVarint(rec, -1) // key: null
	rec = binary.AppendVarint(rec, int64(len(value)))
	rec = append(rec, value...)
	rec = binary.AppendVarint(rec, 0) // headers
	records := binary.AppendVarint(nil, int64(len(rec)))
	records = append(records, rec...)
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: records,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:12], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:21], crc32.Checksum(out[21:], castagnoli))
	return out
}

// producers are the workload's producing clients.
var producers = []string{"franz-go", "sarama", "raw"}

// ackClock keeps when each partition last took an acknowledged write,
// from any client and from each.
type ackClock struct {
	mu      sync.Mutex
	last    map[int32]time.Time
	clients map[string]map[int32]time.Time
}

func newAckClock() *ackClock {
	return &ackClock{last: map[int32]time.Time{}, clients: map[string]map[int32]time.Time{}}
}

func (a *ackClock) acked(client string, p int32, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last[p] = at
	if a.clients[client] == nil {
		a.clients[client] = map[int32]time.Time{}
	}
	a.clients[client][p] = at
}

// allWriting is nil once every producer has had a write to every
// partition acknowledged after since.
func (a *ackClock) allWriting(since time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, c := range producers {
		for p := range int32(partitions) {
			if t := a.clients[c][p]; !t.After(since) {
				last := "never"
				if !t.IsZero() {
					last = "last at " + t.Format(time.StampMilli)
				}
				errs = append(errs, fmt.Errorf("%s: no write to partition %d acknowledged since %s (%s)", c, p, since.Format(time.StampMilli), last))
			}
		}
	}
	return errors.Join(errs...)
}

// ackedSince reports whether partition p took an acknowledged write
// after t.
func (a *ackClock) ackedSince(p int32, t time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last[p].After(t)
}
