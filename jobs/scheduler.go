package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/loader"
)

// Config configures a Scheduler. Start from DefaultConfig.
type Config struct {
	// Dir is the folder of pipeline files (*.yaml, *.yml).
	Dir string
	// Brokers are seed brokers of the cluster holding the run history and
	// through which schedulers elect a leader (any Kafka cluster).
	Brokers []string
	// HistoryTopic is the compacted topic of run history.
	HistoryTopic string
	// Group is the consumer group schedulers elect their leader in.
	Group string
	// SessionTimeout is how long a silent leader keeps leading before
	// another scheduler takes over.
	SessionTimeout time.Duration
	// Server names this scheduler in run records; default host:pid.
	Server string
	// Rescan is how often Dir is listed again, besides file-change
	// notifications (which some file systems do not send).
	Rescan time.Duration
	// StopTimeout bounds how long Run waits, once ctx ends, for active
	// runs to stop.
	StopTimeout time.Duration
	// Logger receives the scheduler's log; nil discards.
	Logger *slog.Logger
	// Registerer receives the scheduler's and loader's metrics; nil
	// keeps them unregistered.
	Registerer prometheus.Registerer
	// Env expands ${VAR} in pipeline files; nil means the process
	// environment.
	Env func(string) (string, bool)
}

// DefaultConfig returns the defaults: history in _sluice_runs, leader
// group _sluice_scheduler, a 10s session, a 2s rescan.
func DefaultConfig() Config {
	return Config{
		HistoryTopic:   DefaultHistoryTopic,
		Group:          DefaultGroup,
		SessionTimeout: 10 * time.Second,
		Rescan:         2 * time.Second,
		StopTimeout:    30 * time.Second,
	}
}

// Validate checks the configuration, naming the flag of each problem.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("--pipelines: a folder of pipeline files is required"))
	} else if st, err := os.Stat(c.Dir); err != nil || !st.IsDir() {
		errs = append(errs, fmt.Errorf("--pipelines %s: not a folder", c.Dir))
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("--brokers: the cluster for run history is required"))
	}
	if c.HistoryTopic == "" {
		errs = append(errs, errors.New("--history-topic: the run history topic must be named"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group: the scheduler group must be named"))
	}
	if c.SessionTimeout < time.Second {
		errs = append(errs, fmt.Errorf("--session-timeout %s: at least 1s", c.SessionTimeout))
	}
	if c.Rescan <= 0 {
		errs = append(errs, fmt.Errorf("rescan %s: must be more than 0", c.Rescan))
	}
	if c.StopTimeout <= 0 {
		errs = append(errs, fmt.Errorf("stop timeout %s: must be more than 0", c.StopTimeout))
	}
	return errors.Join(errs...)
}

// Scheduler runs the pipelines of a folder on their schedules (see the
// package doc). Create it with New, serve Handler on an HTTP listener and
// call Run.
type Scheduler struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	lm   *loader.Metrics
	cat  *Catalog
	hist *History // set by Run before ready closes
	lead *leadership
	// clients are Kafka clients of the pipelines' source clusters, for
	// measuring lag, shared by runs.
	clients *clientCache

	ready  chan struct{} // closed once the history is read
	nudge  chan struct{}
	done   chan runResult
	reload chan struct{}

	// Owned by the Run goroutine.
	core     *Core // nil unless leading
	active   map[string]*activeRun
	handled  map[string]bool // triggers handed to the core
	runCtx   context.Context
	lastErrs map[string]string
	seen     map[string]seenFile // pipeline files as last read

	mu struct {
		sync.RWMutex
		entries  map[string]*Entry
		fileErrs []FileError
		states   map[string]PipelineState
		leading  bool
	}
}

type seenFile struct {
	size int64
	mod  time.Time
	data []byte
}

type activeRun struct {
	run    Run
	entry  *Entry
	cancel context.CancelCauseFunc
	ctx    context.Context
}

type runResult struct {
	id     string
	err    error
	landed Landed // with the lag after the run
}

// bigRun is the bytes landed after which a run's memory is handed back to
// the operating system at once.
const bigRun = 64 << 20

