package clusterfault_test

// The cluster under test: three `sluice server` processes, one per
// netfault namespace, node i (0-based) having node.id i+1, its Kafka
// listener on Addr(i):9092 and its controller listener on Addr(i):9093.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicehq/sluice/internal/netfault"
	"github.com/sluicehq/sluice/internal/testutil"
)

const (
	nodeCount  = 3
	topic      = "faults"
	partitions = 3
	// sessionTimeout is broker.session.timeout.ms: the active controller
	// fences a broker it has not heard from for this long.
	sessionTimeout = 3 * time.Second
	// faultHold is how long a pause or a cut lasts at least: past the
	// session timeout, so the controller must act on it.
	faultHold = sessionTimeout + 1500*time.Millisecond
	// within bounds every wait for what must happen; it only bounds a
	// hang, never asserts on speed.
	within = 90 * time.Second
	// logsEnv names a folder to copy every node's log to (under the
	// test's name), for a look after the run.
	logsEnv = "SLUICE_CLUSTERFAULT_LOGS"
)

// sluiceBin is the sluice binary, built once per test run.
var sluiceBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildSluice builds cmd/sluice once (`go build -o DIR/sluice`).
func buildSluice(t *testing.T) string {
	t.Helper()
	sluiceBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-clusterfault-bin")
		if err != nil {
			sluiceBin.err = err
			return
		}
		sluiceBin.dir = dir
		sluiceBin.path = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-o", sluiceBin.path, "github.com/sluicehq/sluice/cmd/sluice").CombinedOutput()
		if err != nil {
			sluiceBin.err = fmt.Errorf("go build ./cmd/sluice: %v\n%s", err, out)
		}
	})
	if sluiceBin.err != nil {
		t.Fatal(sluiceBin.err)
	}
	return sluiceBin.path
}

// node is one broker process and its data dir, kept across restarts.
type node struct {
	i       int   // netfault node index
	id      int32 // node.id
	dataDir string
	logPath string
	starts  int

	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited
	err    error         // cmd's exit status, once exited is closed
	paused bool
	// expectExit is set while the test is the one ending the process.
	expectExit bool
}

// running reports whether the process is up (it may be paused).
func (n *node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// cluster is the three nodes, their network and a client per node.
type cluster struct {
	t     *testing.T
	net   *netfault.Net
	bin   string
	nodes []*node
	// direct[i] is a client seeded with node i alone, for requests that
	// must go to that node (metadata as it sees it, raw produces).
	direct []*kgo.Client
	adm    *kadm.Client // seeded with every node
	admCl  *kgo.Client
	begin  time.Time
	// clientLog is franz-go's producer log (info level), kept with the
	// node logs.
	clientLog *os.File
}

// startCluster builds the network and the binary, starts the three nodes,
// creates the topic (3 partitions, RF 3, min.insync.replicas 2) and waits
// until every partition is led and fully replicated.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, net: netfault.New(t, nodeCount)}
	c.bin = buildSluice(t)
	c.begin = time.Now()
	base := t.TempDir()
	var err error
	if c.clientLog, err = os.Create(filepath.Join(base, "franz-go.log")); err != nil {
		t.Fatal(err)
	}
	for i := range nodeCount {
		c.nodes = append(c.nodes, &node{
			i:       i,
			id:      int32(i + 1),
			dataDir: filepath.Join(base, fmt.Sprintf("node%d", i+1)),
			logPath: filepath.Join(base, fmt.Sprintf("node%d.log", i+1)),
		})
	}
	t.Cleanup(c.cleanup)
	for _, n := range c.nodes {
		c.launch(n)
	}
	c.direct = c.directClients("harness")
	c.admCl, err = kgo.NewClient(kgo.SeedBrokers(c.kafkaAddrs()...), kgo.ClientID("clusterfault-admin"),
		kgo.DialTimeout(2*time.Second), kgo.RequestTimeoutOverhead(2*time.Second), kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c.adm = kadm.NewClient(c.admCl)
	for _, n := range c.nodes {
		c.waitReady(n)
	}
	c.logf("started nodes 1-3 (%s)", strings.Join(c.kafkaAddrs(), ", "))
	testutil.EventuallyNil(t, within, "every node listing three brokers and a controller", func() error {
		c.checkAlive()
		for i := range nodeCount {
			v, err := c.metadata(i)
			if err != nil {
				return err
			}
			if len(v.brokers) != nodeCount || v.controller < 0 {
				return fmt.Errorf("node %d lists brokers %v, controller %d", i+1, v.brokers, v.controller)
			}
		}
		return nil
	})
	mir := "2"
	testutil.EventuallyNil(t, within, "creating topic "+topic, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.adm.CreateTopic(ctx, partitions, nodeCount, map[string]*string{"min.insync.replicas": &mir}, topic)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return nil // an earlier attempt's, answered too late
		}
		return err
	})
	c.waitHealthy(nil, "topic "+topic+" fully replicated")
	return c
}

