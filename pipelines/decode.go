package pipelines

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// source is what the decoder learnt about a file, kept on the Spec.
type source struct {
	file    string
	values  map[string]pos  // dotted path -> position of its value
	keys    map[string]pos  // dotted path -> position of its key
	set     map[string]bool // paths given in the file
	secrets map[string]bool // paths whose value came from a secret-looking env var
	// zeros are paths given as zero or empty where that means nothing,
	// with the default the file could have had (see defaultTo).
	zeros map[string]string
}

type pos struct{ line, col int }

// maxErrors bounds the errors reported for one file.
const maxErrors = 50

// maxNodes bounds the nodes one file may expand to (aliases included), so
// a crafted file cannot make decoding take exponential time.
const maxNodes = 100_000

// decoder walks a yaml.Node tree into a Go value by reflection, strictly:
// it knows the valid keys of every struct from their yaml tags.
type decoder struct {
	src    *source
	errs   Errors
	env    func(string) (string, bool)
	nodes  int
	failed bool // maxNodes exceeded; stop
	// bad holds the paths already reported (and the keys suggested for
	// misspellings), so validation does not report them again.
	bad map[string]bool
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	sizeType      = reflect.TypeFor[Size]()
	unmarshalType = reflect.TypeFor[yaml.Unmarshaler]()
)

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	if d.failed {
		return
	}
	e := &Error{File: d.src.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	d.bad[path] = true
	if len(d.errs) == maxErrors {
		d.failed = true
		e.Msg = fmt.Sprintf("more than %d errors; stopping", maxErrors)
	}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// decode fills v (addressable) from n at the dotted path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.failed {
		return
	}
	if d.nodes++; d.nodes > maxNodes {
		d.errorf(n, path, "document too large or too deeply aliased (more than %d nodes)", maxNodes)
		d.failed = true
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return
		}
		d.decode(n.Content[0], v, path)
		return
	case yaml.AliasNode:
		d.decode(n.Alias, v, path)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" or "key: ~" is the same as leaving the key out
	}
	if path != "" {
		// A mapping's problems are reported at its key, not at its first
		// entry's key.
		if n.Kind != yaml.MappingNode {
			d.src.values[path] = pos{n.Line, n.Column}
		}
		d.src.set[path] = true
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalType) && v.Type() != sizeType {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.errorf(n, path, "%v", err)
		}
		return
	}
	switch v.Type() {
	case durationType:
		s, ok := d.scalar(n, path, "a duration like 90s, 10m or 1h30m")
		if !ok {
			return
		}
		dur, err := ParseDuration(s)
		if err != nil {
			d.errorf(n, path, "bad duration %s: want a duration like 90s, 10m, 1h30m or 30d (units ms, s, m, h, d)", d.quote(path, s))
			return
		}
		v.SetInt(int64(dur))
		return
	case sizeType:
		s, ok := d.scalar(n, path, "a size like 256MiB or 1GB")
		if !ok {
			return
		}
		sz, err := ParseSize(s)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		v.SetInt(int64(sz))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "want a list, like [a, b], got %s", d.describe(n, path))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		s, ok := d.scalar(n, path, "a string")
		if ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		b, err := strconv.ParseBool(s)
		if err != nil || (n.Tag != "!!bool" && !d.expanded(n)) {
			d.errorf(n, path, "want true or false, got %s", d.describe(n, path))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, ok := d.scalar(n, path, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
		if err != nil || (n.Tag != "!!int" && !d.expanded(n)) || v.OverflowInt(i) {
			d.errorf(n, path, "want an integer, got %s", d.describe(n, path))
			return
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		s, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
		if err != nil || (n.Tag != "!!int" && n.Tag != "!!float" && !d.expanded(n)) || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(n, path, "want a number, got %s", d.describe(n, path))
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(x))
	default:
		d.errorf(n, path, "internal: cannot decode into %s", v.Type())
	}
}

// scalar returns n's value with ${VAR} expanded, or reports that want was
// expected.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want %s, got %s", want, d.describe(n, path))
		return "", false
	}
	s, secret, err := expand(n.Value, d.env)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return "", false
	}
	if secret {
		d.src.secrets[path] = true
	}
	return s, true
}

