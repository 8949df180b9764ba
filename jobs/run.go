package jobs

import (
	"time"

	"github.com/sluicehq/sluice/loader"
)

// Run is one run of a pipeline as the history keeps it: what started it,
// when, how it ended, and what it landed.
type Run struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	// SpecHash identifies the version of the pipeline file that ran.
	SpecHash string `json:"spec_hash"`
	// Trigger is schedule, manual, catchup or retry.
	Trigger string `json:"trigger"`
	// Scheduled is the tick this run is for (zero for manual runs).
	Scheduled time.Time `json:"scheduled,omitzero"`
	// Covers is how many ticks the run stands for: more than 1 for a
	// catch-up run, or when ticks fell due together.
	Covers  int       `json:"covers,omitempty"`
	Attempt int       `json:"attempt"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"` // why skipped, missed, abandoned or cancelled
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// Server is the scheduler instance that ran it.
	Server string `json:"server,omitempty"`

	Landed
	Errors []string `json:"errors,omitempty"`
}

// Landed is what a run loaded, per partition and in total, and the lag it
// left (its fields appear in a Run's JSON as the Run's own).
type Landed struct {
	Records     int64          `json:"records"`
	Bytes       int64          `json:"bytes"`
	Files       int            `json:"files"`
	DeadLetters int64          `json:"dead_letters"`
	DecodeErrs  int64          `json:"decode_errors"`
	Lag         int64          `json:"lag"` // records not yet landed after the run, over its partitions
	Partitions  []PartitionRun `json:"partitions,omitempty"`
}

// newLanded is what a loader summary says was landed (nil: nothing).
func newLanded(sum *loader.Summary) Landed {
	var l Landed
	if sum == nil {
		return l
	}
	for _, p := range sum.Partitions {
		l.Partitions = append(l.Partitions, PartitionRun{
			Topic: p.Topic, Partition: p.Partition, Records: p.Records, Bytes: p.Bytes, Files: p.Files,
			DeadLetters: p.DeadLetters, DecodeErrs: p.Errors, First: p.First, Last: p.Last,
		})
	}
	t := sum.Totals()
	l.Records, l.Bytes, l.Files, l.DeadLetters, l.DecodeErrs = t.Records, t.Bytes, t.Files, t.DeadLetters, t.Errors
	return l
}

// PartitionRun is what a run did in one partition.
type PartitionRun struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Records     int64  `json:"records"`
	Bytes       int64  `json:"bytes"`
	Files       int    `json:"files"`
	DeadLetters int64  `json:"dead_letters"`
	DecodeErrs  int64  `json:"decode_errors"`
	First       int64  `json:"first_offset"` // -1 if nothing landed
	Last        int64  `json:"last_offset"`
	Lag         int64  `json:"lag"` // high watermark minus the next offset to land, after the run
}

// Duration is how long the run took, or zero if it has not ended.
func (r *Run) Duration() time.Duration {
	if r.Started.IsZero() || r.Ended.IsZero() {
		return 0
	}
	return r.Ended.Sub(r.Started)
}
