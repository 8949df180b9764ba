package formats

import (
	"fmt"
)

// Codec is a Parquet compression codec.
type Codec string

// Codecs a Writer supports.
const (
	CodecSnappy Codec = "snappy" // the default
	CodecZstd   Codec = "zstd"
	CodecGzip   Codec = "gzip"
	CodecLZ4    Codec = "lz4" // LZ4_RAW: Spark >= 3.3, DuckDB, pyarrow; not older Hive
	CodecNone   Codec = "none"
)

// Defaults of WriterOptions.
const (
	DefaultRowGroupBytes = 128 << 20
	DefaultPageBytes     = 1 << 20
)

// WriterOptions configure a Writer. The zero value is snappy, 128 MiB row
// groups, 1 MiB pages, no metadata columns.
type WriterOptions struct {
	// Codec is snappy (default), zstd, gzip, lz4 or none.
	Codec Codec
	// RowGroupBytes is the target uncompressed size of a row group; when
	// the rows buffered reach it, the row group is encoded and written to
	// the io.Writer. It bounds the writer's memory. Default 128 MiB.
	RowGroupBytes int64
	// PageBytes is the target uncompressed size of a data page. Default
	// 1 MiB.
	PageBytes int
	// MetaColumns are added after the data columns, in this order, from
	// the row's message coordinates: any of _topic, _partition, _offset,
	// _timestamp, _key (see DefaultMetaColumns). Nil adds none.
	MetaColumns []string
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.Codec == "" {
		o.Codec = CodecSnappy
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = DefaultRowGroupBytes
	}
	if o.PageBytes <= 0 {
		o.PageBytes = DefaultPageBytes
	}
	return o
}

// ParseCodec checks a codec name as written in a pipeline ("" is snappy).
func ParseCodec(name string) (Codec, error) {
	switch c := Codec(name); c {
	case "":
		return CodecSnappy, nil
	case CodecSnappy, CodecZstd, CodecGzip, CodecLZ4, CodecNone:
		return c, nil
	}
	return "", fmt.Errorf("formats: unknown compression %q (want snappy, zstd, gzip, lz4 or none)", name)
}

// WithMetaColumns returns the schema of a file holding rows of s plus the
// named metadata columns: the table schema for CreateTableDDL.
func WithMetaColumns(s *Schema, meta []string) (*Schema, error) {
	fields := append([]Field(nil), s.Fields...)
	for _, name := range meta {
		f, ok := metaField(name)
		if !ok {
			return nil, fmt.Errorf("formats: unknown metadata column %q (want _topic, _partition, _offset, _timestamp or _key)", name)
		}
		if s.Index(name) >= 0 {
			return nil, fmt.Errorf("formats: metadata column %q clashes with a data field of that name", name)
		}
		fields = append(fields, f)
	}
	return &Schema{Fields: fields}, nil
}

func metaField(name string) (Field, bool) {
	switch name {
	case MetaTopic:
		return Field{Name: name, Type: StringType, Required: true}, true
	case MetaPartition:
		return Field{Name: name, Type: Int32Type, Required: true}, true
	case MetaOffset:
		return Field{Name: name, Type: Int64Type, Required: true}, true
	case MetaTimestamp:
		return Field{Name: name, Type: TimestampType, Required: true}, true
	case MetaKey:
		return Field{Name: name, Type: BinaryType}, true
	}
	return Field{}, false
}
