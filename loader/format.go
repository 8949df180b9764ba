package loader

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// rowFormat is what a worker needs from the decoders and writers of
// package formats (see formats_adapter.go); tests may supply their own.
// One rowFormat serves one worker (decoders are not safe for concurrent
// use).
type rowFormat interface {
	// decode turns a record into a row and the time that places it. A
	// *recordError is a bad record (handled by on_error); any other error
	// is fatal (an unreachable schema registry). A nil row with a nil
	// error is a record that holds no row (a CSV header line).
	decode(ctx context.Context, rec *kgo.Record) (row any, t time.Time, err error)
	// newFile starts a data file over w for rows like first.
	newFile(w io.Writer, first any) (rowWriter, error)
	// newDeadLetters starts a dead-letter file over w.
	newDeadLetters(w io.Writer) (deadLetterWriter, error)
}

// formatFactory builds a worker's rowFormat once the first records are
// read; sample is up to the first few thousand records from the resume
// offset (a JSON decoder infers its schema from them).
type formatFactory func(sample []*kgo.Record) (rowFormat, error)

// rowWriter writes one data file.
type rowWriter interface {
	// write appends a row. errNewFile means the row's schema cannot go
	// into this file: the worker publishes and starts a new file. A
	// *recordError is a bad record; anything else is fatal for the file.
	write(row any) error
	close() error
	rows() int64
	bytes() int64 // estimated file size so far
	// buffered estimates the bytes of rows held in memory, not yet
	// written out; flush writes them out now (a Parquet row group).
	buffered() int64
	flush() error
}

// deadLetterWriter writes one dead-letter file.
type deadLetterWriter interface {
	write(rec *kgo.Record, cause error) error
	close() error
	rows() int64
	bytes() int64
}

// errNewFile asks the worker to start a new file for a row.
var errNewFile = errors.New("loader: row needs a new file")

// recordError marks an error caused by one record's content.
type recordError struct{ err error }

func (e *recordError) Error() string { return e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

// countingWriter counts bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
