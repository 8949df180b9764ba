package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// clusterMetadata polls until the cluster's metadata satisfies ok.
func clusterMetadata(t *testing.T, adm *kadm.Client, what string, ok func(kadm.Metadata) error) kadm.Metadata {
	t.Helper()
	var md kadm.Metadata
	testutil.EventuallyNil(t, 30*time.Second, what, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if md, err = adm.Metadata(ctx); err != nil {
			return err
		}
		return ok(md)
	})
	return md
}

func fullyReplicated(topic string, partitions, rf int) func(kadm.Metadata) error {
	return func(md kadm.Metadata) error {
		td, ok := md.Topics[topic]
		if !ok || len(td.Partitions) != partitions {
			return fmt.Errorf("topic %s: %d partitions in metadata", topic, len(td.Partitions))
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 || len(p.ISR) != rf || len(p.Replicas) != rf {
				return fmt.Errorf("partition %d: leader %d replicas %v isr %v err %v", p.Partition, p.Leader, p.Replicas, p.ISR, p.Err)
			}
		}
		return nil
	}
}

// TestClusterReplicates runs three brokers, each a metadata quorum voter,
// and checks what a user of a replicated topic sees: every broker listed,
// one cluster id, leaders spread, acks=all produces acknowledged once
// replicated, every replica's log byte-identical, and a clean stop of a
// leader moving its leadership with no acknowledged record lost.
func TestClusterReplicates(t *testing.T) {
	c := brokertest.StartCluster(t, 3, brokertest.WithSetting("min.insync.replicas", "2"))
	cl := newClient(t, c.Addrs()[0], kgo.SeedBrokers(c.Addrs()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("r3"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(250*time.Millisecond))
	adm := kadm.NewClient(cl)
	md := clusterMetadata(t, adm, "three brokers registered", func(md kadm.Metadata) error {
		if len(md.Brokers) != 3 || md.Controller < 1 {
			return fmt.Errorf("brokers %v controller %d", md.Brokers, md.Controller)
		}
		return nil
	})
	if md.Cluster == "" {
		t.Fatal("no cluster id")
	}
	checkQuorum(t, cl, md.Controller)
	start := time.Now()
	t.Logf("three brokers registered")
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "r3"); err != nil {
		t.Fatal(err)
	}
	md = clusterMetadata(t, adm, "r3 fully replicated", fullyReplicated("r3", 3, 3))
	var leaders []int32
	for _, p := range md.Topics["r3"].Partitions {
		leaders = append(leaders, p.Leader)
	}
	slices.Sort(leaders)
	if !slices.Equal(leaders, []int32{1, 2, 3}) {
		t.Errorf("leaders %v, want one partition led by each broker", leaders)
	}

	produce := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			r := &kgo.Record{Value: fmt.Appendf(nil, "v%04d", i), Partition: int32(i % 3)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	t.Logf("%v: topic fully replicated", time.Since(start))
	produce(0, 300)
	t.Logf("%v: 300 records acknowledged", time.Since(start))

	// Every replica ends where the others do, with the same bytes.
	sameLogs(t, c, "r3", 3)

	// A clean stop of the broker leading partition 0 moves leadership
	// first (controlled shutdown); produces go on against the new leader.
	victim := int(md.Topics["r3"].Partitions[0].Leader) - 1
	c.Stop(victim)
	t.Logf("%v: broker %d stopped", time.Since(start), victim+1)
	clusterMetadata(t, adm, "partition 0 led by another broker", func(md kadm.Metadata) error {
		p := md.Topics["r3"].Partitions[0]
		if p.Leader < 0 || p.Leader == int32(victim+1) {
			return fmt.Errorf("leader %d", p.Leader)
		}
		return nil
	})
	produce(300, 150)
	t.Logf("%v: 150 more acknowledged", time.Since(start))
	c.Restart(victim)
	clusterMetadata(t, adm, "the restarted broker back in every ISR", fullyReplicated("r3", 3, 3))
	t.Logf("%v: broker %d back in every ISR", time.Since(start), victim+1)
	sameLogs(t, c, "r3", 3)

	// A preferred election (kafka-leader-election) gives partition 0 back
	// to its first replica, the restarted broker; a second one has
	// nothing to do.
	elect := func() map[int32]error {
		res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]error{}
		for p, r := range res["r3"] {
			out[p] = r.Err
		}
		return out
	}
	if res := elect(); len(res) != 1 || res[0] != nil {
		t.Errorf("preferred election: %v, want partition 0 elected and nothing else listed", res)
	}
	clusterMetadata(t, adm, "partition 0 led by its preferred replica", func(md kadm.Metadata) error {
		if p := md.Topics["r3"].Partitions[0]; p.Leader != p.Replicas[0] {
			return fmt.Errorf("leader %d, replicas %v", p.Leader, p.Replicas)
		}
		return nil
	})
	if res := elect(); len(res) != 0 {
		t.Errorf("second preferred election: %v, want nothing to do", res)
	}
	produce(450, 3)

	// Everything acknowledged is there once, in order per partition.
	got := consumeCluster(t, c.Addrs(), "r3", 453)
	for p, vals := range got {
		if !sort.StringsAreSorted(vals) || len(vals) != 151 {
			t.Errorf("partition %d: %d values, sorted %v", p, len(vals), sort.StringsAreSorted(vals))
		}
	}
}

// checkQuorum asks for DescribeQuorum (kafka-metadata-quorum's request)
// and checks it names the controller as leader and three voters.
func checkQuorum(t *testing.T, cl *kgo.Client, controller int32) {
	t.Helper()
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	raw, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := raw.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.LeaderID != controller || p.LeaderEpoch < 1 || p.HighWatermark < 1 || len(p.CurrentVoters) != 3 {
		t.Errorf("DescribeQuorum: %+v, want leader %d, 3 voters", p, controller)
	}
}

// sameLogs waits until every replica of topic's partitions has the same
// log end, then compares their segment files byte for byte.
func sameLogs(t *testing.T, c *brokertest.Cluster, topic string, partitions int32) {
	t.Helper()
	for p := range partitions {
		testutil.EventuallyNil(t, 30*time.Second, fmt.Sprintf("replicas of %s-%d identical", topic, p), func() error {
			var first []byte
			for i, b := range c.Brokers {
				data, err := segmentBytes(b.PartitionDir(topic, p))
				if err != nil {
					return err
				}
				if i == 0 {
					first = data
				} else if !bytes.Equal(first, data) {
					return fmt.Errorf("broker %d has %d bytes, broker 1 %d", i+1, len(data), len(first))
				}
			}
			if len(first) == 0 {
				return fmt.Errorf("empty log")
			}
			return nil
		})
	}
}

func segmentBytes(dir string) ([]byte, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// consumeCluster reads n records of topic from the start.
func consumeCluster(t *testing.T, seeds []string, topic string, n int) map[int32][]string {
	t.Helper()
	cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32][]string{}
	total := 0
	ctx := testCtx(t)
	for total < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", total, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			total++
		})
	}
	if total != n {
		t.Errorf("consumed %d records, want %d", total, n)
	}
	return got
}

