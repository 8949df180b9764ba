package jobs

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/pipelines"
)

// Run statuses, as recorded in the history.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	StatusTimedOut  = "timed_out"
	StatusSkipped   = "skipped"
	StatusMissed    = "missed"
	StatusAbandoned = "abandoned"
	// StatusPending is a manual run asked for but not yet started by the
	// leading scheduler; it is never stored as a run.
	StatusPending = "pending"
)

// Triggers: what started a run.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
	TriggerCatchup  = "catchup"
	TriggerRetry    = "retry"
)

// Terminal reports whether a run in this status is over.
func Terminal(status string) bool {
	return status != StatusRunning && status != StatusPending
}

// Spec is what the core needs of a pipeline: its schedule and the
// policies around it, as pipelines.Load returns them.
type Spec struct {
	Name string
	// Hash identifies the version of the pipeline file.
	Hash string
	// Schedule is nil for a pipeline run only on demand.
	Schedule Schedule
	// Expr is the schedule as written, with its zone: a change of it (or
	// of Jitter) replans the next tick.
	Expr             string
	Queue            bool // concurrency: queue (else forbid)
	Jitter           time.Duration
	StartingDeadline time.Duration // 0: none
	Catchup          bool
	Retries          int
	RetryBackoff     time.Duration
	Timeout          time.Duration // 0: none
}

// ActionKind says what the runner must do.
type ActionKind int

// Actions the core asks of its runner.
const (
	// ActStart starts Run (status running): record it, then load.
	ActStart ActionKind = iota
	// ActRecord records Run, which never started (skipped or missed).
	ActRecord
	// ActCancel cancels the active run Run.ID (for Run.Status: timed_out).
	ActCancel
)

// Action is one thing the runner must do, in order.
type Action struct {
	Kind ActionKind
	Run  Run
}

// Outcome is how an active run ended, as the runner saw it.
type Outcome int

// Outcomes of a run.
const (
	OutcomeOK        Outcome = iota // the load succeeded
	OutcomeErr                      // the load failed (or was cancelled for a timeout)
	OutcomeCancelled                // stopped by shutdown or lost leadership
)

// Errors of Trigger.
var (
	ErrUnknownPipeline = errors.New("jobs: no such pipeline")
	ErrBusy            = errors.New("jobs: a run of this pipeline is in progress")
)

// Core decides, from pipeline specs, their last ticks and the time it is
// told, which runs are due, and when it must next be woken. It does no
// I/O and reads no clock: every method takes now, and returns the
// actions the runner must carry out in order. It is not safe for
// concurrent use; the runner owns it.
type Core struct {
	// Rand returns a number in [0, 1) for jitter; nil means 0.5.
	Rand  func() float64
	pipes map[string]*pipe
	seq   int
}

type pipe struct {
	spec     *Spec
	paused   bool
	removed  bool
	lastTick time.Time // the latest scheduled time handled
	next     time.Time // the next tick, zero if none
	startAt  time.Time // next plus its jitter
	running  *Run
	timedOut bool      // running was cancelled for its timeout
	queued   *Run      // a tick waiting for running to end (queue)
	retry    *Run      // the next attempt of a failed run
	retryAt  time.Time // when retry starts
}

// NewCore returns a core with no pipelines.
func NewCore() *Core { return &Core{pipes: map[string]*pipe{}} }

// Restore tells the core what the history says of a pipeline before its
// spec is set: the latest tick handled and whether it is paused.
func (c *Core) Restore(name string, lastTick time.Time, paused bool) {
	p := c.pipe(name)
	p.lastTick, p.paused = lastTick, paused
}

func (c *Core) pipe(name string) *pipe {
	p := c.pipes[name]
	if p == nil {
		p = &pipe{}
		c.pipes[name] = p
	}
	return p
}

// Set adds or updates a pipeline. A new pipeline with catch-up on and
// ticks missed since its restored last tick starts one catch-up run for
// them. A changed schedule takes effect from now.
func (c *Core) Set(now time.Time, s *Spec) []Action {
	p := c.pipe(s.Name)
	old := p.spec
	p.spec, p.removed = s, false
	var acts []Action
	switch {
	case s.Schedule == nil:
		p.next, p.startAt = time.Time{}, time.Time{}
	case old == nil:
		if n, last := c.missed(p, now); n > 0 && s.Catchup && !p.paused {
			r := c.newRun(p, TriggerCatchup, last, now)
			r.Covers = n
			p.lastTick = last
			acts = c.startOrWait(now, p, r, acts)
		}
		c.plan(p, now)
	case old.Expr != s.Expr || old.Jitter != s.Jitter || old.Schedule == nil:
		c.plan(p, now)
	}
	return append(acts, c.Advance(now)...)
}

// missed counts the ticks after the restored last tick up to now (at most
// 10,000), and returns the latest of them.
func (c *Core) missed(p *pipe, now time.Time) (n int, last time.Time) {
	if p.lastTick.IsZero() {
		return 0, time.Time{}
	}
	for t := p.spec.Schedule.Next(p.lastTick); !t.IsZero() && !t.After(now) && n < 10000; t = p.spec.Schedule.Next(t) {
		n, last = n+1, t
	}
	return n, last
}

