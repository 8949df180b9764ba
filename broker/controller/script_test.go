package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/sluicehq/sluice/broker/meta"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestScripts runs every testdata/*.txt script with cockroachdb/datadriven
// (-rewrite regenerates the outputs). Commands:
//
//	partition replicas=1,2,3 [isr=..] [elr=..] [leader=N] [min-isr=N]  (every broker live again)
//	down N... | up N... | unclean N... (came back from an unclean shutdown) | clean N...
//	isr 2,3 [elect=online|preferred|unclean]   set the ISR, then elect
//	fence N [elect=...]                        down N and out of the ISR
//	elect [online|preferred|unclean]
//	place brokers=1:rackA,2,3:rackB partitions=N rf=N [start=N] [fenced=N,..]
//	register N inc=X [rack=R] | heartbeat N epoch=E [caught-up] [shutdown] | tick D | expire | brokers
//	part NAME replicas=.. isr=.. leader=N | leave N   (N leaves every ISR; changed partitions shown)
//	img-broker N [rack=R] [fenced] [shutting-down] [unclean] | img-topic NAME assign=1,2,3/2,3,1 [min-isr=N]
//	alive N,.. | caught-up N,.. | reconcile   (the records proposed, then applied to the image)
//	reassign NAME P target=3,4 | set-isr NAME P isr=..   (the change, applied)
//	assign partitions=N rf=N   (Assign over the image's brokers)
func TestScripts(t *testing.T) {
	testutil.RunScripts(t, func(*testing.T) func(*testing.T, *datadriven.TestData) string {
		e := &scriptEnv{down: map[int32]bool{}, unclean: map[int32]bool{}, minISR: 2,
			reg: NewRegistry(9 * time.Second), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), parts: map[string]Partition{},
			img: meta.NewImage(), topicMinISR: map[string]int{}}
		return e.run
	})
}

type scriptEnv struct {
	reg     *Registry
	now     time.Time
	parts   map[string]Partition
	p       Partition
	down    map[int32]bool
	unclean map[int32]bool
	minISR  int
	// The reconcile commands' metadata image and view of the brokers.
	img             *meta.Image
	alive, caughtUp []int32
	topicMinISR     map[string]int
	nextTopic       byte
}

func (e *scriptEnv) cluster() Cluster {
	return Cluster{Live: func(id int32) bool { return !e.down[id] }, UncleanShutdown: func(id int32) bool { return e.unclean[id] }, MinISR: e.minISR}
}

