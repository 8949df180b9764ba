package formats

import (
	"context"
	"errors"
)

type jsonDecoder struct{ schema *Schema }

func newJSONDecoder(cfg Config, opts DecoderOptions) (*jsonDecoder, error) {
	return &jsonDecoder{}, nil
}

func (d *jsonDecoder) Schema() *Schema { return d.schema }

func (d *jsonDecoder) Decode(ctx context.Context, m *Message) (*Row, error) {
	return nil, errors.New("formats: json decoder not implemented yet")
}
