package client

import (
	"testing"
	"time"
)

func TestParseFrom(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Position
	}{
		{"earliest", Position{Kind: Earliest}},
		{"beginning", Position{Kind: Earliest}},
		{"latest", Position{Kind: Latest}},
		{"end", Position{Kind: Latest}},
		{"0", Position{Kind: AtOffset, N: 0}},
		{"17", Position{Kind: AtOffset, N: 17}},
		{"-5", Position{Kind: BeforeEnd, N: 5}},
		{"@1700000000000", Position{Kind: AtTime, N: 1700000000000}},
	} {
		got, err := ParseFrom(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseFrom(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "want earliest, latest, an offset >= 0, -N or @UNIX_MS"},
		{"first", "want earliest, latest, an offset >= 0, -N or @UNIX_MS"},
		{"1.5", "want earliest, latest, an offset >= 0, -N or @UNIX_MS"},
		{"-0", "want -N with N > 0 records before the end"},
		{"-x", "want -N with N > 0 records before the end"},
		{"@", "want @ followed by Unix milliseconds"},
		{"@-1", "want @ followed by Unix milliseconds"},
	} {
		if _, err := ParseFrom(tc.in); err == nil || err.Error() != tc.want {
			t.Errorf("ParseFrom(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestParseResetTo(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Position
	}{
		{"earliest", Position{Kind: Earliest}},
		{"latest", Position{Kind: Latest}},
		{"42", Position{Kind: AtOffset, N: 42}},
		{"2026-01-02T03:04:05Z", Position{Kind: AtTime, N: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()}},
		{"2026-01-02T03:04:05+02:00", Position{Kind: AtTime, N: time.Date(2026, 1, 2, 1, 4, 5, 0, time.UTC).UnixMilli()}},
		{"2026-01-02 03:04:05", Position{Kind: AtTime, N: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()}},
		{"2026-01-02", Position{Kind: AtTime, N: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).UnixMilli()}},
	} {
		got, err := ParseResetTo(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseResetTo(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"-1", "an offset must not be negative"},
		{"yesterday", "want earliest, latest, an offset, or a date-time such as 2026-01-02T15:04:05Z (UTC unless a zone is given)"},
		{"beginning", "want earliest, latest, an offset, or a date-time such as 2026-01-02T15:04:05Z (UTC unless a zone is given)"},
	} {
		if _, err := ParseResetTo(c.in); err == nil || err.Error() != c.want {
			t.Errorf("ParseResetTo(%q) error = %v, want %q", c.in, err, c.want)
		}
	}
}

// A position resolves inside a partition whose log runs from 10 to 20.
func TestPositionIn(t *testing.T) {
	const start, end = 10, 20
	for _, c := range []struct {
		p      Position
		atTime int64
		want   int64
	}{
		{Position{Kind: Earliest}, -1, start},
		{Position{Kind: Latest}, -1, end},
		{Position{Kind: AtOffset, N: 15}, -1, 15},
		{Position{Kind: AtOffset, N: 3}, -1, start},
		{Position{Kind: AtOffset, N: 99}, -1, end},
		{Position{Kind: BeforeEnd, N: 4}, -1, 16},
		{Position{Kind: BeforeEnd, N: 50}, -1, start},
		{Position{Kind: AtTime, N: 1}, 12, 12},
		{Position{Kind: AtTime, N: 1}, -1, end},
	} {
		if got := c.p.in(start, end, c.atTime); got != c.want {
			t.Errorf("%+v (at time %d) in [%d, %d] = %d, want %d", c.p, c.atTime, start, end, got, c.want)
		}
	}
}
