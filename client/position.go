package client

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// PositionKind says what a Position names.
type PositionKind int

// The kinds of Position.
const (
	Earliest  PositionKind = iota // the start of each partition's log
	Latest                        // the end: only records produced later
	AtOffset                      // offset N
	BeforeEnd                     // N records before the end
	AtTime                        // the first record at or after Unix time N milliseconds
)

// Position is a place in each partition of a topic: where a Reader starts,
// or where an offset reset moves a group.
type Position struct {
	Kind PositionKind
	N    int64 // the offset, record count or Unix milliseconds of Kind
}

// ParseFrom parses a start position as `sluice consume --from` takes it:
// earliest (or beginning), latest (or end), an offset N, -N (N records
// before the end) or @MS (Unix milliseconds).
func ParseFrom(s string) (Position, error) {
	switch {
	case s == "earliest" || s == "beginning":
		return Position{Kind: Earliest}, nil
	case s == "latest" || s == "end":
		return Position{Kind: Latest}, nil
	case strings.HasPrefix(s, "@"):
		ms, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || ms < 0 {
			return Position{}, errors.New("want @ followed by Unix milliseconds")
		}
		return Position{Kind: AtTime, N: ms}, nil
	case strings.HasPrefix(s, "-"):
		n, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || n <= 0 {
			return Position{}, errors.New("want -N with N > 0 records before the end")
		}
		return Position{Kind: BeforeEnd, N: n}, nil
	default:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return Position{}, errors.New("want earliest, latest, an offset >= 0, -N or @UNIX_MS")
		}
		return Position{Kind: AtOffset, N: n}, nil
	}
}

// resetTimeLayouts are the date-time forms ParseResetTo accepts, in UTC
// unless the form carries a zone.
var resetTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// ParseResetTo parses where an offset reset moves a group, as `sluice group
// reset-offsets --to` takes it: earliest, latest, an offset, or a date-time
// (RFC 3339, or without a zone in UTC, or a date).
func ParseResetTo(s string) (Position, error) {
	switch s {
	case "earliest":
		return Position{Kind: Earliest}, nil
	case "latest":
		return Position{Kind: Latest}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return Position{}, errors.New("an offset must not be negative")
		}
		return Position{Kind: AtOffset, N: n}, nil
	}
	for _, layout := range resetTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return Position{Kind: AtTime, N: t.UnixMilli()}, nil
		}
	}
	return Position{}, errors.New("want earliest, latest, an offset, or a date-time such as 2026-01-02T15:04:05Z (UTC unless a zone is given)")
}

// kgoOffset is the franz-go start offset for p.
func (p Position) kgoOffset() kgo.Offset {
	switch p.Kind {
	case Latest:
		return kgo.NewOffset().AtEnd()
	case AtOffset:
		return kgo.NewOffset().At(p.N)
	case BeforeEnd:
		return kgo.NewOffset().AtEnd().Relative(-p.N)
	case AtTime:
		return kgo.NewOffset().AfterMilli(p.N)
	default:
		return kgo.NewOffset().AtStart()
	}
}

// in resolves p in a partition whose log runs from start to end. atTime is
// the first offset at or after p's time (negative: no such record, which
// resolves to the end); only AtTime uses it. An offset outside the log is
// clamped to it.
func (p Position) in(start, end, atTime int64) int64 {
	switch p.Kind {
	case Latest:
		return end
	case AtOffset:
		return min(max(p.N, start), end)
	case BeforeEnd:
		return min(max(end-p.N, start), end)
	case AtTime:
		if atTime < 0 {
			return end
		}
		return atTime
	default:
		return start
	}
}
