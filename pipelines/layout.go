package pipelines

import (
	"fmt"
	"time"
)

// Layout is a parsed partition_by.layout: literal text and time tokens.
//
// Tokens: YYYY (year), MM (month 01-12), DD (day 01-31), HH (hour 00-23),
// mm (minute 00-59). A run of capital letters must consist of tokens only
// (dt=YYYYMMDD is fine, dt=YYYY-MM-DDD is an error); a run of lowercase
// letters is literal text unless it is exactly "mm". Everything else
// (digits, '=', '-', '/', '_' ...) is literal.
type Layout struct {
	parts []layoutPart
	unit  timeUnit
}

type layoutPart struct {
	literal string
	token   string // "" for literal
}

type timeUnit int

// ParseLayout checks and compiles a layout string.
func ParseLayout(s string) (*Layout, error) {
	return nil, fmt.Errorf("pipelines: layout %q: not implemented yet", s)
}

// Format returns the folder path (no leading or trailing slash) for t,
// which the caller has converted to the pipeline's time zone.
func (l *Layout) Format(t time.Time) string { return "" }

// Truncate returns the start of the time partition holding t, in t's zone.
func (l *Layout) Truncate(t time.Time) time.Time { return t }

// End returns the end (exclusive) of the partition that starts at start.
func (l *Layout) End(start time.Time) time.Time { return start }

// Location returns the partition_by.timezone as a location (UTC if empty).
func (p PartitionBy) Location() (*time.Location, error) {
	if p.Timezone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(p.Timezone)
}
