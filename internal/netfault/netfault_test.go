package netfault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestConnected(t *testing.T) {
	n := New(t, 3)
	for i := range 3 {
		if got, want := n.Addr(i), fmt.Sprintf("10.77.%d.%d", n.id, i+1); got != want {
			t.Errorf("Addr(%d) = %s, want %s", i, got, want)
		}
	}
	es := startEchos(t, n)
	expectAllConnected(t, n, es)

	// A node reaches a listener of the test's at HostAddr, and its
	// connections come from its own address: the socket DialContext made
	// is in the node's namespace.
	ln, err := net.Listen("tcp4", net.JoinHostPort(n.HostAddr(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var c net.Conn
	testutil.EventuallyNil(t, within, "node 1 reaching the test's listener", func() (err error) {
		c, err = dial(n, 1, ln.Addr().String())
		return err
	})
	defer c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := a.RemoteAddr().(*net.TCPAddr).IP.String(); got != n.Addr(1) {
		t.Errorf("node 1's connection comes from %s, want %s", got, n.Addr(1))
	}
}

func TestPartition(t *testing.T) {
	n := New(t, 3)
	es := startEchos(t, n)
	expectAllConnected(t, n, es)

	n.Partition(0, 1)
	expectCut(t, n, es, 0, 1)
	expectCut(t, n, es, 1, 0)
	for _, p := range [][2]int{{0, 2}, {2, 0}, {1, 2}, {2, 1}, {root, 0}, {root, 1}, {root, 2}} {
		expectConnected(t, n, es, p[0], p[1])
	}

	n.Heal()
	expectAllConnected(t, n, es)
}

// TestEstablishedPartition checks that a partition stops a connection
// made before it, without resetting it, and that it carries data again
// after Heal.
func TestEstablishedPartition(t *testing.T) {
	n := New(t, 3)
	es := startEchos(t, n)
	c := connect(t, n, 0, es[1])
	received := tcpInfo(t, c).Bytes_received

	n.Partition(0, 1)
	before := c.send(t, "during")
	waitRetransmit(t, c, before, "node 0 sending to node 1 across the partition")
	if strings.Contains(es[1].out.String(), " during\n") {
		t.Fatal("node 1 read a line sent across the partition")
	}
	if got := tcpInfo(t, c).Bytes_received; got != received {
		t.Fatalf("node 0 received %d bytes across the partition", got-received)
	}
	expectConnected(t, n, es, 0, 2)

	n.Heal()
	c.expect(t, "during")
	if err := roundTrip(c, c.r, "after"); err != nil {
		t.Fatal(err)
	}
}

// TestOneWay checks what a one-way cut does to TCP: see OneWay.
func TestOneWay(t *testing.T) {
	n := New(t, 3)
	es := startEchos(t, n)
	expectAllConnected(t, n, es)
	ab := connect(t, n, 0, es[1]) // node 0 the client, node 1 the server
	ba := connect(t, n, 1, es[0]) // node 1 the client, node 0 the server
	baReceived := tcpInfo(t, ba).Bytes_received

	n.OneWay(0, 1)

	// What node 0 sends never reaches node 1; node 0 retransmits it.
	before := ab.send(t, "from-0")
	waitRetransmit(t, ab, before, "node 0 sending to node 1")
	if strings.Contains(es[1].out.String(), " from-0\n") {
		t.Fatal("node 1 read a line node 0 sent across the one-way cut")
	}

	// What node 1 sends reaches node 0's application, but node 0's echo
	// and ACKs are lost: node 1 retransmits and receives nothing.
	before = ba.send(t, "from-1")
	testutil.Eventually(t, within, "node 0 reading the line node 1 sent", func() bool {
		return strings.Contains(es[0].out.String(), "echoed "+ba.LocalAddr().String()+" from-1\n")
	})
	waitRetransmit(t, ba, before, "node 1, which node 0's ACKs do not reach")
	if got := tcpInfo(t, ba).Bytes_received; got != baReceived {
		t.Fatalf("node 1 received %d bytes from node 0 across the one-way cut", got-baReceived)
	}

	// No new connection either way: the handshake needs both directions.
	expectCut(t, n, es, 0, 1)
	expectCut(t, n, es, 1, 0)
	for _, p := range [][2]int{{0, 2}, {2, 0}, {1, 2}, {2, 1}, {root, 0}, {root, 1}} {
		expectConnected(t, n, es, p[0], p[1])
	}

	// Neither connection was reset: both carry data again.
	n.Heal()
	ab.expect(t, "from-0")
	ba.expect(t, "from-1")
	for _, c := range []*conn{ab, ba} {
		if err := roundTrip(c, c.r, "after"); err != nil {
			t.Fatal(err)
		}
	}
	expectAllConnected(t, n, es)
}

func TestIsolate(t *testing.T) {
	n := New(t, 3)
	es := startEchos(t, n)
	expectAllConnected(t, n, es)
	c := connect(t, n, root, es[0])
	ln, err := net.Listen("tcp4", net.JoinHostPort(n.HostAddr(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	n.Isolate(0)
	for _, p := range [][2]int{{root, 0}, {1, 0}, {0, 1}, {2, 0}, {0, 2}} {
		expectCut(t, n, es, p[0], p[1])
	}
	for _, p := range [][2]int{{root, 1}, {root, 2}, {1, 2}, {2, 1}} {
		expectConnected(t, n, es, p[0], p[1])
	}
	// Node 0 does not reach the test's listener either; node 1 does.
	if c, err := dial(n, 0, ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("isolated node 0 reached the root namespace")
	} else if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("isolated node 0 dialing the root namespace: %v, want a timeout", err)
	}
	testutil.EventuallyNil(t, within, "node 1 reaching the test's listener", func() error {
		c, err := dial(n, 1, ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	})
	// The test's connection to node 0 stalls.
	before := c.send(t, "isolated")
	waitRetransmit(t, c, before, "root sending to isolated node 0")
	if strings.Contains(es[0].out.String(), " isolated\n") {
		t.Fatal("isolated node 0 read a line from the root namespace")
	}

	n.Heal()
	c.expect(t, "isolated")
	expectAllConnected(t, n, es)
}

// TestTeardown checks that a Net leaves nothing behind: no namespace or
// link with its prefix, no process running in it.
func TestTeardown(t *testing.T) {
	var n *Net
	var hang *exec.Cmd
	var out testutil.Buffer
	t.Run("net", func(t *testing.T) {
		n = New(t, 2)
		n.Partition(0, 1)
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		hang = n.Command(1, exe)
		hang.Env = helperEnviron("hang")
		hang.Stdout = &out
		if err := hang.Start(); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, within, "hang helper running", func() bool {
			return strings.HasPrefix(out.String(), "hanging ")
		})
		// The test ends with the helper running.
	})
	if n == nil || hang == nil || hang.Process == nil {
		t.Fatal("the subtest did not start its network and process")
	}
	done := make(chan error, 1)
	go func() { done <- hang.Wait() }()
	var err error
	testutil.Eventually(t, within, "the process left running killed", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("process left running: %v, want killed by SIGKILL", err)
	}

	for line := range strings.Lines(ipOut(t, "netns", "list")) {
		if f := strings.Fields(line); len(f) > 0 {
			if id, ok := parseID(f[0]); ok && id == n.id {
				t.Errorf("namespace %s left behind", f[0])
			}
		}
	}
	for line := range strings.Lines(ipOut(t, "-o", "link", "show")) {
		if f := strings.Fields(line); len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if id, ok := parseID(name); ok && id == n.id {
				t.Errorf("link %s left behind", name)
			}
		}
	}
	// And nothing of the subnet in the root namespace's routes.
	if routes := ipOut(t, "route", "show"); strings.Contains(routes, fmt.Sprintf("10.77.%d.", n.id)) {
		t.Errorf("routes left behind:\n%s", routes)
	}
}

// staleMarker is the alias TestHelperLeakedRun gives every link it leaks.
const staleMarker = "netfault-stale-marker"

// TestHelperLeakedRun is the earlier run TestStaleRunRemoved has killed:
// run as a helper, it builds a network, starts a process in it that
// outlives it, marks what it made and kills itself before any cleanup.
func TestHelperLeakedRun(t *testing.T) {
	if os.Getenv(helperEnv) != "leak" {
		t.Skip("a helper run by TestStaleRunRemoved")
	}
	n := New(t, 2)
	for _, ns := range n.namespaces() {
		if err := ipBatch(n.ipBin, ns, "link set dev lo alias "+staleMarker); err != nil {
			t.Fatal(err)
		}
	}
	if err := ipBatch(n.ipBin, "", "link set dev "+n.rootLink()+" alias "+staleMarker); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := n.Command(0, exe)
	cmd.SysProcAttr = nil // outlives this process
	cmd.Env = helperEnviron("hang")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscanf(stdout, "hanging %d\n", &pid); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("leaked %d %d\n", n.id, pid)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// TestStaleRunRemoved checks that New removes what a killed run left: its
// namespaces, its link and the processes still running in them.
func TestStaleRunRemoved(t *testing.T) {
	ipBin, why := prerequisites()
	if why != "" {
		skip(t, why)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr testutil.Buffer
	cmd := exec.CommandContext(context.Background(), exe, "-test.run=^TestHelperLeakedRun$", "-test.count=1", "-test.v")
	cmd.Env = helperEnviron("leak")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("leaking run: %v, want killed: %s%s", err, out.String(), stderr.String())
	}
	var id, pid int
	i := strings.Index(out.String(), "leaked ")
	if i < 0 {
		t.Fatalf("leaking run printed no leak: %s", out.String())
	}
	if _, err := fmt.Sscanf(out.String()[i:], "leaked %d %d", &id, &pid); err != nil {
		t.Fatal(err)
	}

	// The killed run left its network and its process behind.
	found, err := harnessNames(ipBin, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(found[id]) != 4 { // hub, 2 nodes, the root link
		t.Fatalf("the killed run left %v, want its 3 namespaces and its link", found[id])
	}
	if !running(pid) {
		t.Fatalf("the killed run's process %d is not running", pid)
	}

	n := New(t, 1)

	testutil.Eventually(t, within, fmt.Sprintf("the killed run's process %d killed", pid), func() bool {
		return !running(pid)
	})
	// Whatever carries the killed run's names now is New's own.
	found, err = harnessNames(ipBin, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range found[id] {
		var args []string
		if strings.Contains(name, "-") {
			args = []string{"-n", name, "-d", "link", "show", "dev", "lo"}
		} else {
			args = []string{"-d", "link", "show", "dev", name}
		}
		if strings.Contains(ipOut(t, args...), staleMarker) {
			t.Errorf("%s, left by the killed run, is still there", name)
		}
	}
	es := startEchos(t, n)
	expectConnected(t, n, es, root, 0)
}

// running says whether process pid exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(s[i+1:], " Z")
}

// TestIsolateAfterPartition cuts a pair and then isolates one of them:
// the two cuts overlap (both drop node 0's packets to node 1), which the
// kernel refused when every cut had one rule priority.
func TestIsolateAfterPartition(t *testing.T) {
	n := New(t, 3)
	n.Partition(0, 1)
	n.Isolate(0)
	n.OneWay(1, 2)
	n.Heal()
}
