package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// keyedInput returns n lines "key-i%7<TAB>value i ...", with an empty value
// and a value holding the separator again (only the first one splits).
func keyedInput(n int) string {
	var b strings.Builder
	for i := range n {
		switch i {
		case n / 3:
			fmt.Fprintf(&b, "key-%d\t\n", i%7)
		case n / 2:
			fmt.Fprintf(&b, "key-%d\tvalue\twith a tab\n", i%7)
		default:
			fmt.Fprintf(&b, "key-%d\tvalue %d ünïcødé %s\n", i%7, i, strings.Repeat("x", i%50))
		}
	}
	return b.String()
}

// TestProduceConsumeRoundTrip produces keyed lines with every codec and
// acks setting and reads them back byte for byte.
func TestProduceConsumeRoundTrip(t *testing.T) {
	addr := startBroker(t)
	input := keyedInput(500)
	for _, tc := range []struct{ compression, acks string }{
		{"none", "all"}, {"gzip", "all"}, {"snappy", "1"}, {"lz4", "all"}, {"zstd", "all"}, {"none", "0"},
	} {
		t.Run(tc.compression+"-acks"+tc.acks, func(t *testing.T) {
			topic := "rt-" + tc.compression + "-" + tc.acks
			mustCLI(t, addr, "", "topic", "create", topic, "-p", "1")
			out, errOut, err := runCLI(t, addr, input, "produce", topic, "--key-sep", "\t",
				"--compression", tc.compression, "--acks", tc.acks)
			if err != nil || out != "" || errOut != "" {
				t.Fatalf("produce: err %v, stdout %q, stderr %q (want nothing)", err, out, errOut)
			}
			got := mustCLI(t, addr, "", "consume", topic, "-e", "--format", `%k\t%v`)
			if tc.acks == "0" {
				// acks=0 returns before the broker has appended: poll for the records.
				testutil.Eventually(t, 10*time.Second, "acks=0 records never all appended", func() bool {
					got = mustCLI(t, addr, "", "consume", topic, "-e", "--format", `%k\t%v`)
					return got == input
				})
			}
			if got != input {
				t.Errorf("consumed %d bytes, want the %d produced; first line %q",
					len(got), len(input), strings.SplitN(got, "\n", 2)[0])
			}
		})
	}
}

// A line longer than the 1 MiB read buffer is one record, intact.
func TestProduceLongLine(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "big", "-c", "max.message.bytes=4000000")
	long := bytes.Repeat([]byte("0123456789"), 250_000) // 2.5 MB
	input := "short\n" + string(long) + "\nlast"        // no final newline
	mustCLI(t, addr, input, "produce", "big", "--batch-bytes", "4000000", "--compression", "zstd")
	got := mustCLI(t, addr, "", "consume", "big", "-e", "--format", `%o %S`)
	want := fmt.Sprintf("0 5\n1 %d\n2 4\n", len(long))
	if got != want {
		t.Errorf("consumed %q, want %q", got, want)
	}
}

func TestProduceKeepsBytesExceptNewline(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "raw")
	mustCLI(t, addr, "a\r\n\n  spaced  \n", "produce", "raw")
	got := mustCLI(t, addr, "", "consume", "raw", "-e", "--format", `[%v] %K`)
	want := "[a\r] -1\n[] -1\n[  spaced  ] -1\n"
	if got != want {
		t.Errorf("consumed %q, want %q (\\r kept, empty line is an empty record, no key)", got, want)
	}
}

// Failures name the line and stop reading at the first one; earlier lines
// are still delivered.
func TestProduceReportsFailedLines(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "p3", "-p", "3")

	_, errOut, err := runCLI(t, addr, "a:1\nb:2\nno separator\nc:3\n", "produce", "p3", "--key-sep", ":")
	if err == nil || !strings.Contains(errOut, `line 3: no key separator ":"`) ||
		!strings.Contains(err.Error(), "1 failed record(s)") {
		t.Fatalf("missing separator: err %v, stderr %q", err, errOut)
	}
	got := mustCLI(t, addr, "", "consume", "p3", "-e", "--format", `%k=%v`)
	if lines := strings.Fields(got); len(lines) != 2 {
		t.Errorf("after a failure at line 3, the topic holds %q, want a=1 and b=2 only", got)
	}

	_, errOut, err = runCLI(t, addr, "x\ny\n", "produce", "p3", "--partition", "5")
	if err == nil || !strings.Contains(errOut, `line 1: topic "p3" partition 5`) {
		t.Errorf("missing partition: err %v, stderr %q", err, errOut)
	}

	_, errOut, err = runCLI(t, addr, strings.Repeat("y", 2_000_000)+"\n", "produce", "p3")
	if err == nil || !strings.Contains(errOut, "line 1:") || !strings.Contains(errOut, "MESSAGE_TOO_LARGE") {
		t.Errorf("oversize record: err %v, stderr %q", err, errOut)
	}
}

func TestProduceToPartition(t *testing.T) {
	addr := startBroker(t)
	mustCLI(t, addr, "", "topic", "create", "pp", "-p", "4")
	mustCLI(t, addr, "k1:a\nk2:b\nk3:c\n", "produce", "pp", "--partition", "2", "--key-sep", ":")
	got := mustCLI(t, addr, "", "consume", "pp", "-e", "--format", `%p %o %k %v`)
	if want := "2 0 k1 a\n2 1 k2 b\n2 2 k3 c\n"; got != want {
		t.Errorf("consumed %q, want %q", got, want)
	}
}

func TestProduceFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--acks", "2"}, `--acks "2": want all, 1 or 0`},
		{[]string{"--compression", "brotli"}, `--compression "brotli": want none, gzip, snappy, lz4 or zstd`},
		{[]string{"--partition", "-3"}, "--partition -3: want a partition number >= 0, or -1"},
		{[]string{"--batch-bytes", "0"}, "--batch-bytes 0: want > 0"},
	} {
		_, _, err := runCLI(t, "127.0.0.1:1", "x\n", append([]string{"produce", "t"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("produce %v: error = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// BenchmarkProduceLines measures `sluice produce` end to end (stdin parsing,
// batching, acks=all) against an in-process broker, 100-byte lines.
func BenchmarkProduceLines(b *testing.B) {
	addr := startBroker(b)
	line := strings.Repeat("x", 99) + "\n"
	input := []byte(strings.Repeat(line, b.N))
	cf := &clientFlags{brokers: addr, clientID: "bench", timeout: time.Minute}
	pf := &produceFlags{partition: -1, acks: "all", compression: "none", linger: 10 * time.Millisecond, batchBytes: 1000012}
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	if err := runProduce(b.Context(), cf, pf, "bench", bytes.NewReader(input), io.Discard); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
