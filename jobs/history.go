package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/bounded"
)

// DefaultHistoryTopic is the compacted topic holding run history.
const DefaultHistoryTopic = "_sluice_runs"

// History keys in the topic (the value is JSON; an empty value deletes):
//
//	run/<run id>       a Run
//	pause/<pipeline>   a pauseRecord
//	trigger/<run id>   a Trigger: a manual run asked for, not yet started
const (
	keyRun     = "run/"
	keyPause   = "pause/"
	keyTrigger = "trigger/"
)

// maxRunErrors and maxErrorLen bound the errors kept in one run record,
// which must stay under the cluster's message.max.bytes.
const (
	maxRunErrors = 20
	maxErrorLen  = 2000
)

// Trigger is a manual run asked for through the API of any scheduler;
// the leading scheduler starts it under this id.
type Trigger struct {
	ID        string    `json:"id"`
	Pipeline  string    `json:"pipeline"`
	Requested time.Time `json:"requested"`
	Server    string    `json:"server"`
}

type pauseRecord struct {
	Paused bool      `json:"paused"`
	At     time.Time `json:"at"`
	Server string    `json:"server"`
}

// History is the run history as kept in a one-partition compacted topic on
// the scheduler's cluster, so it survives restarts and is the same for
// every scheduler, against any Kafka cluster. Every scheduler tails the
// topic from its start into memory; writes wait for acks=all.
type History struct {
	topic string
	cl    *kgo.Client
	dec   *bounded.Decompressor
	log   *slog.Logger
	// changed is signalled (never blocking) after records are applied.
	changed chan struct{}

	mu struct {
		sync.Mutex
		next     int64            // next offset to read
		stuck    error            // why the tail cannot read on (a batch over the bound)
		at       map[string]int64 // offset of the value applied per key
		runs     map[string]*Run
		byPipe   map[string]map[string]*Run // pipeline -> run id -> run
		paused   map[string]bool
		triggers map[string]Trigger
	}
}

// OpenHistory connects to the cluster, creates the topic if it is missing
// (1 partition, cleanup.policy=compact, the cluster's default replication)
// and starts reading it from the beginning. Close stops it.
func OpenHistory(ctx context.Context, brokers []string, topic string, log *slog.Logger) (*History, error) {
	// Run records are a few KB: a batch that decompresses past the
	// default bound is a compression bomb, never history.
	h := &History{topic: topic, dec: bounded.NewBudgeted(0), log: log, changed: make(chan struct{}, 1)}
	h.mu.at = map[string]int64{}
	h.mu.runs = map[string]*Run{}
	h.mu.byPipe = map[string]map[string]*Run{}
	h.mu.paused = map[string]bool{}
	h.mu.triggers = map[string]Trigger{}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.FetchMaxWait(time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.WithDecompressor(h.dec),
	)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	h.cl = cl
	if err := h.ensureTopic(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return h, nil
}

func (h *History) ensureTopic(ctx context.Context) error {
	adm := kadm.NewClient(h.cl)
	compact := "compact"
	res, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &compact}, h.topic)
	if err == nil {
		err = res.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("history topic %s on %s: %w", h.topic, strings.Join(h.brokers(), ","), err)
	}
	return nil
}

func (h *History) brokers() []string {
	var out []string
	for _, b := range h.cl.OptValues(kgo.SeedBrokers) {
		if s, ok := b.([]string); ok {
			out = append(out, s...)
		}
	}
	return out
}

// Tail reads the topic until ctx ends, applying each record. A batch that
// decompresses past the bound stops it there: that is logged as an error
// and CaughtUp returns it from then on.
func (h *History) Tail(ctx context.Context) {
	for {
		fs := h.cl.PollFetches(ctx)
		h.dec.Polled()
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, bounded.ErrBudget) {
				return
			}
			if tooLarge, ok := h.dec.TooLarge(err); ok {
				h.log.Error("run history cannot be read past a batch", "err", tooLarge)
				h.mu.Lock()
				h.mu.stuck = fmt.Errorf("history: %w", tooLarge)
				h.mu.Unlock()
				return
			}
			h.log.Warn("reading run history", "topic", t, "partition", p, "err", err)
		})
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			h.apply(string(r.Key), r.Value, r.Offset)
			n++
		})
		if n > 0 {
			h.signal()
		}
	}
}

