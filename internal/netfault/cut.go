package netfault

import (
	"slices"
	"strconv"
	"strings"
)

// cut is one direction the hub drops: packets from the address from to the
// address to, "" standing for any address.
type cut struct{ from, to string }

// rule is the ip rule selector of c, for "rule add" and "rule del". Each
// kind of cut (one pair, everything from an address, everything to it)
// has its own priority: the kernel takes "from A" and "from A to B" at
// one priority for the same rule and refuses the second (EEXIST), so
// Isolate after Partition failed.
func (c cut) rule() string {
	var b strings.Builder
	pref := cutPref
	switch {
	case c.to == "":
		pref++
	case c.from == "":
		pref += 2
	}
	b.WriteString("pref " + strconv.Itoa(pref))
	if c.from != "" {
		b.WriteString(" from " + c.from)
	}
	if c.to != "" {
		b.WriteString(" to " + c.to)
	}
	b.WriteString(" blackhole")
	return b.String()
}

// Partition cuts nodes a and b apart in both directions: every packet
// between them is dropped, on new and established connections alike.
// Either can still reach every other node and the test process. A TCP
// connection between them stalls (each side retransmits into the void)
// and is not reset; a new one cannot be made (the dial times out).
func (n *Net) Partition(a, b int) {
	n.t.Helper()
	n.pair(a, b)
	n.add(cut{n.Addr(a), n.Addr(b)}, cut{n.Addr(b), n.Addr(a)})
}

// OneWay drops every packet from node from to node to and keeps the other
// direction, as a link that fails one way does. TCP needs both directions,
// so what this does to it is:
//
//   - A new connection cannot be made either way: from's SYN is lost, and
//     to's SYN reaches from but from's SYN-ACK is lost, so both dials time
//     out (from's listener never accepts: the handshake stays half open).
//   - On an established connection, what from sends never arrives: from
//     retransmits with exponential backoff and gets no error. What to
//     sends does arrive, and from's application reads it, but from's
//     ACKs are lost, so to retransmits it as well and never sees a reply.
//   - Neither side is reset: the connection stalls until Heal, after which
//     the retransmissions get through and it carries data again, or until
//     TCP gives up (tcp_retries2, TCP_USER_TIMEOUT, keepalive).
func (n *Net) OneWay(from, to int) {
	n.t.Helper()
	n.pair(from, to)
	n.add(cut{n.Addr(from), n.Addr(to)})
}

// Isolate cuts node i off from every other node and from the test process
// (the root namespace), both ways. Processes in node i still reach each
// other over its own addresses.
func (n *Net) Isolate(i int) {
	n.t.Helper()
	a := n.Addr(i)
	n.add(cut{a, ""}, cut{"", a})
}

// Heal undoes every cut made so far: the network is whole again, and
// stalled connections resume when TCP next retransmits.
func (n *Net) Heal() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || len(n.cuts) == 0 {
		return
	}
	var cmds []string
	for c := range n.cuts {
		cmds = append(cmds, "rule del "+c.rule())
	}
	slices.Sort(cmds)
	if err := ipBatch(n.ipBin, n.hubNS(), cmds...); err != nil {
		n.t.Fatalf("netfault: heal: %v", err)
	}
	clear(n.cuts)
}

// pair fails the test unless a and b are two different nodes.
func (n *Net) pair(a, b int) {
	n.t.Helper()
	n.check(a)
	n.check(b)
	if a == b {
		n.t.Fatalf("netfault: node %d cannot be cut from itself", a)
	}
}

// add puts the cuts not in place yet into the hub.
func (n *Net) add(cuts ...cut) {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.t.Fatalf("netfault: cut after the network was torn down")
	}
	var cmds []string
	var added []cut
	for _, c := range cuts {
		if !n.cuts[c] && !slices.Contains(added, c) {
			cmds = append(cmds, "rule add "+c.rule())
			added = append(added, c)
		}
	}
	if len(cmds) == 0 {
		return
	}
	if err := ipBatch(n.ipBin, n.hubNS(), cmds...); err != nil {
		n.t.Fatalf("netfault: cut: %v", err)
	}
	for _, c := range added {
		n.cuts[c] = true
	}
}
