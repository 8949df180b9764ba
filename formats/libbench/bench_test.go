package libbench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pq "github.com/parquet-go/parquet-go"
	"github.com/valyala/fastjson"

	"github.com/sluicehq/sluice/internal/testutil"
)

// events returns n JSON activity events of 10 fields.
func events(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"view", "click", "purchase", "scroll", "signup"}
	pages := []string{"/", "/home", "/search", "/product/123", "/cart", "/checkout"}
	out := make([][]byte, n)
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for i := range out {
		ref := `null`
		if r.IntN(3) > 0 {
			ref = fmt.Sprintf(`"https://ref%d.example/"`, r.IntN(50))
		}
		out[i] = fmt.Appendf(nil, `{"event_id":"%016x%016x","user_id":%d,"session_id":"s-%d","event_type":"%s","page":"%s","referrer":%s,"duration_ms":%d,"price":%.2f,"is_mobile":%t,"event_time":"%s"}`,
			r.Uint64(), r.Uint64(), r.IntN(1_000_000), r.IntN(100_000), types[r.IntN(len(types))], pages[r.IntN(len(pages))], ref,
			r.IntN(60_000), r.Float64()*100, r.IntN(2) == 0, base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
	}
	return out
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*counter)(nil)

func BenchmarkParquetGo(b *testing.B) {
	msgs := events(100_000)
	schema := pq.NewSchema("event", pq.Group{
		"event_id":    pq.Optional(pq.String()),
		"user_id":     pq.Optional(pq.Leaf(pq.Int64Type)),
		"session_id":  pq.Optional(pq.String()),
		"event_type":  pq.Optional(pq.Encoded(pq.String(), &pq.RLEDictionary)),
		"page":        pq.Optional(pq.Encoded(pq.String(), &pq.RLEDictionary)),
		"referrer":    pq.Optional(pq.String()),
		"duration_ms": pq.Optional(pq.Leaf(pq.Int64Type)),
		"price":       pq.Optional(pq.Leaf(pq.DoubleType)),
		"is_mobile":   pq.Optional(pq.Leaf(pq.BooleanType)),
		"event_time":  pq.Optional(pq.Timestamp(pq.Microsecond)),
	})
	// Column order is sorted by name in a pq.Group.
	order := []string{}
	for _, f := range schema.Fields() {
		order = append(order, f.Name())
	}
	cpu0 := testutil.CPUTime()
	b.ResetTimer()
	var out counter
	w := pq.NewWriter(&out, schema, pq.Compression(&pq.Snappy), pq.DataPageVersion(1))
	var p fastjson.Parser
	// Rows go to parquet-go 64 at a time (its own chunk size), as Arrow's
	// builder batches them.
	const batch = 64
	rows := make([]pq.Row, 0, batch)
	for i := 0; i < b.N; i++ {
		row := make(pq.Row, 10)
		v, err := p.ParseBytes(msgs[i%len(msgs)])
		if err != nil {
			b.Fatal(err)
		}
		for c, name := range order {
			f := v.Get(name)
			var pv pq.Value
			switch {
			case f == nil || f.Type() == fastjson.TypeNull:
				pv = pq.NullValue().Level(0, 0, c)
				row[c] = pv
				continue
			case name == "user_id" || name == "duration_ms":
				pv = pq.Int64Value(f.GetInt64())
			case name == "price":
				pv = pq.DoubleValue(f.GetFloat64())
			case name == "is_mobile":
				pv = pq.BooleanValue(f.GetBool())
			case name == "event_time":
				t, _ := time.Parse(time.RFC3339Nano, string(f.GetStringBytes()))
				pv = pq.Int64Value(t.UnixMicro())
			default:
				pv = pq.ByteArrayValue(append([]byte(nil), f.GetStringBytes()...))
			}
			row[c] = pv.Level(0, 1, c)
		}
		rows = append(rows, row)
		if len(rows) == batch {
			if _, err := w.WriteRows(rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
		if i%100_000 == 99_999 {
			w.Flush()
		}
	}
	if _, err := w.WriteRows(rows); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/(testutil.CPUTime()-cpu0).Seconds(), "records/cpu-s")
}

func BenchmarkArrowPqarrow(b *testing.B) {
	msgs := events(100_000)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "event_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "session_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "event_type", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "page", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "referrer", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "duration_ms", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "is_mobile", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "event_time", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
	mem := memory.NewGoAllocator()
	var out counter
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithDataPageVersion(parquet.DataPageV1), parquet.WithDictionaryDefault(false))
	fw, err := pqarrow.NewFileWriter(schema, &out, props, pqarrow.NewArrowWriterProperties())
	if err != nil {
		b.Fatal(err)
	}
	bld := array.NewRecordBuilder(mem, schema)
	var p fastjson.Parser
	const batch = 8192
	cpu0 := testutil.CPUTime()
	b.ResetTimer()
	flush := func() {
		rec := bld.NewRecordBatch()
		if err := fw.WriteBuffered(rec); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	for i := 0; i < b.N; i++ {
		v, err := p.ParseBytes(msgs[i%len(msgs)])
		if err != nil {
			b.Fatal(err)
		}
		for c, fld := range schema.Fields() {
			f := v.Get(fld.Name)
			fb := bld.Field(c)
			if f == nil || f.Type() == fastjson.TypeNull {
				fb.AppendNull()
				continue
			}
			switch x := fb.(type) {
			case *array.StringBuilder:
				x.BinaryBuilder.Append(f.GetStringBytes())
			case *array.Int64Builder:
				x.Append(f.GetInt64())
			case *array.Float64Builder:
				x.Append(f.GetFloat64())
			case *array.BooleanBuilder:
				x.Append(f.GetBool())
			case *array.TimestampBuilder:
				t, _ := time.Parse(time.RFC3339Nano, string(f.GetStringBytes()))
				x.Append(arrow.Timestamp(t.UnixMicro()))
			}
		}
		if i%batch == batch-1 {
			flush()
		}
		if i%100_000 == 99_999 {
			fw.NewBufferedRowGroup()
		}
	}
	flush()
	if err := fw.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/(testutil.CPUTime()-cpu0).Seconds(), "records/cpu-s")
}
