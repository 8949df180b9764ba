// Package netfault is a test harness for cluster fault tests: it runs
// processes (brokers) in separate Linux network namespaces, one per node,
// and cuts and heals the links between them: a full partition between two
// nodes, a one-way partition, or one node isolated from everything.
//
// # Topology
//
// New(t, n) takes a free network number N (0-255) and builds
//
//	root namespace          sluicenfN-hub                sluicenfN-I
//	(the test process)      (forwards, holds the cuts)   (node I)
//
//	sluicenfN 10.77.N.254 - root 10.77.N.253
//	                        n0   10.77.N.253 ----------- eth0 10.77.N.1 (node 0)
//	                        n1   10.77.N.253 ----------- eth0 10.77.N.2 (node 1)
//	                        ...
//
// The hub is a router, not a bridge: every node and the root namespace
// has its own veth pair to the hub, and the hub forwards between them
// (each side routes 10.77.N.0/24 through the hub's address 10.77.N.253).
// Node i has the address 10.77.N.(i+1) (Addr) and its own loopback; the
// test process, in the root namespace, has 10.77.N.254 (HostAddr) and
// reaches every node through the hub. Nothing but the route to
// 10.77.N.0/24 and the one veth end sluicenfN is added to the root
// namespace.
//
// # Cuts
//
// A cut is a blackhole policy rule in the hub ("ip rule add from A to B
// blackhole"): the hub drops, silently and packet by packet, what it would
// forward from A to B. The nodes' own network stacks are never touched, so
// a cut looks to them like a network that loses packets: no error on send,
// no ICMP, no RST, ARP keeps working. Since rules are looked up for every
// forwarded packet, a cut stops established TCP connections at once, and
// they carry data again after Heal (TCP retransmits what was lost, after
// its backoff), unless TCP gave up meanwhile (tcp_retries2, about 15
// minutes by default, or a shorter TCP_USER_TIMEOUT or keepalive). Cuts
// add up: Partition(0, 1) then Isolate(2) leaves both in place until Heal.
// (A blackhole or prohibit route in the sender's own namespace would not
// do: the sender's connect and sends then fail at once, with EINVAL or
// EACCES, which no real network does.)
//
// # Processes
//
// Command returns an *exec.Cmd for "ip netns exec NS program args...":
// ip enters the node's namespace and execs the program, so the process (and
// its pid) is the program itself, and it can listen on Addr(i). DialContext
// opens a connection from inside a node's namespace in the test process
// itself (for clients that should sit in a node, e.g. as a kgo.Dialer).
//
// # Names and cleanup
//
// Every namespace and link is named after the network number: namespaces
// sluicenfN-hub and sluicenfN-I (node I), the root link sluicenfN. While a
// Net lives its process holds the abstract unix socket
// "@sluice-netfault-N", so concurrent test processes never pick the same
// N, and a name whose N nobody holds was left by a run that was killed:
// New removes such namespaces and links (and kills processes still running
// in them) before building its own. The test's cleanup kills processes
// still running in the Net's namespaces (logging each) and removes every
// namespace and link it created.
//
// # Requirements
//
// Root (CAP_SYS_ADMIN and CAP_NET_ADMIN), iproute2's ip and a kernel with
// network namespaces, veth and policy routing; no iptables, nftables or
// netem. Without them New skips the test, saying why on stderr and in the
// skip message; with SLUICE_NETFAULT_REQUIRED set it fails it instead.
package netfault

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// RequiredEnv is the environment variable that, when set to anything,
// turns New's skip (not root, no ip, no permission) into a test failure,
// for machines where the fault tests must run.
const RequiredEnv = "SLUICE_NETFAULT_REQUIRED"

const (
	namePrefix = "sluicenf"          // every namespace and root link name: namePrefix + N ...
	lockPrefix = "@sluice-netfault-" // abstract unix socket held while network N is in use
	netIDs     = 256                 // N is the third octet of 10.77.N.0/24
	hubHost    = 253                 // the hub's address on every one of its links
	rootHost   = 254                 // the root namespace's address
	maxNodes   = 252                 // node i is host i+1, below the hub's
	nodeLink   = "eth0"              // a node's end of its veth pair, inside its namespace
	rootPeer   = "root"              // the hub's end of the root namespace's veth pair
	cutPref    = 100                 // policy rule priority of the cuts, 100-102 (after local, before main)
)

