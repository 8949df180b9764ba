package loader

import "time"

// RollPolicy says when a worker's open files are published: as soon as any
// one open file reaches Records rows or Bytes (estimated) bytes, or the
// oldest open file is Age old. A zero threshold is not checked.
type RollPolicy struct {
	Records int64
	Bytes   int64
	Age     time.Duration
	// MaxOpen caps the time partitions a worker has open at once (late
	// data spread over many hours); reaching it publishes the batch.
	MaxOpen int
}

// DefaultRollPolicy returns the pipeline defaults: 1,000,000 records,
// 256 MiB, 10 minutes, 64 open time partitions.
func DefaultRollPolicy() RollPolicy {
	return RollPolicy{Records: 1_000_000, Bytes: 256 << 20, Age: 10 * time.Minute, MaxOpen: 64}
}

// full reports whether a file with rows rows and size bytes must roll.
func (p RollPolicy) full(rows, size int64) bool {
	return p.Records > 0 && rows >= p.Records || p.Bytes > 0 && size >= p.Bytes
}

// dueAt returns when a batch whose oldest file was opened at opened must
// roll by age; the zero time if never.
func (p RollPolicy) dueAt(opened time.Time) time.Time {
	if p.Age <= 0 || opened.IsZero() {
		return time.Time{}
	}
	return opened.Add(p.Age)
}
