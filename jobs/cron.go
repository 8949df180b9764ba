package jobs

import (
	"time"

	"github.com/robfig/cron/v3"
)

// A Schedule says when a pipeline's ticks fall. Next returns the first
// tick strictly after t, or the zero time if there is none within five
// years.
type Schedule interface {
	Next(t time.Time) time.Time
}

// NewSchedule wraps a schedule parsed by pipelines.ParseSchedule so that
// its ticks follow ISC cron across daylight-saving changes (see Next).
func NewSchedule(s cron.Schedule) Schedule {
	if spec, ok := s.(*cron.SpecSchedule); ok {
		return iscSchedule{spec}
	}
	return s // @every: a constant delay, unaffected by wall clocks
}

// iscSchedule computes a cron spec's ticks as ISC cron (Vixie cron 4)
// does, instead of robfig/cron's Next, which never fires a job whose time
// falls in a spring-forward gap:
//
//   - a wall-clock time skipped by a spring-forward change runs once, at
//     the first instant after the gap (several skipped times run once);
//   - a wall-clock time repeated by a fall-back change runs once, at its
//     first occurrence, unless the job runs every hour (its hour field is
//     *), in which case it runs at both, as its interval in real time says.
type iscSchedule struct{ s *cron.SpecSchedule }

const starBit = 1 << 63

// maxShift bounds how far a zone change moves wall clocks (2 hours covers
// every zone in the tz database; most move 1 hour, Lord Howe 30 minutes).
const maxShift = 3 * time.Hour

// Next implements Schedule.
func (c iscSchedule) Next(after time.Time) time.Time {
	loc := c.s.Location
	if loc == nil {
		loc = time.UTC
	}
	// Fast path: where the zone's offset does not change between a while
	// before after and a while past robfig's answer, wall clocks move
	// with real time and robfig's Next is exact.
	if t := c.s.Next(after); !t.IsZero() && steady(loc, after.Add(-maxShift), t.Add(maxShift)) {
		return t
	}
	return c.walk(after, loc)
}

// walk finds the next tick by walking wall-clock times (see Next).
func (c iscSchedule) walk(after time.Time, loc *time.Location) time.Time {
	everyHour := c.s.Hour&0xFFFFFF == 0xFFFFFF
	// Walk wall-clock times from a little before after's own wall time
	// (a fall-back repeats earlier wall times at later instants), turn
	// each matching one into instants, and keep the earliest instant
	// after `after`. Stop once wall times are too far on for any later
	// one to map to an earlier instant.
	wall := civil(after.In(loc)).Add(-maxShift)
	var best time.Time
	end := wall.Add(5 * 366 * 24 * time.Hour)
	for day := wall.Truncate(24 * time.Hour); day.Before(end); day = day.AddDate(0, 0, 1) {
		if !best.IsZero() && day.Sub(civil(best.In(loc))) > maxShift+24*time.Hour {
			break
		}
		if 1<<uint(day.Month())&c.s.Month == 0 || !dayMatches(c.s, day) {
			continue
		}
		for h := 0; h < 24; h++ {
			if 1<<uint(h)&c.s.Hour == 0 {
				continue
			}
			for m := 0; m < 60; m++ {
				if 1<<uint(m)&c.s.Minute == 0 {
					continue
				}
				for sec := 0; sec < 60; sec++ {
					if 1<<uint(sec)&c.s.Second == 0 {
						continue
					}
					w := day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second)
					if w.Before(wall) {
						continue
					}
					if !best.IsZero() && w.Sub(civil(best.In(loc))) > maxShift {
						return best // later wall times map to later instants
					}
					for _, t := range instants(w, loc, everyHour) {
						if t.After(after) && (best.IsZero() || t.Before(best)) {
							best = t
						}
					}
				}
			}
		}
	}
	return best
}

// steady reports whether loc keeps one UTC offset from a to b.
func steady(loc *time.Location, a, b time.Time) bool {
	_, end := a.In(loc).ZoneBounds()
	return end.IsZero() || end.After(b)
}

// civil is t's wall-clock reading as a UTC time (a zone-less date-time).
func civil(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

// instants returns the instants at which loc's clocks read the wall time w:
// one normally; for a time skipped by a spring-forward change, the first
// instant after the gap; for a time repeated by a fall-back change, the
// first occurrence, or both if both is set.
func instants(w time.Time, loc *time.Location, both bool) []time.Time {
	u := w.Unix()
	out := make([]time.Time, 0, 2)
	prev := 1 << 30 // no offset
	for _, probe := range [2]int64{u - 12*3600, u + 12*3600} {
		_, off := time.Unix(probe, 0).In(loc).Zone()
		if off == prev {
			continue
		}
		prev = off
		t := time.Unix(u-int64(off), 0).In(loc)
		if _, o := t.Zone(); o == off {
			out = append(out, t)
		}
	}
	switch {
	case len(out) == 0:
		// In a gap: the earlier offset puts u past the change; the zone
		// in effect there began at the first instant after the gap.
		_, before := time.Unix(u-12*3600, 0).In(loc).Zone()
		start, _ := time.Unix(u-int64(before), 0).In(loc).ZoneBounds()
		return []time.Time{start}
	case len(out) == 2:
		if out[1].Before(out[0]) {
			out[0], out[1] = out[1], out[0]
		}
		if !both {
			out = out[:1]
		}
	}
	return out
}

// dayMatches is cron's day rule: with both day-of-month and day-of-week
// restricted, either may match; otherwise both must.
func dayMatches(s *cron.SpecSchedule, day time.Time) bool {
	dom := 1<<uint(day.Day())&s.Dom > 0
	dow := 1<<uint(day.Weekday())&s.Dow > 0
	if s.Dom&starBit > 0 || s.Dow&starBit > 0 {
		return dom && dow
	}
	return dom || dow
}