var (
	errShutdown       = errors.New("the scheduler is shutting down")
	errLostLeadership = errors.New("this scheduler stopped leading")
	errTimedOut       = errors.New("the run's timeout passed")
)

// New checks cfg and returns a scheduler that has not started.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Server == "" {
		host, _ := os.Hostname()
		cfg.Server = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if cfg.Env == nil {
		cfg.Env = os.LookupEnv
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		cfg:      cfg,
		log:      log,
		m:        newMetrics(cfg.Registerer),
		lm:       loader.NewMetrics(cfg.Registerer),
		cat:      NewCatalog(),
		ready:    make(chan struct{}),
		nudge:    make(chan struct{}, 1),
		done:     make(chan runResult, 16),
		reload:   make(chan struct{}, 1),
		active:   map[string]*activeRun{},
		handled:  map[string]bool{},
		lastErrs: map[string]string{},
		clients:  newClientCache(),
		seen:     map[string]seenFile{},
	}
	s.mu.entries = map[string]*Entry{}
	s.mu.states = map[string]PipelineState{}
	return s, nil
}

// Run schedules until ctx ends, then cancels the runs in progress (files
// they published stay; the next run resumes after them), records them
// and hands leadership over.
func (s *Scheduler) Run(ctx context.Context) error {
	hist, err := s.openHistory(ctx)
	if err != nil {
		return err
	}
	defer s.clients.close()
	s.hist = hist
	defer hist.Close()
	tailCtx, stopTail := context.WithCancel(context.Background())
	defer stopTail()
	go hist.Tail(tailCtx)
	if err := hist.CaughtUp(ctx); err != nil {
		return fmt.Errorf("reading run history: %w", err)
	}
	s.scan()
	close(s.ready)

	lead, err := newLeadership(s.cfg.Brokers, s.cfg.Group, s.cfg.HistoryTopic, s.cfg.SessionTimeout, s.log)
	if err != nil {
		return err
	}
	s.lead = lead
	leadCtx, stopLead := context.WithCancel(context.Background())
	leadDone := make(chan struct{})
	go func() { defer close(leadDone); lead.run(leadCtx) }()

	watchDone := s.watch(ctx)
	runCtx, cancelRuns := context.WithCancelCause(context.Background())
	s.runCtx = runCtx
	s.log.Info("scheduler started", "pipelines", s.cfg.Dir, "server", s.cfg.Server, "history", s.cfg.HistoryTopic, "brokers", strings.Join(s.cfg.Brokers, ","))

	rescan := time.NewTicker(s.cfg.Rescan)
	defer rescan.Stop()
	// A change notification is followed by a short wait, so an editor's
	// truncate-then-write is read once, whole.
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		select {
		case <-ctx.Done():
			cancelRuns(errShutdown)
			s.stop()
			stopLead()
			lead.close()
			<-leadDone
			<-watchDone
			s.log.Info("scheduler stopped", "server", s.cfg.Server)
			return nil
		case <-s.reload:
			settle.Reset(100 * time.Millisecond)
		case <-settle.C:
			s.scan()
		case <-rescan.C:
			s.scan()
		case <-lead.changed:
			s.leadershipChanged(ctx)
		case <-hist.Changed():
			s.fromHistory()
		case <-s.nudge:
			s.fromHistory()
		case r := <-s.done:
			s.finished(r)
		case <-wake.C:
			if s.core != nil {
				s.do(s.core.Advance(time.Now()))
			}
		}
		s.publish()
		wake.Reset(s.untilWake())
	}
}

