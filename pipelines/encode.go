package pipelines

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Redacted is the text that replaces secrets in Redacted specs.
const Redacted = "REDACTED"

// Redacted returns a deep copy with secrets replaced by "REDACTED": the
// SASL password, a password in a URL (sink.url, format.avro.registry_url),
// and every value that came from an environment variable whose name looks
// secret (PASSWORD, SECRET, TOKEN, KEY, ...). Use it for printing and
// logging.
func (s *Spec) Redacted() *Spec {
	c := deepCopy(reflect.ValueOf(s).Elem()).Addr().Interface().(*Spec)
	c.src = s.src
	if c.Source.SASL != nil && c.Source.SASL.Password != "" {
		c.Source.SASL.Password = Redacted
	}
	c.Sink.URL = redactURL(c.Sink.URL)
	c.Format.Avro.RegistryURL = redactURL(c.Format.Avro.RegistryURL)
	if s.src != nil {
		for path := range s.src.secrets {
			redactPath(reflect.ValueOf(c).Elem(), path)
		}
	}
	return c
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Redacted)
	}
	return u.String()
}

// redactPath replaces the string at a dotted path ("a.b[2].c") with
// Redacted; other kinds of values are left alone (a number from a secret
// variable is not a secret worth hiding, and cannot hold "REDACTED").
func redactPath(v reflect.Value, path string) {
	for _, part := range splitPath(path) {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return
			}
			v = v.Elem()
		}
		switch {
		case strings.HasPrefix(part, "["):
			i, err := strconv.Atoi(strings.Trim(part, "[]"))
			if err != nil || v.Kind() != reflect.Slice || i >= v.Len() {
				return
			}
			v = v.Index(i)
		case v.Kind() == reflect.Struct:
			found := false
			for _, f := range fieldsOf(v.Type()) {
				if f.name == part {
					v, found = v.FieldByIndex(f.index), true
					break
				}
			}
			if !found {
				return
			}
		case v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String:
			key := reflect.ValueOf(part).Convert(v.Type().Key())
			if !v.MapIndex(key).IsValid() || v.Type().Elem().Kind() != reflect.String {
				return
			}
			v.SetMapIndex(key, reflect.ValueOf(Redacted).Convert(v.Type().Elem()))
			return
		default:
			return
		}
	}
	if v.Kind() == reflect.String && v.CanSet() {
		v.SetString(Redacted)
	}
}

// splitPath splits "a.b[2].c" into "a", "b", "[2]", "c".
func splitPath(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, ".") {
		for {
			i := strings.IndexByte(seg, '[')
			if i < 0 {
				break
			}
			if i > 0 {
				out = append(out, seg[:i])
			}
			j := strings.IndexByte(seg, ']')
			if j < i {
				break
			}
			out = append(out, seg[i:j+1])
			seg = seg[j+1:]
		}
		if seg != "" {
			out = append(out, seg)
		}
	}
	return out
}

// deepCopy returns an addressable deep copy of v's exported data.
func deepCopy(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out.Set(deepCopy(v.Elem()).Addr())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
	case reflect.Slice:
		if !v.IsNil() {
			s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			for i := range v.Len() {
				s.Index(i).Set(deepCopy(v.Index(i)))
			}
			out.Set(s)
		}
	case reflect.Map:
		if !v.IsNil() {
			m := reflect.MakeMapWithSize(v.Type(), v.Len())
			iter := v.MapRange()
			for iter.Next() {
				m.SetMapIndex(iter.Key(), deepCopy(iter.Value()))
			}
			out.Set(m)
		}
	default:
		out.Set(v)
	}
	return out
}

// YAML renders the spec as a pipeline file (all keys, in the documented
// order; "$" written as "$$" so the output reads back the same). It does
// not redact: call Redacted first for anything shown to people.
func (s *Spec) YAML() ([]byte, error) {
	n := encodeValue(reflect.ValueOf(s).Elem(), "")
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("pipelines: encode %s: %w", s.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("pipelines: encode %s: %w", s.Name, err)
	}
	return b.Bytes(), nil
}

// comments explain effective values that are not self-evident.
var comments = map[string]string{
	"max_workers":            "0: one worker per partition",
	"format.max_error_ratio": "0: no limit",
	"source.group":           "consumer group, for lag monitoring; the sink decides where to resume",
	"partition_by.time":      "_timestamp: Kafka record time; _ingest: load time; else a record field",
	"sink.roll":              "a file is published when any limit is reached",
	"sink.row_group_bytes":   "memory per worker stays within about twice this; several open time partitions share half of it",
	"schedule":               "empty: run only on demand",
	"schedule_timezone":      "empty: UTC, or the schedule's CRON_TZ= prefix",
	"concurrency":            "forbid: a tick during a run is skipped; queue: it waits",
	"starting_deadline":      "0s: no deadline",
	"catchup":                "true: one run on start-up for the ticks missed while down",
	"retries":                "of a failed run, backing off from retry_backoff",
	"timeout":                "0s: no limit",
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

func encodeValue(v reflect.Value, path string) *yaml.Node {
	switch v.Type() {
	case durationType:
		return scalar("!!str", formatDuration(time.Duration(v.Int())))
	case sizeType:
		return scalar("!!str", Size(v.Int()).String())
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return scalar("!!null", "null")
		}
		return encodeValue(v.Elem(), path)
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fieldsOf(v.Type()) {
			fv := v.FieldByIndex(f.index)
			p := join(path, f.name)
			if skipKey(v, p, fv) {
				continue
			}
			k := scalar("!!str", f.name)
			val := encodeValue(fv, p)
			if c, ok := comments[p]; ok {
				k.LineComment = c
			}
			m.Content = append(m.Content, k, val)
		}
		return m
	case reflect.Slice:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := range v.Len() {
			e := encodeValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			if e.Kind != yaml.ScalarNode {
				seq.Style = 0
			}
			seq.Content = append(seq.Content, e)
		}
		return seq
	case reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			m.Content = append(m.Content, scalar("!!str", k.String()), encodeValue(v.MapIndex(k), join(path, k.String())))
		}
		return m
	case reflect.String:
		return scalar("!!str", strings.ReplaceAll(v.String(), "$", "$$"))
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10))
	case reflect.Float32, reflect.Float64:
		f := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		if !strings.ContainsAny(f, ".eE") {
			f += ".0"
		}
		return scalar("!!float", f)
	case reflect.Interface:
		var n yaml.Node
		if err := n.Encode(v.Interface()); err != nil {
			return scalar("!!str", fmt.Sprint(v.Interface()))
		}
		return &n
	}
	return scalar("!!str", fmt.Sprint(v.Interface()))
}

// skipKey leaves out keys that would only add noise to `show`: the
// options of format types other than the chosen one, and absent optional
// sections (tls, sasl).
func skipKey(parent reflect.Value, path string, v reflect.Value) bool {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return true
	}
	// Inside option sections a zero value means "not used": leave it out.
	for _, p := range []string{"format.", "source.tls.", "source.sasl."} {
		if strings.HasPrefix(path, p) && path != "format.type" && path != "format.on_error" &&
			path != "format.max_error_ratio" && (v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0) {
			return true
		}
	}
	if f, ok := parent.Interface().(Format); ok {
		switch path {
		case "format.json", "format.csv", "format.avro", "format.raw":
			return strings.TrimPrefix(path, "format.") != f.Type
		}
	}
	return false
}

// formatDuration writes 10m0s as 10m and 1h30m0s as 1h30m.
func formatDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
