package pipelines

import (
	"fmt"
	"strings"
)

// Error is one problem in a pipeline file, with its position.
type Error struct {
	File   string // as given to Load or LoadBytes
	Line   int    // 1-based; 0 when not tied to a position
	Column int    // 1-based
	Path   string // dotted key path, e.g. "sink.roll.bytes"; may be empty
	Msg    string
}

// Error formats the problem as "file:line:column: path: msg".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one or more pipeline files, in file
// order. It implements error with one line per problem.
type Errors []*Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
