package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/formats"
)

// parquetFormat adapts package formats (decoders, the Parquet writer,
// schema evolution, dead letters) to a worker.
type parquetFormat struct {
	dec       formats.Decoder
	timeField string // a field, "_timestamp" or "_ingest"
	now       func() time.Time
	opts      formats.WriterOptions
	compat    formats.Compatibility
	current   *formats.Schema // schema of the newest file, for merging
	onSchema  func(*formats.Schema)
	msg       formats.Message
}

// newParquetFactory returns the factory of a worker's parquetFormat.
// onSchema, if set, hears each new file schema (for the Hive DDL).
func newParquetFactory(compiled *formats.Compiled, opts formats.WriterOptions, timeField string, now func() time.Time, onSchema func(*formats.Schema), decOpts formats.DecoderOptions) formatFactory {
	cfg := compiled.Config()
	return func(sample []*kgo.Record) (rowFormat, error) {
		o := decOpts
		if cfg.Type == formats.TypeJSON && len(cfg.JSON.Schema) == 0 && cfg.JSON.SchemaFile == "" {
			n := min(len(sample), cfg.JSON.InferRows)
			o.Sample = make([]formats.Message, 0, n)
			for _, r := range sample[:n] {
				o.Sample = append(o.Sample, toMessage(r))
			}
		}
		dec, err := compiled.NewDecoder(o)
		if err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
		return &parquetFormat{dec: dec, timeField: timeField, now: now, opts: opts, compat: cfg.Schema.Compatibility, onSchema: onSchema}, nil
	}
}

func toMessage(r *kgo.Record) formats.Message {
	m := formats.Message{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
	if len(r.Headers) > 0 {
		m.Headers = make([]formats.Header, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = formats.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}

func (p *parquetFormat) decode(ctx context.Context, rec *kgo.Record) (any, time.Time, error) {
	p.msg = toMessage(rec)
	row, err := p.dec.Decode(ctx, &p.msg)
	if err != nil {
		var de *formats.DecodeError
		if errors.As(err, &de) {
			return nil, time.Time{}, &recordError{err}
		}
		return nil, time.Time{}, err
	}
	if row == nil {
		return nil, time.Time{}, nil
	}
	var t time.Time
	switch p.timeField {
	case "_ingest":
		t = p.now()
	case "", formats.MetaTimestamp:
		t = rec.Timestamp
	default:
		if t, err = row.Time(p.timeField); err != nil {
			return nil, time.Time{}, &recordError{fmt.Errorf("partition_by.time: %w", err)}
		}
	}
	return row, t, nil
}

func (p *parquetFormat) newFile(w io.Writer, first any) (rowWriter, error) {
	s := first.(*formats.Row).Schema
	if p.compat == formats.CompatBackward && p.current != nil && p.current != s {
		if merged, err := formats.Merge(p.current, s); err == nil {
			s = merged
		}
	}
	pw, err := formats.NewWriter(w, s, p.opts)
	if err != nil {
		return nil, err
	}
	if s != p.current {
		p.current = s
		if p.onSchema != nil {
			p.onSchema(s)
		}
	}
	return &parquetRows{w: pw, compat: p.compat}, nil
}

func (p *parquetFormat) newDeadLetters(w io.Writer) (deadLetterWriter, error) {
	dw, err := formats.NewDeadLetterWriter(w, p.opts)
	if err != nil {
		return nil, err
	}
	return deadRows{dw}, nil
}

type parquetRows struct {
	w      *formats.Writer
	compat formats.Compatibility
}

func (r *parquetRows) write(row any) error {
	rw := row.(*formats.Row)
	if fs := r.w.Schema(); rw.Schema != fs {
		d, err := formats.Resolve(r.compat, fs, rw.Schema)
		if err != nil {
			var se *formats.SchemaError
			if errors.As(err, &se) {
				return &recordError{err}
			}
			return err
		}
		if d.NewFile {
			return errNewFile
		}
	}
	if err := r.w.Write(rw); err != nil {
		var se *formats.SchemaError
		if errors.As(err, &se) {
			return &recordError{err}
		}
		return err
	}
	return nil
}

func (r *parquetRows) close() error { return r.w.Close() }
func (r *parquetRows) rows() int64  { return r.w.Rows() }
func (r *parquetRows) bytes() int64 { return r.w.Bytes() }

func (r *parquetRows) buffered() int64 { return r.w.Buffered() }
func (r *parquetRows) flush() error    { return r.w.FlushRowGroup() }

type deadRows struct{ w *formats.DeadLetterWriter }

func (d deadRows) write(rec *kgo.Record, cause error) error {
	m := toMessage(rec)
	return d.w.Write(&m, cause)
}
func (d deadRows) close() error { return d.w.Close() }
func (d deadRows) rows() int64  { return d.w.Rows() }
func (d deadRows) bytes() int64 { return d.w.Bytes() }
