package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// groupSettings make group tests quick: no initial rebalance delay, short
// sessions allowed, a small __consumer_offsets.
func groupSettings(dir string) []brokertest.Option {
	opts := []brokertest.Option{
		brokertest.WithSetting("group.initial.rebalance.delay.ms", "0"),
		brokertest.WithSetting("group.min.session.timeout.ms", "1000"),
		brokertest.WithSetting("offsets.topic.num.partitions", "3"),
	}
	if dir != "" {
		opts = append(opts, brokertest.WithDir(dir))
	}
	return opts
}

// consumed records what group members read: per partition, the offsets in
// the order they arrived, and who read them.
type consumed struct {
	mu   sync.Mutex
	seen map[int32][]int64
	n    int
	cond chan struct{}
}

func newConsumed() *consumed {
	return &consumed{seen: map[int32][]int64{}, cond: make(chan struct{}, 1)}
}

func (c *consumed) add(r *kgo.Record) {
	c.mu.Lock()
	c.seen[r.Partition] = append(c.seen[r.Partition], r.Offset)
	c.n++
	c.mu.Unlock()
	select {
	case c.cond <- struct{}{}:
	default:
	}
}

// waitFor waits until at least n records were consumed.
func (c *consumed) waitFor(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	for {
		c.mu.Lock()
		got := c.n
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-c.cond:
		case <-ctx.Done():
			t.Fatalf("consumed %d of %d records", got, n)
		}
	}
}

// checkExactlyOnce asserts that offsets [from[p], to[p]) of every partition
// were consumed exactly once, in order.
func (c *consumed) checkExactlyOnce(t *testing.T, from, to map[int32]int64) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, end := range to {
		var got []int64
		for _, o := range c.seen[p] {
			if o >= from[p] && o < end {
				got = append(got, o)
			}
		}
		if int64(len(got)) != end-from[p] {
			t.Errorf("partition %d: consumed %d records of [%d, %d), want each once", p, len(got), from[p], end)
			continue
		}
		for i, o := range got {
			if o != from[p]+int64(i) {
				t.Errorf("partition %d: record %d has offset %d, want %d (order or duplicate)", p, i, o, from[p]+int64(i))
				break
			}
		}
	}
}

// produceEach writes n records to each partition and returns the end
// offsets.
func produceEach(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, partitions int32, n int) map[int32]int64 {
	t.Helper()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		for p := int32(0); p < partitions; p++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(strconv.Itoa(i))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	ends := map[int32]int64{}
	for _, r := range recs {
		ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
	}
	return ends
}

// killSwitch cuts a client off the network: its connections close and new
// dials fail, so it stops heartbeating without leaving the group, as a
// SIGKILLed process would.
type killSwitch struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// startMember runs a franz-go group consumer (default balancers:
// cooperative-sticky first) that records what it reads.
func startMember(t *testing.T, addr, group, topic string, into *consumed, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(3 * time.Second),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.AutoCommitInterval(200 * time.Millisecond),
	}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			fs.EachRecord(into.add)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return cl
}