// TestClusterGroupSurvivesBrokerLoss runs a consumer group on a
// three-broker cluster, stops the broker coordinating it (the leader of
// its __consumer_offsets partition), and checks the members go on
// consuming and no committed offset goes backwards.
func TestClusterGroupSurvivesBrokerLoss(t *testing.T) {
	c := brokertest.StartCluster(t, 3, brokertest.WithSetting("min.insync.replicas", "2"),
		brokertest.WithSetting("offsets.topic.num.partitions", "3"), brokertest.WithSetting("group.initial.rebalance.delay.ms", "0"))
	seeds := c.Addrs()
	prod := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("g3"), kgo.MetadataMinAge(250*time.Millisecond))
	adm := kadm.NewClient(prod)
	clusterMetadata(t, adm, "three brokers registered", func(md kadm.Metadata) error {
		if len(md.Brokers) != 3 {
			return fmt.Errorf("brokers %v", md.Brokers)
		}
		return nil
	})
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "g3"); err != nil {
		t.Fatal(err)
	}
	clusterMetadata(t, adm, "g3 fully replicated", fullyReplicated("g3", 3, 3))
	produce := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(300)
	member := func() *kgo.Client {
		return newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumerGroup("survivors"), kgo.ConsumeTopics("g3"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100*time.Millisecond),
			kgo.MetadataMinAge(250*time.Millisecond), kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond))
	}
	members := []*kgo.Client{member(), member()}
	consumed := 0
	poll := func(want int) {
		t.Helper()
		testutil.Eventually(t, 60*time.Second, fmt.Sprintf("the group consumed %d records", want), func() bool {
			for _, m := range members {
				pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				consumed += m.PollFetches(pctx).NumRecords()
				cancel()
			}
			return consumed >= want
		})
	}
	poll(300)
	committed := func() map[int32]int64 {
		t.Helper()
		out := map[int32]int64{}
		testutil.EventuallyNil(t, 30*time.Second, "committed offsets", func() error {
			offs, err := adm.FetchOffsets(ctx, "survivors")
			if err != nil {
				return err
			}
			offs.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
			return nil
		})
		return out
	}
	before := committed()
	// The coordinator: the leader of the group's offsets partition.
	var coord int32 = -1
	testutil.EventuallyNil(t, 30*time.Second, "the group's coordinator", func() error {
		r := adm.FindGroupCoordinators(ctx, "survivors")["survivors"]
		if r.Err != nil {
			return r.Err
		}
		coord = r.NodeID
		return nil
	})
	c.Stop(int(coord) - 1)
	clusterMetadata(t, adm, "the stopped broker gone from Metadata", func(md kadm.Metadata) error {
		if len(md.Brokers) != 2 {
			return fmt.Errorf("brokers %v", md.Brokers.NodeIDs())
		}
		return nil
	})
	produce(300)
	poll(600)
	after := committed()
	for p, off := range before {
		if after[p] < off {
			t.Errorf("partition %d: committed offset went back from %d to %d", p, off, after[p])
		}
	}
	if consumed < 600 {
		t.Errorf("consumed %d, want at least 600", consumed)
	}
}