func (h *History) signal() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// Changed is signalled after new history is applied.
func (h *History) Changed() <-chan struct{} { return h.changed }

// apply folds one record into the view, unless a newer value of its key
// was already applied (writes are applied on their ack too).
func (h *History) apply(key string, value []byte, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.next = max(h.mu.next, offset+1)
	if at, ok := h.mu.at[key]; ok && at > offset {
		return
	}
	h.mu.at[key] = offset
	switch {
	case strings.HasPrefix(key, keyRun):
		id := strings.TrimPrefix(key, keyRun)
		if old := h.mu.runs[id]; old != nil {
			delete(h.mu.runs, id)
			delete(h.mu.byPipe[old.Pipeline], id)
		}
		if len(value) == 0 {
			return
		}
		var r Run
		if err := json.Unmarshal(value, &r); err != nil {
			h.log.Warn("run history: skipping a record that is not a run", "key", key, "offset", offset, "err", err)
			return
		}
		h.mu.runs[id] = &r
		if h.mu.byPipe[r.Pipeline] == nil {
			h.mu.byPipe[r.Pipeline] = map[string]*Run{}
		}
		h.mu.byPipe[r.Pipeline][id] = &r
	case strings.HasPrefix(key, keyPause):
		name := strings.TrimPrefix(key, keyPause)
		var p pauseRecord
		if len(value) > 0 && json.Unmarshal(value, &p) == nil && p.Paused {
			h.mu.paused[name] = true
		} else {
			delete(h.mu.paused, name)
		}
	case strings.HasPrefix(key, keyTrigger):
		id := strings.TrimPrefix(key, keyTrigger)
		var t Trigger
		if len(value) > 0 && json.Unmarshal(value, &t) == nil {
			h.mu.triggers[id] = t
		} else {
			delete(h.mu.triggers, id)
		}
	}
}

