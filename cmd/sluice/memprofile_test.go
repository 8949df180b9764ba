package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadMemProfile: `sluice load --memprofile FILE` writes a heap
// profile (gzipped protobuf, what go tool pprof reads), and a file it
// cannot create is an error naming the flag, before anything is loaded.
func TestLoadMemProfile(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "mp", "-p", "1")
	var lines strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&lines, `{"user_id":%d,"event_time":%d}`+"\n", i, 1764064800000+int64(i))
	}
	mustCLI(t, addr, lines.String(), "produce", "mp")
	dir := t.TempDir()
	yaml := filepath.Join(dir, "p.yaml")
	spec := fmt.Sprintf(`name: mp
source: {brokers: [%q], topics: [mp]}
format:
  type: json
  json:
    schema:
      - {name: user_id, type: int64, required: true}
      - {name: event_time, type: timestamp, format: epoch_ms, required: true}
partition_by: {time: event_time, layout: "dt=YYYY-MM-DD"}
sink: {url: %q, success_grace: 0s}
`, addr, filepath.Join(dir, "out"))
	if err := os.WriteFile(yaml, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "heap.prof")
	out := mustCLI(t, "", "", "load", "--progress", "none", "--memprofile", prof, yaml)
	if !strings.Contains(out, "1000") {
		t.Errorf("load printed %q, want a summary of 1000 records", out)
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("--memprofile wrote %d bytes starting %q, want a gzipped profile", len(b), b[:min(len(b), 8)])
	}
	_, _, err = runCLI(t, "", "", "load", "--progress", "none", "--memprofile", filepath.Join(dir, "no", "such", "dir", "heap.prof"), yaml)
	if err == nil || !strings.Contains(err.Error(), "--memprofile") {
		t.Errorf("an uncreatable --memprofile file gave %v, want an error naming --memprofile", err)
	}
}
