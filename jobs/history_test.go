package jobs

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

func newTestHistory() *History {
	h := &History{log: slog.New(slog.DiscardHandler), changed: make(chan struct{}, 1)}
	h.mu.at = map[string]int64{}
	h.mu.runs = map[string]*Run{}
	h.mu.byPipe = map[string]map[string]*Run{}
	h.mu.paused = map[string]bool{}
	h.mu.triggers = map[string]Trigger{}
	return h
}

func runJSON(t *testing.T, r Run) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHistoryApply: the view follows the topic, newest value per key; a
// write applied on its ack is not undone when the tail reads an older
// value of the key afterwards; tombstones delete; junk is skipped.
func TestHistoryApply(t *testing.T) {
	h := newTestHistory()
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	h.apply("run/a-1", runJSON(t, Run{ID: "a-1", Pipeline: "a", Status: StatusRunning, Scheduled: t0, Started: t0}), 0)
	h.apply("run/b-1", runJSON(t, Run{ID: "b-1", Pipeline: "b", Status: StatusSucceeded, Scheduled: t0.Add(time.Hour), Started: t0}), 1)
	// Our own write at offset 3 is applied on its ack, before the tail
	// reaches offset 2 (an older value of the same key).
	h.apply("run/a-1", runJSON(t, Run{ID: "a-1", Pipeline: "a", Status: StatusSucceeded, Scheduled: t0, Started: t0}), 3)
	h.apply("run/a-1", runJSON(t, Run{ID: "a-1", Pipeline: "a", Status: StatusRunning, Scheduled: t0, Started: t0}), 2)
	if r, _ := h.Run("a-1"); r.Status != StatusSucceeded {
		t.Errorf("a-1 is %s: an older value overwrote a newer one", r.Status)
	}
	h.apply("run/a-2", runJSON(t, Run{ID: "a-2", Pipeline: "a", Status: StatusSkipped, Scheduled: t0.Add(2 * time.Hour)}), 4)
	h.apply("run/junk", []byte("{not json"), 5)
	if got := h.Runs("a"); len(got) != 2 || got[0].ID != "a-2" {
		t.Errorf("Runs(a) = %+v, want a-2 then a-1", got)
	}
	if got := len(h.Runs("")); got != 3 {
		t.Errorf("Runs() has %d runs, want 3", got)
	}
	if lt := h.LastTick("a"); !lt.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("LastTick(a) = %s", lt)
	}
	h.apply("run/a-2", nil, 6)
	if got := h.Runs("a"); len(got) != 1 || !h.LastTick("a").Equal(t0) {
		t.Errorf("after a tombstone: Runs(a) = %+v, LastTick %s", got, h.LastTick("a"))
	}
	h.apply("pause/a", []byte(`{"paused":true}`), 7)
	h.apply("trigger/a-m1", []byte(`{"id":"a-m1","pipeline":"a"}`), 8)
	if !h.Paused("a") || h.Paused("b") || len(h.Triggers()) != 1 {
		t.Errorf("paused a=%v b=%v triggers %v", h.Paused("a"), h.Paused("b"), h.Triggers())
	}
	h.apply("pause/a", nil, 9)
	h.apply("trigger/a-m1", nil, 10)
	if h.Paused("a") || len(h.Triggers()) != 0 {
		t.Errorf("after tombstones: paused %v, triggers %v", h.Paused("a"), h.Triggers())
	}
	if h.mu.next != 11 {
		t.Errorf("next offset %d, want 11", h.mu.next)
	}
}