// openHistory connects to the history cluster, retrying for a while: a
// broker started beside the scheduler may still be coming up.
func (s *Scheduler) openHistory(ctx context.Context) (*History, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		h, err := OpenHistory(octx, s.cfg.Brokers, s.cfg.HistoryTopic, s.log)
		cancel()
		if err == nil {
			return h, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("--brokers %s: %w", strings.Join(s.cfg.Brokers, ","), err)
		}
		s.log.Warn("run history not reachable yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (s *Scheduler) untilWake() time.Duration {
	if s.core == nil {
		return time.Hour
	}
	w := s.core.NextWake()
	if w.IsZero() {
		return time.Hour
	}
	return max(time.Until(w), time.Millisecond)
}

// watch asks for a rescan whenever a file in Dir changes.
func (s *Scheduler) watch(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(s.cfg.Dir)
	}
	if err != nil {
		s.log.Warn("not watching the pipeline folder; rescanning it instead", "dir", s.cfg.Dir, "every", s.cfg.Rescan, "err", err)
		if w != nil {
			w.Close()
		}
		close(done)
		return done
	}
	go func() {
		defer close(done)
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if IsPipelineFile(ev.Name) {
					select {
					case s.reload <- struct{}{}:
					default:
					}
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				s.log.Warn("watching the pipeline folder", "err", err)
			}
		}
	}()
	return done
}

// scan reads Dir and applies what changed.
func (s *Scheduler) scan() {
	files := map[string][]byte{}
	ents, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		s.log.Error("reading the pipeline folder", "dir", s.cfg.Dir, "err", err)
		return
	}
	for _, e := range ents {
		if e.IsDir() || !IsPipelineFile(e.Name()) {
			continue
		}
		path := filepath.Join(s.cfg.Dir, e.Name())
		info, err := e.Info()
		if err != nil {
			continue // deleted since the listing
		}
		// Read only what changed since the last scan (the rescan runs
		// every couple of seconds over every file).
		if c, ok := s.seen[path]; ok && c.size == info.Size() && c.mod.Equal(info.ModTime()) {
			files[path] = c.data
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			s.log.Warn("reading a pipeline file", "file", path, "err", err)
			continue
		}
		files[path] = b
		s.seen[path] = seenFile{size: info.Size(), mod: info.ModTime(), data: b}
	}
	for path := range s.seen {
		if _, ok := files[path]; !ok {
			delete(s.seen, path)
		}
	}
	now := time.Now()
	for _, c := range s.cat.Update(files, s.cfg.Env) {
		if c.Removed {
			s.log.Info("pipeline removed: its active run finishes, no new run starts", "pipeline", c.Name)
			if s.core != nil {
				s.core.Remove(c.Name)
			}
			s.m.nextRun.DeleteLabelValues(c.Name)
			continue
		}
		s.log.Info("pipeline loaded", "pipeline", c.Name, "file", c.Entry.File, "schedule", c.Entry.Spec.Schedule, "version", c.Entry.Hash)
		if s.core != nil {
			s.setPipeline(now, c.Entry)
		}
	}
	errs := s.cat.Errors()
	seen := map[string]string{}
	for _, fe := range errs {
		msg := fe.Err.Error()
		seen[fe.File] = msg
		if s.lastErrs[fe.File] != msg {
			if fe.Pipeline != "" {
				s.log.Error("invalid pipeline file; the last valid version keeps running", "file", fe.File, "pipeline", fe.Pipeline, "err", msg)
			} else {
				s.log.Error("invalid pipeline file", "file", fe.File, "err", msg)
			}
		}
		if old, ok := s.lastErrs[fe.File]; ok && old != msg {
			s.m.fileError.DeletePartialMatch(prometheus.Labels{"file": fe.File})
		}
		s.m.fileError.WithLabelValues(fe.File, errorPosition(fe)).Set(1)
	}
	for f := range s.lastErrs {
		if _, ok := seen[f]; !ok {
			s.m.fileError.DeletePartialMatch(prometheus.Labels{"file": f})
		}
	}
	s.lastErrs = seen
	s.m.invalidFiles.Set(float64(len(errs)))
	entries := map[string]*Entry{}
	for _, e := range s.cat.Entries() {
		entries[e.Spec.Name] = e
	}
	s.mu.Lock()
	s.mu.entries, s.mu.fileErrs = entries, errs
	s.mu.Unlock()
}

// errorPosition is file:line:column of a file's first problem (the file
// alone when the problem has no position).
func errorPosition(fe FileError) string {
	for _, e := range specErrors(fe.File, fe.Err) {
		if e.Line > 0 {
			return fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
		}
	}
	return fe.File
}

