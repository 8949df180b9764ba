package client

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseAcksAndCompression(t *testing.T) {
	for in, want := range map[string]Acks{"all": AcksAll, "-1": AcksAll, "1": AcksLeader, "0": AcksNone} {
		if got, err := ParseAcks(in); err != nil || got != want {
			t.Errorf("ParseAcks(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseAcks("2"); err == nil || err.Error() != "want all, 1 or 0" {
		t.Errorf("ParseAcks(2): %v", err)
	}
	for in, want := range map[string]kgo.CompressionCodec{
		"": kgo.NoCompression(), "none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"Snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "ZSTD": kgo.ZstdCompression(),
	} {
		if got, err := ParseCompression(in); err != nil || got != want {
			t.Errorf("ParseCompression(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseCompression("brotli"); err == nil || err.Error() != "want none, gzip, snappy, lz4 or zstd" {
		t.Errorf("ParseCompression(brotli): %v", err)
	}
}

// ProduceLines splits keys, counts lines and, at the first bad line, stops
// reading: the lines before it are delivered, the failure names its line.
func TestProduceLines(t *testing.T) {
	c, adm := testCluster(t)
	mustCreate(t, adm, "p", 1)
	o := DefaultProduceOptions()
	o.Topic, o.KeySep = "p", "="
	res, err := c.ProduceLines(testContext(t), o, strings.NewReader("a=1\nb=2=x\n=\n"))
	if err != nil || res.Lines != 3 || res.Failed != 0 || len(res.Failures) != 0 {
		t.Fatalf("ProduceLines = %+v, %v; want 3 lines, no failure", res, err)
	}
	res, err = c.ProduceLines(testContext(t), o, strings.NewReader("c=3\nno separator\nd=4\n"))
	want := `topic "p": 1 failed record(s); stopped reading at the first failure, after line 2`
	if err == nil || err.Error() != want {
		t.Errorf("a line without the separator: error %v, want %q", err, want)
	}
	if res.Lines != 2 || res.Failed != 1 || len(res.Failures) != 1 || res.Failures[0].Line != 2 ||
		res.Failures[0].Err.Error() != `no key separator "=" in the line` {
		t.Errorf("a line without the separator: result %+v", res)
	}

	r, err := c.NewReader(testContext(t), ReadOptions{Topic: "p", Partition: -1, UntilEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for !r.Done() {
		recs, err := r.Poll(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			got = append(got, string(rec.Key)+"|"+string(rec.Value))
		}
	}
	if g, w := strings.Join(got, " "), "a|1 b|2=x | c|3"; g != w {
		t.Errorf("the topic holds %q, want %q", g, w)
	}
}

// Cancelling ctx ends ProduceLines while a read blocks.
func TestProduceLinesInterrupted(t *testing.T) {
	c, adm := testCluster(t)
	mustCreate(t, adm, "p", 1)
	o := DefaultProduceOptions()
	o.Topic = "p"
	pr, pw := io.Pipe()
	defer pw.Close() // ends the blocked read, so no goroutine is left
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() {
		_, err := c.ProduceLines(ctx, o, pr)
		done <- err
	}()
	if _, err := pw.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := <-done
	if err == nil || err.Error() != `topic "p": interrupted; records read so far were flushed` {
		t.Errorf("interrupted: %v", err)
	}
}

// Failures past MaxReportedFailures are counted, not kept, and the first
// failure stops reading.
func TestProduceRunKeepsFirstFailures(t *testing.T) {
	r := &produceRun{}
	for i := range 3 * MaxReportedFailures {
		r.fail(int64(100-i), errors.New("x"))
	}
	if !r.stopped.Load() || r.mu.failed != 3*MaxReportedFailures || len(r.mu.failures) != MaxReportedFailures ||
		r.mu.failures[0].Line != 100 {
		t.Errorf("after %d failures: stopped %v, failed %d, kept %d (first line %d)",
			3*MaxReportedFailures, r.stopped.Load(), r.mu.failed, len(r.mu.failures), r.mu.failures[0].Line)
	}
}