// Net is a set of node network namespaces joined through a hub namespace,
// built by New and torn down when the test that built it ends. Its methods
// may be called from any goroutine of the test; those that fail call
// t.Fatalf, so call them from the test's own goroutine.
type Net struct {
	t     testing.TB
	ipBin string
	id    int
	lock  *net.UnixListener
	nodes int

	mu     sync.Mutex
	cuts   map[cut]bool
	closed bool
}

// New builds a network of the given number of nodes (1 to 252), each in a
// namespace of its own, all connected to each other and to the test
// process, and tears it down when t's test ends (t.Cleanup). It skips the
// test, loudly and with the reason, when it is not run as root or ip is
// missing (see RequiredEnv), and removes what killed earlier runs left.
func New(t testing.TB, nodes int) *Net {
	t.Helper()
	if nodes < 1 || nodes > maxNodes {
		t.Fatalf("netfault: %d nodes: want 1 to %d", nodes, maxNodes)
	}
	ipBin, why := prerequisites()
	if why != "" {
		skip(t, why)
	}
	id, lock, err := acquireFree()
	if err != nil {
		t.Fatalf("netfault: %v", err)
	}
	n := &Net{t: t, ipBin: ipBin, id: id, lock: lock, nodes: nodes, cuts: map[cut]bool{}}
	t.Cleanup(n.close)
	if err := sweep(t, ipBin, id); err != nil {
		t.Fatalf("netfault: removing what an earlier run left: %v", err)
	}
	if err := n.build(); err != nil {
		if isPermission(err) {
			skip(t, fmt.Sprintf("no permission to create network namespaces: %v", err))
		}
		t.Fatalf("netfault: building the network: %v", err)
	}
	return n
}

// Addr is node i's IPv4 address, 10.77.N.(i+1), without a port.
func (n *Net) Addr(i int) string {
	n.check(i)
	return n.host(i + 1)
}

// HostAddr is the test process's address, 10.77.N.254, at which processes
// in the nodes reach listeners the test opens in the root namespace (on
// this address or on 0.0.0.0). A node's 127.0.0.1 is its own loopback.
func (n *Net) HostAddr() string { return n.host(rootHost) }

