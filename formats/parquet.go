package formats

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/klauspost/compress/s2"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"
)

// batchRows is how many rows Write collects, column by column, before
// handing each column's values to parquet-go (amortizes its per-call cost;
// parquet-go itself writes rows in chunks of 64).
const batchRows = 64

// dictionaryMaxBytes caps a string column's dictionary per row group; past
// it the column falls back to PLAIN, so only low-cardinality strings stay
// dictionary-encoded.
const dictionaryMaxBytes = 256 << 10

// Writer streams rows into one Parquet file. Not safe for concurrent use.
//
// Files hold V1 data pages; strings are dictionary-encoded (falling back to
// PLAIN past 1 MiB of dictionary per row group), everything else PLAIN;
// timestamps are INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true); dates INT32
// DATE; decimals FIXED_LEN_BYTE_ARRAY DECIMAL (the layout Hive and every
// Spark read); lists use the 3-level LIST layout (list/element), maps the
// MAP layout (key_value/key,value).
type Writer struct {
	out    *countingWriter
	pw     *pq.GenericWriter[any]
	schema *Schema // data schema
	file   *Schema // data + metadata columns
	meta   []metaKind
	opts   WriterOptions
	leaves []leaf

	cols      [][]pq.Value // per leaf column: values of the rows batched
	batchLen  []int        // per column: values of the complete rows in cols
	batchRows int
	scratch   []byte // decimal bytes of the current batch
	rows      int64
	rowBytes  int64 // byte-array bytes of the row being shredded
	rawBatch  int64 // estimated raw bytes of rows not yet in a flushed row group
	rawGroup  int64
	// ratio of bytes written to raw bytes flushed, for Bytes.
	rawFlushed int64
	projs      map[*Schema]*projection
	topic      string // last _topic value, and its bytes
	topicBytes []byte
	err        error // sticky: the first I/O error
	closed     bool
}

// leaf is one Parquet column: the top-level field it lives in and the path
// of struct member indexes / map key(0) or value(1) steps below it.
type leaf struct {
	field int
	path  []int
	flat  bool // a top-level primitive column
	def   int  // definition level of a present flat value
	kind  Kind // of a flat column
}

// NewWriter starts a Parquet file with the given data schema on w (plus
// opts.MetaColumns, after the data columns). Nothing is written to w until
// the first row group is flushed. Write may keep references to a row's
// bytes until its row group is flushed: don't modify rows after writing
// them.
func NewWriter(w io.Writer, schema *Schema, opts WriterOptions) (*Writer, error) {
	opts = opts.withDefaults()
	codec, err := codecOf(opts.Codec) // the typed codec, as ParseCodec returned it
	if err != nil {
		return nil, err
	}
	if len(schema.Fields) == 0 && len(opts.MetaColumns) == 0 {
		return nil, errors.New("formats: a Parquet file needs at least one column")
	}
	file, err := WithMetaColumns(schema, opts.MetaColumns)
	if err != nil {
		return nil, err
	}
	root, err := structNode(file.Fields)
	if err != nil {
		return nil, err
	}
	pschema := pq.NewSchema("schema", root)
	out := &countingWriter{w: w}
	pw := pq.NewGenericWriter[any](out, pschema,
		pq.Compression(codec),
		pq.DataPageVersion(1),
		pq.PageBufferSize(opts.PageBytes),
		pq.DictionaryMaxBytes(dictionaryMaxBytes),
		pq.CreatedBy("sluice", "1", ""),
	)
	wr := &Writer{out: out, pw: pw, schema: schema, file: file, opts: opts}
	for _, name := range opts.MetaColumns {
		wr.meta = append(wr.meta, metaKindOf(name))
	}
	for i, f := range file.Fields {
		wr.leaves = appendLeaves(wr.leaves, i, nil, f.Type)
	}
	for i := range wr.leaves {
		f := file.Fields[wr.leaves[i].field]
		wr.leaves[i].flat = isPrimitive(f.Type.Kind)
		wr.leaves[i].kind = f.Type.Kind
		if !f.Required {
			wr.leaves[i].def = 1
		}
	}
	if n := len(pw.ColumnWriters()); n != len(wr.leaves) {
		return nil, fmt.Errorf("formats: parquet schema has %d columns, expected %d", n, len(wr.leaves))
	}
	wr.cols = make([][]pq.Value, len(wr.leaves))
	wr.batchLen = make([]int, len(wr.leaves))
	return wr, nil
}