// plan sets the next tick after now (or after the last tick, if later).
func (c *Core) plan(p *pipe, now time.Time) {
	from := maxTime(now, p.lastTick)
	p.next = p.spec.Schedule.Next(from)
	p.startAt = p.next
	if !p.next.IsZero() && p.spec.Jitter > 0 {
		p.startAt = p.next.Add(time.Duration(c.rand() * float64(p.spec.Jitter)))
	}
}

func (c *Core) rand() float64 {
	if c.Rand == nil {
		return 0.5
	}
	return c.Rand()
}

// Remove deletes a pipeline: its active run finishes, nothing new starts.
func (c *Core) Remove(name string) {
	if p := c.pipes[name]; p != nil {
		p.removed, p.queued, p.retry = true, nil, nil
		p.next, p.startAt = time.Time{}, time.Time{}
		if p.running == nil {
			delete(c.pipes, name)
		}
	}
}

// Pause stops a pipeline's schedule; ticks while paused are not recorded.
// Manual runs still start.
func (c *Core) Pause(name string) {
	if p := c.pipes[name]; p != nil {
		p.paused = true
		p.queued, p.retry = nil, nil
	}
}

// Resume restarts a paused schedule from now: ticks missed while paused
// are not run.
func (c *Core) Resume(now time.Time, name string) []Action {
	p := c.pipes[name]
	if p == nil || !p.paused {
		return nil
	}
	p.paused = false
	if p.spec != nil && p.spec.Schedule != nil {
		c.plan(p, now)
	}
	return c.Advance(now)
}

// Trigger starts a manual run with the given id (or queues it, with
// concurrency: queue). With forbid, a pipeline that is running refuses
// with ErrBusy.
func (c *Core) Trigger(now time.Time, name, id string) ([]Action, error) {
	p := c.pipes[name]
	if p == nil || p.spec == nil || p.removed {
		return nil, fmt.Errorf("%w %q", ErrUnknownPipeline, name)
	}
	if p.running != nil && (!p.spec.Queue || p.queued != nil) {
		return nil, ErrBusy
	}
	r := c.newRun(p, TriggerManual, time.Time{}, now)
	if id != "" {
		r.ID = id
	}
	return c.startOrWait(now, p, r, nil), nil
}

// Finished tells the core that an active run ended, and returns what
// follows: a retry, a queued run, the run's final record.
func (c *Core) Finished(now time.Time, id string, out Outcome) (Run, []Action) {
	var p *pipe
	var name string
	for n, q := range c.pipes {
		if q.running != nil && q.running.ID == id {
			p, name = q, n
		}
	}
	if p == nil {
		return Run{}, nil
	}
	r := *p.running
	r.Ended = now
	switch {
	case p.timedOut:
		r.Status = StatusTimedOut
	case out == OutcomeOK:
		r.Status = StatusSucceeded
	case out == OutcomeCancelled:
		r.Status = StatusCancelled
	default:
		r.Status = StatusFailed
	}
	p.running, p.timedOut = nil, false
	if p.removed {
		delete(c.pipes, name)
		return r, nil
	}
	if r.Status == StatusFailed && r.Attempt <= p.spec.Retries && !p.paused {
		next := r
		next.Attempt++
		next.Trigger = TriggerRetry
		next.ID = fmt.Sprintf("%s.r%d", baseID(r.ID), next.Attempt-1)
		p.retry, p.retryAt = &next, now.Add(c.backoff(p.spec.RetryBackoff, r.Attempt))
	}
	return r, c.Advance(now)
}

// backoff is the wait before retry n (1-based): base doubling per attempt
// up to pipelines.MaxRetryBackoff, with "equal jitter": half fixed, half random, so
// retries of many pipelines spread out but never come sooner than half.
func (c *Core) backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < pipelines.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, pipelines.MaxRetryBackoff)
	return d/2 + time.Duration(c.rand()*float64(d/2))
}

// baseID strips a retry suffix (".rN", N digits) from a run id; a
// pipeline's own name may hold ".r" too.
func baseID(id string) string {
	i := strings.LastIndex(id, ".r")
	if i <= 0 || i+2 == len(id) || strings.Trim(id[i+2:], "0123456789") != "" {
		return id
	}
	return id[:i]
}

