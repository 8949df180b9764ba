package clusterfault_test

// The faults, one test per kind plus a schedule mixing them. Each round
// starts from a healthy cluster (every partition led, ISR of three,
// writes acknowledged everywhere), injects its fault, waits for writes to
// the partitions the faulty broker led to be acknowledged again (the
// failover time), undoes the fault and waits for health again.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

const (
	// soakEnv makes TestSchedule run faults for this long (a
	// time.ParseDuration string, e.g. "10m"), for make soak.
	soakEnv = "SLUICE_SOAK_DURATION"
	// seedEnv replays TestSchedule's choice of faults.
	seedEnv = "SLUICE_CLUSTERFAULT_SEED"
	// roundsPerKind is how many rounds of its fault each kind's test runs.
	roundsPerKind = 2
	// shortSchedule is how many faults TestSchedule picks without soakEnv.
	shortSchedule = 3
)

// fault is one round of a fault kind against partition p's leader (or
// the controller).
type fault func(c *cluster, w *workload, round int, p int32)

type faultKind struct {
	name string
	run  fault
}

var faultKinds = []faultKind{
	{"SIGKILL of a partition leader", killLeader},
	{"SIGSTOP of a partition leader", pauseLeader},
	{"the Jepsen 2013 Kafka scenario", jepsen2013},
	{"SIGKILL of the active controller", killController},
	{"a partition leader isolated", isolateLeader},
	{"a partition leader cut off one way", oneWayLeader},
}

// TestLeaderKill SIGKILLs a partition leader each round and restarts it
// on its data dir once its partitions have new leaders.
func TestLeaderKill(t *testing.T) { runRounds(t, killLeader) }

// TestLeaderPause SIGSTOPs a partition leader for longer than
// broker.session.timeout.ms each round, then SIGCONTs it.
func TestLeaderPause(t *testing.T) { runRounds(t, pauseLeader) }

// TestLeaderKillRestartAtOnce: SIGKILL of a leader, restarted at once,
// within its session: it comes back from an unclean shutdown and must not
// go on leading in the same epoch (its log may have lost a tail); another
// in-sync replica takes over in a later epoch.
func TestLeaderKillRestartAtOnce(t *testing.T) { runRounds(t, killRestartLeader) }

// TestJepsen2013 is Kyle Kingsbury's 2013 Kafka scenario: a leader cut
// off from its followers, then isolated and killed; with
// min.insync.replicas=2 it must never acknowledge an acks=all write alone.
func TestJepsen2013(t *testing.T) { runRounds(t, jepsen2013) }

// TestControllerKill SIGKILLs the active controller (Metadata's
// ControllerID) each round and restarts it.
func TestControllerKill(t *testing.T) { runRounds(t, killController) }

// TestNetworkPartitions isolates a partition leader from every other node
// and from the clients, heals, then cuts it off one way (what it sends to
// the other nodes is lost), heals, each round.
func TestNetworkPartitions(t *testing.T) { runRounds(t, isolateLeader, oneWayLeader) }