// TestClusterControllerFailover stops the active controller (the quorum's
// leader) and checks that metadata changes go on through the new one and
// that no change is lost: every broker, the stopped one once restarted,
// ends with every topic.
func TestClusterControllerFailover(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	cl := newClient(t, c.Addrs()[0], kgo.SeedBrokers(c.Addrs()...), kgo.MetadataMinAge(250*time.Millisecond))
	adm := kadm.NewClient(cl)
	md := clusterMetadata(t, adm, "three brokers and a controller", func(md kadm.Metadata) error {
		if len(md.Brokers) != 3 || md.Controller < 1 {
			return fmt.Errorf("brokers %v controller %d", md.Brokers.NodeIDs(), md.Controller)
		}
		return nil
	})
	ctx := testCtx(t)
	var want []string
	create := func(names ...string) {
		t.Helper()
		testutil.EventuallyNil(t, 30*time.Second, fmt.Sprintf("create %v", names), func() error {
			resp, err := adm.CreateTopics(ctx, 2, 2, nil, names...)
			if err != nil {
				return err
			}
			for _, r := range resp.Sorted() {
				if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
					return r.Err
				}
			}
			return nil
		})
		want = append(want, names...)
	}
	create("before-1", "before-2")
	old := int(md.Controller) - 1
	c.Stop(old)
	md = clusterMetadata(t, adm, "a new controller", func(md kadm.Metadata) error {
		if md.Controller < 1 || int(md.Controller)-1 == old {
			return fmt.Errorf("controller %d", md.Controller)
		}
		return nil
	})
	create("after-1", "after-2", "after-3")
	c.Restart(old)
	slices.Sort(want)
	for i, b := range c.Brokers {
		testutil.EventuallyNil(t, 30*time.Second, fmt.Sprintf("broker %d has every topic", i+1), func() error {
			got := slices.DeleteFunc(b.TopicNames(), func(n string) bool { return strings.HasPrefix(n, "__") })
			if !slices.Equal(got, want) {
				return fmt.Errorf("topics %v, want %v", got, want)
			}
			return nil
		})
	}
}