// Advance moves the core to now: timeouts, due retries, queued runs and
// ticks, for every pipeline in name order.
func (c *Core) Advance(now time.Time) []Action {
	var acts []Action
	for _, name := range c.names() {
		p := c.pipes[name]
		if p.spec == nil {
			continue
		}
		if p.running != nil && !p.timedOut && p.spec.Timeout > 0 && !now.Before(p.running.Started.Add(p.spec.Timeout)) {
			p.timedOut = true
			r := *p.running
			r.Status = StatusTimedOut
			acts = append(acts, Action{Kind: ActCancel, Run: r})
		}
		if p.running == nil && p.queued != nil {
			q := p.queued
			p.queued = nil
			acts = c.startOrWait(now, p, q, acts)
		}
		if p.running == nil && p.retry != nil && !now.Before(p.retryAt) {
			r := p.retry
			p.retry = nil
			r.Started = now
			acts = c.startOrWait(now, p, r, acts)
		}
		if p.next.IsZero() || now.Before(p.startAt) {
			continue
		}
		// One tick is due (or several, if the scheduler was held up):
		// handle the latest, covering the rest.
		t, n := p.next, 1
		for nt := p.spec.Schedule.Next(t); !nt.IsZero() && !nt.After(now) && n < 10000; nt = p.spec.Schedule.Next(nt) {
			t, n = nt, n+1
		}
		startAt := p.startAt
		if n > 1 {
			startAt = t
		}
		p.lastTick = t
		c.plan(p, now)
		if p.paused || p.removed {
			continue
		}
		r := c.newRun(p, TriggerSchedule, t, now)
		r.Covers = n
		r.Started = startAt // when it was due to start, for the deadline
		if p.retry != nil {
			p.retry = nil // the tick's run does the retry's work
		}
		acts = c.startOrWait(now, p, r, acts)
	}
	return acts
}

// startOrWait starts r now, or records why it cannot start: past its
// starting deadline (missed), a run in progress (queued, or skipped).
// r.Started holds when it was due to start.
func (c *Core) startOrWait(now time.Time, p *pipe, r *Run, acts []Action) []Action {
	if d := p.spec.StartingDeadline; d > 0 && r.Trigger != TriggerManual && now.Sub(r.Started) > d {
		r.Status, r.Ended = StatusMissed, now
		r.Reason = fmt.Sprintf("could not start within starting_deadline %s of %s", d, r.Started.UTC().Format(time.RFC3339))
		r.Started = time.Time{}
		return append(acts, Action{Kind: ActRecord, Run: *r})
	}
	if p.running != nil {
		if p.spec.Queue && p.queued == nil {
			p.queued = r
			return acts
		}
		r.Status, r.Ended = StatusSkipped, now
		r.Reason = fmt.Sprintf("run %s was still in progress (concurrency: %s)", p.running.ID, map[bool]string{true: "queue, one already waiting", false: "forbid"}[p.spec.Queue])
		r.Started = time.Time{}
		return append(acts, Action{Kind: ActRecord, Run: *r})
	}
	r.Status, r.Started = StatusRunning, now
	p.running = r
	return append(acts, Action{Kind: ActStart, Run: *r})
}

// newRun names a run: <pipeline>-<scheduled time> for ticks, so a tick
// has one id wherever it is run; manual and catch-up runs are named by
// the time they were asked for.
func (c *Core) newRun(p *pipe, trigger string, scheduled, now time.Time) *Run {
	var id string
	switch trigger {
	case TriggerSchedule:
		id = fmt.Sprintf("%s-%s", p.spec.Name, scheduled.UTC().Format("20060102T150405Z"))
	default:
		c.seq++
		id = fmt.Sprintf("%s-%s-%s%d", p.spec.Name, trigger, now.UTC().Format("20060102T150405Z"), c.seq)
	}
	return &Run{ID: id, Pipeline: p.spec.Name, SpecHash: p.spec.Hash, Trigger: trigger, Scheduled: scheduled, Attempt: 1, Started: now}
}

// NextWake is when Advance must next be called, or zero if nothing is
// pending.
func (c *Core) NextWake() time.Time {
	var w time.Time
	early := func(t time.Time) {
		if !t.IsZero() && (w.IsZero() || t.Before(w)) {
			w = t
		}
	}
	for _, p := range c.pipes {
		if p.spec == nil {
			continue
		}
		if !p.paused {
			early(p.startAt)
		}
		if p.retry != nil {
			early(p.retryAt)
		}
		if p.running != nil && p.spec.Timeout > 0 && !p.timedOut {
			early(p.running.Started.Add(p.spec.Timeout))
		}
	}
	return w
}

// PipelineState is the core's view of one pipeline, for the API.
type PipelineState struct {
	Next     time.Time // next scheduled start, zero if none
	LastTick time.Time
	Paused   bool
	Running  string // active run id
	Queued   bool
	RetryAt  time.Time
}

// State reports a pipeline's scheduling state.
func (c *Core) State(name string) (PipelineState, bool) {
	p := c.pipes[name]
	if p == nil {
		return PipelineState{}, false
	}
	st := PipelineState{LastTick: p.lastTick, Paused: p.paused, Queued: p.queued != nil}
	if !p.paused {
		st.Next = p.startAt
	}
	if p.running != nil {
		st.Running = p.running.ID
	}
	if p.retry != nil {
		st.RetryAt = p.retryAt
	}
	return st, true
}

func (c *Core) names() []string {
	names := make([]string, 0, len(c.pipes))
	for n := range c.pipes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