// CaughtUp waits until everything written to the topic before the call has
// been read, or the tail stopped at a batch it cannot read.
func (h *History) CaughtUp(ctx context.Context) error {
	end, err := h.endOffset(ctx)
	if err != nil {
		return err
	}
	for {
		h.mu.Lock()
		next, stuck := h.mu.next, h.mu.stuck
		h.mu.Unlock()
		if next >= end {
			return nil
		}
		if stuck != nil {
			return stuck
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// endOffset is the history partition's high watermark, retried while a
// new topic's metadata spreads.
func (h *History) endOffset(ctx context.Context) (int64, error) {
	adm := kadm.NewClient(h.cl)
	for {
		ends, err := adm.ListEndOffsets(ctx, h.topic)
		if err == nil {
			if o, ok := ends.Lookup(h.topic, 0); ok && o.Err == nil {
				return o.Offset, nil
			} else if ok {
				err = o.Err
			} else {
				err = fmt.Errorf("topic %s not found", h.topic)
			}
		}
		if serr := sleep(ctx, 100*time.Millisecond); serr != nil {
			return 0, fmt.Errorf("history: end offset of %s: %w (%w)", h.topic, err, serr)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// put writes key=value (nil deletes) and applies it once acknowledged.
func (h *History) put(ctx context.Context, key string, v any) error {
	var b []byte
	if v != nil {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return err
		}
	}
	return h.write(ctx, &kgo.Record{Topic: h.topic, Partition: 0, Key: []byte(key), Value: b})
}

// write produces records (acks=all) and applies each once acknowledged.
func (h *History) write(ctx context.Context, recs ...*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := h.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("history: writing %s (%d records) to %s: %w", recs[0].Key, len(recs), h.topic, err)
	}
	for _, r := range recs {
		h.apply(string(r.Key), r.Value, r.Offset)
	}
	h.signal()
	return nil
}

// PutRun records a run (new or updated).
func (h *History) PutRun(ctx context.Context, r Run) error {
	return h.put(ctx, keyRun+r.ID, boundRun(r))
}

// boundRun cuts a run's errors to what a record may hold.
func boundRun(r Run) Run {
	r.Errors = append([]string(nil), r.Errors...) // the caller's stay as they are
	if len(r.Errors) > maxRunErrors {
		r.Errors = append(r.Errors[:maxRunErrors-1], fmt.Sprintf("... and %d more errors", len(r.Errors)-maxRunErrors+1))
	}
	for i, e := range r.Errors {
		if len(e) > maxErrorLen {
			r.Errors[i] = e[:maxErrorLen] + "... (cut)"
		}
	}
	return r
}

// PutRuns records several runs in one write.
func (h *History) PutRuns(ctx context.Context, runs ...Run) error {
	recs := make([]*kgo.Record, 0, len(runs))
	for _, r := range runs {
		b, err := json.Marshal(boundRun(r))
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Topic: h.topic, Partition: 0, Key: []byte(keyRun + r.ID), Value: b})
	}
	return h.write(ctx, recs...)
}

// SetPaused records a pipeline's pause state.
func (h *History) SetPaused(ctx context.Context, pipeline string, paused bool, server string, now time.Time) error {
	if !paused {
		return h.put(ctx, keyPause+pipeline, nil)
	}
	return h.put(ctx, keyPause+pipeline, pauseRecord{Paused: true, At: now, Server: server})
}

// AddTrigger asks the leading scheduler for a manual run.
func (h *History) AddTrigger(ctx context.Context, t Trigger) error {
	return h.put(ctx, keyTrigger+t.ID, t)
}

// DeleteTrigger removes a trigger once its run was started or refused.
func (h *History) DeleteTrigger(ctx context.Context, id string) error {
	return h.put(ctx, keyTrigger+id, nil)
}

// Run returns one run.
func (h *History) Run(id string) (Run, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.mu.runs[id]
	if !ok {
		return Run{}, false
	}
	return *r, true
}

// PendingTrigger returns a manual run asked for and not yet started.
func (h *History) PendingTrigger(id string) (Trigger, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.mu.triggers[id]
	return t, ok
}

// Triggers lists pending manual runs, oldest first.
func (h *History) Triggers() []Trigger {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Trigger, 0, len(h.mu.triggers))
	for _, t := range h.mu.triggers {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Requested.Equal(out[j].Requested) {
			return out[i].Requested.Before(out[j].Requested)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Runs lists a pipeline's runs (all pipelines' if pipeline is ""), newest
// first.
func (h *History) Runs(pipeline string) []Run {
	h.mu.Lock()
	defer h.mu.Unlock()
	src := h.mu.runs
	if pipeline != "" {
		src = h.mu.byPipe[pipeline]
	}
	out := make([]Run, 0, len(src))
	for _, r := range src {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := runTime(&out[i]), runTime(&out[j])
		if !a.Equal(b) {
			return a.After(b)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

// runTime orders runs: by start, or by end for runs that never started.
func runTime(r *Run) time.Time {
	if !r.Started.IsZero() {
		return r.Started
	}
	if !r.Scheduled.IsZero() {
		return r.Scheduled
	}
	return r.Ended
}

// Paused reports whether a pipeline is paused.
func (h *History) Paused(pipeline string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.paused[pipeline]
}

// LastTick is the latest scheduled time any scheduler handled for the
// pipeline (run, skipped or missed), zero if none.
func (h *History) LastTick(pipeline string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	var t time.Time
	for _, r := range h.mu.byPipe[pipeline] {
		if r.Scheduled.After(t) {
			t = r.Scheduled
		}
	}
	return t
}

// Prune deletes a pipeline's runs beyond the newest keep and those that
// ended before now-maxAge (never one still running, and never the newest,
// which holds the pipeline's last tick), returning how many.
func (h *History) Prune(ctx context.Context, pipeline string, keep int, maxAge time.Duration, now time.Time) (int, error) {
	runs := h.Runs(pipeline)
	n := 0
	for i, r := range runs {
		old := maxAge > 0 && !r.Ended.IsZero() && now.Sub(r.Ended) > maxAge
		if i == 0 || (i < keep && !old) || !Terminal(r.Status) {
			continue
		}
		if err := h.put(ctx, keyRun+r.ID, nil); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Next is the offset after the last record read.
func (h *History) Next() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.next
}

// Close stops reading and writing.
func (h *History) Close() { h.cl.Close() }
