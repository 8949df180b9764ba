package netfault

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/testutil"
)

const (
	// dialTimeout bounds a dial across a cut, which fails only by timing
	// out; on a whole link a dial takes well under a millisecond.
	dialTimeout = 300 * time.Millisecond
	// within bounds waits for what must happen (never a speed assertion).
	within = 30 * time.Second
)

// root is the test process in the root namespace, as a dialing end.
const root = -1

// echoServer is an echo helper running in a node.
type echoServer struct {
	addr string           // host:port it listens on
	out  *testutil.Buffer // its standard output: "echoed REMOTE LINE" per line
}

// startEcho runs the echo helper (this test binary, see TestMain) in node
// i through Command, and stops it when the test ends.
func startEcho(t *testing.T, n *Net, i int) *echoServer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := n.Command(i, exe, net.JoinHostPort(n.Addr(i), "0"))
	cmd.Env = helperEnviron("echo")
	e := &echoServer{out: &testutil.Buffer{}}
	var stderr testutil.Buffer
	cmd.Stdout, cmd.Stderr = e.out, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the helper exits when its input ends
		if err := cmd.Wait(); err != nil {
			t.Errorf("echo helper in node %d: %v: %s", i, err, stderr.String())
		}
	})
	testutil.Eventually(t, within, fmt.Sprintf("echo helper in node %d listening", i), func() bool {
		line, _, ok := strings.Cut(e.out.String(), "\n")
		addr, found := strings.CutPrefix(line, "listening ")
		if ok && found {
			e.addr = addr
		}
		return e.addr != ""
	})
	return e
}

// helperEnviron is the environment of a helper doing what: this one's,
// with the race detector told not to wait a second at exit.
func helperEnviron(what string) []string {
	return append(os.Environ(), helperEnv+"="+what, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// startEchos runs an echo helper in every node.
func startEchos(t *testing.T, n *Net) []*echoServer {
	var es []*echoServer
	for i := range n.nodes {
		es = append(es, startEcho(t, n, i))
	}
	return es
}

// dial connects from node from (or root) to addr, failing after
// dialTimeout.
func dial(n *Net, from int, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	if from == root {
		var d net.Dialer
		return d.DialContext(ctx, "tcp4", addr)
	}
	return n.DialContext(ctx, from, "tcp4", addr)
}

// roundTrip sends line on c and checks that it comes back.
func roundTrip(c net.Conn, r *bufio.Reader, line string) error {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return fmt.Errorf("echo %q, want %q", got, line)
	}
	return nil
}

// probe dials from node from (or root) to e and round-trips a line.
func probe(n *Net, from int, e *echoServer) error {
	c, err := dial(n, from, e.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(c, bufio.NewReader(c), "probe")
}

func name(from int) string {
	if from == root {
		return "root"
	}
	return fmt.Sprintf("node %d", from)
}

// expectConnected waits until node from (or root) reaches node to's echo.
func expectConnected(t *testing.T, n *Net, es []*echoServer, from, to int) {
	t.Helper()
	testutil.EventuallyNil(t, within, fmt.Sprintf("%s reaching node %d", name(from), to), func() error {
		return probe(n, from, es[to])
	})
}

// expectAllConnected checks that every node and root reach every other
// node.
func expectAllConnected(t *testing.T, n *Net, es []*echoServer) {
	t.Helper()
	for to := range n.nodes {
		expectConnected(t, n, es, root, to)
		for from := range n.nodes {
			if from != to {
				expectConnected(t, n, es, from, to)
			}
		}
	}
}

// expectCut checks that a dial from node from (or root) to node to times
// out: its packets vanish, nothing refuses or resets them.
func expectCut(t *testing.T, n *Net, es []*echoServer, from, to int) {
	t.Helper()
	c, err := dial(n, from, es[to].addr)
	if err == nil {
		c.Close()
		t.Fatalf("%s dialed node %d across the cut", name(from), to)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s dialing node %d across the cut: %v, want a timeout", name(from), to, err)
	}
}

// tcpInfo is the kernel's TCP_INFO of c.
func tcpInfo(t *testing.T, c net.Conn) *unix.TCPInfo {
	t.Helper()
	if cc, ok := c.(*conn); ok {
		c = cc.Conn
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatal(ierr)
	}
	return info
}

// waitRetransmit waits until c's kernel has retransmitted since before
// (its Total_retrans) with data still unacknowledged: what it sent, or
// the ACK for it, was lost.
func waitRetransmit(t *testing.T, c net.Conn, before uint32, what string) {
	t.Helper()
	testutil.Eventually(t, within, what+": retransmitting", func() bool {
		info := tcpInfo(t, c)
		return info.Total_retrans > before && info.Unacked > 0
	})
}

// conn is a connection from a node with its reader.
type conn struct {
	net.Conn
	r *bufio.Reader
}

// connect makes a connection from node from (or root) to e and checks it
// with a round trip.
func connect(t *testing.T, n *Net, from int, e *echoServer) *conn {
	t.Helper()
	var c net.Conn
	testutil.EventuallyNil(t, within, name(from)+" connecting to "+e.addr, func() (err error) {
		c, err = dial(n, from, e.addr)
		return err
	})
	t.Cleanup(func() { c.Close() })
	cc := &conn{c, bufio.NewReader(c)}
	if err := roundTrip(cc, cc.r, "hello"); err != nil {
		t.Fatal(err)
	}
	return cc
}

// send writes line on c and returns c's retransmission count before it.
func (c *conn) send(t *testing.T, line string) uint32 {
	t.Helper()
	before := tcpInfo(t, c).Total_retrans
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
	return before
}

// expect waits for line to come back on c.
func (c *conn) expect(t *testing.T, line string) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(within)); err != nil {
		t.Fatal(err)
	}
	got, err := c.r.ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("reading the echo of %q: %q, %v", line, got, err)
	}
}

// ipOut runs ip in the root namespace and returns its output.
func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	ipBin, why := prerequisites()
	if why != "" {
		t.Fatal(why)
	}
	out, err := exec.Command(ipBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
	return string(out)
}