func (s *Scheduler) setPipeline(now time.Time, e *Entry) {
	if s.core == nil {
		return
	}
	cs, err := CoreSpec(e)
	if err != nil {
		s.log.Error("pipeline schedule", "pipeline", e.Spec.Name, "err", err)
		return
	}
	s.do(s.core.Set(now, cs))
}

func (s *Scheduler) putRun(r Run) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.hist.PutRun(ctx, r); err != nil {
		s.log.Error("could not record a run in the history", "run", r.ID, "status", r.Status, "err", err)
	}
}

// do carries out the core's actions in order, once the group confirms
// this scheduler still leads.
func (s *Scheduler) do(acts []Action) {
	acting := false
	for _, a := range acts {
		acting = acting || a.Kind != ActCancel
	}
	if acting && !s.confirmLeader() {
		return
	}
	var starts []Run
	for _, a := range acts {
		r := a.Run
		r.Server = s.cfg.Server
		switch a.Kind {
		case ActStart:
			starts = append(starts, r)
		case ActRecord:
			s.log.Info("run not started", "run", r.ID, "pipeline", r.Pipeline, "status", r.Status, "reason", r.Reason)
			s.putRun(r)
			s.m.runs.WithLabelValues(r.Pipeline, r.Status).Inc()
		case ActCancel:
			if ar := s.active[r.ID]; ar != nil {
				s.log.Warn("run timed out: cancelling it", "run", r.ID, "pipeline", r.Pipeline)
				ar.cancel(errTimedOut)
			}
		}
	}
	s.start(starts)
}

// start records runs as running, all in one write (a tick of many
// pipelines starts them together), then loads each in the background.
func (s *Scheduler) start(runs []Run) {
	if len(runs) == 0 {
		return
	}
	s.mu.RLock()
	entries := s.mu.entries
	s.mu.RUnlock()
	var record []Run
	for _, r := range runs {
		ctx, cancel := context.WithCancelCause(s.runCtx)
		a := &activeRun{run: r, entry: entries[r.Pipeline], cancel: cancel, ctx: ctx}
		s.active[r.ID] = a
		if a.entry == nil {
			s.finishLater(r.ID, fmt.Errorf("pipeline %s is no longer defined", r.Pipeline))
			continue
		}
		record = append(record, r)
	}
	s.m.running.Set(float64(len(s.active)))
	hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := s.hist.PutRuns(hctx, record...)
	hcancel()
	for _, r := range record {
		if err != nil {
			s.finishLater(r.ID, fmt.Errorf("not started: could not record the run: %w", err))
			continue
		}
		if r.Trigger == TriggerManual {
			if _, ok := s.hist.PendingTrigger(r.ID); ok {
				s.deleteTrigger(r.ID)
			}
		}
		s.log.Info("run started", "run", r.ID, "pipeline", r.Pipeline, "trigger", r.Trigger, "attempt", r.Attempt)
		a := s.active[r.ID]
		go func() {
			lcfg := loader.DefaultConfig(a.entry.Spec)
			lcfg.Dir = filepath.Dir(a.entry.File)
			lcfg.Logger = s.log.With("run", r.ID, "pipeline", r.Pipeline)
			lcfg.Progress = loader.NewLogProgress(slog.New(slog.DiscardHandler))
			lcfg.Metrics = s.lm
			sum, err := loader.Run(a.ctx, lcfg)
			res := runResult{id: r.ID, err: err, landed: newLanded(sum)}
			// The lag after the run, measured here rather than on the
			// scheduler's loop, which other runs' ends must not wait for.
			lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if lerr := fillLag(lctx, &res.landed, a.entry.Spec, s.clients); lerr != nil {
				s.log.Warn("could not measure lag after the run", "run", r.ID, "err", lerr)
			}
			cancel()
			s.done <- res
		}()
	}
}

// finishLater ends a run that never loaded, through the loop as any run.
func (s *Scheduler) finishLater(id string, err error) {
	go func() { s.done <- runResult{id: id, err: err} }()
}

