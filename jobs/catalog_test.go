package jobs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCatalogReloadsSchemaFileEdits: a pipeline whose format names a
// schema_file is a new version when only the schema file changes, an
// invalid schema keeps the last valid version in force with an error, and
// a missing schema file is retried until it appears.
func TestCatalogReloadsSchemaFileEdits(t *testing.T) {
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "views.yaml")
	schema := filepath.Join(dir, "views.schema.yaml")
	spec := []byte(`name: views
source:
  brokers: ["127.0.0.1:9092"]
  topics: [views]
format:
  type: json
  json:
    schema_file: views.schema.yaml
sink:
  url: ` + filepath.Join(dir, "lake") + "\n")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(schema, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{pipeline: spec}
	noEnv := func(string) (string, bool) { return "", false }
	c := NewCatalog()

	// The schema file is missing: an error, retried on every Update.
	if ch := c.Update(files, noEnv); len(ch) != 0 {
		t.Fatalf("changes with the schema file missing: %+v", ch)
	}
	if errs := c.Errors(); len(errs) != 1 || !strings.Contains(errs[0].Err.Error(), "views.schema.yaml") {
		t.Fatalf("errors with the schema file missing: %+v", errs)
	}
	write("- {name: url, type: string}\n")
	ch := c.Update(files, noEnv)
	if len(ch) != 1 || ch[0].Entry == nil || len(c.Errors()) != 0 {
		t.Fatalf("once the schema file appeared: changes %+v, errors %+v", ch, c.Errors())
	}
	v1 := ch[0].Entry.Hash
	if ch := c.Update(files, noEnv); len(ch) != 0 {
		t.Fatalf("nothing changed, yet: %+v", ch)
	}

	// Only the schema changes: a new version.
	write("- {name: url, type: string}\n- {name: ms, type: int64}\n")
	ch = c.Update(files, noEnv)
	if len(ch) != 1 || ch[0].Entry == nil || ch[0].Entry.Hash == v1 {
		t.Fatalf("after the schema edit: changes %+v (version before %s)", ch, v1)
	}
	v2 := ch[0].Entry.Hash

	// A broken schema: the last valid version stays, with an error.
	write("- {name: url, type: nosuchtype}\n")
	if ch := c.Update(files, noEnv); len(ch) != 0 {
		t.Fatalf("a broken schema changed the pipeline in force: %+v", ch)
	}
	errs := c.Errors()
	if len(errs) != 1 || !strings.Contains(errs[0].Err.Error(), "nosuchtype") {
		t.Fatalf("errors after a broken schema: %+v", errs)
	}
	if e := c.Entries(); len(e) != 1 || e[0].Hash != v2 {
		t.Fatalf("entries after a broken schema: %+v, want version %s", e, v2)
	}
}