func appendLeaves(dst []leaf, field int, path []int, t *Type) []leaf {
	switch t.Kind {
	case KindStruct:
		for i, f := range t.Fields {
			dst = appendLeaves(dst, field, append(append([]int(nil), path...), i), f.Type)
		}
		return dst
	case KindList:
		return appendLeaves(dst, field, path, t.Elem)
	case KindMap:
		dst = append(dst, leaf{field: field, path: append(append([]int(nil), path...), 0)})
		return appendLeaves(dst, field, append(append([]int(nil), path...), 1), t.Elem)
	}
	return append(dst, leaf{field: field, path: path})
}

// Schema returns the data schema the file was opened with (without the
// metadata columns).
func (w *Writer) Schema() *Schema { return w.schema }

// FileSchema returns the schema of the file: data plus metadata columns.
func (w *Writer) FileSchema() *Schema { return w.file }

// Write appends a row. A row whose schema differs from the writer's is
// projected onto it by field name (missing fields null, numeric types
// widened) or rejected with a *SchemaError: call Resolve first. A null in
// a required field is an error naming the field; the row is then not
// written and the writer stays usable.
func (w *Writer) Write(row *Row) error {
	if w.closed {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	values := row.Values
	if row.Schema != w.schema && row.Schema != nil {
		p, err := w.projection(row.Schema)
		if err != nil {
			return err
		}
		if p != nil {
			if values, err = p.apply(values); err != nil {
				return err
			}
		}
	}
	if len(values) != len(w.schema.Fields) {
		return fmt.Errorf("formats: row has %d values, schema %d fields", len(values), len(w.schema.Fields))
	}
	// Values go straight into per-column buffers (no row transposition);
	// a failed row is rolled back from the columns it reached.
	nd := len(w.schema.Fields)
	var bytesBefore = w.rowBytes
	for c := range w.leaves {
		lf := &w.leaves[c]
		var v Value
		if lf.field < nd {
			v = values[lf.field]
		} else {
			v = w.metaValue(row, lf.field-nd)
		}
		f := &w.file.Fields[lf.field]
		col := w.cols[c]
		var err error
		if lf.flat {
			// A top-level primitive: one value, no repetition.
			if v.kind == KindNull {
				if f.Required {
					err = errRequiredNull
				} else {
					w.cols[c] = append(col, pq.Value{}.Level(0, 0, c))
					continue
				}
			} else if v.kind == lf.kind {
				var pv pq.Value
				switch v.kind {
				case KindInt64, KindTimestamp:
					pv = pq.Int64Value(int64(v.num))
				case KindString, KindBinary:
					w.rowBytes += int64(v.n)
					pv = pq.ByteArrayValue(v.raw())
				case KindInt32, KindDate:
					pv = pq.Int32Value(int32(v.num))
				case KindBoolean:
					pv = pq.BooleanValue(v.num != 0)
				case KindDouble:
					pv = pq.DoubleValue(math.Float64frombits(v.num))
				default:
					pv, err = w.primitive(f.Type, v)
				}
				if err == nil {
					w.cols[c] = append(col, pv.Level(0, lf.def, c))
					continue
				}
			} else {
				_, err = w.primitive(f.Type, v) // the mismatch error
			}
		} else {
			w.cols[c], err = w.shred(col, f.Type, !f.Required, v, lf.path, 0, 0, 0, c)
		}
		if err != nil {
			for k := 0; k <= c; k++ {
				w.cols[k] = w.cols[k][:w.batchLen[k]]
			}
			w.rowBytes = bytesBefore
			return fmt.Errorf("formats: field %s at offset %d: %w", f.Name, row.Offset, err)
		}
	}
	var n int
	for c := range w.cols {
		n += len(w.cols[c]) - w.batchLen[c]
		w.batchLen[c] = len(w.cols[c])
	}
	w.rows++
	w.batchRows++
	w.rawBatch += int64(n)*8 + w.rowBytes - bytesBefore
	if w.batchRows >= batchRows {
		if err := w.flushBatch(); err != nil {
			return err
		}
	}
	if w.rawGroup+w.rawBatch >= w.opts.RowGroupBytes {
		if err := w.flushRowGroup(); err != nil {
			return err
		}
	}
	return nil
}

type metaKind uint8

const (
	metaTopic metaKind = iota
	metaPartition
	metaOffset
	metaTimestamp
	metaKey
)

func metaKindOf(name string) metaKind {
	switch name {
	case MetaTopic:
		return metaTopic
	case MetaPartition:
		return metaPartition
	case MetaOffset:
		return metaOffset
	case MetaTimestamp:
		return metaTimestamp
	}
	return metaKey // WithMetaColumns has checked the names
}

func (w *Writer) metaValue(row *Row, i int) Value {
	switch w.meta[i] {
	case metaTopic:
		if row.Topic != w.topic {
			w.topic, w.topicBytes = row.Topic, []byte(row.Topic)
		}
		return StringValue(w.topicBytes)
	case metaPartition:
		return Int32Value(row.Partition)
	case metaOffset:
		return Int64Value(row.Offset)
	case metaTimestamp:
		return TimestampValue(row.Timestamp)
	case metaKey:
		if row.Key == nil {
			return NullValue()
		}
		return BinaryValue(row.Key)
	}
	return NullValue()
}

var errRequiredNull = errors.New("required but null")

// shred appends the values of one leaf column (the one path leads to) for
// value v of type t, with the Dremel repetition and definition levels.
func (w *Writer) shred(dst pq.Row, t *Type, optional bool, v Value, path []int, rep, def, repDepth, col int) (pq.Row, error) {
	if v.kind == KindNull {
		if !optional {
			return dst, errRequiredNull
		}
		return append(dst, pq.Value{}.Level(rep, def, col)), nil
	}
	if optional {
		def++
	}
	switch t.Kind {
	case KindStruct:
		if v.kind != KindStruct || len(v.list()) != len(t.Fields) {
			return dst, fmt.Errorf("value %s does not fit %s", v.kind, t)
		}
		i := path[0]
		m := &t.Fields[i]
		out, err := w.shred(dst, m.Type, !m.Required, v.list()[i], path[1:], rep, def, repDepth, col)
		if err != nil {
			return out, fmt.Errorf("%s: %w", m.Name, err)
		}
		return out, nil
	case KindList, KindMap:
		if v.kind != t.Kind {
			return dst, fmt.Errorf("value %s does not fit %s", v.kind, t)
		}
		n := v.Len()
		if n == 0 {
			return append(dst, pq.Value{}.Level(rep, def, col)), nil
		}
		var err error
		for i := 0; i < n; i++ {
			r := rep
			if i > 0 {
				r = repDepth + 1
			}
			if t.Kind == KindList {
				dst, err = w.shred(dst, t.Elem, true, v.list()[i], path, r, def+1, repDepth+1, col)
			} else if path[0] == 0 {
				dst, err = w.shred(dst, StringType, false, v.list()[2*i], path[1:], r, def+1, repDepth+1, col)
			} else {
				dst, err = w.shred(dst, t.Elem, true, v.list()[2*i+1], path[1:], r, def+1, repDepth+1, col)
			}
			if err != nil {
				return dst, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return dst, nil
	}
	pv, err := w.primitive(t, v)
	if err != nil {
		return dst, err
	}
	return append(dst, pv.Level(rep, def, col)), nil
}

func (w *Writer) primitive(t *Type, v Value) (pq.Value, error) {
	if v.kind != t.Kind {
		return pq.Value{}, fmt.Errorf("value %s does not fit %s", v.kind, t)
	}
	switch t.Kind {
	case KindBoolean:
		return pq.BooleanValue(v.num != 0), nil
	case KindInt32, KindDate:
		return pq.Int32Value(int32(v.num)), nil
	case KindInt64, KindTimestamp:
		return pq.Int64Value(int64(v.num)), nil
	case KindFloat:
		return pq.FloatValue(float32(v.Float())), nil
	case KindDouble:
		return pq.DoubleValue(v.Float()), nil
	case KindString, KindBinary:
		w.rowBytes += int64(len(v.raw()))
		return pq.ByteArrayValue(v.raw()), nil
	case KindDecimal:
		n := decimalBytes(t.Precision)
		start := len(w.scratch)
		if v.n == 0 {
			x := int64(v.num)
			w.scratch = append(w.scratch, make([]byte, n)...)
			b := w.scratch[start:]
			for i := n - 1; i >= 0; i-- {
				b[i] = byte(x)
				x >>= 8
			}
		} else {
			if len(v.raw()) > n {
				return pq.Value{}, fmt.Errorf("decimal wider than %s", t)
			}
			pad := byte(0)
			if len(v.raw()) > 0 && v.raw()[0]&0x80 != 0 {
				pad = 0xff
			}
			for i := len(v.raw()); i < n; i++ {
				w.scratch = append(w.scratch, pad)
			}
			w.scratch = append(w.scratch, v.raw()...)
		}
		return pq.FixedLenByteArrayValue(w.scratch[start : start+n : start+n]), nil
	}
	return pq.Value{}, fmt.Errorf("cannot write %s", t)
}

func (w *Writer) flushBatch() error {
	if w.batchRows == 0 {
		return nil
	}
	var err error
	for c, cw := range w.pw.ColumnWriters() {
		if _, werr := cw.WriteRowValues(w.cols[c]); werr != nil && err == nil {
			err = werr
		}
		clear(w.cols[c])
		w.cols[c] = w.cols[c][:0]
		w.batchLen[c] = 0
	}
	w.batchRows = 0
	// parquet-go copied the values: the decimal bytes can be reused.
	w.scratch = w.scratch[:0]
	w.rawGroup += w.rawBatch
	w.rawBatch = 0
	if err != nil {
		w.err = fmt.Errorf("formats: write parquet: %w", err)
	}
	return w.err
}

func (w *Writer) flushRowGroup() error {
	if err := w.flushBatch(); err != nil {
		return err
	}
	if w.rawGroup == 0 {
		return nil
	}
	if err := w.pw.Flush(); err != nil {
		w.err = fmt.Errorf("formats: flush row group: %w", err)
		return w.err
	}
	w.rawFlushed += w.rawGroup
	w.rawGroup = 0
	return nil
}

// Rows returns how many rows were written.
func (w *Writer) Rows() int64 { return w.rows }

// Buffered estimates the raw bytes of the rows held in memory: written but
// not yet flushed as a row group.
func (w *Writer) Buffered() int64 { return w.rawGroup + w.rawBatch }

// FlushRowGroup writes the rows held in memory as a row group now, before
// they reach WriterOptions.RowGroupBytes (a caller bounding the memory of
// several open files). With nothing held it does nothing.
func (w *Writer) FlushRowGroup() error {
	if w.closed {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	return w.flushRowGroup()
}

// Bytes estimates the file size so far: bytes written to the io.Writer plus
// the buffered rows' raw size scaled by the compression ratio of the row
// groups flushed so far (1 before the first). Use it to roll files by size.
func (w *Writer) Bytes() int64 {
	buffered := w.rawGroup + w.rawBatch
	if w.rawFlushed > 0 && w.out.n > 0 {
		buffered = buffered * w.out.n / w.rawFlushed
	}
	return w.out.n + buffered
}

// Close flushes the last row group and writes the footer. It does not
// close the io.Writer. A file with no rows is still a valid Parquet file.
func (w *Writer) Close() error {
	if w.closed {
		return ErrWriterClosed
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.flushBatch(); err != nil {
		return err
	}
	if err := w.pw.Close(); err != nil {
		w.err = fmt.Errorf("formats: close parquet: %w", err)
		return w.err
	}
	return nil
}

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

// structNode builds a parquet group whose fields keep the given order
// (parquet.Group sorts fields by name).
func structNode(fields []Field) (pq.Node, error) {
	g := &orderedGroup{fields: make([]pq.Field, len(fields))}
	for i, f := range fields {
		n, err := parquetNode(f.Type)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if !f.Required {
			n = pq.Optional(n)
		} else {
			n = pq.Required(n)
		}
		g.fields[i] = namedField{Node: n, name: f.Name}
	}
	return g, nil
}

func parquetNode(t *Type) (pq.Node, error) {
	switch t.Kind {
	case KindBoolean:
		return pq.Leaf(pq.BooleanType), nil
	case KindInt32:
		return pq.Int(32), nil
	case KindInt64:
		return pq.Int(64), nil
	case KindFloat:
		return pq.Leaf(pq.FloatType), nil
	case KindDouble:
		return pq.Leaf(pq.DoubleType), nil
	case KindString:
		return pq.Encoded(pq.String(), &pq.RLEDictionary), nil
	case KindBinary:
		return pq.Leaf(pq.ByteArrayType), nil
	case KindDate:
		return pq.Date(), nil
	case KindTimestamp:
		return pq.Timestamp(pq.Microsecond), nil
	case KindDecimal:
		if t.Precision < 1 || t.Precision > MaxDecimalPrecision || t.Scale < 0 || t.Scale > t.Precision {
			return nil, fmt.Errorf("bad decimal(%d,%d)", t.Precision, t.Scale)
		}
		return pq.Decimal(t.Scale, t.Precision, pq.FixedLenByteArrayType(decimalBytes(t.Precision))), nil
	case KindList:
		e, err := parquetNode(t.Elem)
		if err != nil {
			return nil, err
		}
		return pq.List(pq.Optional(e)), nil
	case KindMap:
		e, err := parquetNode(t.Elem)
		if err != nil {
			return nil, err
		}
		return pq.Map(pq.String(), pq.Optional(e)), nil
	case KindStruct:
		if len(t.Fields) == 0 {
			return nil, errors.New("a struct needs at least one member")
		}
		return structNode(t.Fields)
	}
	return nil, fmt.Errorf("no Parquet type for %s", t)
}

// orderedGroup is a parquet group node with fields in declaration order.
type orderedGroup struct {
	pq.Group // empty: supplies the group behaviour
	fields   []pq.Field
}

func (g *orderedGroup) Fields() []pq.Field { return g.fields }

func (g *orderedGroup) String() string { return fmt.Sprintf("group(%d fields)", len(g.fields)) }

func (g *orderedGroup) GoType() reflect.Type {
	sf := make([]reflect.StructField, len(g.fields))
	for i, f := range g.fields {
		sf[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: f.GoType()}
	}
	return reflect.StructOf(sf)
}

type namedField struct {
	pq.Node
	name string
}

func (f namedField) Name() string { return f.name }

func (f namedField) Value(reflect.Value) reflect.Value { return reflect.Value{} }

// snappyCodec is SNAPPY with the fast block encoder (parquet-go's default
// uses the slower "better" mode); the output is standard snappy.
type snappyCodec struct{}

func (snappyCodec) String() string { return "SNAPPY" }

func (snappyCodec) CompressionCodec() format.CompressionCodec { return format.Snappy }

func (snappyCodec) Encode(dst, src []byte) ([]byte, error) {
	return s2.EncodeSnappy(dst[:cap(dst)], src), nil
}

func (snappyCodec) Decode(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }

// codecOf is parquet-go's codec for c; a Codec that is none of the
// constants (built from a string ParseCodec did not check) is an error.
func codecOf(c Codec) (compress.Codec, error) {
	switch c {
	case CodecSnappy:
		return snappyCodec{}, nil
	case CodecZstd:
		return &pq.Zstd, nil
	case CodecGzip:
		return &pq.Gzip, nil
	case CodecLZ4:
		return &pq.Lz4Raw, nil
	case CodecNone:
		return &pq.Uncompressed, nil
	}
	return nil, fmt.Errorf("formats: unknown compression %q (want snappy, zstd, gzip, lz4 or none)", c)
}
