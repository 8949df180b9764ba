package jobs

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/pipelines"
)

//go:embed openapi.json
var openAPI []byte

// PipelineView is a pipeline as GET /api/v1/pipelines shows it.
type PipelineView struct {
	Name             string     `json:"name"`
	File             string     `json:"file"`
	Version          string     `json:"version"` // hash of the file in force
	Schedule         string     `json:"schedule"`
	ScheduleTimezone string     `json:"schedule_timezone,omitempty"`
	Concurrency      string     `json:"concurrency"`
	Paused           bool       `json:"paused"`
	NextRun          *time.Time `json:"next_run"`
	Running          string     `json:"running,omitempty"` // run id in progress
	LastRun          *RunBrief  `json:"last_run"`
	LastSuccess      *time.Time `json:"last_success"`
	// Errors of the file's latest edit, when it is invalid and the
	// version shown keeps running.
	Errors []SpecError `json:"errors"`
}

// RunBrief is the latest run of a pipeline.
type RunBrief struct {
	ID      string    `json:"id"`
	Status  string    `json:"status"`
	Trigger string    `json:"trigger"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	Records int64     `json:"records"`
}

// SpecError is one problem in a pipeline file, with its position.
type SpecError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// PipelineList is GET /api/v1/pipelines: the pipelines in force, and the
// files that have no valid version at all.
type PipelineList struct {
	Pipelines    []PipelineView `json:"pipelines"`
	InvalidFiles []SpecError    `json:"invalid_files"`
	Leader       bool           `json:"leader"` // this server starts runs
	Server       string         `json:"server"`
}

// RunList is GET /api/v1/pipelines/{name}/runs, newest first.
type RunList struct {
	Runs []Run `json:"runs"`
}

// TriggerResult is the answer to POST /api/v1/pipelines/{name}/runs.
type TriggerResult struct {
	ID     string `json:"id"`
	Status string `json:"status"` // pending
}

// APIError is every error answer.
type APIError struct {
	Error string `json:"error"`
}

// Handler serves the admin API under /api/v1/.
func (s *Scheduler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	mux.HandleFunc("GET /api/v1/pipelines", s.ready1(s.listPipelines))
	mux.HandleFunc("GET /api/v1/pipelines/{name}", s.ready1(s.getPipeline))
	mux.HandleFunc("GET /api/v1/pipelines/{name}/runs", s.ready1(s.listRuns))
	mux.HandleFunc("POST /api/v1/pipelines/{name}/runs", s.ready1(s.triggerRun))
	mux.HandleFunc("POST /api/v1/pipelines/{name}/pause", s.ready1(func(w http.ResponseWriter, r *http.Request) { s.setPaused(w, r, true) }))
	mux.HandleFunc("POST /api/v1/pipelines/{name}/resume", s.ready1(func(w http.ResponseWriter, r *http.Request) { s.setPaused(w, r, false) }))
	mux.HandleFunc("GET /api/v1/runs/{id}", s.ready1(s.getRun))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such API endpoint: %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path))
	})
	return withMethodErrors(mux)
}

// withMethodErrors turns ServeMux's plain-text 405 into JSON.
func withMethodErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" || pattern == "/api/" {
			// No route for this method: is it a known path?
			probe := r.Clone(r.Context())
			var allowed []string
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				probe.Method = m
				if _, p := mux.Handler(probe); p != "" && p != "/api/" {
					allowed = append(allowed, m)
				}
			}
			if len(allowed) > 0 {
				w.Header().Set("Allow", strings.Join(allowed, ", "))
				writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s: use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// ready1 answers 503 until the history has been read.
func (s *Scheduler) ready1(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.ready:
			h(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "the scheduler is starting: reading its run history")
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, APIError{Error: msg})
}

func (s *Scheduler) listPipelines(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	entries, fileErrs, leading := s.mu.entries, s.mu.fileErrs, s.mu.leading
	s.mu.RUnlock()
	out := PipelineList{Pipelines: []PipelineView{}, InvalidFiles: []SpecError{}, Leader: leading, Server: s.cfg.Server}
	for _, name := range sortedKeys(entries) {
		out.Pipelines = append(out.Pipelines, s.view(entries[name]))
	}
	for _, fe := range fileErrs {
		if fe.Pipeline == "" {
			out.InvalidFiles = append(out.InvalidFiles, specErrors(fe.File, fe.Err)...)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Scheduler) entry(w http.ResponseWriter, r *http.Request) *Entry {
	name := r.PathValue("name")
	s.mu.RLock()
	e := s.mu.entries[name]
	s.mu.RUnlock()
	if e == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no pipeline named %q in %s", name, s.cfg.Dir))
	}
	return e
}

func (s *Scheduler) getPipeline(w http.ResponseWriter, r *http.Request) {
	if e := s.entry(w, r); e != nil {
		writeJSON(w, http.StatusOK, s.view(e))
	}
}

// view builds a pipeline's API view from the catalog, the history and
// (on the leader) the core.
func (s *Scheduler) view(e *Entry) PipelineView {
	name := e.Spec.Name
	v := PipelineView{
		Name: name, File: e.File, Version: e.Hash, Schedule: e.Spec.Schedule,
		ScheduleTimezone: e.Spec.ScheduleTimezone, Concurrency: e.Spec.Concurrency,
		Paused: s.hist.Paused(name), Errors: []SpecError{},
	}
	if e.Err != nil {
		v.Errors = specErrors(e.File, e.Err)
	}
	runs := s.hist.Runs(name)
	if len(runs) > 0 {
		r := runs[0]
		v.LastRun = &RunBrief{ID: r.ID, Status: r.Status, Trigger: r.Trigger, Started: r.Started, Ended: r.Ended, Records: r.Records}
	}
	for _, r := range runs {
		if r.Status == StatusRunning && v.Running == "" {
			v.Running = r.ID
		}
		if r.Status == StatusSucceeded && v.LastSuccess == nil {
			t := r.Ended
			v.LastSuccess = &t
		}
	}
	s.mu.RLock()
	st, leading := s.mu.states[name]
	s.mu.RUnlock()
	switch {
	case v.Paused:
	case leading && !st.Paused && !st.Next.IsZero():
		t := st.Next
		v.NextRun = &t
	case e.Spec.Schedule != "":
		// Not the leader (or it has not yet applied a resume): the next
		// tick as the schedule says.
		if c := e.Spec.Compiled(); c != nil && c.Schedule != nil {
			if t := NewSchedule(c.Schedule).Next(time.Now()); !t.IsZero() {
				v.NextRun = &t
			}
		}
	}
	return v
}

// specErrors turns a load error into positioned errors.
func specErrors(file string, err error) []SpecError {
	var es pipelines.Errors
	if errors.As(err, &es) {
		out := make([]SpecError, 0, len(es))
		for _, e := range es {
			out = append(out, SpecError{File: e.File, Line: e.Line, Column: e.Column, Path: e.Path, Message: e.Msg})
		}
		return out
	}
	return []SpecError{{File: file, Message: err.Error()}}
}

func (s *Scheduler) listRuns(w http.ResponseWriter, r *http.Request) {
	e := s.entry(w, r)
	if e == nil {
		return
	}
	limit := e.Spec.History.Keep
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a positive integer", q))
			return
		}
		limit = n
	}
	runs := s.hist.Runs(e.Spec.Name)
	if len(runs) > limit {
		runs = runs[:limit]
	}
	if runs == nil {
		runs = []Run{}
	}
	writeJSON(w, http.StatusOK, RunList{Runs: runs})
}

func (s *Scheduler) getRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if run, ok := s.hist.Run(id); ok {
		writeJSON(w, http.StatusOK, run)
		return
	}
	if t, ok := s.hist.PendingTrigger(id); ok {
		writeJSON(w, http.StatusOK, Run{ID: t.ID, Pipeline: t.Pipeline, Trigger: TriggerManual, Status: StatusPending, Attempt: 1, Server: t.Server})
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no run %q in the history (it may have been pruned)", id))
}

func (s *Scheduler) triggerRun(w http.ResponseWriter, r *http.Request) {
	e := s.entry(w, r)
	if e == nil {
		return
	}
	name := e.Spec.Name
	if e.Spec.Concurrency != pipelines.ConcurrencyQueue {
		for _, run := range s.hist.Runs(name) {
			if run.Status == StatusRunning {
				writeError(w, http.StatusConflict, fmt.Sprintf("pipeline %s is running (%s) and its concurrency is forbid: try again when it ends", name, run.ID))
				return
			}
		}
	}
	var suffix [3]byte
	rand.Read(suffix[:])
	now := time.Now().UTC()
	t := Trigger{ID: fmt.Sprintf("%s-manual-%s-%s", name, now.Format("20060102T150405Z"), hex.EncodeToString(suffix[:])),
		Pipeline: name, Requested: now, Server: s.cfg.Server}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.hist.AddTrigger(ctx, t); err != nil {
		writeError(w, http.StatusServiceUnavailable, "could not record the run request: "+err.Error())
		return
	}
	s.poke()
	w.Header().Set("Location", "/api/v1/runs/"+t.ID)
	writeJSON(w, http.StatusAccepted, TriggerResult{ID: t.ID, Status: StatusPending})
}

func (s *Scheduler) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	e := s.entry(w, r)
	if e == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.hist.SetPaused(ctx, e.Spec.Name, paused, s.cfg.Server, time.Now().UTC()); err != nil {
		writeError(w, http.StatusServiceUnavailable, "could not record the pause state: "+err.Error())
		return
	}
	s.poke()
	writeJSON(w, http.StatusOK, s.view(e))
}

func (s *Scheduler) poke() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}
