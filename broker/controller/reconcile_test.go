package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/sluicehq/sluice/broker/meta"
	"github.com/sluicehq/sluice/internal/testutil"
)

// runImage runs the script commands on a metadata image (Reconcile,
// Assign).
func (e *scriptEnv) runImage(t *testing.T, d *datadriven.TestData, kv map[string]string, pos []string) string {
	apply := func(r meta.Record) error {
		next, err := meta.Apply(e.img, r)
		if err == nil {
			e.img = next
		}
		return err
	}
	switch d.Cmd {
	case "img-broker":
		id := int32(testutil.Atoi(t, pos[0]))
		if err := apply(meta.RegisterBroker{NodeID: id, Host: "h", Port: 9092, Rack: kv["rack"], Fenced: slices.Contains(pos, "fenced"),
			UncleanShutdown: slices.Contains(pos, "unclean")}); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(pos, "shutting-down") {
			if err := apply(meta.BrokerState{NodeID: id, ShuttingDown: true}); err != nil {
				t.Fatal(err)
			}
		}
		return ""
	case "img-topic":
		var parts []meta.PartitionState
		for _, a := range strings.Split(kv["assign"], "/") {
			r := testutil.Int32s(t, a)
			parts = append(parts, meta.PartitionState{Replicas: r, ISR: slices.Clone(r), Leader: r[0]})
		}
		e.nextTopic++
		if err := apply(meta.CreateTopic{Name: pos[0], ID: meta.TopicID{e.nextTopic}, Partitions: int32(len(parts)),
			ReplicationFactor: int16(len(parts[0].Replicas)), Parts: parts}); err != nil {
			t.Fatal(err)
		}
		if v, ok := kv["min-isr"]; ok {
			e.topicMinISR[pos[0]] = testutil.Atoi(t, v)
		}
		return ""
	case "reassign":
		t0, _ := e.img.Topic(pos[0])
		p := testutil.Atoi(t, pos[1])
		next, changed := Reassign(t0.Parts[p], testutil.Int32s(t, kv["target"]))
		if !changed {
			return "(nothing to do)\n"
		}
		if err := apply(meta.PartitionChange{ID: t0.ID, Partition: int32(p), State: next}); err != nil {
			return "refused: " + err.Error() + "\n"
		}
		return showState(next) + "\n"
	case "set-isr":
		t0, _ := e.img.Topic(pos[0])
		p := testutil.Atoi(t, pos[1])
		next := t0.Parts[p].Clone()
		next.ISR, next.PartitionEpoch = testutil.Int32s(t, kv["isr"]), next.PartitionEpoch+1
		if err := apply(meta.PartitionChange{ID: t0.ID, Partition: int32(p), State: next}); err != nil {
			return "refused: " + err.Error() + "\n"
		}
		return showState(next) + "\n"
	case "alive":
		e.alive = testutil.Int32s(t, kv["ids"]+strings.Join(pos, ","))
		return ""
	case "caught-up":
		e.caughtUp = testutil.Int32s(t, kv["ids"]+strings.Join(pos, ","))
		return ""
	case "assign":
		parts, err := Assign(e.img, testutil.Atoi(t, kv["partitions"]), testutil.Atoi(t, kv["rf"]), 0)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		var b strings.Builder
		for i, p := range parts {
			fmt.Fprintf(&b, "%d: replicas=%v leader=%d\n", i, p.Replicas, p.Leader)
		}
		return b.String()
	}
	// reconcile
	v := View{
		Alive:        func(id int32) bool { return slices.Contains(e.alive, id) },
		CaughtUp:     func(id int32) bool { return slices.Contains(e.caughtUp, id) },
		MinISR:       func(t *meta.Topic) int { return max(1, e.topicMinISR[t.Name]) },
		NewClusterID: func() string { return "new-cluster" },
	}
	var b strings.Builder
	for _, r := range Reconcile(e.img, v) {
		b.WriteString(showRecord(e.img, r))
		if err := apply(r); err != nil {
			fmt.Fprintf(&b, "  refused: %v", err)
		}
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return "(nothing)\n"
	}
	return b.String()
}

func showState(s meta.PartitionState) string {
	out := fmt.Sprintf("replicas=%v ", s.Replicas) + show(FromState(s), "")
	if len(s.Adding) > 0 || len(s.Removing) > 0 {
		out += fmt.Sprintf(" adding=%v removing=%v", s.Adding, s.Removing)
	}
	return out
}

func showRecord(img *meta.Image, r meta.Record) string {
	switch r := r.(type) {
	case meta.SetCluster:
		return "set-cluster " + r.ID
	case meta.BrokerState:
		if r.Fenced {
			return fmt.Sprintf("fence %d", r.NodeID)
		}
		return fmt.Sprintf("unfence %d", r.NodeID)
	case meta.PartitionChange:
		t, _ := img.TopicByID(r.ID)
		return fmt.Sprintf("%s-%d: %s", t.Name, r.Partition, showState(r.State))
	}
	return fmt.Sprintf("%T", r)
}
