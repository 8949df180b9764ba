package controller

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestElectionsNeverLoseAcknowledged drives one partition of 3-5 replicas
// through random histories of acknowledged writes, ISR shrinks and
// expansions, broker deaths and returns, and online or preferred
// elections, with a model of which replicas hold every acknowledged
// record: an acks=all write is acknowledged only while the ISR is at
// min.insync.replicas or more, and then every ISR member holds it; a
// replica joining the ISR has caught up with the leader. After every
// change the leader, if any, must be one of those replicas (the Kafka 0.8
// loss Jepsen found is a leader outside them), the ISR and ELR must be
// disjoint replicas, and the epochs must move as Change says.
func TestElectionsNeverLoseAcknowledged(t *testing.T) {
	for seed := range uint64(2000) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 3 + rng.IntN(3)
		var replicas []int32
		for i := range n {
			replicas = append(replicas, int32(i+1))
		}
		minISR := 1 + rng.IntN(n)
		p := Partition{Replicas: replicas, ISR: slices.Clone(replicas), Leader: 1}
		down := map[int32]bool{}
		c := Cluster{Live: func(id int32) bool { return !down[id] }, MinISR: minISR}
		complete := map[int32]bool{} // replicas holding every acknowledged record
		for _, r := range replicas {
			complete[r] = true
		}
		var history []string
		for step := range 60 {
			var isr []int32
			election := ElectOnline
			r := replicas[rng.IntN(n)]
			switch rng.IntN(6) {
			case 0: // an acknowledged write
				if p.Leader != NoLeader && len(p.ISR) >= minISR {
					clear(complete)
					for _, m := range p.ISR {
						complete[m] = true
					}
				}
				history = append(history, "ack")
				continue
			case 1: // a follower falls behind and leaves the ISR
				if r == p.Leader || !slices.Contains(p.ISR, r) {
					continue
				}
				isr = slices.DeleteFunc(slices.Clone(p.ISR), func(m int32) bool { return m == r })
				history = append(history, "shrink "+string(rune('0'+r)))
			case 2: // a live follower catches up and joins the ISR
				if p.Leader == NoLeader || down[r] || slices.Contains(p.ISR, r) {
					continue
				}
				isr = append(slices.Clone(p.ISR), r)
				if complete[p.Leader] {
					complete[r] = true
				}
				history = append(history, "expand "+string(rune('0'+r)))
			case 3: // a broker dies and is fenced out of the ISR
				down[r] = true
				isr = slices.DeleteFunc(slices.Clone(p.ISR), func(m int32) bool { return m == r })
				if isr == nil {
					isr = []int32{}
				}
				history = append(history, "fence "+string(rune('0'+r)))
			case 4: // a broker returns (a clean shutdown: its log intact)
				delete(down, r)
				history = append(history, "up "+string(rune('0'+r)))
			case 5:
				election = ElectPreferred
				history = append(history, "elect preferred")
			}
			before := p
			var out Outcome
			p, out = Change(p, isr, election, c)
			if p.Leader != NoLeader && !complete[p.Leader] {
				t.Fatalf("seed %d step %d: leader %d may lack acknowledged records (holding them: %v)\nhistory: %v\nbefore %+v\nafter %+v", seed, step, p.Leader, complete, history, before, p)
			}
			for _, m := range p.ELR {
				if slices.Contains(p.ISR, m) || !slices.Contains(replicas, m) {
					t.Fatalf("seed %d step %d: ELR %v against ISR %v", seed, step, p.ELR, p.ISR)
				}
			}
			if p.Leader != NoLeader && (!slices.Contains(p.ISR, p.Leader) || down[p.Leader]) {
				t.Fatalf("seed %d step %d: leader %d not a live ISR member %v", seed, step, p.Leader, p.ISR)
			}
			switch {
			case out == Unchanged && (p.PartitionEpoch != before.PartitionEpoch || p.LeaderEpoch != before.LeaderEpoch):
				t.Fatalf("seed %d step %d: unchanged but epochs moved", seed, step)
			case out != Unchanged && p.PartitionEpoch != before.PartitionEpoch+1:
				t.Fatalf("seed %d step %d: %v but partition epoch %d -> %d", seed, step, out, before.PartitionEpoch, p.PartitionEpoch)
			case (p.Leader != before.Leader) != (p.LeaderEpoch == before.LeaderEpoch+1):
				t.Fatalf("seed %d step %d: leader %d -> %d with leader epoch %d -> %d", seed, step, before.Leader, p.Leader, before.LeaderEpoch, p.LeaderEpoch)
			}
		}
	}
}
