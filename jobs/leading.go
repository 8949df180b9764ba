package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// This file holds how a Scheduler takes up and gives up leading: catching
// up with the history, abandoning a dead leader's runs, fencing before it
// acts, and acting on pauses and manual runs written by any scheduler.

// leadershipChanged starts or stops scheduling as leadership comes and
// goes.
func (s *Scheduler) leadershipChanged(ctx context.Context) {
	leading := s.lead.leading.Load()
	switch {
	case leading && s.core == nil:
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.hist.CaughtUp(cctx)
		cancel()
		if err != nil {
			s.log.Error("cannot lead before reading the run history; retrying", "err", err)
			s.recheckLeadership()
			return
		}
		s.becomeLeader()
	case !leading && s.core != nil:
		s.stepDown("stopped leading")
	}
	s.m.leader.Set(map[bool]float64{true: 1, false: 0}[s.core != nil])
}

// stepDown stops scheduling here: runs in progress are cancelled (and
// recorded so), the core is dropped; a new leader starts from the history.
func (s *Scheduler) stepDown(why string) {
	s.log.Info(why+": cancelling runs in progress here", "runs", len(s.active))
	for _, a := range s.active {
		a.cancel(errLostLeadership)
	}
	s.core = nil
	s.handled = map[string]bool{}
	s.m.nextRun.Reset() // only the leader knows
	s.m.leader.Set(0)
}

// recheckLeadership asks the loop to look at leadership again in a
// second (after a step-down the group may still name this scheduler).
func (s *Scheduler) recheckLeadership() {
	go func() {
		time.Sleep(time.Second)
		select {
		case s.lead.changed <- struct{}{}:
		default:
		}
	}()
}

// confirmLeader fences this scheduler's leadership before it acts (see
// leadership.fence), retrying briefly while the group rebalances. On
// failure it steps down; if the group still names it leader, it leads
// again after catching up with the history.
func (s *Scheduler) confirmLeader() bool {
	var err error
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.lead.fence(ctx, s.hist.Next())
		cancel()
		if err == nil {
			return true
		}
		if !errors.Is(err, kerr.RebalanceInProgress) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.log.Warn("could not confirm this scheduler still leads; not acting on it", "err", err)
	s.stepDown("lost leadership (fenced)")
	s.recheckLeadership()
	return false
}

func (s *Scheduler) becomeLeader() {
	now := time.Now()
	s.core = NewCore()
	if !s.confirmLeader() {
		return
	}
	s.core.Rand = rand.Float64
	s.log.Info("leading: scheduling pipelines", "server", s.cfg.Server)
	var abandoned []Run
	for _, r := range s.hist.Runs("") {
		if r.Status != StatusRunning || s.active[r.ID] != nil {
			continue
		}
		r.Status, r.Ended = StatusAbandoned, now
		r.Reason = fmt.Sprintf("its scheduler %s stopped before the run ended (noticed by %s); the next run resumes from what the sink holds", r.Server, s.cfg.Server)
		s.log.Warn("run abandoned", "run", r.ID, "pipeline", r.Pipeline, "server", r.Server)
		s.m.runs.WithLabelValues(r.Pipeline, r.Status).Inc()
		abandoned = append(abandoned, r)
	}
	hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := s.hist.PutRuns(hctx, abandoned...); err != nil {
		s.log.Error("could not record abandoned runs in the history", "runs", len(abandoned), "err", err)
	}
	cancel()
	for _, e := range s.cat.Entries() {
		if s.core == nil { // stepped down while acting
			return
		}
		s.core.Restore(e.Spec.Name, s.hist.LastTick(e.Spec.Name), s.hist.Paused(e.Spec.Name))
		s.setPipeline(now, e)
	}
	s.fromHistory()
}

// fromHistory applies pauses and manual triggers written by any
// scheduler's API (only the leader acts on them).
func (s *Scheduler) fromHistory() {
	if s.core == nil {
		return
	}
	now := time.Now()
	for _, e := range s.cat.Entries() {
		if s.core == nil { // stepped down while acting
			return
		}
		name := e.Spec.Name
		st, ok := s.core.State(name)
		if !ok {
			continue
		}
		switch p := s.hist.Paused(name); {
		case p && !st.Paused:
			s.log.Info("pipeline paused", "pipeline", name)
			s.core.Pause(name)
		case !p && st.Paused:
			s.log.Info("pipeline resumed", "pipeline", name)
			s.do(s.core.Resume(now, name))
		}
	}
	for _, t := range s.hist.Triggers() {
		if s.core == nil {
			return
		}
		if s.handled[t.ID] {
			continue
		}
		if _, ok := s.hist.Run(t.ID); ok {
			s.deleteTrigger(t.ID)
			continue
		}
		s.handled[t.ID] = true
		acts, err := s.core.Trigger(now, t.Pipeline, t.ID)
		if err != nil {
			r := Run{ID: t.ID, Pipeline: t.Pipeline, Trigger: TriggerManual, Attempt: 1, Status: StatusSkipped,
				Reason: err.Error(), Ended: now, Server: s.cfg.Server}
			s.putRun(r)
			s.m.runs.WithLabelValues(r.Pipeline, r.Status).Inc()
			s.deleteTrigger(t.ID)
			continue
		}
		s.do(acts)
	}
}

func (s *Scheduler) deleteTrigger(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.hist.DeleteTrigger(ctx, id); err != nil {
		s.log.Warn("could not clear a manual trigger", "run", id, "err", err)
	}
	delete(s.handled, id)
}
