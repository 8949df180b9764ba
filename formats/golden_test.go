package formats

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt golden files")

// TestGolden runs every testdata/decode/*.txt file: a format config, one
// message per input line, and the expected rows or errors. Input lines are
// the value as text, "hex:<bytes>" for binary values, or "<null>" for a
// tombstone. Run with -rewrite to regenerate the output sections, then
// review the diff.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/decode/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			runGolden(t, path)
		})
	}
}

func runGolden(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	ci := strings.Index(text, "config:\n")
	ii := strings.Index(text, "\ninput:\n")
	oi := strings.Index(text, "\noutput:\n")
	if ci < 0 || ii < 0 || oi < 0 || !(ci < ii && ii < oi) {
		t.Fatalf("%s: want sections config:, input:, output: in that order", path)
	}
	cfgText := text[ci+len("config:\n") : ii]
	inputText := ""
	if start := ii + len("\ninput:\n"); oi > start {
		inputText = text[start:oi]
	}
	want := text[oi+len("\noutput:\n"):]

	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(cfgText))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: config: %v", path, err)
	}
	var msgs []Message
	for i, line := range strings.Split(strings.TrimSuffix(inputText, "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := Message{Topic: "t", Partition: 0, Offset: int64(i), Timestamp: time.Unix(1700000000, 0).UTC()}
		switch {
		case line == "<null>":
		case strings.HasPrefix(line, "hex:"):
			b, err := hex.DecodeString(strings.ReplaceAll(line[4:], " ", ""))
			if err != nil {
				t.Fatalf("%s: input line %d: %v", path, i+1, err)
			}
			m.Value = b
		default:
			m.Value = []byte(strings.NewReplacer(`\n`, "\n", `\r`, "\r").Replace(line))
		}
		msgs = append(msgs, m)
	}
	var out bytes.Buffer
	d, err := NewDecoder(cfg, DecoderOptions{Dir: "testdata/decode"})
	if err != nil {
		fmt.Fprintf(&out, "config error: %v\n", err)
	} else {
		var last *Schema
		for i := range msgs {
			row, err := d.Decode(context.Background(), &msgs[i])
			switch {
			case err != nil:
				var de *DecodeError
				if !errors.As(err, &de) {
					fmt.Fprintf(&out, "@%d NOT A DecodeError: %v\n", msgs[i].Offset, err)
					continue
				}
				fmt.Fprintf(&out, "@%d error: %v\n", msgs[i].Offset, err)
			case row == nil:
				fmt.Fprintf(&out, "@%d no row\n", msgs[i].Offset)
			default:
				if row.Schema != last {
					fmt.Fprintf(&out, "schema %s\n", row.Schema)
					last = row.Schema
				}
				fmt.Fprintf(&out, "@%d %s\n", msgs[i].Offset, StructValue(row.Values...))
			}
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(text[:oi+len("\noutput:\n")]+out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := out.String(); got != want {
		t.Errorf("%s: output differs (run go test -run TestGolden -rewrite and review the diff)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// hexLines returns the values of the "hex:" input lines of a golden file.
func hexLines(text string) [][]byte {
	var out [][]byte
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "hex:") {
			if b, err := hex.DecodeString(line[4:]); err == nil {
				out = append(out, b)
			}
		}
	}
	return out
}
