package formats

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"go.yaml.in/yaml/v3"
)

// TestGolden runs every testdata/decode/*.txt file with
// cockroachdb/datadriven. "config" compiles the format config in its input
// (output: ok, or the config error); "decode" decodes one message per input
// line and prints the rows or errors. Input lines are the value as text,
// "hex:<bytes>" for binary values, or "<null>" for a tombstone; a message's
// offset is its line's index in the input. Run with -rewrite to regenerate
// the outputs, then review the diff.
func TestGolden(t *testing.T) {
	datadriven.Walk(t, "testdata/decode", func(t *testing.T, path string) {
		if !strings.HasSuffix(path, ".txt") {
			return // event.avsc, read by avro_file.txt
		}
		var dec Decoder
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "config":
				var cfg Config
				yd := yaml.NewDecoder(strings.NewReader(d.Input))
				yd.KnownFields(true)
				if err := yd.Decode(&cfg); err != nil {
					d.Fatalf(t, "config: %v", err)
				}
				var err error
				if dec, err = NewDecoder(cfg, DecoderOptions{Dir: "testdata/decode"}); err != nil {
					return fmt.Sprintf("config error: %v\n", err)
				}
				return "ok\n"
			case "decode":
				if dec == nil {
					d.Fatalf(t, "decode before a config that compiled")
				}
				return decodeLines(t, d, dec)
			}
			d.Fatalf(t, "unknown command %q (want config or decode)", d.Cmd)
			return ""
		})
	})
}

// decodeLines decodes each input line of d as a message and prints the
// rows, each new schema before its first row, and the errors.
func decodeLines(t *testing.T, d *datadriven.TestData, dec Decoder) string {
	var msgs []Message
	for i, line := range strings.Split(d.Input, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := Message{Topic: "t", Partition: 0, Offset: int64(i), Timestamp: time.Unix(1700000000, 0).UTC()}
		switch {
		case line == "<null>":
		case strings.HasPrefix(line, "hex:"):
			b, err := hex.DecodeString(strings.ReplaceAll(line[4:], " ", ""))
			if err != nil {
				d.Fatalf(t, "input line %d: %v", i+1, err)
			}
			m.Value = b
		default:
			m.Value = []byte(strings.NewReplacer(`\n`, "\n", `\r`, "\r").Replace(line))
		}
		msgs = append(msgs, m)
	}
	var out bytes.Buffer
	var last *Schema
	for i := range msgs {
		row, err := dec.Decode(context.Background(), &msgs[i])
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
	return out.String()
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