// expanded reports whether n's value contains a ${VAR} reference: such a
// value is a string in YAML (quoted or not) but may stand for a number or a
// boolean.
func (d *decoder) expanded(n *yaml.Node) bool {
	return strings.Contains(n.Value, "${")
}

// describe names what a node is, for "want X, got Y" messages.
func (d *decoder) describe(n *yaml.Node, path string) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		s, secret, err := expand(n.Value, d.env)
		if err != nil || secret {
			s = n.Value
		}
		return d.quote(path, s)
	}
	return "nothing"
}

// quote renders a user value for an error message, hiding secrets.
func (d *decoder) quote(path, s string) string {
	if d.src.secrets[path] || isSecretPath(path) {
		return "(a secret value, hidden)"
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strconv.Quote(s)
}

// field is one YAML key of a struct type.
type field struct {
	name  string
	index []int
}

// fieldsOf lists the keys of struct type t, flattening ",inline" fields.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		if strings.Contains(opts, "inline") {
			for _, f := range fieldsOf(sf.Type) {
				out = append(out, field{f.name, append([]int{i}, f.index...)})
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, field{name, []int{i}})
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping (key: value lines), got %s", d.describe(n, path))
		return
	}
	fields := fieldsOf(v.Type())
	byName := make(map[string]field, len(fields))
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		byName[f.name] = f
		names = append(names, f.name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			d.errorf(k, path, "keys must be plain names (merge keys and complex keys are not supported)")
			continue
		}
		kpath := join(path, k.Value)
		if path == "" && strings.HasPrefix(k.Value, "x-") {
			continue // extension keys: a place for anchors, as in Compose files
		}
		f, ok := byName[k.Value]
		if !ok {
			hint, best := suggest(k.Value, names, path)
			d.errorf(k, path, "unknown key %q%s", k.Value, hint)
			if best != "" {
				d.bad[join(path, best)] = true
			}
			continue
		}
		if seen[k.Value] {
			d.errorf(k, kpath, "duplicate key")
			continue
		}
		seen[k.Value] = true
		d.src.keys[kpath] = pos{k.Line, k.Column}
		d.decode(val, v.FieldByIndex(f.index), kpath)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping (key: value lines), got %s", d.describe(n, path))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.errorf(n, path, "internal: map key type %s", v.Type().Key())
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain names")
			continue
		}
		kpath := join(path, k.Value)
		key := reflect.New(v.Type().Key()).Elem()
		key.SetString(k.Value)
		if m.MapIndex(key).IsValid() {
			d.errorf(k, kpath, "duplicate key")
			continue
		}
		d.src.keys[kpath] = pos{k.Line, k.Column}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, kpath)
		m.SetMapIndex(key, elem)
	}
	v.Set(m)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// allKeys maps every key name of the spec to the dotted paths it appears
// at, to say where a key given at the wrong level belongs.
var allKeys = func() map[string][]string {
	m := map[string][]string{}
	var walk func(t reflect.Type, path string, depth int)
	walk = func(t reflect.Type, path string, depth int) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType || depth > 6 {
			return
		}
		for _, f := range fieldsOf(t) {
			p := join(path, f.name)
			m[f.name] = append(m[f.name], p)
			walk(t.FieldByIndex(f.index).Type, p, depth+1)
		}
	}
	walk(reflect.TypeFor[Spec](), "", 0)
	return m
}()

// suggest returns a hint for a misspelt or misplaced key: the nearest
// valid key here by edit distance, or where the key belongs, or the list
// of valid keys.
func suggest(key string, valid []string, path string) (hint, best string) {
	bestDist := math.MaxInt
	for _, v := range valid {
		if d := editDistance(strings.ToLower(key), v); d < bestDist {
			best, bestDist = v, d
		}
	}
	if best != "" && (bestDist <= 2 || bestDist*3 <= len(key)) {
		return fmt.Sprintf(" (did you mean %q?)", best), best
	}
	if elsewhere := allKeys[key]; len(elsewhere) > 0 {
		return fmt.Sprintf(" here (%s is valid at %s)", key, strings.Join(elsewhere, ", ")), ""
	}
	sorted := append([]string(nil), valid...)
	sort.Strings(sorted)
	where := "here"
	if path == "" {
		where = "at the top level"
	}
	return fmt.Sprintf(" (valid keys %s: %s)", where, strings.Join(sorted, ", ")), ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
