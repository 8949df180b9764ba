package formats

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap them where they
// apply, so callers can test with errors.Is.
var (
	// ErrUnknownSchemaID: an Avro message names a schema id the registry
	// does not have (a decode error: the message is bad, not the loader).
	ErrUnknownSchemaID = errors.New("formats: unknown schema id")
	// ErrRegistry: the schema registry could not be reached or answered
	// badly (not a decode error: retry or fail, don't dead-letter).
	ErrRegistry = errors.New("formats: schema registry")
	// ErrWriterClosed: Write or Close on a closed Writer.
	ErrWriterClosed = errors.New("formats: writer closed")
)

// DecodeError says why one message could not be decoded. It is a value the
// caller inspects to fail the run, skip the message or dead-letter it.
type DecodeError struct {
	// Format is json, csv, avro or raw.
	Format string
	// Topic, Partition and Offset locate the message.
	Topic     string
	Partition int32
	Offset    int64
	// Path is the field path inside the value ("user.tags[2]", "price"),
	// or empty when the message as a whole is bad.
	Path string
	// Reason says what was wrong, in words.
	Reason string
	// Err is an underlying error, if any (ErrUnknownSchemaID, ...).
	Err error
}

// Error renders "json: topic[partition]@offset: path: reason".
func (e *DecodeError) Error() string {
	s := fmt.Sprintf("%s: %s[%d]@%d: ", e.Format, e.Topic, e.Partition, e.Offset)
	if e.Path != "" {
		s += e.Path + ": "
	}
	return s + e.Reason
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// SchemaError is a schema change the compatibility policy does not allow:
// a field whose type changed in a way that cannot be widened.
type SchemaError struct {
	// Field is the path of the field ("user.age").
	Field string
	// Old and New are the field's types in the open file and in the row,
	// rendered as in ParseType ("int64", "string"); "required"/"nullable"
	// changes are described in Reason.
	Old, New string
	// Reason adds what the policy would need.
	Reason string
}

// Error renders "formats: field f changed type from old to new: reason".
func (e *SchemaError) Error() string {
	s := fmt.Sprintf("formats: field %s changed type from %s to %s", e.Field, e.Old, e.New)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// decodeErr builds the DecodeError of message m.
func decodeErr(format string, m *Message, path, reason string, args ...any) *DecodeError {
	return &DecodeError{
		Format:    format,
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Path:      path,
		Reason:    fmt.Sprintf(reason, args...),
	}
}
