package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// produceTo produces lines to one partition of topic.
func produceTo(t *testing.T, c Cluster, topic string, partition int32, lines ...string) {
	t.Helper()
	o := DefaultProduceOptions()
	o.Topic, o.Partition = topic, partition
	if _, err := c.ProduceLines(testContext(t), o, strings.NewReader(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
}

// readAll reads until the reader is done and returns "partition:offset:value"
// of each record, in the order returned.
func readAll(t *testing.T, r *Reader) []string {
	t.Helper()
	ctx := testContext(t)
	var got []string
	for !r.Done() {
		recs, err := r.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll after %d records: %v", len(got), err)
		}
		for _, rec := range recs {
			got = append(got, fmt.Sprintf("%d:%d:%s", rec.Partition, rec.Offset, rec.Value))
		}
	}
	if _, err := r.Poll(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("Poll once done: %v, want io.EOF", err)
	}
	return got
}

func TestReader(t *testing.T) {
	c, adm := testCluster(t)
	mustCreate(t, adm, "r", 2)
	mustCreate(t, adm, "empty", 3)
	produceTo(t, c, "r", 0, "a0", "a1", "a2", "a3", "a4")
	produceTo(t, c, "r", 1, "b0", "b1", "b2")

	for _, tc := range []struct {
		name string
		opts ReadOptions
		want string // the records, sorted within each partition as Kafka keeps them
	}{
		{"limit on one partition", ReadOptions{Topic: "r", Partition: 0, Limit: 3}, "0:0:a0 0:1:a1 0:2:a2"},
		{"until the end of both", ReadOptions{Topic: "r", Partition: -1, UntilEnd: true}, "0:0:a0 0:1:a1 0:2:a2 0:3:a3 0:4:a4 1:0:b0 1:1:b1 1:2:b2"},
		{"from an offset", ReadOptions{Topic: "r", Partition: 0, From: Position{Kind: AtOffset, N: 3}, UntilEnd: true}, "0:3:a3 0:4:a4"},
		{"before the end", ReadOptions{Topic: "r", Partition: -1, From: Position{Kind: BeforeEnd, N: 1}, UntilEnd: true}, "0:4:a4 1:2:b2"},
		{"from time 0", ReadOptions{Topic: "r", Partition: 1, From: Position{Kind: AtTime}, UntilEnd: true}, "1:0:b0 1:1:b1 1:2:b2"},
		{"limit before the end", ReadOptions{Topic: "r", Partition: 0, Limit: 2, UntilEnd: true}, "0:0:a0 0:1:a1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.NewReader(testContext(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := strings.Join(sortByPartition(readAll(t, r)), " "); got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
		})
	}
}

// sortByPartition orders records by partition, keeping each partition's
// order, since partitions may arrive interleaved.
func sortByPartition(recs []string) []string {
	var out []string
	for _, p := range []string{"0:", "1:", "2:"} {
		for _, r := range recs {
			if strings.HasPrefix(r, p) {
				out = append(out, r)
			}
		}
	}
	return out
}

// With UntilEnd, a reader with nothing to read is done before it polls, so
// that `consume -e` of an empty range ends at once.
func TestReaderNothingToRead(t *testing.T) {
	c, adm := testCluster(t)
	mustCreate(t, adm, "r", 2)
	mustCreate(t, adm, "empty", 3)
	produceTo(t, c, "r", 0, "a0", "a1")
	for _, opts := range []ReadOptions{
		{Topic: "empty", Partition: -1, UntilEnd: true},
		{Topic: "r", Partition: -1, From: Position{Kind: Latest}, UntilEnd: true},
		{Topic: "r", Partition: -1, From: Position{Kind: AtOffset, N: 100}, UntilEnd: true},
		{Topic: "r", Partition: -1, From: Position{Kind: AtTime, N: 1 << 60}, UntilEnd: true},
		{Topic: "r", Partition: 1, UntilEnd: true}, // an empty partition of a topic with records
	} {
		r, err := c.NewReader(testContext(t), opts)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		if !r.Done() {
			t.Errorf("%+v: not done before the first poll", opts)
		}
		r.Close()
	}
}

func TestReaderErrors(t *testing.T) {
	c, adm := testCluster(t)
	mustCreate(t, adm, "two", 2)

	_, err := c.NewReader(testContext(t), ReadOptions{Topic: "two", Partition: 2})
	var pe *UnknownPartitionError
	if !errors.As(err, &pe) || *pe != (UnknownPartitionError{Topic: "two", Partition: 2, Partitions: 2}) {
		t.Errorf("partition 2 of 2: %v, want an UnknownPartitionError", err)
	}
	_, err = c.NewReader(testContext(t), ReadOptions{Topic: "nope", Partition: -1})
	if !errors.Is(err, kerr.UnknownTopicOrPartition) || !strings.HasPrefix(err.Error(), `topic "nope": `) {
		t.Errorf("a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION naming it", err)
	}

	// Without a limit or UntilEnd a reader follows the topic until ctx ends.
	r, err := c.NewReader(testContext(t), ReadOptions{Topic: "two", Partition: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if _, err := r.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Poll with a cancelled context: %v, want context.Canceled", err)
	}
	if r.Done() {
		t.Error("a cancelled poll marks a following reader done")
	}
}
