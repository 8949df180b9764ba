package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds a pipeline file.
const MaxFileSize = 1 << 20

// Load reads, parses, defaults and validates the pipeline file at path,
// expanding ${VAR} from the process environment. Problems in the file are
// returned as Errors, all of them.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipelines: %w", err)
	}
	return LoadBytes(path, b)
}

// LoadBytes is Load for a file already in memory; name is used in error
// positions.
func LoadBytes(name string, b []byte) (*Spec, error) {
	return LoadBytesEnv(name, b, os.LookupEnv)
}

// LoadBytesEnv is LoadBytes with ${VAR} looked up by env instead of the
// process environment.
func LoadBytesEnv(name string, b []byte, env func(string) (string, bool)) (*Spec, error) {
	s, bad, err := parse(name, b, env)
	if s == nil {
		return nil, err
	}
	// Validate even after decoding errors, so one run reports every
	// problem; skip what decoding already reported.
	errs, _ := err.(Errors)
	if verr := s.Defaults().Validate(); verr != nil {
		for _, e := range verr.(Errors) {
			if !reported(bad, e.Path) {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errs
	}
	return s, nil
}

// reported reports whether path or one of its parents was already
// reported while decoding.
func reported(bad map[string]bool, path string) bool {
	for p := path; p != ""; p = parent(p) {
		if bad[p] {
			return true
		}
	}
	return false
}

// Parse decodes a pipeline file strictly, without defaults or validation
// (for tools that want the file as written). Problems are Errors.
func Parse(name string, b []byte, env func(string) (string, bool)) (*Spec, error) {
	s, _, err := parse(name, b, env)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// parse decodes; on decoding errors it returns the partly filled spec too
// (nil if the file is not YAML) and the paths reported.
func parse(name string, b []byte, env func(string) (string, bool)) (*Spec, map[string]bool, error) {
	src := &source{
		file:    name,
		values:  map[string]pos{},
		keys:    map[string]pos{},
		set:     map[string]bool{},
		secrets: map[string]bool{},
	}
	fileErr := func(line, col int, format string, args ...any) error {
		return Errors{{File: name, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}}
	}
	if len(b) > MaxFileSize {
		return nil, nil, fileErr(0, 0, "file is %d bytes, more than the %d a pipeline file may have", len(b), MaxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fileErr(0, 0, "empty file: a pipeline needs at least name, source and sink")
		}
		return nil, nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, nil, fileErr(extra.Line, extra.Column, "more than one YAML document: a pipeline file holds one (put each pipeline in its own file)")
	} else if !errors.Is(err, io.EOF) {
		return nil, nil, yamlError(name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, nil, fileErr(root.Line, root.Column, "want a mapping of keys (name:, source:, sink: ...) at the top level")
	}
	s := &Spec{src: src}
	d := &decoder{src: src, env: env, bad: map[string]bool{}}
	d.decode(root, reflect.ValueOf(s).Elem(), "")
	if d.failed {
		return nil, nil, d.errs
	}
	if len(d.errs) > 0 {
		return s, d.bad, d.errs
	}
	return s, d.bad, nil
}

func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		return a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column)
	})
}

// yamlError turns a syntax error from the YAML parser into Errors with
// the position it names ("yaml: line 3: ...").
func yamlError(name string, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msg = strings.Join(te.Errors, "; ")
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if _, err := fmt.Sscanf(n, "%d", &line); err == nil {
				msg = after
			}
		}
	}
	col := 0
	if line > 0 {
		col = 1
	}
	return Errors{{File: name, Line: line, Column: col, Msg: "YAML syntax: " + msg}}
}
