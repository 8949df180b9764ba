package formats

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hamba/avro/v2"
)

const (
	userV1 = `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`
	userV2 = `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}`
	userV3 = `{"type":"record","name":"User","fields":[{"name":"id","type":"string"},{"name":"name","type":"string"}]}`
)

// registry is a Confluent Schema Registry serving GET /schemas/ids/{id}
// over real HTTP on 127.0.0.1.
func registry(t *testing.T, schemas map[int]string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		var id int
		if _, err := fmt.Sscanf(r.URL.Path, "/schemas/ids/%d", &id); err != nil || r.Method != http.MethodGet {
			http.Error(w, `{"error_code":404,"message":"HTTP 404 Not Found"}`, http.StatusNotFound)
			return
		}
		s, ok := schemas[id]
		if !ok {
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error_code":40403,"message":"Schema %d not found"}`, id)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		_ = json.NewEncoder(w).Encode(map[string]string{"schema": s})
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// confluent frames an Avro record in the Confluent wire format.
func confluent(t *testing.T, id uint32, schema string, v any) []byte {
	t.Helper()
	body, err := avro.Marshal(avro.MustParse(schema), v)
	if err != nil {
		t.Fatal(err)
	}
	out := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], id)
	return append(out, body...)
}

func TestAvroRegistry(t *testing.T) {
	srv, hits := registry(t, map[int]string{1: userV1, 2: userV2, 3: userV3})
	d, err := NewDecoder(Config{Type: TypeAvro, Avro: AvroConfig{RegistryURL: srv.URL}, Schema: SchemaPolicy{Compatibility: CompatBackward}}, DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dec := func(off int64, value []byte) (*Row, error) {
		return d.Decode(ctx, &Message{Topic: "users", Partition: 2, Offset: off, Value: value})
	}
	r1, err := dec(1, confluent(t, 1, userV1, map[string]any{"id": int64(7), "name": "ann"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := StructValue(r1.Values...).String(); got != `{7 "ann"}` {
		t.Errorf("v1 row = %s", got)
	}
	r1b, err := dec(2, confluent(t, 1, userV1, map[string]any{"id": int64(8), "name": "bob"}))
	if err != nil {
		t.Fatal(err)
	}
	if r1b.Schema != r1.Schema {
		t.Error("rows of the same schema id should share one *Schema")
	}
	r2, err := dec(3, confluent(t, 2, userV2, map[string]any{"id": int64(9), "name": "cy", "email": map[string]any{"string": "c@x"}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.Schema.String(); got != "<id!:int64,name!:string,email:string>" {
		t.Errorf("v2 schema = %s", got)
	}
	if hits.Load() != 2 {
		t.Errorf("registry hits = %d, want 2 (one per schema id, cached)", hits.Load())
	}

	// Backward: v2 adds a nullable column, so a new file with the merged
	// schema; then v1 rows are projected into it.
	dcs, err := Resolve(CompatBackward, r1.Schema, r2.Schema)
	if err != nil || !dcs.NewFile || dcs.Schema.String() != "<id!:int64,name!:string,email:string>" {
		t.Fatalf("Resolve(v1 file, v2 row) = %+v, %v", dcs, err)
	}
	dcs2, err := Resolve(CompatBackward, dcs.Schema, r1.Schema)
	if err != nil || dcs2.NewFile {
		t.Fatalf("Resolve(merged file, v1 row) = %+v, %v; want same file", dcs2, err)
	}
	// none: any change is a new file.
	if dcs3, err := Resolve(CompatNone, r1.Schema, r2.Schema); err != nil || !dcs3.NewFile || dcs3.Schema != r2.Schema {
		t.Fatalf("Resolve(none) = %+v, %v", dcs3, err)
	}

	// v3 changes id from long to string: an error naming field and types.
	r3, err := dec(4, confluent(t, 3, userV3, map[string]any{"id": "x", "name": "dee"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Resolve(CompatBackward, dcs.Schema, r3.Schema)
	var se *SchemaError
	if !errors.As(err, &se) || se.Field != "id" || se.Old != "int64" || se.New != "string" {
		t.Fatalf("Resolve(v3) err = %v, want a SchemaError for id int64 -> string", err)
	}
	if want := "formats: field id changed type from int64 to string: not a widening backward compatibility allows (int32 -> int64 -> double, float -> double, adding nullable fields)"; err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}

	// An unknown schema id is the message's fault: a DecodeError.
	_, err = dec(5, confluent(t, 42, userV1, map[string]any{"id": int64(1), "name": "x"}))
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrUnknownSchemaID) {
		t.Fatalf("unknown id: err = %v, want a DecodeError wrapping ErrUnknownSchemaID", err)
	}
	want := fmt.Sprintf("avro: users[2]@5: formats: unknown schema id 42: registry %s says Schema 42 not found", srv.URL)
	if err.Error() != want {
		t.Errorf("unknown id error = %q\nwant %q", err, want)
	}
	before := hits.Load()
	if _, err := dec(6, confluent(t, 42, userV1, map[string]any{"id": int64(1), "name": "x"})); !errors.Is(err, ErrUnknownSchemaID) {
		t.Fatalf("second unknown id: %v", err)
	}
	if hits.Load() != before {
		t.Error("an unknown id should be remembered, not asked again")
	}

	// Not the wire format.
	_, err = dec(7, []byte{1, 2, 3, 4, 5, 6})
	if err == nil || err.Error() != "avro: users[2]@7: magic byte is 0x01, not 0: not in the Confluent wire format" {
		t.Errorf("bad magic: %v", err)
	}
	_, err = dec(8, []byte{0, 0, 0})
	if err == nil || err.Error() != "avro: users[2]@8: value of 3 bytes is shorter than the 5-byte Confluent wire-format header" {
		t.Errorf("short: %v", err)
	}
}

func TestAvroRegistryDown(t *testing.T) {
	srv, _ := registry(t, map[int]string{})
	url := srv.URL
	srv.Close()
	d, err := NewDecoder(Config{Type: TypeAvro, Avro: AvroConfig{RegistryURL: url}}, DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Decode(context.Background(), &Message{Topic: "t", Value: confluent(t, 1, userV1, map[string]any{"id": int64(1), "name": "x"})})
	var de *DecodeError
	if err == nil || errors.As(err, &de) || !errors.Is(err, ErrRegistry) {
		t.Fatalf("registry down: err = %v; want ErrRegistry and not a DecodeError (not the message's fault)", err)
	}
	if !strings.Contains(err.Error(), "/schemas/ids/1") {
		t.Errorf("error should name the request: %v", err)
	}
}

func TestAvroBadSchemas(t *testing.T) {
	for _, tc := range []struct{ schema, want string }{
		{`{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]}]}`, "format.avro.schema: next: recursive record R cannot be a Parquet column"},
		{`{"type":"record"`, `format.avro.schema: bad Avro schema: avro: unknown type: {"type":"record"`},
		{`{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":40,"scale":2}}]}`, "format.avro.schema: d: decimal precision 40 is outside 1..38"},
	} {
		err := Config{Type: TypeAvro, Avro: AvroConfig{Schema: tc.schema}}.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("schema %s: err = %v, want %q", tc.schema, err, tc.want)
		}
	}
}
