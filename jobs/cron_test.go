package jobs

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice/pipelines"
)

// TestNextFastPathMatchesWalk: away from zone changes Next answers with
// robfig's computation; the wall-clock walk must give the same tick, for
// many expressions, zones and times (a check of both).
func TestNextFastPathMatchesWalk(t *testing.T) {
	exprs := []string{"* * * * *", "*/15 * * * *", "30 2 * * *", "0 0 1 * *", "5 4 * * SUN", "0 12 1 * MON", "0 */6 * * 1-5", "59 23 31 12 *"}
	zones := []string{"", "America/New_York", "Australia/Lord_Howe", "Europe/Berlin", "Asia/Kolkata"}
	rng := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for _, z := range zones {
		for _, e := range exprs {
			cs, err := pipelines.ParseScheduleIn(e, z)
			if err != nil {
				t.Fatal(err)
			}
			s := NewSchedule(cs).(iscSchedule)
			loc := s.s.Location
			for i := 0; i < 200; i++ {
				after := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
				fast := s.s.Next(after)
				if !steady(loc, after.Add(-maxShift), fast.Add(maxShift)) {
					continue // near a change: only the walk is right
				}
				if walk := s.walk(after, loc); !walk.Equal(fast) {
					t.Errorf("%q in %q after %s: walk %s, robfig %s", e, z, after, walk, fast)
				}
				checked++
			}
		}
	}
	if checked < 5000 {
		t.Fatalf("only %d cases away from zone changes", checked)
	}
}
