package pipelines

import (
	"fmt"
	"sort"
	"time"
)

// defaultTo fills *p with def when the file leaves path out. A zero or
// empty value the file gives explicitly is kept and refused by Validate:
// turning `records: 0` or `layout: ""` silently into the default hid typos
// and half-edited files.
func defaultTo[T comparable](s *Spec, path string, p *T, def T) {
	var zero T
	if *p != zero {
		return
	}
	if !s.given(path) {
		*p = def
		return
	}
	if s.src.zeros == nil {
		s.src.zeros = map[string]string{}
	}
	s.src.zeros[path] = describeDefault(def)
}

// markGivenEmpty records that the file gave path an empty value for a key
// whose default is derived (source.group, hive.table).
func (s *Spec) markGivenEmpty(path, def string) {
	if !s.given(path) {
		return
	}
	if s.src.zeros == nil {
		s.src.zeros = map[string]string{}
	}
	s.src.zeros[path] = def
}

func describeDefault(v any) string {
	switch d := v.(type) {
	case string:
		return fmt.Sprintf("%q", d)
	case time.Duration:
		return formatDuration(d)
	case Size:
		return d.String()
	default:
		return fmt.Sprint(d)
	}
}

// explicitZeros reports every key the file gave as zero or empty where
// that value means nothing; other checks of those keys are then skipped,
// so each gets one clear error.
func (v *validator) explicitZeros() {
	if v.s.src == nil || len(v.s.src.zeros) == 0 {
		return
	}
	paths := make([]string, 0, len(v.s.src.zeros))
	for p := range v.s.src.zeros {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	v.skip = map[string]bool{}
	for _, p := range paths {
		v.add(p, fmt.Sprintf("an empty or zero value is not allowed here: remove the key to get the default (%s), or give a value", v.s.src.zeros[p]))
		v.skip[p] = true
	}
}
