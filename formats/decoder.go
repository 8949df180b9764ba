package formats

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
)

// Decoder turns messages into rows. A Decoder is not safe for concurrent
// use: give each partition worker its own.
type Decoder interface {
	// Decode decodes one message. It returns the row, or an error. A
	// *DecodeError means the message itself is bad (the caller may skip or
	// dead-letter it and go on); any other error (a registry that cannot
	// be reached, a cancelled ctx) is not the message's fault.
	//
	// Decode returns (nil, nil) for a message that holds no row: a CSV
	// header line when CSVConfig.Header is set. Skip it; its offset is
	// consumed like any other.
	//
	// The row's Schema is the decoder's schema when the message was
	// decoded; it changes when an inferred JSON schema grows or an Avro
	// message names another schema id. Pass it to Resolve before writing.
	Decode(ctx context.Context, m *Message) (*Row, error)

	// Schema is the decoder's current schema (for JSON without a schema,
	// the one inferred so far; for Avro with a registry, that of the last
	// message, or nil before the first).
	Schema() *Schema
}

// DecoderOptions carries what a decoder needs from its environment.
type DecoderOptions struct {
	// Logger receives registry fetches and schema changes; nil discards.
	Logger *slog.Logger
	// HTTPClient is used for the schema registry; nil means a client with
	// a 30 s timeout.
	HTTPClient *http.Client
	// Dir resolves relative schema_file paths for the package-level
	// NewDecoder, which compiles the configuration (empty: the working
	// directory). Compiled.NewDecoder reads no file: CompileFiles did.
	Dir string
	// Sample is the first messages of the stream (up to JSONConfig.InferRows
	// of them), used to infer a JSON schema when none is configured, so
	// that the schema does not grow file by file. Messages that do not
	// parse are left out of the inference (Decode reports them). Optional.
	Sample []Message
}

// NewDecoder compiles cfg (reading its schema file, relative to opts.Dir)
// and returns a decoder for it. Callers that build many decoders compile
// once with [Config.CompileFiles] and use [Compiled.NewDecoder].
func NewDecoder(cfg Config, opts DecoderOptions) (Decoder, error) {
	c, err := cfg.CompileFiles(opts.Dir)
	if err != nil {
		return nil, err
	}
	return c.NewDecoder(opts)
}

// NewDecoder returns a decoder for the compiled configuration. It reads no
// file: a schema file is read and parsed by CompileFiles (a Compiled from
// Compile that names one is refused).
func (c *Compiled) NewDecoder(opts DecoderOptions) (Decoder, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	switch c.cfg.Type {
	case TypeJSON:
		return newJSONDecoder(c, opts)
	case TypeCSV:
		return newCSVDecoder(c, opts)
	case TypeAvro:
		return newAvroDecoder(c, opts)
	case TypeRaw:
		return newRawDecoder(c.cfg), nil
	}
	return nil, fmt.Errorf("format.type: unknown format %q", c.cfg.Type)
}
