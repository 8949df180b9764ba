package pipelines

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ParseSchedule parses a schedule as the scheduler must: robfig/cron's
// standard syntax (5 fields, or @hourly/@daily/@every 15m descriptors),
// in UTC unless the expression starts with CRON_TZ=Zone (or TZ=Zone).
//
// It guards two traps of robfig/cron v3.0.1: without a zone prefix it
// would use the machine's local zone (we use UTC), and "TZ=Zone" with
// nothing after it panics inside Parse.
func ParseSchedule(expr string) (sched cron.Schedule, err error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		if !strings.Contains(expr, " ") {
			return nil, fmt.Errorf("%q has a zone but no schedule after it", expr)
		}
	} else {
		expr = "CRON_TZ=UTC " + expr
	}
	if sched, ok, err := parseEvery(expr); ok {
		return sched, err
	}
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("cannot parse %q: %v", expr, r)
		}
	}()
	return cron.ParseStandard(expr)
}

// parseEvery parses "@every <duration>" (after an optional zone prefix,
// which an interval ignores). robfig/cron turns any interval under a second,
// zero or negative ones included, into one second and drops fractions of a
// second; we refuse those instead, and accept the d unit as elsewhere.
func parseEvery(expr string) (sched cron.Schedule, ok bool, err error) {
	rest := expr
	if strings.HasPrefix(rest, "CRON_TZ=") || strings.HasPrefix(rest, "TZ=") {
		_, rest, _ = strings.Cut(rest, " ")
		rest = strings.TrimSpace(rest)
	}
	arg, found := strings.CutPrefix(rest, "@every")
	if !found {
		return nil, false, nil
	}
	arg = strings.TrimSpace(arg)
	d, err := ParseDuration(arg)
	switch {
	case arg == "":
		return nil, true, fmt.Errorf("@every needs an interval, like @every 15m")
	case err != nil:
		return nil, true, fmt.Errorf("@every %s: %v", arg, err)
	case d <= 0:
		return nil, true, fmt.Errorf("@every %s: the interval must be positive", arg)
	case d < time.Second:
		return nil, true, fmt.Errorf("@every %s: the interval must be at least 1s", arg)
	case d%time.Second != 0:
		return nil, true, fmt.Errorf("@every %s: the interval must be a whole number of seconds", arg)
	}
	return cron.Every(d), true, nil
}

var errZoneTwice = errors.New("the schedule has a CRON_TZ= prefix too: keep one of the two")

// ParseScheduleIn is ParseSchedule with the schedule's times in zone (an
// IANA name; empty means UTC) unless the expression carries its own
// CRON_TZ= prefix, which may not be combined with a zone.
func ParseScheduleIn(expr, zone string) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if zone != "" {
		if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
			return nil, errZoneTwice
		}
		if _, err := time.LoadLocation(zone); err != nil {
			return nil, fmt.Errorf("unknown time zone %q", zone)
		}
		if !strings.HasPrefix(expr, "@every") {
			expr = "CRON_TZ=" + zone + " " + expr
		}
	}
	return ParseSchedule(expr)
}

// ParsedSchedule parses the spec's schedule in its schedule_timezone.
func (s *Spec) ParsedSchedule() (cron.Schedule, error) {
	return ParseScheduleIn(s.Schedule, s.ScheduleTimezone)
}