// directClients is a client per node, seeded with that node alone, for
// requests that must go to it; the caller closes them. Kafka answers a
// connection's requests in order, so a client that must not wait behind
// another's slow produce has its own.
func (c *cluster) directClients(name string) []*kgo.Client {
	c.t.Helper()
	var out []*kgo.Client
	for i := range nodeCount {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafkaAddr(i)), kgo.ClientID(fmt.Sprintf("clusterfault-%s-%d", name, i+1)),
			kgo.MaxVersions(kversion.V3_6_0()), kgo.DialTimeout(time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, cl)
	}
	return out
}

// args is node n's command line, the brief's KRaft keys.
func (c *cluster) args(n *node) []string {
	var voters []string
	for i := range nodeCount {
		voters = append(voters, fmt.Sprintf("%d@%s:9093", i+1, c.net.Addr(i)))
	}
	addr := c.net.Addr(n.i)
	set := []string{
		"process.roles=broker,controller",
		fmt.Sprintf("node.id=%d", n.id),
		"controller.quorum.voters=" + strings.Join(voters, ","),
		"controller.listener.names=CONTROLLER",
		fmt.Sprintf("listeners=PLAINTEXT://%s:9092,CONTROLLER://%s:9093", addr, addr),
		"min.insync.replicas=2",
		fmt.Sprintf("broker.session.timeout.ms=%d", sessionTimeout.Milliseconds()),
		"controller.quorum.election.timeout.ms=500",
		"replica.lag.time.max.ms=3000",
		"log.segment.bytes=1048576", // several segments per replica to concatenate
	}
	args := []string{"server", "--data-dir", n.dataDir, "--http", ""}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

// launch starts node n's process on its data dir, its output appended to
// its log file; waitReady waits for it to serve.
func (c *cluster) launch(n *node) {
	c.t.Helper()
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close() // the child has its own descriptor
	n.starts++
	fmt.Fprintf(f, "=== clusterfault: start %d of node %d at %s\n", n.starts, n.id, time.Now().Format(time.RFC3339Nano))
	cmd := c.net.Command(n.i, c.bin, c.args(n)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("starting node %d: %v", n.id, err)
	}
	n.cmd, n.exited, n.err, n.paused, n.expectExit = cmd, make(chan struct{}), nil, false, false
	exited := n.exited
	go func() {
		err := cmd.Wait()
		n.err = err
		close(exited)
	}()
}

var readyLine = regexp.MustCompile(`sluice broker ready`)

// waitReady waits for node n's latest start to log its ready line.
func (c *cluster) waitReady(n *node) {
	c.t.Helper()
	testutil.Eventually(c.t, within, fmt.Sprintf("node %d ready (start %d)", n.id, n.starts), func() bool {
		c.checkAlive()
		return readyLine.Match(lastStart(readFile(n.logPath)))
	})
}

// restart starts a stopped node again on the same data dir.
func (c *cluster) restart(n *node) {
	c.t.Helper()
	if n.running() {
		c.t.Fatalf("restart of node %d, which is running", n.id)
	}
	c.launch(n)
	c.waitReady(n)
	c.logf("node %d restarted", n.id)
}

// kill SIGKILLs node n and waits for it to exit.
func (c *cluster) kill(n *node) {
	c.t.Helper()
	c.signal(n, syscall.SIGKILL)
	c.waitExit(n, "SIGKILL")
	n.paused = false
}

// pause SIGSTOPs node n; resume SIGCONTs it.
func (c *cluster) pause(n *node) {
	c.t.Helper()
	c.signal(n, syscall.SIGSTOP)
	n.paused = true
}

func (c *cluster) resume(n *node) {
	c.t.Helper()
	c.signal(n, syscall.SIGCONT)
	n.paused = false
	c.logf("node %d: SIGCONT", n.id)
}

func (c *cluster) signal(n *node, sig syscall.Signal) {
	c.t.Helper()
	if !n.running() {
		c.t.Fatalf("%v to node %d, which is not running", sig, n.id)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		n.expectExit = true
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("%v to node %d: %v", sig, n.id, err)
	}
}

func (c *cluster) waitExit(n *node, after string) {
	c.t.Helper()
	testutil.Eventually(c.t, within, fmt.Sprintf("node %d exiting after %s", n.id, after), func() bool {
		select {
		case <-n.exited:
			return true
		default:
			return false
		}
	})
}

// stopAll SIGTERMs every running node (a controlled shutdown each) and
// checks that each exits with status 0.
func (c *cluster) stopAll() {
	c.t.Helper()
	var up []*node
	for _, n := range c.nodes {
		if n.running() {
			if n.paused {
				c.resume(n)
			}
			c.signal(n, syscall.SIGTERM)
			up = append(up, n)
		}
	}
	for _, n := range up {
		c.waitExit(n, "SIGTERM")
		if n.err != nil {
			c.t.Errorf("node %d exited with %v after SIGTERM, want status 0; its log ends:\n%s", n.id, n.err, tail(readFile(n.logPath), 40))
		}
	}
	c.logf("nodes stopped with SIGTERM")
}

// checkAlive fails the test if a node exited that the test did not end.
func (c *cluster) checkAlive() {
	c.t.Helper()
	for _, n := range c.nodes {
		if n.cmd == nil || n.expectExit {
			continue
		}
		select {
		case <-n.exited:
			c.t.Fatalf("node %d exited by itself (%v); its log ends:\n%s", n.id, n.err, tail(readFile(n.logPath), 60))
		default:
		}
	}
}

// healAll undoes every fault: the network healed, paused nodes resumed,
// stopped ones restarted.
func (c *cluster) healAll() {
	c.t.Helper()
	c.net.Heal()
	for _, n := range c.nodes {
		switch {
		case n.paused:
			c.resume(n)
		case !n.running():
			c.restart(n)
		}
	}
}

// cleanup kills what still runs, then prints the logs if the test failed
// (and copies them where logsEnv says).
func (c *cluster) cleanup() {
	for _, cl := range c.direct {
		cl.Close()
	}
	if c.admCl != nil {
		c.admCl.Close()
	}
	defer c.clientLog.Close()
	for _, n := range c.nodes {
		if n.running() {
			n.expectExit = true
			_ = n.cmd.Process.Signal(syscall.SIGKILL)
			<-n.exited
		}
	}
	if dir := os.Getenv(logsEnv); dir != "" {
		dst := filepath.Join(dir, strings.ReplaceAll(c.t.Name(), "/", "_"))
		if err := os.MkdirAll(dst, 0o755); err == nil {
			for _, n := range c.nodes {
				_ = os.WriteFile(filepath.Join(dst, filepath.Base(n.logPath)), readFile(n.logPath), 0o644)
			}
			_ = os.WriteFile(filepath.Join(dst, "franz-go.log"), readFile(c.clientLog.Name()), 0o644)
			c.t.Logf("node logs copied to %s", dst)
		}
	}
	if c.t.Failed() {
		for _, n := range c.nodes {
			c.t.Logf("--- node %d log (%s), last lines:\n%s", n.id, n.logPath, tail(readFile(n.logPath), 150))
		}
	}
}

// logf logs with the time since the cluster started.
func (c *cluster) logf(format string, args ...any) {
	c.t.Helper()
	c.t.Logf("%7.2fs "+format, append([]any{time.Since(c.begin).Seconds()}, args...)...)
}

func (c *cluster) kafkaAddr(i int) string { return c.net.Addr(i) + ":9092" }

func (c *cluster) kafkaAddrs() []string {
	var out []string
	for i := range nodeCount {
		out = append(out, c.kafkaAddr(i))
	}
	return out
}

// byID is the node with node.id id.
func (c *cluster) byID(id int32) *node {
	c.t.Helper()
	if id < 1 || int(id) > nodeCount {
		c.t.Fatalf("no node with id %d", id)
	}
	return c.nodes[id-1]
}

// others are the nodes but n.
func (c *cluster) others(n *node) []*node {
	return slices.DeleteFunc(slices.Clone(c.nodes), func(o *node) bool { return o == n })
}

// partitionDir is node n's folder of partition p.
func (c *cluster) partitionDir(n *node, p int32) string {
	return filepath.Join(n.dataDir, "topics", fmt.Sprintf("%s-%d", topic, p))
}

// readFile is path's content, nil if it cannot be read.
func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// lastStart is the part of a node's log since its latest start line.
func lastStart(b []byte) []byte {
	if i := bytes.LastIndex(b, []byte("=== clusterfault: start ")); i >= 0 {
		return b[i:]
	}
	return b
}

// tail is the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// partView is a partition as one node's metadata answer has it.
type partView struct {
	leader, epoch int32
	replicas, isr []int32
	err           int16
}

// view is one node's metadata answer.
type view struct {
	from       int32
	brokers    []int32
	controller int32
	parts      map[int32]partView
}

// metadata asks node i (and only it) for the cluster's metadata.
func (c *cluster) metadata(i int) (*view, error) { return metadataFrom(c.direct[i], i) }

// metadataFrom asks node i for the metadata through cl, seeded with it.
func metadataFrom(cl *kgo.Client, i int) (*view, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	kr, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("metadata from node %d: %w", i+1, err)
	}
	resp := kr.(*kmsg.MetadataResponse)
	v := &view{from: int32(i + 1), controller: resp.ControllerID, parts: map[int32]partView{}}
	for _, b := range resp.Brokers {
		v.brokers = append(v.brokers, b.NodeID)
	}
	slices.Sort(v.brokers)
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			v.parts[p.Partition] = partView{leader: p.Leader, epoch: p.LeaderEpoch, replicas: p.Replicas, isr: p.ISR, err: p.ErrorCode}
		}
	}
	return v, nil
}

