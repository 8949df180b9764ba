package pipelines

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files expands command-line arguments into pipeline files: a file stands
// for itself, a folder for the *.yaml and *.yml files directly in it (not
// starting with '.'), sorted. A folder without any is an error.
func Files(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("pipelines: %w", err)
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		des, err := os.ReadDir(a)
		if err != nil {
			return nil, fmt.Errorf("pipelines: %w", err)
		}
		var found []string
		for _, de := range des {
			n := de.Name()
			if de.IsDir() || strings.HasPrefix(n, ".") || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			found = append(found, filepath.Join(a, n))
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("pipelines: no *.yaml or *.yml files in folder %s", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// LoadFiles loads every file and also checks that pipeline names are
// unique among them (the name sets the default consumer group and Hive
// table). It returns the specs that loaded and the Errors of all files,
// or a nil error.
func LoadFiles(paths []string) ([]*Spec, error) {
	var (
		specs []*Spec
		all   Errors
		names = map[string]string{}
	)
	for _, p := range paths {
		s, err := Load(p)
		if err != nil {
			var es Errors
			if errors.As(err, &es) {
				all = append(all, es...)
			} else {
				all = append(all, &Error{File: p, Msg: strings.TrimPrefix(err.Error(), "pipelines: ")})
			}
			continue
		}
		if other, ok := names[s.Name]; ok {
			e := &Error{File: p, Path: "name", Msg: fmt.Sprintf("pipeline name %q is also used by %s", s.Name, other)}
			if q, ok := s.src.values["name"]; ok {
				e.Line, e.Column = q.line, q.col
			}
			all = append(all, e)
			continue
		}
		names[s.Name] = p
		specs = append(specs, s)
	}
	if len(all) > 0 {
		return specs, all
	}
	return specs, nil
}
