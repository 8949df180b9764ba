// Package history records what Kafka clients were told during a fault
// test (which records were acknowledged at which offsets, what consumers
// read) and checks it against the partitions' final contents: no
// acknowledged record lost, moved or stored twice, no producer's records
// reordered within a partition, and no read of a record that did not stay
// (a consumer that read past the high watermark). The single-node crash
// tests use it today and the cluster's fault tests will.
package history

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Stored is one record of a partition's final contents.
type Stored struct {
	Offset int64
	Value  string
}

type at struct {
	partition int32
	offset    int64
}

type ack struct {
	at
	producer string
	seq      int
}

// History is safe for concurrent use by producer and consumer callbacks.
type History struct {
	mu    sync.Mutex
	acked map[string]ack // value -> where it was acknowledged
	reads map[at]string
	dup   []string // values acknowledged twice at different places
}

// New returns an empty history. Values must be unique per record.
func New() *History {
	return &History{acked: map[string]ack{}, reads: map[at]string{}}
}

// Acked records that producer's seq-th record, value, was acknowledged at
// partition and offset.
func (h *History) Acked(producer string, seq int, value string, partition int32, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := ack{at{partition, offset}, producer, seq}
	if old, ok := h.acked[value]; ok && old.at != a.at {
		h.dup = append(h.dup, fmt.Sprintf("%q acknowledged at %d/%d and at %d/%d", value, old.partition, old.offset, partition, offset))
	}
	h.acked[value] = a
}

// Read records that a consumer read value at partition and offset.
func (h *History) Read(value string, partition int32, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads[at{partition, offset}] = value
}

// AckedCount is how many records were acknowledged.
func (h *History) AckedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// Report is what Check found; its fields list each anomaly, described.
type Report struct {
	Acked, Stored int
	// Lost: acknowledged, not stored. Moved: stored elsewhere than where
	// acknowledged. Duplicated: stored more than once (or acknowledged at
	// two places). Reordered: a producer's records out of its send order
	// in a partition. DirtyReads: a read of a record that is not in the
	// final contents at that offset. Unordered: final offsets not
	// increasing.
	Lost, Moved, Duplicated, Reordered, DirtyReads, Unordered []string
}

// Err is nil for a clean report, else an error summing up every anomaly
// (the first few of each kind, by name).
func (r Report) Err() error {
	var parts []string
	for _, k := range []struct {
		name string
		list []string
	}{{"lost", r.Lost}, {"moved", r.Moved}, {"duplicated", r.Duplicated}, {"reordered", r.Reordered}, {"dirty reads", r.DirtyReads}, {"unordered offsets", r.Unordered}} {
		if len(k.list) == 0 {
			continue
		}
		shown := k.list[:min(len(k.list), 5)]
		parts = append(parts, fmt.Sprintf("%d %s (%s)", len(k.list), k.name, strings.Join(shown, "; ")))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%d acknowledged, %d stored: %s", r.Acked, r.Stored, strings.Join(parts, ", "))
}

// Check compares the history with final, each partition's records in the
// order a consumer read them from the log start.
func (h *History) Check(final map[int32][]Stored) Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := Report{Acked: len(h.acked), Duplicated: append([]string(nil), h.dup...)}
	where := map[string]at{}
	byAt := map[at]string{}
	for _, p := range slices.Sorted(maps.Keys(final)) {
		last := int64(-1)
		for _, s := range final[p] {
			r.Stored++
			if s.Offset <= last {
				r.Unordered = append(r.Unordered, fmt.Sprintf("partition %d: offset %d after %d", p, s.Offset, last))
			}
			last = s.Offset
			if old, ok := where[s.Value]; ok {
				r.Duplicated = append(r.Duplicated, fmt.Sprintf("%q at %d/%d and %d/%d", s.Value, old.partition, old.offset, p, s.Offset))
				continue
			}
			where[s.Value] = at{p, s.Offset}
			byAt[at{p, s.Offset}] = s.Value
		}
	}
	// Per producer and partition, the acknowledged records by offset
	// must be in send order.
	type stream struct {
		producer  string
		partition int32
	}
	streams := map[stream][]ack{}
	for _, v := range slices.Sorted(maps.Keys(h.acked)) {
		a := h.acked[v]
		got, ok := where[v]
		switch {
		case !ok:
			r.Lost = append(r.Lost, fmt.Sprintf("%q acknowledged at %d/%d", v, a.partition, a.offset))
		case got != a.at:
			r.Moved = append(r.Moved, fmt.Sprintf("%q acknowledged at %d/%d, stored at %d/%d", v, a.partition, a.offset, got.partition, got.offset))
		}
		k := stream{a.producer, a.partition}
		streams[k] = append(streams[k], a)
	}
	for k, as := range streams {
		sort.Slice(as, func(i, j int) bool { return as[i].offset < as[j].offset })
		for i := 1; i < len(as); i++ {
			if as[i].seq < as[i-1].seq {
				r.Reordered = append(r.Reordered, fmt.Sprintf("producer %s partition %d: record %d at offset %d after record %d at %d",
					k.producer, k.partition, as[i].seq, as[i].offset, as[i-1].seq, as[i-1].offset))
			}
		}
	}
	sort.Strings(r.Reordered)
	for _, a := range slices.SortedFunc(maps.Keys(h.reads), byPlace) {
		v := h.reads[a]
		if stored, ok := byAt[a]; !ok || stored != v {
			r.DirtyReads = append(r.DirtyReads, fmt.Sprintf("%q read at %d/%d, which holds %q", v, a.partition, a.offset, stored))
		}
	}
	return r
}

// byPlace orders places by partition, then offset.
func byPlace(a, b at) int {
	return cmp.Or(cmp.Compare(a.partition, b.partition), cmp.Compare(a.offset, b.offset))
}