// String is the view in one line, for messages.
func (v *view) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %d sees brokers %v controller %d", v.from, v.brokers, v.controller)
	for p := range int32(partitions) {
		pv, ok := v.parts[p]
		if !ok {
			fmt.Fprintf(&b, "; p%d missing", p)
			continue
		}
		fmt.Fprintf(&b, "; p%d leader %d epoch %d isr %v", p, pv.leader, pv.epoch, pv.isr)
		if pv.err != 0 {
			fmt.Fprintf(&b, " %s", kerr.ErrorForCode(pv.err))
		}
	}
	return b.String()
}

// agreed asks every node and returns the view they all share: three
// brokers, one controller, every partition led with an ISR of three, the
// same leaders and epochs; an error describes what is not so yet.
func (c *cluster) agreed() (*view, error) {
	var first *view
	for i := range nodeCount {
		v, err := c.metadata(i)
		if err != nil {
			return nil, err
		}
		if len(v.brokers) != nodeCount || v.controller < 1 {
			return nil, fmt.Errorf("%v", v)
		}
		for p := range int32(partitions) {
			pv, ok := v.parts[p]
			if !ok || pv.leader < 1 || len(pv.isr) != nodeCount || len(pv.replicas) != nodeCount {
				return nil, fmt.Errorf("%v", v)
			}
		}
		if first == nil {
			first = v
			continue
		}
		if v.controller != first.controller {
			return nil, fmt.Errorf("controllers differ: %v / %v", first, v)
		}
		for p := range int32(partitions) {
			if a, b := first.parts[p], v.parts[p]; a.leader != b.leader || a.epoch != b.epoch {
				return nil, fmt.Errorf("partition %d differs: %v / %v", p, first, v)
			}
		}
	}
	return first, nil
}

// waitHealthy waits until every node is up and every node's metadata
// agrees on a fully replicated topic, then (with a workload) until every
// partition has taken an acknowledged write since: clients recovered too.
func (c *cluster) waitHealthy(w *workload, what string) *view {
	c.t.Helper()
	since := time.Now()
	var v *view
	testutil.EventuallyNil(c.t, within, what+": every node up, agreeing, every partition led with an ISR of 3", func() error {
		c.checkAlive()
		var err error
		v, err = c.agreed()
		return err
	})
	if w != nil {
		testutil.EventuallyNil(c.t, within, what+": every producer's writes to every partition acknowledged", func() error {
			c.checkAlive()
			return w.clock.allWriting(since)
		})
	}
	c.logf("healthy (%s): %v", what, v)
	return v
}

// led is the partitions v says node id leads.
func (v *view) led(id int32) []int32 {
	var out []int32
	for p := range int32(partitions) {
		if v.parts[p].leader == id {
			out = append(out, p)
		}
	}
	return out
}
