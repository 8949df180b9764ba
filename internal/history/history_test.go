package history

import (
	"strings"
	"testing"
)

// clean is a history of two producers over two partitions and the final
// contents that match it.
func clean() (*History, map[int32][]Stored) {
	h := New()
	h.Acked("a", 0, "a0", 0, 0)
	h.Acked("b", 0, "b0", 0, 1)
	h.Acked("a", 1, "a1", 0, 2)
	h.Acked("a", 2, "a2", 1, 0)
	h.Read("a0", 0, 0)
	h.Read("x", 1, 1) // unacknowledged but stored: a read of it is fine
	return h, map[int32][]Stored{
		0: {{0, "a0"}, {1, "b0"}, {2, "a1"}},
		1: {{0, "a2"}, {1, "x"}},
	}
}

func TestCleanHistory(t *testing.T) {
	h, final := clean()
	r := h.Check(final)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if r.Acked != 4 || r.Stored != 5 {
		t.Errorf("acked %d stored %d, want 4 and 5", r.Acked, r.Stored)
	}
}

// Each anomaly a fault test must catch is found and named.
func TestAnomalies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(h *History, final map[int32][]Stored)
		field func(r Report) []string
		want  string
	}{
		{"lost", func(_ *History, f map[int32][]Stored) { f[0] = f[0][:2] }, func(r Report) []string { return r.Lost }, `"a1" acknowledged at 0/2`},
		{"moved", func(_ *History, f map[int32][]Stored) { f[0][2].Offset = 7 }, func(r Report) []string { return r.Moved }, `"a1" acknowledged at 0/2, stored at 0/7`},
		{"stored twice", func(_ *History, f map[int32][]Stored) { f[1] = append(f[1], Stored{2, "a0"}) }, func(r Report) []string { return r.Duplicated }, `"a0" at 0/0 and 1/2`},
		{"acknowledged twice", func(h *History, _ map[int32][]Stored) { h.Acked("a", 0, "a0", 1, 5) }, func(r Report) []string { return r.Duplicated }, `"a0" acknowledged at 0/0 and at 1/5`},
		{"reordered", func(h *History, f map[int32][]Stored) {
			h.Acked("a", 1, "a1", 0, 0)
			h.Acked("a", 0, "a0", 0, 2)
			f[0][0].Value, f[0][2].Value = "a1", "a0"
			delete(h.reads, at{0, 0})
		}, func(r Report) []string { return r.Reordered }, "producer a partition 0: record 0 at offset 2 after record 1 at 0"},
		{"read past the high watermark", func(h *History, _ map[int32][]Stored) { h.Read("gone", 1, 2) }, func(r Report) []string { return r.DirtyReads }, `"gone" read at 1/2`},
		{"offsets not increasing", func(_ *History, f map[int32][]Stored) { f[1][1].Offset = 0 }, func(r Report) []string { return r.Unordered }, "partition 1: offset 0 after 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, final := clean()
			tc.spoil(h, final)
			r := h.Check(final)
			got := strings.Join(tc.field(r), "; ")
			if !strings.Contains(got, tc.want) {
				t.Errorf("found %q, want it to name %q (report: %v)", got, tc.want, r.Err())
			}
			if r.Err() == nil || !strings.Contains(r.Err().Error(), tc.want) {
				t.Errorf("Err() = %v, want it to name %q", r.Err(), tc.want)
			}
		})
	}
}
