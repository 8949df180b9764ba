package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/broker/meta"
)

// serverAliases are the `sluice server` flags that are Kafka keys under
// another name; a config file may use either name.
var serverAliases = map[string]string{
	"data-dir":            "log.dirs",
	"listen":              "listeners",
	"advertised-listener": "advertised.listeners",
	"node-id":             "node.id",
}

// serverWiring are the flags with no Kafka key that a config file may set.
var serverWiring = map[string]bool{"http": true}

// serverSettings is what `sluice server` was told: Kafka keys (the broker
// parses them) and wiring flags, each with where it was given.
type serverSettings struct {
	keys   map[string]string
	wiring map[string]string
	places map[string]string // key or wiring flag -> where it was given
}

// add records key=value given at place: a key given again with a
// different value is an error naming both places.
func (s *serverSettings) add(name, value, place string) error {
	m, key, isKey := s.keys, name, true
	if k, ok := serverAliases[name]; ok {
		key = k
	} else if serverWiring[name] {
		m, isKey = s.wiring, false
	}
	if old, ok := m[key]; ok && old != value {
		return fmt.Errorf("%s is given twice: %q at %s and %q at %s; give it once", key, old, s.places[key], value, place)
	}
	if isKey {
		// Check the value now, so the error names where it came from.
		if err := meta.DefaultBrokerConfig().Set(key, value); err != nil {
			return fmt.Errorf("%s: %s", place, meta.ErrorMessage(err))
		}
	}
	m[key] = value
	s.places[key] = place
	return nil
}

// gatherServerSettings reads the config file, then the --set settings,
// then the flags given on the command line (by name, to their values).
func gatherServerSettings(file string, sets []string, flags map[string]string) (*serverSettings, error) {
	s := &serverSettings{keys: map[string]string{}, wiring: map[string]string{}, places: map[string]string{}}
	if file != "" {
		entries, err := readServerConfig(file)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if err := s.add(e.key, e.value, fmt.Sprintf("%s:%d:%d", file, e.line, e.col)); err != nil {
				return nil, err
			}
		}
	}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q: want key=value", kv)
		}
		if err := s.add(k, v, "--set "+kv); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(flags))
	for n := range flags {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := s.add(n, flags[n], "--"+n); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// fileEntry is one key of a server config file, with its value's position.
type fileEntry struct {
	key, value string
	line, col  int
}

// readServerConfig reads a flat YAML map of settings; lists (such as
// listeners) become comma-separated values.
func readServerConfig(path string) ([]fileEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d:%d: want a map of setting: value", path, m.Line, m.Column)
	}
	var out []fileEntry
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		e := fileEntry{key: k.Value, line: v.Line, col: v.Column}
		switch v.Kind {
		case yaml.ScalarNode:
			e.value = v.Value
		case yaml.SequenceNode:
			var parts []string
			for _, item := range v.Content {
				parts = append(parts, item.Value)
			}
			e.value = strings.Join(parts, ",")
		default:
			return nil, fmt.Errorf("%s:%d:%d: %s: want a scalar or a list", path, v.Line, v.Column, k.Value)
		}
		out = append(out, e)
	}
	return out, nil
}
