package pipelines

import (
	"fmt"
	"strings"
	"time"
)

// Layout is a parsed partition_by.layout: literal text and time tokens.
//
// Tokens: YYYY (year), MM (month 01-12), DD (day 01-31), HH (hour 00-23),
// mm (minute 00-59). A run of capital letters must consist of tokens only
// (dt=YYYYMMDD is fine, dt=YYYY-MM-DDD is an error); a run of lowercase
// letters is literal text unless it is exactly "mm". Everything else
// (digits, '=', '-', '/', '_' ...) is literal. '/' separates folders; a
// folder may not be empty, "." or "..", nor start with '_' or '.' (readers
// skip such folders).
type Layout struct {
	src   string
	parts []layoutPart
	unit  timeUnit
}

type layoutPart struct {
	literal string
	token   string // "" for literal text
}

// timeUnit is the finest token of a layout: it fixes a partition's span.
type timeUnit int

const (
	unitNone timeUnit = iota // no token: one partition for all time
	unitYear
	unitMonth
	unitDay
	unitHour
	unitMinute
)

var tokenUnits = map[string]timeUnit{"YYYY": unitYear, "MM": unitMonth, "DD": unitDay, "HH": unitHour, "mm": unitMinute}

// ParseLayout checks and compiles a layout string.
func ParseLayout(s string) (*Layout, error) {
	if s == "" {
		return nil, fmt.Errorf("empty layout (the default is %q)", DefaultLayout)
	}
	l := &Layout{src: s}
	for _, seg := range strings.Split(s, "/") {
		switch {
		case seg == "":
			return nil, fmt.Errorf("layout %q has an empty folder name (no leading, trailing or double '/')", s)
		case seg == "." || seg == "..":
			return nil, fmt.Errorf("layout %q has a %q folder", s, seg)
		case seg[0] == '_' || seg[0] == '.':
			return nil, fmt.Errorf("layout %q: folder %q starts with %q, which Hive, Spark and pyarrow skip as hidden", s, seg, seg[:1])
		}
	}
	if strings.ContainsAny(s, "\\:*?\"<>|\x00\n\r\t") {
		return nil, fmt.Errorf("layout %q contains a character not allowed in paths (\\ : * ? \" < > | or a control character)", s)
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			l.parts = append(l.parts, layoutPart{literal: lit.String()})
			lit.Reset()
		}
	}
	seen := map[string]bool{}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			j := i
			for j < len(s) && s[j] >= 'A' && s[j] <= 'Z' {
				j++
			}
			run := s[i:j]
			for k := 0; k < len(run); {
				tok := ""
				for _, t := range []string{"YYYY", "MM", "DD", "HH"} {
					if strings.HasPrefix(run[k:], t) {
						tok = t
						break
					}
				}
				if tok == "" {
					return nil, fmt.Errorf("layout %q: unknown token %q at column %d (tokens are YYYY, MM, DD, HH, mm; capital letters are reserved for them, write literal text in lowercase)", s, run[k:], i+k+1)
				}
				flush()
				l.parts = append(l.parts, layoutPart{token: tok})
				seen[tok] = true
				k += len(tok)
			}
			i = j
		case c >= 'a' && c <= 'z':
			j := i
			for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
				j++
			}
			if s[i:j] == "mm" {
				flush()
				l.parts = append(l.parts, layoutPart{token: "mm"})
				seen["mm"] = true
			} else {
				lit.WriteString(s[i:j])
			}
			i = j
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	// Each token needs the coarser ones, or two different times would
	// share a folder (MM without YYYY puts every January together).
	order := []string{"YYYY", "MM", "DD", "HH", "mm"}
	for i, t := range order {
		if !seen[t] {
			continue
		}
		for _, coarser := range order[:i] {
			if !seen[coarser] {
				return nil, fmt.Errorf("layout %q uses %s without %s: partitions would mix different times", s, t, coarser)
			}
		}
		l.unit = tokenUnits[t]
	}
	return l, nil
}

// String returns the layout as written.
func (l *Layout) String() string { return l.src }

// Format returns the folder path (no leading or trailing slash) for t,
// which the caller has converted to the pipeline's time zone.
func (l *Layout) Format(t time.Time) string {
	var b strings.Builder
	for _, p := range l.parts {
		switch p.token {
		case "":
			b.WriteString(p.literal)
		case "YYYY":
			fmt.Fprintf(&b, "%04d", t.Year())
		case "MM":
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case "DD":
			fmt.Fprintf(&b, "%02d", t.Day())
		case "HH":
			fmt.Fprintf(&b, "%02d", t.Hour())
		case "mm":
			fmt.Fprintf(&b, "%02d", t.Minute())
		}
	}
	return b.String()
}

// Truncate returns the start of the time partition holding t, in t's zone.
// For a layout without tokens it returns the zero time.
func (l *Layout) Truncate(t time.Time) time.Time {
	y, mo, d := t.Date()
	loc := t.Location()
	switch l.unit {
	case unitYear:
		return time.Date(y, 1, 1, 0, 0, 0, 0, loc)
	case unitMonth:
		return time.Date(y, mo, 1, 0, 0, 0, 0, loc)
	case unitDay:
		return time.Date(y, mo, d, 0, 0, 0, 0, loc)
	case unitHour:
		// Not time.Date(y, mo, d, h, ...): in the repeated hour at the end
		// of daylight saving time that would pick the first one.
		return t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	case unitMinute:
		return t.Add(-time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	}
	return time.Time{}
}

// End returns the end (exclusive) of the partition that starts at start.
// For a layout without tokens the partition never ends: it returns the
// zero time.
func (l *Layout) End(start time.Time) time.Time {
	switch l.unit {
	case unitYear:
		return start.AddDate(1, 0, 0)
	case unitMonth:
		return start.AddDate(0, 1, 0)
	case unitDay:
		return start.AddDate(0, 0, 1)
	case unitHour:
		return start.Add(time.Hour)
	case unitMinute:
		return start.Add(time.Minute)
	}
	return time.Time{}
}

// Location returns the partition_by.timezone as a location (UTC if empty).
func (p PartitionBy) Location() (*time.Location, error) {
	if p.Timezone == "" || p.Timezone == "UTC" {
		return time.UTC, nil
	}
	if p.Timezone == "Local" {
		return nil, fmt.Errorf("timezone Local depends on the machine: name a zone, like UTC or Europe/Berlin")
	}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil {
		return nil, fmt.Errorf("unknown timezone %q: want an IANA name like UTC, Europe/Berlin or America/New_York", p.Timezone)
	}
	return loc, nil
}
