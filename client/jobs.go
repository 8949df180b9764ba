package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/jobs"
)

// Jobs is a client of the admin API of `sluice server` or `sluice jobs
// serve` at Base (http://host:port).
type Jobs struct {
	Base string
	HTTP *http.Client
}

// NewJobs returns a client for addr: host:port or a URL.
func NewJobs(addr string) *Jobs {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Jobs{Base: strings.TrimRight(addr, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

func (c *Jobs) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w (is `sluice server --pipelines` or `sluice jobs serve` running there? --server sets the address)", c.Base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e jobs.APIError
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return &APIError{Status: resp.StatusCode, Message: e.Error}
		}
		return &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin API at %s: bad answer to %s %s: %w", c.Base, method, path, err)
	}
	return nil
}

// Pipelines lists the pipelines.
func (c *Jobs) Pipelines(ctx context.Context) (*jobs.PipelineList, error) {
	var l jobs.PipelineList
	return &l, c.do(ctx, http.MethodGet, "/api/v1/pipelines", &l)
}

// Runs lists a pipeline's runs, newest first (limit 0: the server's).
func (c *Jobs) Runs(ctx context.Context, pipeline string, limit int) ([]jobs.Run, error) {
	var l jobs.RunList
	p := "/api/v1/pipelines/" + url.PathEscape(pipeline) + "/runs"
	if limit > 0 {
		p += fmt.Sprintf("?limit=%d", limit)
	}
	return l.Runs, c.do(ctx, http.MethodGet, p, &l)
}

// Run returns one run.
func (c *Jobs) Run(ctx context.Context, id string) (*jobs.Run, error) {
	var r jobs.Run
	return &r, c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(id), &r)
}

// Trigger asks for a manual run and returns its id.
func (c *Jobs) Trigger(ctx context.Context, pipeline string) (string, error) {
	var t jobs.TriggerResult
	err := c.do(ctx, http.MethodPost, "/api/v1/pipelines/"+url.PathEscape(pipeline)+"/runs", &t)
	return t.ID, err
}

// Wait polls a run until it ends.
func (c *Jobs) Wait(ctx context.Context, id string, every time.Duration) (*jobs.Run, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r, err := c.Run(ctx, id)
		if err != nil {
			return nil, err
		}
		if jobs.Terminal(r.Status) {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-t.C:
		}
	}
}

// SetPaused pauses or resumes a pipeline's schedule.
func (c *Jobs) SetPaused(ctx context.Context, pipeline string, paused bool) (*jobs.PipelineView, error) {
	verb := "resume"
	if paused {
		verb = "pause"
	}
	var v jobs.PipelineView
	return &v, c.do(ctx, http.MethodPost, "/api/v1/pipelines/"+url.PathEscape(pipeline)+"/"+verb, &v)
}