// finished records a run's end and carries out what follows from it.
func (s *Scheduler) finished(res runResult) {
	a := s.active[res.id]
	if a == nil {
		return
	}
	delete(s.active, res.id)
	s.m.running.Set(float64(len(s.active)))
	now := time.Now()
	cause := context.Cause(a.ctx)
	out := OutcomeOK
	switch {
	case res.err == nil:
	case errors.Is(cause, errShutdown) || errors.Is(cause, errLostLeadership):
		out = OutcomeCancelled
	default:
		out = OutcomeErr
	}
	var r Run
	var acts []Action
	if s.core != nil {
		r, acts = s.core.Finished(now, res.id, out)
	}
	if r.ID == "" { // no longer leading: the core is gone
		r = a.run
		r.Ended = now
		r.Status = map[Outcome]string{OutcomeOK: StatusSucceeded, OutcomeErr: StatusFailed, OutcomeCancelled: StatusCancelled}[out]
	}
	r.Server = s.cfg.Server
	if out == OutcomeCancelled {
		r.Reason = cause.Error()
	} else if r.Status == StatusTimedOut {
		r.Reason = errTimedOut.Error()
	}
	if res.err != nil && out != OutcomeCancelled && r.Status != StatusTimedOut {
		r.Errors = splitErrors(res.err)
	}
	r.Landed = res.landed
	s.putRun(r)
	if r.Bytes > bigRun {
		// The loader's buffers of a big run are garbage now; an idle
		// scheduler would otherwise keep them for minutes.
		go debug.FreeOSMemory()
	}
	s.observe(r)
	s.log.Info("run ended", "run", r.ID, "pipeline", r.Pipeline, "status", r.Status, "records", r.Records, "files", r.Files,
		"took", r.Duration().Round(time.Millisecond), "lag", r.Lag, "errors", len(r.Errors))
	if a.entry != nil {
		pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if n, err := s.hist.Prune(pctx, r.Pipeline, a.entry.Spec.History.Keep, a.entry.Spec.History.MaxAge, now); err != nil {
			s.log.Warn("could not prune run history", "pipeline", r.Pipeline, "err", err)
		} else if n > 0 {
			s.log.Debug("pruned run history", "pipeline", r.Pipeline, "runs", n)
		}
		cancel()
	}
	s.do(acts)
}

func (s *Scheduler) observe(r Run) {
	s.m.runs.WithLabelValues(r.Pipeline, r.Status).Inc()
	s.m.duration.WithLabelValues(r.Pipeline).Observe(r.Duration().Seconds())
	s.m.records.WithLabelValues(r.Pipeline).Add(float64(r.Records))
	s.m.bytes.WithLabelValues(r.Pipeline).Add(float64(r.Bytes))
	if r.Status == StatusSucceeded {
		s.m.lastSuccess.WithLabelValues(r.Pipeline).Set(float64(r.Ended.UnixMilli()) / 1000)
	}
	for _, p := range r.Partitions {
		s.m.lag.WithLabelValues(r.Pipeline, p.Topic, fmt.Sprint(p.Partition)).Set(float64(p.Lag))
	}
}

// stop cancels the active runs and waits (up to StopTimeout) to record
// them.
func (s *Scheduler) stop() {
	deadline := time.NewTimer(s.cfg.StopTimeout)
	defer deadline.Stop()
	for len(s.active) > 0 {
		select {
		case r := <-s.done:
			s.finished(r)
		case <-deadline.C:
			for id := range s.active {
				s.log.Error("run did not stop in time; the next leader will mark it abandoned", "run", id)
			}
			return
		}
	}
}

// publish copies the core's view for the API.
func (s *Scheduler) publish() {
	states := map[string]PipelineState{}
	if s.core != nil {
		for _, e := range s.cat.Entries() {
			if st, ok := s.core.State(e.Spec.Name); ok {
				states[e.Spec.Name] = st
				next := 0.0
				if !st.Next.IsZero() {
					next = float64(st.Next.Unix())
				}
				s.m.nextRun.WithLabelValues(e.Spec.Name).Set(next)
			}
		}
	}
	s.mu.Lock()
	s.mu.states, s.mu.leading = states, s.core != nil
	s.mu.Unlock()
}

func splitErrors(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
