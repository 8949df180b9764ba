package pipelines

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadBytes feeds arbitrary bytes to the parser. It must never panic
// or hang; every failure must be Errors with a file name; a spec that
// loads must print (show) and load again to the same spec.
func FuzzLoadBytes(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/errors"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("name: a\nsource: {brokers: [\"h:1\"], topics: [t]}\nsink: {url: /x}\n"))
	f.Add([]byte("name: a\nsource: {brokers: [\"h:1\"], topics: [t]}\nsink: {url: /x, roll: {bytes: 1.5KiB, age: 1ns}}\nformat: {type: csv, csv: {columns: [a, b]}}\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("name: !!binary aGk=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := LoadBytesEnv("fuzz.yaml", b, testEnv)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not Errors: %T %v", err, err)
			}
			for _, e := range es {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml") {
					t.Fatalf("error without the file name: %q", e.Error())
				}
			}
			return
		}
		out, err := s.YAML()
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		again, err := LoadBytesEnv("again.yaml", out, testEnv)
		if err != nil {
			t.Fatalf("show output does not load: %v\n--- input\n%s\n--- show\n%s", err, b, out)
		}
		if !sameSpec(s, again) {
			t.Fatalf("round trip changed the spec\n--- input\n%s\n--- show\n%s", b, out)
		}
		if _, err := s.Redacted().YAML(); err != nil {
			t.Fatal(err)
		}
	})
}
