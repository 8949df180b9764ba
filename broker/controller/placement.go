package controller

import (
	"cmp"
	"fmt"
	"slices"
)

// Broker is what placement needs to know of a broker.
type Broker struct {
	ID int32
	// Rack is broker.rack ("" when not set).
	Rack string
	// Fenced brokers (stopped heartbeating, or shutting down) get no new
	// replicas.
	Fenced bool
}

// PlacementError is a placement that cannot be made; Kafka answers it
// with INVALID_REPLICATION_FACTOR.
type PlacementError struct {
	ReplicationFactor int
	Available         int
}

func (e *PlacementError) Error() string {
	return fmt.Sprintf("replication factor %d is larger than the %d unfenced brokers", e.ReplicationFactor, e.Available)
}

// Place assigns replicationFactor replicas to each of partitions new
// partitions over the unfenced brokers, as Kafka's rack-aware assignment
// does: brokers are listed alternating between racks (each rack's brokers
// by id), partition p's first (preferred) replica is the broker at
// start+p in that list, and its followers come after it with a shift that
// grows every time the partitions wrap around the list, each from a rack
// the partition does not have yet while there is one. So leaders and
// replicas spread evenly, a partition's replicas span min(rf, racks) racks,
// and start (a topic's own offset, such as a hash of its name) keeps every
// topic's partition 0 from landing on the same broker.
func Place(brokers []Broker, partitions, replicationFactor, start int) ([][]int32, error) {
	var up []Broker
	for _, b := range brokers {
		if !b.Fenced {
			up = append(up, b)
		}
	}
	if replicationFactor < 1 || replicationFactor > len(up) {
		return nil, &PlacementError{replicationFactor, len(up)}
	}
	list := rackAlternated(up)
	n := len(list)
	racks := map[string]bool{}
	for _, b := range list {
		racks[b.Rack] = true
	}
	start = ((start % n) + n) % n
	out := make([][]int32, partitions)
	for p := range partitions {
		first := (start + p) % n
		shift := 0
		if n > 1 {
			shift = (p / n) % (n - 1)
		}
		chosen := []int32{list[first].ID}
		used := map[string]bool{list[first].Rack: true}
		for len(chosen) < replicationFactor {
			if len(used) == len(racks) {
				clear(used) // every rack has one: the next round may repeat them
			}
			picked := false
			for j := range n - 1 { // every other broker, from after the first, shifted
				b := list[(first+1+(shift+j)%(n-1))%n]
				if slices.Contains(chosen, b.ID) || used[b.Rack] {
					continue
				}
				chosen, used[b.Rack], picked = append(chosen, b.ID), true, true
				break
			}
			if !picked {
				clear(used) // the racks left are all used: take any broker
			}
		}
		out[p] = chosen
	}
	return out, nil
}

// rackAlternated lists brokers taking one from each rack in turn (racks by
// name, brokers in a rack by id): racks a{1,2} b{3,4} give 1 3 2 4.
func rackAlternated(brokers []Broker) []Broker {
	byRack := map[string][]Broker{}
	var names []string
	for _, b := range brokers {
		if _, ok := byRack[b.Rack]; !ok {
			names = append(names, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	slices.Sort(names)
	for _, r := range names {
		slices.SortFunc(byRack[r], func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	}
	var out []Broker
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range names {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}
