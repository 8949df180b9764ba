package testutil

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// RunScripts runs every testdata/*.txt file as a subtest named after it,
// with cockroachdb/datadriven: each command, a "----" line and the output
// it must give (-rewrite regenerates the outputs). newRun is called once
// per file and returns the command handler for that file's state.
func RunScripts(t *testing.T, newRun func(t *testing.T) func(t *testing.T, d *datadriven.TestData) string) {
	t.Helper()
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			datadriven.RunTest(t, f, newRun(t))
		})
	}
}

// ScriptArgs splits a command's arguments into key=value pairs (values
// joined by commas) and bare words.
func ScriptArgs(d *datadriven.TestData) (kv map[string]string, pos []string) {
	kv = map[string]string{}
	for _, a := range d.CmdArgs {
		if len(a.Vals) > 0 {
			kv[a.Key] = strings.Join(a.Vals, ",")
		} else {
			pos = append(pos, a.Key)
		}
	}
	return kv, pos
}

// Int32s parses "1,2,3" (empty: nil), failing the test on a bad number.
func Int32s(t testing.TB, s string) []int32 {
	t.Helper()
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if f != "" {
			out = append(out, int32(Atoi(t, f)))
		}
	}
	return out
}

// Atoi parses a decimal number, failing the test on a bad one.
func Atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return n
}