func (e *scriptEnv) run(t *testing.T, d *datadriven.TestData) string {
	kv, pos := testutil.ScriptArgs(d)
	switch d.Cmd {
	case "partition":
		e.p = Partition{Replicas: ids(t, kv["replicas"]), ISR: ids(t, kv["isr"]), ELR: ids(t, kv["elr"]), Leader: NoLeader}
		clear(e.down) // a new partition starts with every broker live and clean
		clear(e.unclean)
		if v, ok := kv["leader"]; ok {
			e.p.Leader = int32(num(t, v))
		}
		if v, ok := kv["min-isr"]; ok {
			e.minISR = num(t, v)
		}
		return show(e.p, "") + "\n"
	case "down", "up", "unclean", "clean":
		for _, s := range pos {
			id := int32(num(t, s))
			switch d.Cmd {
			case "down":
				e.down[id] = true
			case "up":
				delete(e.down, id)
			case "unclean":
				e.unclean[id] = true
			case "clean":
				delete(e.unclean, id)
			}
		}
		return ""
	case "isr", "fence", "elect":
		var isr []int32
		election := parseElection(t, kv["elect"])
		switch d.Cmd {
		case "isr":
			isr = ids(t, pos[0])
			if isr == nil {
				isr = []int32{}
			}
		case "fence":
			id := int32(num(t, pos[0]))
			e.down[id] = true
			isr = slices.DeleteFunc(slices.Clone(e.p.ISR), func(r int32) bool { return r == id })
			if isr == nil {
				isr = []int32{}
			}
		case "elect":
			if len(pos) > 0 {
				election = parseElection(t, pos[0])
			}
		}
		next, out := Change(e.p, isr, election, e.cluster())
		e.p = next
		return show(next, out.String()) + "\n"
	case "register":
		reg, err := e.reg.Register(int32(num(t, pos[0])), kv["inc"], kv["rack"], e.now)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		return fmt.Sprintf("broker %d epoch=%d %v\n", reg.ID, reg.Epoch, reg.State)
	case "heartbeat":
		st, err := e.reg.Heartbeat(int32(num(t, pos[0])), int64(num(t, kv["epoch"])), slices.Contains(pos, "caught-up"), slices.Contains(pos, "shutdown"), e.now)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		return st.String() + "\n"
	case "tick":
		d, err := time.ParseDuration(pos[0])
		if err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(d)
		return ""
	case "expire":
		return fmt.Sprintf("fenced: %v\n", e.reg.Expire(e.now))
	case "brokers":
		var b strings.Builder
		for _, r := range e.reg.Brokers() {
			fmt.Fprintf(&b, "broker %d epoch=%d %v live=%v\n", r.ID, r.Epoch, r.State, e.reg.Live(r.ID))
		}
		return b.String()
	case "part":
		p := Partition{Replicas: ids(t, kv["replicas"]), ISR: ids(t, kv["isr"]), ELR: ids(t, kv["elr"]), Leader: int32(num(t, kv["leader"]))}
		e.parts[pos[0]] = p
		return ""
	case "leave":
		id := int32(num(t, pos[0]))
		e.down[id] = true
		changed := Leave(e.parts, id, e.cluster())
		var names []string
		for k := range changed {
			names = append(names, k)
		}
		slices.Sort(names)
		var b strings.Builder
		for _, k := range names {
			e.parts[k] = changed[k]
			fmt.Fprintf(&b, "%s: %s\n", k, show(changed[k], ""))
		}
		return b.String()
	case "img-broker", "img-topic", "alive", "caught-up", "reconcile", "assign", "reassign", "set-isr":
		return e.runImage(t, d, kv, pos)
	case "place":
		var brokers []Broker
		fenced := ids(t, kv["fenced"])
		for _, s := range strings.Split(kv["brokers"], ",") {
			id, rack, _ := strings.Cut(s, ":")
			b := Broker{ID: int32(num(t, id)), Rack: rack}
			b.Fenced = slices.Contains(fenced, b.ID)
			brokers = append(brokers, b)
		}
		start := 0
		if v, ok := kv["start"]; ok {
			start = num(t, v)
		}
		got, err := Place(brokers, num(t, kv["partitions"]), num(t, kv["rf"]), start)
		var pe *PlacementError
		if errors.As(err, &pe) {
			return "error: " + err.Error() + "\n"
		} else if err != nil {
			t.Fatal(err)
		}
		return showPlacement(brokers, got)
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

func parseElection(t *testing.T, s string) Election {
	switch s {
	case "", "online":
		return ElectOnline
	case "preferred":
		return ElectPreferred
	case "unclean":
		return ElectUnclean
	}
	t.Fatalf("unknown election %q", s)
	return 0
}

func show(p Partition, outcome string) string {
	s := fmt.Sprintf("leader=%d epochs=%d/%d isr=%v elr=%v", p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.ISR, p.ELR)
	if len(p.LastKnownELR) > 0 {
		s += fmt.Sprintf(" last-known-elr=%v", p.LastKnownELR)
	}
	if p.Recovering {
		s += " recovering"
	}
	if outcome != "" {
		s = outcome + ": " + s
	}
	return s
}

// showPlacement prints each partition's replicas, then per broker how many
// partitions it leads and holds, and per partition how many racks it spans.
func showPlacement(brokers []Broker, got [][]int32) string {
	var b strings.Builder
	racks := map[int32]string{}
	for _, br := range brokers {
		racks[br.ID] = br.Rack
	}
	for p, rs := range got {
		span := map[string]bool{}
		for _, r := range rs {
			span[racks[r]] = true
		}
		fmt.Fprintf(&b, "p%d: %v racks=%d\n", p, rs, len(span))
	}
	for _, br := range brokers {
		lead, hold := 0, 0
		for _, rs := range got {
			if rs[0] == br.ID {
				lead++
			}
			if slices.Contains(rs, br.ID) {
				hold++
			}
		}
		fmt.Fprintf(&b, "broker %d: leads %d, holds %d\n", br.ID, lead, hold)
	}
	return b.String()
}

func ids(t *testing.T, s string) []int32 { return testutil.Int32s(t, s) }

func num(t *testing.T, s string) int { return testutil.Atoi(t, s) }
