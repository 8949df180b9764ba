package pipelines

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the .golden and .show files in testdata/ (the flag datadriven uses elsewhere)")

// testEnv is the environment golden tests expand ${VAR} from.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"BROKER":        "127.0.0.1:9092",
		"SASL_PASSWORD": "hunter2",
		"START":         "latest",
		"EMPTY":         "",
		"API_TOKEN":     "s3cr3t-t0ken",
	}[name]
	return v, ok
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *rewrite {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pipelines -rewrite to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test ./pipelines -rewrite rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestErrorGolden loads every testdata/errors/*.yaml and compares the
// errors, one per line, with the .golden file beside it.
func TestErrorGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = LoadBytesEnv(filepath.ToSlash(f), b, testEnv)
			if err == nil {
				t.Fatal("loaded without error")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors: %v", err, err)
			}
			for _, e := range es {
				if strings.Contains(e.Error(), "hunter2") || strings.Contains(e.Error(), "s3cr3t") {
					t.Errorf("error shows a secret: %v", e)
				}
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}

// TestShowGolden loads every testdata/valid/*.yaml and compares the
// effective, redacted spec with the .show golden file; the output must
// load again to the same spec.
func TestShowGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := LoadBytesEnv(f, b, testEnv)
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Redacted().YAML()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "hunter2") {
				t.Errorf("show prints the SASL password:\n%s", out)
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".show", out)

			// Without redaction the output reads back to the same spec.
			plain, err := s.YAML()
			if err != nil {
				t.Fatal(err)
			}
			again, err := LoadBytesEnv("show", plain, testEnv)
			if err != nil {
				t.Fatalf("show output does not load: %v\n%s", err, plain)
			}
			if !sameSpec(s, again) {
				t.Fatalf("round trip changed the spec:\n%s", plain)
			}
		})
	}
}

func sameSpec(a, b *Spec) bool {
	x, y := *a, *b
	x.src, y.src = nil, nil
	return reflect.DeepEqual(x, y)
}

func TestDefaults(t *testing.T) {
	b, err := os.ReadFile("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadBytesEnv("minimal.yaml", b, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", s.Version, 1},
		{"broker from env", s.Source.Brokers, []string{"127.0.0.1:9092"}},
		{"group", s.Source.Group, "sluice-clicks"},
		{"start", s.Source.Start, StartEarliest},
		{"on_gap", s.Source.OnGap, OnGapFail},
		{"format", s.Format.Type, "json"},
		{"on_error", s.Format.OnError, OnErrorFail},
		{"time", s.PartitionBy.Time, TimeRecord},
		{"layout", s.PartitionBy.Layout, DefaultLayout},
		{"timezone", s.PartitionBy.Timezone, "UTC"},
		{"compression", s.Sink.Compression, "snappy"},
		{"roll records", s.Sink.Roll.Records, int64(1_000_000)},
		{"roll bytes", s.Sink.Roll.Bytes, Size(256 << 20)},
		{"roll age", s.Sink.Roll.Age, 10 * time.Minute},
		{"row group", s.Sink.RowGroupBytes, Size(64 << 20)},
		{"meta", s.Sink.MetaColumns, []string{"_topic", "_partition", "_offset", "_timestamp"}},
		{"grace", s.Sink.SuccessGrace, 10 * time.Minute},
		{"workers", s.MaxWorkers, 0},
		{"hive db", s.Hive.Database, "default"},
		{"hive table", s.Hive.Table, "clicks"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestExplicitValuesKept(t *testing.T) {
	b, err := os.ReadFile("testdata/valid/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadBytesEnv("full.yaml", b, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sink.SuccessGrace != 0 {
		t.Errorf("success_grace: 0s became %v", s.Sink.SuccessGrace)
	}
	if s.Sink.Roll.Records != 500_000 || s.Sink.Roll.Bytes != 1_000_000_000 || s.Sink.Roll.Age != 90*time.Minute {
		t.Errorf("roll = %+v", s.Sink.Roll)
	}
	if s.MaxWorkers != 4 || s.Source.Group != "loaders-orders" {
		t.Errorf("defaults from ${VAR:-x}: workers %d group %q", s.MaxWorkers, s.Source.Group)
	}
	if s.Source.SASL.Password != "hunter2" {
		t.Errorf("password not expanded")
	}
	if r := s.Redacted(); r.Source.SASL.Password != Redacted || s.Source.SASL.Password != "hunter2" {
		t.Errorf("Redacted: copy has %q, original %q", r.Source.SASL.Password, s.Source.SASL.Password)
	}
	if len(s.Format.JSON.Schema) != 3 || s.Format.JSON.Schema[2].Format != "epoch_ms" {
		t.Errorf("format schema = %+v", s.Format.JSON.Schema)
	}
}

// TestExamples checks that every pipeline in examples/ is valid with no
// environment set (their ${VAR:-default}s cover it).
func TestExamples(t *testing.T) {
	files, err := Files([]string{"../examples"})
	if err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := LoadBytesEnv(f, b, noEnv); err != nil {
			t.Errorf("%v", err)
		}
	}
	if len(files) < 3 {
		t.Errorf("only %d examples found", len(files))
	}
}
