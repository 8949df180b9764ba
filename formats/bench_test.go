package formats

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// activitySchema is the 10-field activity event of the speed goal.
var activitySpecs = []FieldSpec{
	{Name: "event_id", Type: "string", Required: true},
	{Name: "user_id", Type: "int64", Required: true},
	{Name: "session_id", Type: "string"},
	{Name: "event_type", Type: "string"},
	{Name: "page", Type: "string"},
	{Name: "referrer", Type: "string"},
	{Name: "duration_ms", Type: "int32"},
	{Name: "price", Type: "decimal(10,2)"},
	{Name: "is_mobile", Type: "boolean"},
	{Name: "event_time", Type: "timestamp"},
}

// activityEvents returns n JSON activity events (about 330 bytes each).
func activityEvents(n int) []Message {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"view", "click", "purchase", "scroll", "signup"}
	pages := []string{"/", "/home", "/search", "/product/123", "/cart", "/checkout"}
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	out := make([]Message, n)
	for i := range out {
		ref := `null`
		if r.IntN(3) > 0 {
			ref = fmt.Sprintf(`"https://ref%d.example/landing?utm=%d"`, r.IntN(50), r.IntN(10))
		}
		ts := base.Add(time.Duration(i) * time.Millisecond)
		out[i] = Message{
			Topic: "activity", Partition: 0, Offset: int64(i), Timestamp: ts,
			Value: fmt.Appendf(nil, `{"event_id":"%016x%016x","user_id":%d,"session_id":"s-%d","event_type":"%s","page":"%s","referrer":%s,"duration_ms":%d,"price":%d.%02d,"is_mobile":%t,"event_time":"%s"}`,
				r.Uint64(), r.Uint64(), r.IntN(1_000_000), r.IntN(100_000), types[r.IntN(len(types))], pages[r.IntN(len(pages))], ref,
				r.IntN(60_000), r.IntN(1000), r.IntN(100), r.IntN(2) == 0, ts.Format(time.RFC3339Nano)),
		}
	}
	return out
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// BenchmarkJSONToParquet is the end-to-end speed goal: JSON message bytes
// in, snappy Parquet out (with the default metadata columns), one core.
func BenchmarkJSONToParquet(b *testing.B) {
	msgs := activityEvents(100_000)
	var inBytes int64
	for i := range msgs {
		inBytes += int64(len(msgs[i].Value))
	}
	dec, err := NewDecoder(Config{Type: TypeJSON, JSON: JSONConfig{Schema: activitySpecs}}, DecoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var out countWriter
	w, err := NewWriter(&out, dec.Schema(), WriterOptions{MetaColumns: DefaultMetaColumns()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := testutil.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		row, err := dec.Decode(ctx, &msgs[i%len(msgs)])
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Write(row); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu := (testutil.CPUTime() - cpu0).Seconds()
	secs := b.Elapsed().Seconds()
	// On a shared machine wall time undercounts: records per CPU-second of
	// this process (GC included) is the one-core figure.
	b.ReportMetric(float64(b.N)/cpu, "records/cpu-s")
	b.ReportMetric(float64(b.N)/secs, "records/s")
	b.ReportMetric(float64(inBytes)/float64(len(msgs))*float64(b.N)/secs/1e6, "MB/s")
	b.ReportMetric(float64(out.n)/float64(b.N), "parquet-B/record")
}

// benchToParquet runs decode + write over msgs with dec and reports the
// same metrics as BenchmarkJSONToParquet.
func benchToParquet(b *testing.B, dec Decoder, msgs []Message) {
	ctx := context.Background()
	var inBytes int64
	for i := range msgs {
		inBytes += int64(len(msgs[i].Value))
	}
	var out countWriter
	w, err := NewWriter(&out, dec.Schema(), WriterOptions{MetaColumns: DefaultMetaColumns()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := testutil.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		row, err := dec.Decode(ctx, &msgs[i%len(msgs)])
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Write(row); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/(testutil.CPUTime()-cpu0).Seconds(), "records/cpu-s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(inBytes)/float64(len(msgs))*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
}

// BenchmarkCSVToParquet: the activity event as one CSV record per message.
func BenchmarkCSVToParquet(b *testing.B) {
	src := activityEvents(20_000)
	jd := activityDecoder(b)
	msgs := make([]Message, len(src))
	for i := range src {
		row, err := jd.Decode(context.Background(), &src[i])
		if err != nil {
			b.Fatal(err)
		}
		var line []byte
		for k, v := range row.Values {
			if k > 0 {
				line = append(line, ',')
			}
			switch v.Kind() {
			case KindNull:
			case KindTimestamp:
				line = v.Time().AppendFormat(line, time.RFC3339Nano)
			case KindDecimal:
				line = append(line, decimalText(v.Unscaled(), 2)...)
			case KindString:
				line = append(line, v.Bytes()...)
			default:
				line = append(line, v.String()...)
			}
		}
		msgs[i] = src[i]
		msgs[i].Value = line
	}
	dec, err := NewDecoder(Config{Type: TypeCSV, CSV: CSVConfig{Schema: activitySpecs}}, DecoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	benchToParquet(b, dec, msgs)
}

// BenchmarkAvroToParquet: the activity event in Avro binary.
func BenchmarkAvroToParquet(b *testing.B) {
	const schema = `{"type":"record","name":"Activity","fields":[
	 {"name":"event_id","type":"string"},{"name":"user_id","type":"long"},
	 {"name":"session_id","type":["null","string"]},{"name":"event_type","type":["null","string"]},
	 {"name":"page","type":["null","string"]},{"name":"referrer","type":["null","string"]},
	 {"name":"duration_ms","type":["null","int"]},
	 {"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}]},
	 {"name":"is_mobile","type":["null","boolean"]},
	 {"name":"event_time","type":["null",{"type":"long","logicalType":"timestamp-micros"}]}]}`
	src := activityEvents(20_000)
	jd := activityDecoder(b)
	msgs := make([]Message, len(src))
	for i := range src {
		row, err := jd.Decode(context.Background(), &src[i])
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = src[i]
		msgs[i].Value = avroEncodeRow(row)
	}
	dec, err := NewDecoder(Config{Type: TypeAvro, Avro: AvroConfig{Schema: schema}}, DecoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	benchToParquet(b, dec, msgs)
}

// avroEncodeRow writes an activity row in Avro binary by hand (fields in
// schema order; nullable fields as [null, T] unions).
func avroEncodeRow(r *Row) []byte {
	var out []byte
	long := func(x int64) { out = binary.AppendVarint(out, x) }
	bytesOf := func(b []byte) { long(int64(len(b))); out = append(out, b...) }
	for i, v := range r.Values {
		if i >= 2 { // union branch
			if v.IsNull() {
				long(0)
				continue
			}
			long(1)
		}
		switch v.Kind() {
		case KindString:
			bytesOf(v.Bytes())
		case KindInt64, KindInt32, KindTimestamp:
			long(v.Int())
		case KindBoolean:
			if v.Bool() {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		case KindDecimal:
			// Prices are non-negative: big-endian magnitude with a leading
			// zero byte when the top bit is set (two's complement).
			mag := v.Unscaled().Bytes()
			if len(mag) == 0 || mag[0]&0x80 != 0 {
				mag = append([]byte{0}, mag...)
			}
			bytesOf(mag)
		}
	}
	return out
}
