package loader

import (
	"errors"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// rowFormat is what a worker needs from the decoders and writers of
// package formats (see formats_adapter.go); tests may supply their own.
type rowFormat interface {
	// decode turns a record into a row and the time that places it. An
	// error is a bad record (handled by on_error), never an I/O error.
	decode(rec *kgo.Record) (row any, t time.Time, err error)
	// newFile starts a data file over w for rows like first.
	newFile(w io.Writer, first any) (rowWriter, error)
	// newDeadLetters starts a dead-letter file over w.
	newDeadLetters(w io.Writer) (deadLetterWriter, error)
}

// rowWriter writes one data file.
type rowWriter interface {
	// write appends a row. errNewFile means the row's schema cannot go
	// into this file: the worker publishes and starts a new file. A
	// *recordError is a bad record; anything else is fatal for the file.
	write(row any) error
	close() error
	rows() int64
}

// deadLetterWriter writes one dead-letter file.
type deadLetterWriter interface {
	write(rec *kgo.Record, cause error) error
	close() error
	rows() int64
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
