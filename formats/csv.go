package formats

import (
	"context"
	"errors"
)

type csvDecoder struct{ schema *Schema }

func newCSVDecoder(cfg Config, opts DecoderOptions) (*csvDecoder, error) {
	return &csvDecoder{}, nil
}

func (d *csvDecoder) Schema() *Schema { return d.schema }

func (d *csvDecoder) Decode(ctx context.Context, m *Message) (*Row, error) {
	return nil, errors.New("formats: csv decoder not implemented yet")
}
