package formats

import (
	"io"
	"strings"
)

// DeadLetterSchema is the schema of dead-letter files: one row per message
// that failed to decode.
var DeadLetterSchema = NewSchema(
	Field{Name: "topic", Type: StringType, Required: true},
	Field{Name: "partition", Type: Int32Type, Required: true},
	Field{Name: "offset", Type: Int64Type, Required: true},
	Field{Name: "timestamp", Type: TimestampType, Required: true},
	Field{Name: "error", Type: StringType, Required: true},
	Field{Name: "key", Type: BinaryType},
	Field{Name: "value", Type: BinaryType},
)

// DeadLetterWriter writes messages that failed to decode, with their error
// and raw bytes, as Parquet rows of DeadLetterSchema.
type DeadLetterWriter struct {
	w *Writer
}

// NewDeadLetterWriter starts a dead-letter Parquet file on w. Options are
// as for NewWriter; MetaColumns is ignored (the coordinates are data
// columns here).
func NewDeadLetterWriter(w io.Writer, opts WriterOptions) (*DeadLetterWriter, error) {
	opts.MetaColumns = nil
	pw, err := NewWriter(w, DeadLetterSchema, opts)
	if err != nil {
		return nil, err
	}
	return &DeadLetterWriter{w: pw}, nil
}

// Write records message m and why it failed. A nil key or value is stored
// as null.
func (d *DeadLetterWriter) Write(m *Message, cause error) error {
	v := []Value{
		StringValue([]byte(m.Topic)),
		Int32Value(m.Partition),
		Int64Value(m.Offset),
		TimestampValue(m.Timestamp),
		StringValue([]byte(strings.ToValidUTF8(cause.Error(), "\uFFFD"))),
		nullableBinary(m.Key),
		nullableBinary(m.Value),
	}
	return d.w.Write(&Row{Schema: DeadLetterSchema, Values: v, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp, Key: m.Key})
}

func nullableBinary(b []byte) Value {
	if b == nil {
		return NullValue()
	}
	return BinaryValue(b)
}

// Rows returns how many messages were written.
func (d *DeadLetterWriter) Rows() int64 { return d.w.Rows() }

// Bytes estimates the file size so far.
func (d *DeadLetterWriter) Bytes() int64 { return d.w.Bytes() }

// Close writes the footer; it does not close the io.Writer.
func (d *DeadLetterWriter) Close() error { return d.w.Close() }