// TestClusterRefusesAnotherClustersData starts a node of a cluster on a
// data dir that belongs to another cluster: it refuses to run, naming
// both cluster ids, and keeps the other cluster's data.
func TestClusterRefusesAnotherClustersData(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	cl := newClient(t, c.Addrs()[0], kgo.SeedBrokers(c.Addrs()...))
	md := clusterMetadata(t, kadm.NewClient(cl), "a cluster id", func(md kadm.Metadata) error {
		if md.Cluster == "" || len(md.Brokers) != 3 {
			return fmt.Errorf("cluster %q brokers %v", md.Cluster, md.Brokers.NodeIDs())
		}
		return nil
	})
	c.Stop(2)
	cfg := c.Config(2)
	idFile := filepath.Join(cfg.DataDir, "cluster.id")
	if err := os.WriteFile(idFile, []byte("AnotherClustersIdAAAAA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := serveUntilRefused(t, cfg, c.ControllerAddr(2))
	if err == nil || !strings.Contains(err.Error(), "AnotherClustersIdAAAAA") || !strings.Contains(err.Error(), md.Cluster) {
		t.Errorf("Serve: %v, want an error naming both cluster ids", err)
	}
	if b, _ := os.ReadFile(idFile); strings.TrimSpace(string(b)) != "AnotherClustersIdAAAAA" {
		t.Errorf("cluster.id rewritten to %q", b)
	}
}

// serveUntilRefused runs a clustered server from cfg (its controller
// listener on ctlAddr) and returns what Serve returned, failing the test
// if it is still running after a minute.
func serveUntilRefused(t *testing.T, cfg broker.Config, ctlAddr string) error {
	t.Helper()
	ln, err := net.Listen("tcp", ctlAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := broker.New(cfg, broker.Options{ControllerListener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cancel()
		<-done
		t.Fatal("a node on another cluster's data dir kept running")
	}
	return err
}

// TestClusterRollingRestart restarts each broker of a three-broker cluster
// in turn (SIGTERM's controlled shutdown, then a start on its data dir)
// while an idempotent acks=all producer writes to RF=3 topics with
// min.insync.replicas=2: no produce fails for good, and every record is
// there once, in order.
func TestClusterRollingRestart(t *testing.T) {
	c := brokertest.StartCluster(t, 3, brokertest.WithSetting("min.insync.replicas", "2"))
	cl := newClient(t, c.Addrs()[0], kgo.SeedBrokers(c.Addrs()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("rolling"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(250*time.Millisecond))
	adm := kadm.NewClient(cl)
	clusterMetadata(t, adm, "three brokers", func(md kadm.Metadata) error {
		if len(md.Brokers) != 3 {
			return fmt.Errorf("brokers %v", md.Brokers.NodeIDs())
		}
		return nil
	})
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "rolling"); err != nil {
		t.Fatal(err)
	}
	clusterMetadata(t, adm, "rolling fully replicated", fullyReplicated("rolling", 3, 3))
	stop := make(chan struct{})
	done := make(chan error, 1)
	sent := 0
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				sent = i
				done <- nil
				return
			default:
			}
			r := &kgo.Record{Value: fmt.Appendf(nil, "v%06d", i), Partition: int32(i % 3)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				done <- fmt.Errorf("produce %d: %w", i, err)
				return
			}
		}
	}()
	for i := range 3 {
		c.Stop(i)
		c.Restart(i)
		clusterMetadata(t, adm, fmt.Sprintf("broker %d back in every ISR", i+1), fullyReplicated("rolling", 3, 3))
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("during the rolling restart: %v", err)
	}
	got := consumeCluster(t, c.Addrs(), "rolling", sent)
	for p, vals := range got {
		if !sort.StringsAreSorted(vals) {
			t.Errorf("partition %d out of order", p)
		}
	}
}

// TestClusterOneVoter runs a cluster of one (a quorum of one voter): it
// elects itself, takes a cluster id and serves a topic.
func TestClusterOneVoter(t *testing.T) {
	c := brokertest.StartCluster(t, 1)
	cl := newClient(t, c.Addrs()[0], kgo.DefaultProduceTopic("solo"))
	adm := kadm.NewClient(cl)
	md := clusterMetadata(t, adm, "one broker, its own controller", func(md kadm.Metadata) error {
		if len(md.Brokers) != 1 || md.Controller != 1 {
			return fmt.Errorf("brokers %v controller %d", md.Brokers.NodeIDs(), md.Controller)
		}
		return nil
	})
	if md.Cluster == "" {
		t.Error("no cluster id")
	}
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "solo"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := consumeCluster(t, c.Addrs(), "solo", 1); len(got[0]) != 1 || got[0][0] != "x" {
		t.Errorf("consumed %v", got)
	}
}

// TestClusterForeignNodeRefusesItself starts node 1 of a three-broker
// cluster on the data dir of another (one-node) cluster: that node stops
// with an error naming the mismatch, and the healthy two go on serving.
func TestClusterForeignNodeRefusesItself(t *testing.T) {
	other := brokertest.StartCluster(t, 1)
	ocl := newClient(t, other.Addrs()[0])
	clusterMetadata(t, kadm.NewClient(ocl), "the other cluster's id", func(md kadm.Metadata) error {
		if md.Cluster == "" {
			return fmt.Errorf("no cluster id yet")
		}
		return nil
	})
	foreignDir := other.Config(0).DataDir
	other.Stop(0)

	c := brokertest.StartCluster(t, 3)
	cl := newClient(t, c.Addrs()[0], kgo.SeedBrokers(c.Addrs()...), kgo.MetadataMinAge(250*time.Millisecond))
	adm := kadm.NewClient(cl)
	clusterMetadata(t, adm, "three brokers", func(md kadm.Metadata) error {
		if len(md.Brokers) != 3 {
			return fmt.Errorf("brokers %v", md.Brokers.NodeIDs())
		}
		return nil
	})
	c.Stop(0)
	cfg := c.Config(0)
	cfg.DataDir = foreignDir
	err := serveUntilRefused(t, cfg, c.ControllerAddr(0))
	if err == nil || !strings.Contains(err.Error(), "another cluster's") {
		t.Errorf("Serve: %v, want a refusal naming another cluster's data", err)
	}
	for _, b := range c.Brokers[1:] {
		if b == nil {
			t.Fatal("a healthy broker stopped")
		}
	}
	if _, err := adm.CreateTopic(testCtx(t), 1, 2, nil, "still-served"); err != nil {
		t.Errorf("the healthy two stopped serving admin requests: %v", err)
	}
}
