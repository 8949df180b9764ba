package replica

import (
	"slices"
	"time"
)

// Config is one partition's replication settings.
type Config struct {
	// Leader is this broker's id; Replicas the assignment.
	Leader   int32
	Replicas []int32
	// MinISR is min.insync.replicas; LagMax replica.lag.time.max.ms.
	MinISR int
	LagMax time.Duration
	// EpochStart is the leader's log end when it became leader in its
	// current epoch: a follower rejoins the ISR only past it, having read
	// from this leader.
	EpochStart int64
}

// follower is what the leader knows of one other replica.
type follower struct {
	end int64 // its log end offset: the offset it last fetched from
	// caughtUp is the last time it had everything the leader had.
	caughtUp time.Time
	// lastFetch and leaderEndAtLastFetch: when it last fetched, and the
	// leader's log end then (a fetch reaching that end proves it was
	// caught up at the time of the previous fetch, as in Kafka).
	lastFetch            time.Time
	leaderEndAtLastFetch int64
}

// Tracker is the leader's view of one partition's replicas. Not safe for
// concurrent use.
type Tracker struct {
	cfg       Config
	isr       []int32
	leaderEnd int64
	hw        int64
	followers map[int32]*follower
}

// New starts tracking as leader with the given ISR, log end and high
// watermark (from the log and its checkpoint), at now: every follower
// counts as caught up at now, so none is dropped before it had
// replica.lag.time.max.ms to fetch.
func New(cfg Config, isr []int32, leaderEnd, hw int64, now time.Time) *Tracker {
	t := &Tracker{cfg: cfg, isr: slices.Clone(isr), leaderEnd: leaderEnd, hw: hw, followers: map[int32]*follower{}}
	for _, r := range cfg.Replicas {
		if r != cfg.Leader {
			t.followers[r] = &follower{end: -1, caughtUp: now, lastFetch: now, leaderEndAtLastFetch: leaderEnd}
		}
	}
	return t
}

// HighWatermark is the offset below which records are committed: every
// ISR member has them and the ISR was at min.insync.replicas.
func (t *Tracker) HighWatermark() int64 { return t.hw }

// ISR is the in-sync replicas as last set.
func (t *Tracker) ISR() []int32 { return slices.Clone(t.isr) }

// CanAppendAcksAll reports whether an acks=all produce may be appended:
// with fewer in-sync replicas than min.insync.replicas it gets
// NOT_ENOUGH_REPLICAS.
func (t *Tracker) CanAppendAcksAll() bool { return len(t.isr) >= t.cfg.MinISR }

// Appended records that the leader's log now ends at end.
func (t *Tracker) Appended(end int64) {
	t.leaderEnd = end
	t.advance()
}

// Fetched records a follower's fetch from offset at now (the leader's
// log end then is the current one) and returns the high watermark to send
// it. A fetch from a replica not in the assignment changes nothing.
func (t *Tracker) Fetched(replica int32, offset int64, now time.Time) int64 {
	f := t.followers[replica]
	if f == nil {
		return t.hw
	}
	switch {
	case offset >= t.leaderEnd:
		f.caughtUp = now
	case offset >= f.leaderEndAtLastFetch:
		f.caughtUp = maxTime(f.caughtUp, f.lastFetch)
	}
	f.end, f.lastFetch, f.leaderEndAtLastFetch = offset, now, t.leaderEnd
	t.advance()
	return t.hw
}

// advance moves the high watermark to the least log end over the ISR,
// only forward, and only while the ISR is at min.insync.replicas.
func (t *Tracker) advance() {
	if len(t.isr) < t.cfg.MinISR {
		return
	}
	hw := t.leaderEnd
	for _, r := range t.isr {
		if f := t.followers[r]; f != nil {
			hw = min(hw, f.end)
		}
	}
	t.hw = max(t.hw, hw)
}

// OutOfSync returns the ISR followers that have not been caught up for
// longer than replica.lag.time.max.ms at now: the shrink to propose.
func (t *Tracker) OutOfSync(now time.Time) []int32 {
	var out []int32
	for _, r := range t.isr {
		if f := t.followers[r]; f != nil && now.Sub(f.caughtUp) > t.cfg.LagMax {
			out = append(out, r)
		}
	}
	return out
}

// CaughtUp returns the followers out of the ISR whose log reaches the
// high watermark and the start of the leader's epoch: the expansion to
// propose (as Kafka, with no time condition: a follower at the watermark
// holds everything committed).
func (t *Tracker) CaughtUp() []int32 {
	var out []int32
	for _, r := range t.cfg.Replicas {
		f := t.followers[r]
		if f == nil || slices.Contains(t.isr, r) {
			continue
		}
		if f.end >= t.hw && f.end >= t.cfg.EpochStart {
			out = append(out, r)
		}
	}
	return out
}

// SetISR applies the ISR the controller committed; the high watermark may
// advance if the ISR shrank past a straggler or reached min.insync.replicas.
// A follower joining counts as caught up as of its last fetch, when it
// was at the watermark, so the next shrink check does not drop it at once.
func (t *Tracker) SetISR(isr []int32) {
	for _, r := range isr {
		if f := t.followers[r]; f != nil && !slices.Contains(t.isr, r) {
			f.caughtUp = maxTime(f.caughtUp, f.lastFetch)
		}
	}
	t.isr = slices.Clone(isr)
	t.advance()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