// waitStable waits until the group is stable with `members` members that
// together own every partition of the topic.
func waitStable(ctx context.Context, t *testing.T, adm *kadm.Client, group string, members, partitions int) kadm.DescribedGroup {
	t.Helper()
	var last string
	for {
		gs, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			g := gs[group]
			owned := 0
			for _, m := range g.Members {
				if a, ok := m.Assigned.AsConsumer(); ok {
					for _, tp := range a.Topics {
						owned += len(tp.Partitions)
					}
				}
			}
			if g.Err == nil && g.State == "Stable" && len(g.Members) == members && owned == partitions {
				return g
			}
			last = fmt.Sprintf("state %s, %d members, %d partitions owned, err %v", g.State, len(g.Members), owned, g.Err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never stable with %d members: %s", group, members, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestGroupFranzCooperative runs three franz-go consumers (cooperative-sticky)
// over six partitions: every record once and in order in steady state, a
// member that leaves and one that dies are replaced within the session
// timeout, and after a broker restart the group resumes where it committed.
func TestGroupFranzCooperative(t *testing.T) {
	b := brokertest.Start(t, groupSettings("")...)
	ctx := testCtx(t)
	const topic, group, parts = "events", "cg", 6
	prod := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(prod)
	createTopic(t, adm, topic, parts, nil)

	got := newConsumed()
	m1 := startMember(t, b.Addr(), group, topic, got)
	m2 := startMember(t, b.Addr(), group, topic, got)
	ks := &killSwitch{}
	startMember(t, b.Addr(), group, topic, got, kgo.Dialer(ks.dial))
	waitStable(ctx, t, adm, group, 3, parts)

	zero := map[int32]int64{}
	ends := produceEach(ctx, t, prod, topic, parts, 50)
	got.waitFor(ctx, t, 50*parts)
	got.checkExactlyOnce(t, zero, ends)

	// A member leaves: the other two take over its partitions.
	m2.Close()
	waitStable(ctx, t, adm, group, 2, parts)
	from := ends
	ends = produceEach(ctx, t, prod, topic, parts, 50)
	got.waitFor(ctx, t, 100*parts)
	got.checkExactlyOnce(t, from, ends)

	// A member dies without leaving: after its session times out the
	// survivor owns everything.
	killed := time.Now()
	ks.kill()
	waitStable(ctx, t, adm, group, 1, parts)
	t.Logf("dead member replaced after %v (session timeout 3s)", time.Since(killed).Round(time.Millisecond))
	from = ends
	ends = produceEach(ctx, t, prod, topic, parts, 50)
	got.waitFor(ctx, t, 150*parts)
	got.checkExactlyOnce(t, from, ends)

	// Commit, stop everything, restart the broker on the same data: a new
	// member starts exactly at the committed offsets.
	if err := m1.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p, end := range ends {
		if o, ok := committed.Lookup(topic, p); !ok || o.At != end {
			t.Fatalf("partition %d committed at %v, want %d", p, o.At, end)
		}
	}
	m1.Close()
	prod.Close()
	b.Stop()

	b2 := brokertest.Start(t, groupSettings(b.Dir)...)
	prod2 := newClient(t, b2.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	after := newConsumed()
	startMember(t, b2.Addr(), group, topic, after)
	from = ends
	ends = produceEach(ctx, t, prod2, topic, parts, 10)
	after.waitFor(ctx, t, 10*parts)
	after.checkExactlyOnce(t, from, ends)
	after.mu.Lock()
	n := after.n
	after.mu.Unlock()
	if n != 10*parts {
		t.Fatalf("after restart consumed %d records, want only the %d new ones", n, 10*parts)
	}
}

// TestGroupBadInput checks Kafka's error codes for commits with a stale
// generation, an unknown member, or to a topic that does not exist, and
// that a flood of joins is bounded by group.max.size.
func TestGroupBadInput(t *testing.T) {
	b := brokertest.Start(t, append(groupSettings(""), brokertest.WithSetting("group.max.size", "5"))...)
	ctx := testCtx(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	createTopic(t, adm, "t", 1, nil)

	join := func(member string) *kmsg.JoinGroupResponse {
		r := kmsg.NewPtrJoinGroupRequest()
		r.Group, r.MemberID, r.ProtocolType = "bad", member, "consumer"
		r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 10000
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := join("")
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(first.ErrorCode))
	}
	joined := join(first.MemberID)
	if joined.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(joined.ErrorCode))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = "bad", joined.Generation, joined.MemberID
	if resp, err := sync.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("sync: %v %v", err, resp)
	}

	commit := func(gen int32, member, topic string) int16 {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.Generation, r.MemberID = "bad", gen, member
		r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	for _, c := range []struct {
		name   string
		gen    int32
		member string
		topic  string
		want   *kerr.Error
	}{
		{"stale generation", joined.Generation - 1, joined.MemberID, "t", kerr.IllegalGeneration},
		{"unknown member", joined.Generation, "nobody", "t", kerr.UnknownMemberID},
		{"missing topic", joined.Generation, joined.MemberID, "no-such-topic", kerr.UnknownTopicOrPartition},
	} {
		if code := commit(c.gen, c.member, c.topic); code != c.want.Code {
			t.Errorf("%s: commit answered %v, want %v", c.name, kerr.ErrorForCode(code), c.want)
		}
	}
	if code := commit(joined.Generation, joined.MemberID, "t"); code != 0 {
		t.Errorf("valid commit: %v", kerr.ErrorForCode(code))
	}

	// A flood of first joins: at most group.max.size IDs are handed out.
	var handed, refused int
	for i := 0; i < 100; i++ {
		switch code := join("").ErrorCode; code {
		case kerr.MemberIDRequired.Code:
			handed++
		case kerr.GroupMaxSizeReached.Code:
			refused++
		default:
			t.Fatalf("flood join %d: %v", i, kerr.ErrorForCode(code))
		}
	}
	if handed != 4 || refused != 96 {
		t.Fatalf("flood: %d IDs handed out, %d refused; want 4 and 96 (group.max.size 5, one member)", handed, refused)
	}

	// Deleting a group with members is refused; unknown groups are reported.
	dr, err := adm.DeleteGroups(ctx, "bad", "never-existed")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dr["bad"].Err, kerr.NonEmptyGroup) || !errors.Is(dr["never-existed"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("delete groups: bad=%v never-existed=%v", dr["bad"].Err, dr["never-existed"].Err)
	}
	listed, err := adm.ListGroups(ctx, "Stable")
	if err != nil {
		t.Fatal(err)
	}
	if names := listed.Groups(); len(names) != 1 || names[0] != "bad" {
		sort.Strings(names)
		t.Fatalf("list stable groups: %v", names)
	}
}

// TestGroupConsumerProtocol runs three franz-go members on the KIP-848
// consumer protocol (server-side uniform assignor) over six partitions:
// every record once and in order, and a member leaving hands its
// partitions over.
func TestGroupConsumerProtocol(t *testing.T) {
	b := brokertest.Start(t, groupSettings("")...)
	ctx := testCtx(t)
	const topic, group, parts = "next-gen", "cg848", 6
	prod := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(prod)
	createTopic(t, adm, topic, parts, nil)

	got := newConsumed()
	m1 := startMember(t, b.Addr(), group, topic, got, kgo.ServerSideBalancer())
	startMember(t, b.Addr(), group, topic, got, kgo.ServerSideBalancer())
	startMember(t, b.Addr(), group, topic, got, kgo.ServerSideBalancer())
	g := waitStable(ctx, t, adm, group, 3, parts)
	if g.Protocol != "uniform" {
		t.Fatalf("protocol %q, want the server's uniform assignor", g.Protocol)
	}
	for _, m := range g.Members {
		a, _ := m.Assigned.AsConsumer()
		if n := len(a.Topics[0].Partitions); n != 2 {
			t.Fatalf("member %s owns %d partitions, want 2 each", m.MemberID, n)
		}
	}
	listed, err := adm.ListGroupsByType(ctx, []string{"consumer"})
	if err != nil || len(listed) != 1 || listed[group].State != "Stable" {
		t.Fatalf("list consumer groups: %+v %v", listed, err)
	}
	described, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil || described[group].Err != nil || len(described[group].Members) != 3 {
		t.Fatalf("ConsumerGroupDescribe: %+v %v", described, err)
	}

	ends := produceEach(ctx, t, prod, topic, parts, 50)
	got.waitFor(ctx, t, 50*parts)
	got.checkExactlyOnce(t, map[int32]int64{}, ends)

	m1.Close()
	waitStable(ctx, t, adm, group, 2, parts)
	from := ends
	ends = produceEach(ctx, t, prod, topic, parts, 50)
	got.waitFor(ctx, t, 100*parts)
	got.checkExactlyOnce(t, from, ends)
}

// TestGroupStaticMemberRestart: a static member (group.instance.id) that
// restarts within its session timeout gets its partitions back without a
// rebalance (KIP-345): the group's generation does not move.
func TestGroupStaticMemberRestart(t *testing.T) {
	b := brokertest.Start(t, groupSettings("")...)
	ctx := testCtx(t)
	const topic, group, parts = "static", "static-cg", 4
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, topic, parts, nil)
	got := newConsumed()
	// Range assigns by instance ID, so the plan a restarted leader computes
	// matches the one it is handed back; a cooperative-sticky leader
	// restarting forgets what it owned and asks for a rebalance itself.
	static := func(id string) []kgo.Opt {
		return []kgo.Opt{kgo.InstanceID(id), kgo.SessionTimeout(10 * time.Second), kgo.Balancers(kgo.RangeBalancer())}
	}
	ma := startMember(t, b.Addr(), group, topic, got, static("a")...)
	mb := startMember(t, b.Addr(), group, topic, got, static("b")...)
	before := waitStable(ctx, t, adm, group, 2, parts)
	_, genBefore := ma.GroupMetadata()
	member := func(g kadm.DescribedGroup, instance string) (string, []int32) {
		for _, m := range g.Members {
			if m.InstanceID != nil && *m.InstanceID == instance {
				a, _ := m.Assigned.AsConsumer()
				if len(a.Topics) == 0 {
					return m.MemberID, nil
				}
				return m.MemberID, a.Topics[0].Partitions
			}
		}
		return "", nil
	}
	oldID, prev := member(before, "b")
	mb.Close() // static members do not leave on close
	startMember(t, b.Addr(), group, topic, got, static("b")...)
	for {
		after := waitStable(ctx, t, adm, group, 2, parts)
		newID, now := member(after, "b")
		if newID != oldID {
			if fmt.Sprint(now) != fmt.Sprint(prev) {
				t.Fatalf("restarted static member owns %v, had %v", now, prev)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("restarted static member never replaced the old member ID")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, gen := ma.GroupMetadata(); gen != genBefore {
		t.Fatalf("generation moved from %d to %d: the static restart caused a rebalance", genBefore, gen)
	}
}

// describe848 shows a KIP-848 group as ConsumerGroupDescribe does: its
// state and epochs, and each member's epoch and assignment, sorted.
func describe848(ctx context.Context, adm *kadm.Client, group string) (string, error) {
	gs, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		return "", err
	}
	g := gs[group]
	if g.Err != nil {
		return "", g.Err
	}
	ms := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		ms = append(ms, fmt.Sprintf("%s:%d%v", m.MemberID, m.MemberEpoch, m.Assignment.Sorted()))
	}
	sort.Strings(ms)
	return fmt.Sprintf("%s epoch=%d assignment-epoch=%d %v", g.State, g.Epoch, g.AssignmentEpoch, ms), nil
}

// waitStable848 waits until the KIP-848 group is stable with `members`
// members that together own all `partitions`, and returns its description.
func waitStable848(ctx context.Context, t *testing.T, adm *kadm.Client, group string, members, partitions int) string {
	t.Helper()
	var last string
	for {
		gs, err := adm.DescribeConsumerGroups(ctx, group)
		if err == nil {
			g := gs[group]
			if g.Err == nil && g.State == "Stable" && len(g.Members) == members && len(g.AssignedPartitions().Sorted()) > 0 &&
				len(g.AssignedPartitions().Sorted()[0].Partitions) == partitions {
				d, err := describe848(ctx, adm, group)
				if err == nil {
					return d
				}
			}
			last = fmt.Sprintf("state %s, %d members, err %v", g.State, len(g.Members), g.Err)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never stable with %d members: %s", group, members, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitCommitted waits until the group's committed offsets reach ends.
func waitCommitted(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string, ends map[int32]int64) {
	t.Helper()
	for {
		committed, err := adm.FetchOffsets(ctx, group)
		done := err == nil
		for p, end := range ends {
			if o, ok := committed.Lookup(topic, p); !ok || o.At != end {
				done = false
			}
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("offsets of %s never committed up to %v: %v %v", group, ends, committed, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestGroupConsumerProtocolRestart stops and restarts the broker under two
// running KIP-848 members: the group comes back from __consumer_offsets
// with the same group epoch, member epochs and assignments, the members
// carry on heartbeating without a rebalance, and every record is consumed
// exactly once across the restart.
func TestGroupConsumerProtocolRestart(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, groupSettings(dir)...)
	ctx := testCtx(t)
	const topic, group, parts = "next-gen-restart", "cg848-restart", 6
	prod := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(prod)
	createTopic(t, adm, topic, parts, nil)

	// The restarted broker listens on another port: the members dial
	// whichever broker runs, as clients behind a stable address would.
	var addr atomic.Value
	addr.Store(b.Addr())
	dial := kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr.Load().(string))
	})
	got := newConsumed()
	startMember(t, b.Addr(), group, topic, got, kgo.ServerSideBalancer(), dial)
	startMember(t, b.Addr(), group, topic, got, kgo.ServerSideBalancer(), dial)
	waitStable848(ctx, t, adm, group, 2, parts)
	ends := produceEach(ctx, t, prod, topic, parts, 50)
	got.waitFor(ctx, t, 50*parts)
	waitCommitted(ctx, t, adm, group, topic, ends)
	before, err := describe848(ctx, adm, group)
	if err != nil {
		t.Fatal(err)
	}
	prod.Close()
	b.Stop()

	b2 := brokertest.Start(t, groupSettings(dir)...)
	addr.Store(b2.Addr())
	prod2 := newClient(t, b2.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm2 := kadm.NewClient(prod2)
	if after := waitStable848(ctx, t, adm2, group, 2, parts); after != before {
		t.Fatalf("after the restart the group is\n %s\nwant\n %s", after, before)
	}
	from := ends
	ends = produceEach(ctx, t, prod2, topic, parts, 50)
	got.waitFor(ctx, t, 100*parts)
	waitCommitted(ctx, t, adm2, group, topic, ends)
	got.checkExactlyOnce(t, map[int32]int64{}, ends)
	got.mu.Lock()
	n := got.n
	got.mu.Unlock()
	if n != 100*parts {
		t.Fatalf("consumed %d records, want each of the %d once (%v then %v)", n, 100*parts, from, ends)
	}
	// Heartbeats after the restart changed nothing: no rebalance happened.
	if after, err := describe848(ctx, adm2, group); err != nil || after != before {
		t.Fatalf("after consuming on the restarted broker the group is\n %s (%v)\nwant\n %s", after, err, before)
	}
}