// Command returns a command that runs name with args inside node i's
// namespace ("ip netns exec NS name args..."; ip execs name, looked up in
// PATH, so Process.Pid is the program's own pid). It can listen on Addr(i)
// and on its own 127.0.0.1, and reaches other nodes and HostAddr. Set Env,
// Stdout and the rest as for any exec.Cmd, but leave Path and Args alone.
// SysProcAttr.Pdeathsig is SIGKILL, so the process dies if the test
// process does (strictly, with the thread that started it: do not start it
// from a goroutine that locks its thread and returns locked, which ends
// the thread; nothing in this package does). A process still running when
// the test ends is killed by the Net's cleanup.
func (n *Net) Command(i int, name string, args ...string) *exec.Cmd {
	n.check(i)
	cmd := exec.Command(n.ipBin, append([]string{"netns", "exec", n.nodeNS(i), name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// DialContext connects to addr from inside node i's namespace, as a
// process running there would: the socket is created in that namespace
// and stays in it, so its packets go through the node's link and its
// cuts. It has net.Dialer's DialContext's meaning otherwise (wrap it into
// a kgo.Dialer to put a Kafka client in a node); give addr as IP:port,
// since a name would be looked up from inside the namespace, which
// reaches no resolver.
func (n *Net) DialContext(ctx context.Context, i int, network, addr string) (net.Conn, error) {
	n.check(i)
	var c net.Conn
	err := inNetns(n.nodeNS(i), func() error {
		// No fallback racing: every socket must be made on this thread.
		d := net.Dialer{FallbackDelay: -1}
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// check fails the test unless i is one of the Net's nodes.
func (n *Net) check(i int) {
	if i < 0 || i >= n.nodes {
		n.t.Helper()
		n.t.Fatalf("netfault: node %d: the network has nodes 0 to %d", i, n.nodes-1)
	}
}

func (n *Net) host(h int) string { return fmt.Sprintf("10.77.%d.%d", n.id, h) }

func (n *Net) subnet() string { return fmt.Sprintf("10.77.%d.0/24", n.id) }

func (n *Net) hubNS() string { return fmt.Sprintf("%s%d-hub", namePrefix, n.id) }

func (n *Net) nodeNS(i int) string { return fmt.Sprintf("%s%d-%d", namePrefix, n.id, i) }

func (n *Net) rootLink() string { return fmt.Sprintf("%s%d", namePrefix, n.id) }

func hubLink(i int) string { return fmt.Sprintf("n%d", i) }

// namespaces is every namespace the Net creates, the hub first.
func (n *Net) namespaces() []string {
	out := []string{n.hubNS()}
	for i := range n.nodes {
		out = append(out, n.nodeNS(i))
	}
	return out
}

// build creates the namespaces, links, addresses and routes described in
// the package comment.
func (n *Net) build() error {
	hub := n.hubNS()
	for _, ns := range n.namespaces() {
		if _, err := runIP(n.ipBin, "netns", "add", ns); err != nil {
			return err
		}
	}
	// The root namespace's veth is made from the root namespace, so that
	// it lands there whatever pid namespace the test runs in.
	if err := ipBatch(n.ipBin, "", "link add "+n.rootLink()+" type veth peer name "+rootPeer+" netns "+hub); err != nil {
		return err
	}
	if err := inNetns(hub, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	}); err != nil {
		return fmt.Errorf("enabling forwarding in %s: %w", hub, err)
	}
	hubCmds := []string{"link set lo up"}
	for i := range n.nodes {
		hubCmds = append(hubCmds, "link add "+hubLink(i)+" type veth peer name "+nodeLink+" netns "+n.nodeNS(i))
	}
	hubUp := func(dev string, host int) {
		hubCmds = append(hubCmds,
			"addr add "+n.host(hubHost)+"/32 dev "+dev,
			"link set "+dev+" up",
			"route add "+n.host(host)+"/32 dev "+dev+" src "+n.host(hubHost))
	}
	for i := range n.nodes {
		hubUp(hubLink(i), i+1)
	}
	hubUp(rootPeer, rootHost)
	if err := ipBatch(n.ipBin, hub, hubCmds...); err != nil {
		return err
	}
	for i := range n.nodes {
		if err := ipBatch(n.ipBin, n.nodeNS(i), n.endCmds(nodeLink, i+1)...); err != nil {
			return err
		}
	}
	return ipBatch(n.ipBin, "", n.endCmds(n.rootLink(), rootHost)...)
}

// endCmds configures one end of the network (a node, or the root
// namespace): its address on dev and the route to every other end through
// the hub.
func (n *Net) endCmds(dev string, host int) []string {
	addr := n.host(host)
	return []string{
		"link set lo up",
		"addr add " + addr + "/24 dev " + dev + " noprefixroute",
		"link set " + dev + " up",
		"route add " + n.subnet() + " via " + n.host(hubHost) + " dev " + dev + " onlink src " + addr,
	}
}

// close kills what still runs in the Net's namespaces, removes them and
// the root link, and frees the network number.
func (n *Net) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	defer n.lock.Close()
	killed, err := removeID(n.ipBin, n.id)
	for _, k := range killed {
		n.t.Logf("netfault: killed %s, still running at the end of the test", k)
	}
	if err != nil {
		n.t.Errorf("netfault: teardown: %v", err)
	}
}

// prerequisites returns the ip binary to use, or why the harness cannot
// run here.
func prerequisites() (ipBin, why string) {
	if euid := os.Geteuid(); euid != 0 {
		return "", fmt.Sprintf("not running as root (euid %d): network namespaces need root", euid)
	}
	if p, err := exec.LookPath("ip"); err == nil {
		return p, ""
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, ""
		}
	}
	return "", "iproute2's ip is not installed (not in PATH, /usr/sbin or /sbin)"
}

// skip skips t loudly: on stderr too, since go test shows a skip's message
// only with -v. With RequiredEnv set it fails t instead.
func skip(t testing.TB, why string) {
	t.Helper()
	msg := fmt.Sprintf("netfault: SKIPPING %s: %s; network fault tests did not run", t.Name(), why)
	if os.Getenv(RequiredEnv) != "" {
		t.Fatalf("%s (failing: %s is set)", msg, RequiredEnv)
	}
	fmt.Fprintln(os.Stderr, msg)
	t.Skip(msg)
}

func isPermission(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Operation not permitted") || strings.Contains(s, "Permission denied")
}