// TestSchedule runs the fault kinds in random orders against random
// partitions (seedEnv replays one schedule): three different kinds in
// make test, round after round of all of them for soakEnv's duration
// under make soak.
func TestSchedule(t *testing.T) {
	soak := soakDuration(t)
	seed := time.Now().UnixNano()
	if s := os.Getenv(seedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", seedEnv, s, err)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	c := startCluster(t)
	w := c.startWorkload()
	c.logf("schedule: seed %d (%s=%d replays the same faults)", seed, seedEnv, seed)
	deadline := time.Now().Add(soak)
	var ran []string
	var order []int // the kinds in a random order, taken in turn
	for round := 0; ; round++ {
		if soak > 0 && time.Now().After(deadline) || soak == 0 && round == shortSchedule {
			break
		}
		if len(order) == 0 {
			order = rng.Perm(len(faultKinds))
		}
		f := faultKinds[order[0]]
		order = order[1:]
		p := int32(rng.IntN(partitions))
		c.logf("schedule round %d: %s (partition %d)", round, f.name, p)
		f.run(c, w, round, p)
		ran = append(ran, f.name)
	}
	c.logf("schedule ran %d faults: %s", len(ran), strings.Join(ran, ", "))
	c.finish(w)
}

// soakDuration is soakEnv's duration, 0 without it; it fails the test if
// go test's -timeout would end the soak.
func soakDuration(t *testing.T) time.Duration {
	s := os.Getenv(soakEnv)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", soakEnv, s)
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d+5*time.Minute {
		t.Fatalf("%s=%v needs a go test -timeout of at least %v (or 0, as soak.sh gives); %v are left", soakEnv, d, d+5*time.Minute, time.Until(dl).Round(time.Second))
	}
	return d
}

// runRounds runs roundsPerKind rounds of the faults on one cluster, then
// the final checks.
func runRounds(t *testing.T, faults ...fault) {
	c := startCluster(t)
	w := c.startWorkload()
	for round := range roundsPerKind {
		for _, f := range faults {
			f(c, w, round, int32(round%partitions))
		}
	}
	c.finish(w)
}

// current is the view every node agrees on (the cluster is healthy
// between rounds).
func (c *cluster) current() *view {
	c.t.Helper()
	var v *view
	testutil.EventuallyNil(c.t, within, "a view every node agrees on", func() error {
		c.checkAlive()
		var err error
		v, err = c.agreed()
		return err
	})
	return v
}

// leaderOf is partition p's leader, and the view it was found in.
func (c *cluster) leaderOf(p int32) (*node, *view) {
	c.t.Helper()
	v := c.current()
	return c.byID(v.parts[p].leader), v
}

// waitFailover waits until the nodes but m's victim see every partition
// of m led by another node in a later leader epoch, and a write to each
// acknowledged after that, then keeps m for the failover times.
func (c *cluster) waitFailover(w *workload, m *mark) {
	c.t.Helper()
	victim := c.byID(m.victim)
	if len(m.parts) == 0 {
		c.logf("round %d: node %d led no partition; no failover to wait for", m.round, victim.id)
		return
	}
	done := false
	defer c.describeUnless(&done)
	moved := map[int32]time.Time{}
	to := map[int32]string{}
	testutil.EventuallyNil(c.t, within, fmt.Sprintf("round %d (%s): partitions %v, which node %d led, led by another node and written again", m.round, m.kind, m.parts, victim.id), func() error {
		c.checkAlive()
		for _, o := range c.others(victim) {
			if !o.running() || o.paused {
				continue
			}
			ov, err := c.metadata(o.i)
			if err != nil {
				continue
			}
			for _, p := range m.parts {
				pv := ov.parts[p]
				if _, ok := moved[p]; !ok && pv.leader > 0 && pv.leader != victim.id && pv.epoch > m.epochs[p] {
					moved[p] = time.Now()
					to[p] = fmt.Sprintf("p%d to node %d epoch %d after %v", p, pv.leader, pv.epoch, time.Since(m.since).Round(time.Millisecond))
				}
			}
		}
		for _, p := range m.parts {
			t, ok := moved[p]
			switch {
			case !ok:
				return fmt.Errorf("partition %d: no other node sees a leader but node %d in an epoch after %d, %v after the fault", p, victim.id, m.epochs[p], time.Since(m.since).Round(time.Millisecond))
			case !w.clock.ackedSince(p, t):
				return fmt.Errorf("%s; no write to it acknowledged since", to[p])
			}
		}
		return nil
	})
	done = true
	w.addMark(m)
	var lines []string
	for _, p := range m.parts {
		lines = append(lines, to[p])
	}
	c.logf("round %d: leadership moved (%s); writes acknowledged again", m.round, strings.Join(lines, "; "))
}

// describeUnless logs what every running node's metadata says unless
// *done: deferred before a wait, it runs as the wait's t.Fatalf unwinds.
func (c *cluster) describeUnless(done *bool) {
	if *done {
		return
	}
	for _, n := range c.nodes {
		if !n.running() || n.paused {
			c.t.Logf("node %d: not running or paused", n.id)
			continue
		}
		if v, err := c.metadata(n.i); err != nil {
			c.t.Logf("node %d: %v", n.id, err)
		} else {
			c.t.Logf("%v", v)
		}
	}
}

// holdUntil lets a fault last until t: the schedule's own time, the one
// fixed wait the tests have.
func holdUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

func killLeader(c *cluster, w *workload, round int, p int32) {
	victim, v := c.leaderOf(p)
	m := newMark("SIGKILL of a leader", round, victim.id, v)
	c.logf("round %d: SIGKILL node %d, leader of partitions %v", round, victim.id, m.parts)
	c.kill(victim)
	c.waitFailover(w, m)
	c.restart(victim)
	c.waitHealthy(w, fmt.Sprintf("round %d: node %d back after SIGKILL", round, victim.id))
}

func killRestartLeader(c *cluster, w *workload, round int, p int32) {
	victim, v := c.leaderOf(p)
	m := newMark("SIGKILL of a leader, restarted at once", round, victim.id, v)
	c.logf("round %d: SIGKILL node %d, leader of partitions %v, and restart it at once", round, victim.id, m.parts)
	c.kill(victim)
	c.restart(victim)
	c.waitFailover(w, m)
	c.waitHealthy(w, fmt.Sprintf("round %d: node %d back after SIGKILL and restart", round, victim.id))
}

func pauseLeader(c *cluster, w *workload, round int, p int32) {
	victim, v := c.leaderOf(p)
	m := newMark("SIGSTOP of a leader", round, victim.id, v)
	c.logf("round %d: SIGSTOP node %d, leader of partitions %v, for at least %v", round, victim.id, m.parts, faultHold)
	c.pause(victim)
	c.waitFailover(w, m)
	holdUntil(m.since.Add(faultHold))
	c.resume(victim)
	c.waitHealthy(w, fmt.Sprintf("round %d: node %d back after SIGSTOP", round, victim.id))
}

func isolateLeader(c *cluster, w *workload, round int, p int32) {
	victim, v := c.leaderOf(p)
	m := newMark("isolation of a leader", round, victim.id, v)
	c.logf("round %d: isolate node %d, leader of partitions %v, for at least %v", round, victim.id, m.parts, faultHold)
	c.net.Isolate(victim.i)
	c.waitFailover(w, m)
	holdUntil(m.since.Add(faultHold))
	c.net.Heal()
	c.logf("round %d: healed", round)
	c.waitHealthy(w, fmt.Sprintf("round %d: node %d back after isolation", round, victim.id))
}

func oneWayLeader(c *cluster, w *workload, round int, p int32) {
	victim, v := c.leaderOf(p)
	m := newMark("a one-way cut from a leader", round, victim.id, v)
	c.logf("round %d: drop everything node %d (leader of partitions %v) sends to the other nodes, for at least %v", round, victim.id, m.parts, faultHold)
	for _, o := range c.others(victim) {
		c.net.OneWay(victim.i, o.i)
	}
	c.waitFailover(w, m)
	holdUntil(m.since.Add(faultHold))
	c.net.Heal()
	c.logf("round %d: healed", round)
	c.waitHealthy(w, fmt.Sprintf("round %d: node %d back after the one-way cut", round, victim.id))
}

func killController(c *cluster, w *workload, round int, _ int32) {
	v := c.current()
	victim := c.byID(v.controller)
	m := newMark("SIGKILL of the controller", round, victim.id, v)
	c.logf("round %d: SIGKILL node %d, the active controller, leader of partitions %v", round, victim.id, m.parts)
	c.kill(victim)
	done := false
	defer c.describeUnless(&done)
	var elected time.Duration
	var by int32
	testutil.EventuallyNil(c.t, within, fmt.Sprintf("round %d: a new active controller after SIGKILL of node %d", round, victim.id), func() error {
		c.checkAlive()
		seen := map[int32]bool{}
		for _, o := range c.others(victim) {
			ov, err := c.metadata(o.i)
			if err != nil {
				return err
			}
			seen[ov.controller] = true
			by = ov.controller
		}
		if len(seen) != 1 || seen[victim.id] || seen[-1] {
			return fmt.Errorf("the live nodes name controllers %v", slices.Sorted(maps.Keys(seen)))
		}
		elected = time.Since(m.since)
		return nil
	})
	done = true
	w.addTiming("new active controller in Metadata after SIGKILL of the controller", elected)
	c.logf("round %d: node %d is the active controller, %v after the kill", round, by, elected.Round(time.Millisecond))
	c.waitFailover(w, m)
	c.restart(victim)
	c.waitHealthy(w, fmt.Sprintf("round %d: node %d back after SIGKILL", round, victim.id))
}

// jepsen2013 cuts partition p's leader off from both followers (it still
// reaches the clients), checks that it acknowledges no acks=all write
// while cut off, waits for the cluster to decide (the leader fenced and
// replaced, or the ISR shrunk to it), then isolates and SIGKILLs it,
// heals and restarts it.
//
// In Kingsbury's run the leader kept ZooKeeper and shrank the ISR to
// itself; here every node is also a metadata voter, so a leader cut off
// from both followers is a minority and cannot commit an ISR change: the
// expected outcome is that it is fenced and a follower from the ISR leads,
// while it answers acks=all writes with errors (REQUEST_TIMED_OUT, as its
// followers stopped fetching; NOT_ENOUGH_REPLICAS once an ISR below
// min.insync.replicas is committed), never with an acknowledgement.
func jepsen2013(c *cluster, w *workload, round int, p int32) {
	leader, v := c.leaderOf(p)
	fs := c.others(leader)
	m := newMark("the Jepsen 2013 cut (from the cut)", round, leader.id, v)
	c.logf("round %d: cut node %d, leader of partitions %v, off from its followers %d and %d", round, leader.id, m.parts, fs[0].id, fs[1].id)
	c.net.Partition(leader.i, fs[0].i)
	c.net.Partition(leader.i, fs[1].i)
	decided := false
	defer c.describeUnless(&decided)

	// Keep writing to the cut-off leader directly, as a client that
	// still believes in it does.
	ctx, stop := context.WithCancel(context.Background())
	probe := c.directClients(fmt.Sprintf("jepsen-%d", round))
	defer func() {
		for _, cl := range probe {
			cl.Close()
		}
	}()
	var mu sync.Mutex
	answers := map[string]int{}
	var ackedAt []int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		name := fmt.Sprintf("j%d", round)
		for seq := 0; ctx.Err() == nil; seq++ {
			v := fmt.Sprintf("p%s-%d", name, seq)
			off, err := produceTo(ctx, probe[leader.i], leader.id, p, v)
			if ctx.Err() != nil && err != nil {
				return
			}
			mu.Lock()
			answers[produceCode(err)]++
			mu.Unlock()
			if err == nil {
				w.acked(name, seq, v, "raw", p, off, leader.id)
				mu.Lock()
				ackedAt = append(ackedAt, off)
				mu.Unlock()
				continue
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				select {
				case <-ctx.Done():
				case <-time.After(clientRetryBackoff):
				}
			}
		}
	}()

	var outcome string
	shrunk := false
	testutil.EventuallyNil(c.t, within, fmt.Sprintf("round %d: the followers' side fencing node %d or the ISR of partition %d shrinking to it", round, leader.id, p), func() error {
		c.checkAlive()
		var last error
		for _, f := range fs {
			fv, err := c.metadata(f.i)
			if err != nil {
				last = err
				continue
			}
			pv := fv.parts[p]
			switch {
			case pv.leader > 0 && pv.leader != leader.id:
				outcome = fmt.Sprintf("node %d's metadata: partition %d led by node %d (epoch %d, ISR %v): node %d was fenced", f.id, p, pv.leader, pv.epoch, pv.isr, leader.id)
				return nil
			case slices.Equal(pv.isr, []int32{leader.id}):
				outcome = fmt.Sprintf("node %d's metadata: the ISR of partition %d shrank to the leader, node %d", f.id, p, leader.id)
				shrunk = true
				return nil
			}
			last = fmt.Errorf("%v", fv)
		}
		return last
	})
	decided = true
	c.logf("round %d: %s", round, outcome)
	holdUntil(m.since.Add(faultHold))
	stop()
	<-done
	mu.Lock()
	c.logf("round %d: acks=all writes sent to the cut-off leader, node %d, for partition %d were answered: %v", round, leader.id, p, answers)
	if len(ackedAt) > 0 {
		c.t.Errorf("round %d: node %d, cut off from both followers with min.insync.replicas=2, acknowledged %d acks=all writes to partition %d, at offsets %v",
			round, leader.id, len(ackedAt), p, ackedAt)
	}
	if shrunk && answers["NOT_ENOUGH_REPLICAS"]+answers["NOT_ENOUGH_REPLICAS_AFTER_APPEND"] == 0 {
		c.t.Errorf("round %d: the ISR of partition %d shrank to node %d, which never answered NOT_ENOUGH_REPLICAS: %v", round, p, leader.id, answers)
	}
	mu.Unlock()

	// Isolate, then SIGKILL. netfault cannot add Isolate's cuts over the
	// Partitions (the kernel takes "from A blackhole" for a duplicate of
	// "from A to B blackhole": RTNETLINK "File exists"), so the
	// partitions are healed first, with the leader stopped meanwhile so
	// that it does nothing in the moment its links are whole.
	c.logf("round %d: isolate node %d and SIGKILL it", round, leader.id)
	c.pause(leader)
	c.net.Heal()
	c.net.Isolate(leader.i)
	c.resume(leader)
	c.kill(leader)
	c.waitFailover(w, m)
	c.net.Heal()
	c.restart(leader)
	c.waitHealthy(w, fmt.Sprintf("round %d: node %d back after the Jepsen 2013 scenario", round, leader.id))
}
