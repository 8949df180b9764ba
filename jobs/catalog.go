package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/pipelines"
)

// Catalog is the set of pipeline files in a folder and the last valid
// version of each. Update is given the pipeline files' contents; the only
// files it reads itself are the schema files pipelines name (schema_file),
// which pipelines.Load parses and which can change while the pipeline file
// does not. A file that stops parsing keeps its last valid version in force
// and reports its error; a file that goes away removes its pipeline.
type Catalog struct {
	files map[string]*catalogFile // by file name
}

type catalogFile struct {
	hash string          // of the bytes last seen
	spec *pipelines.Spec // last valid version; nil if never valid
	// specHash is hash of the valid version (its schema file's bytes
	// included).
	specHash string
	err      error // of the bytes last seen; nil if they are valid
	// schema is the schema file the bytes last seen named and schemaSum
	// its bytes' hash when they were loaded; a load that failed on its
	// schema file leaves schemaSum "" so that every Update tries again.
	schema, schemaSum string
}

// fileSum is the first 12 hex digits of the SHA-256 of b.
func fileSum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// schemaChanged says whether f's schema file changed since it was loaded
// (or could not be read then or now), so its pipeline must load again.
func (f *catalogFile) schemaChanged() bool {
	if f.schema == "" {
		return false
	}
	b, err := os.ReadFile(f.schema)
	return err != nil || f.schemaSum == "" || fileSum(b) != f.schemaSum
}

// Entry is one pipeline in force: its spec and where it came from.
type Entry struct {
	File string
	Spec *pipelines.Spec
	Hash string // of the file's bytes, and its schema file's if it names one (first 12 hex digits of SHA-256)
	Err  error  // the file's current error, if its latest edit is invalid
}

// Change is a pipeline added, edited or removed by an Update.
type Change struct {
	Name    string
	Entry   *Entry // nil when the pipeline was removed
	Removed bool
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog { return &Catalog{files: map[string]*catalogFile{}} }

// Update takes the folder's pipeline files (name -> contents) and returns
// what changed, in name order. env expands ${VAR} in values.
func (c *Catalog) Update(files map[string][]byte, env func(string) (string, bool)) []Change {
	before := c.byName()
	for name := range c.files {
		if _, ok := files[name]; !ok {
			delete(c.files, name)
		}
	}
	for _, name := range sortedKeys(files) {
		b := files[name]
		h := fileSum(b)
		f := c.files[name]
		if f == nil {
			f = &catalogFile{}
			c.files[name] = f
		}
		if f.hash == h && !f.schemaChanged() {
			continue
		}
		f.hash, f.schema, f.schemaSum = h, "", ""
		spec, err := pipelines.LoadBytesEnv(name, b, env)
		if err != nil {
			f.err = err
			if strings.Contains(err.Error(), "schema_file") {
				// Retried on every Update, until the file appears
				// or is fixed.
				f.schema = "?"
			}
			continue
		}
		f.spec, f.specHash, f.err = spec, h, nil
		if path := spec.Compiled().Format.SchemaFile(); path != "" {
			// The version includes the schema: an edit of the schema
			// file alone is a new version of the pipeline.
			sb, err := os.ReadFile(path)
			if err == nil {
				f.schema, f.schemaSum = path, fileSum(sb)
				f.specHash = fileSum(append(append([]byte{}, b...), sb...))
			} else {
				f.schema = path
			}
		}
	}
	after := c.byName()
	var changes []Change
	names := map[string]bool{}
	for n := range before {
		names[n] = true
	}
	for n := range after {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		b, a := before[n], after[n]
		switch {
		case a == nil:
			changes = append(changes, Change{Name: n, Removed: true})
		case b == nil || b.Hash != a.Hash || b.File != a.File:
			changes = append(changes, Change{Name: n, Entry: a})
		}
	}
	return changes
}

// byName is the pipelines in force, by pipeline name.
func (c *Catalog) byName() map[string]*Entry {
	out := map[string]*Entry{}
	for _, name := range sortedKeys(c.files) {
		f := c.files[name]
		if f.spec == nil {
			continue
		}
		if _, taken := out[f.spec.Name]; taken {
			continue
		}
		out[f.spec.Name] = &Entry{File: name, Spec: f.spec, Hash: f.specHash, Err: f.err}
	}
	return out
}

// Entries lists the pipelines in force, by name.
func (c *Catalog) Entries() []*Entry {
	m := c.byName()
	out := make([]*Entry, 0, len(m))
	for _, n := range sortedKeys(m) {
		out = append(out, m[n])
	}
	return out
}

// FileError is a pipeline file whose latest version is invalid.
type FileError struct {
	File     string
	Pipeline string // the pipeline its last valid version defined, if any
	Err      error
}

// Errors lists the files whose latest version is invalid, by file name.
func (c *Catalog) Errors() []FileError {
	var out []FileError
	clash := c.clashes()
	for _, name := range sortedKeys(c.files) {
		f := c.files[name]
		err := f.err
		if err == nil {
			err = clash[name]
		}
		if err == nil {
			continue
		}
		fe := FileError{File: name, Err: err}
		if f.spec != nil {
			fe.Pipeline = f.spec.Name
		}
		out = append(out, fe)
	}
	return out
}

// clashes reports files whose pipeline name is already taken by a file
// earlier by name: the first file wins.
func (c *Catalog) clashes() map[string]error {
	owner := map[string]string{}
	out := map[string]error{}
	for _, name := range sortedKeys(c.files) {
		f := c.files[name]
		if f.spec == nil {
			continue
		}
		if o, ok := owner[f.spec.Name]; ok {
			out[name] = fmt.Errorf("%s: pipeline %q is already defined in %s: give each pipeline its own name", name, f.spec.Name, o)
			continue
		}
		owner[f.spec.Name] = name
	}
	return out
}

// IsPipelineFile reports whether a file name in the folder is read as a
// pipeline: *.yaml or *.yml, not hidden.
func IsPipelineFile(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") {
		return false
	}
	ext := filepath.Ext(base)
	return ext == ".yaml" || ext == ".yml"
}

// CoreSpec turns a loaded pipeline into what the core schedules.
func CoreSpec(e *Entry) (*Spec, error) {
	s := e.Spec
	cs := &Spec{
		Name:             s.Name,
		Hash:             e.Hash,
		Queue:            s.Concurrency == pipelines.ConcurrencyQueue,
		Jitter:           s.Jitter,
		StartingDeadline: s.StartingDeadline,
		Catchup:          s.Catchup,
		Retries:          s.Retries,
		RetryBackoff:     s.RetryBackoff,
		Timeout:          s.Timeout,
	}
	if s.Schedule != "" {
		parsed := s.Compiled()
		if parsed == nil || parsed.Schedule == nil {
			return nil, fmt.Errorf("%s: the pipeline was not validated (use pipelines.Load)", e.File)
		}
		cs.Schedule = NewSchedule(parsed.Schedule)
		cs.Expr = s.ScheduleTimezone + "|" + s.Schedule
	}
	return cs, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
