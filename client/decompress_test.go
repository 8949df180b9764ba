package client

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/batchtest"
	"github.com/sluicehq/sluice/batchcodec/bounded"
	"github.com/sluicehq/sluice/broker/brokertest"
)

// produceBatch sends one raw record batch to partition 0 of topic through
// the broker's Produce path, with all its checks, and fails the test
// unless the broker accepts it.
func produceBatch(t *testing.T, c Cluster, topic string, batch []byte) {
	t.Helper()
	cl, err := c.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if p := brokertest.Produce(t, cl, topic, 0, batch); p.ErrorCode != 0 {
		t.Fatalf("produce a batch of %d bytes to %s: %v", len(batch), topic, kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestReaderStopsAtCompressionBomb: what `sluice consume` reads stops at a
// zstd batch of a few KB that expands to 200 MiB, with an error naming the
// topic, the partition, the batch's offset and the bound, after the records
// before it, having allocated a few MiB rather than the 200. The broker
// accepts these batches because their topic's max.message.bytes (4 MiB)
// lets a batch decompress to 256 MiB, as a cluster with a large
// max.message.bytes, or a foreign one, may hold them. Before, the reader
// used franz-go's decompressor, which expands a batch up to 1 GiB: it
// returned all 200 MiB of zeros as records.
func TestReaderStopsAtCompressionBomb(t *testing.T) {
	c, adm := testCluster(t)
	for _, tc := range []struct {
		name     string
		bomb     []byte
		maxBatch int64  // the Cluster's MaxDecompressedBatchBytes
		bound    string // the bound the error names
		alloc    uint64 // the most the read may allocate
	}{
		// The frame declares 200 MiB: refused on its header, at the
		// default bound.
		{"declared", batchtest.ZstdBombDeclared(0, 200, 1<<20), 0, "128 MiB", 32 << 20},
		// Only decompressing tells: refused once past a bound of 8 MiB,
		// having cost about twice it and the decoder's window, twice
		// (franz-go tries the batch in the fetch that returns the records
		// before it, and again alone).
		{"streamed", batchtest.ZstdBomb(0, 200, 1<<20), 8 << 20, "8 MiB", 80 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "bomb-" + tc.name
			maxMessage := "4194304"
			if _, err := adm.CreateTopics(testContext(t), 1, -1, map[string]*string{"max.message.bytes": &maxMessage}, topic); err != nil {
				t.Fatal(err)
			}
			produceTo(t, c, topic, 0, "a", "b", "c")
			produceBatch(t, c, topic, tc.bomb)

			c := c
			c.MaxDecompressedBatchBytes = tc.maxBatch
			var (
				got     []string
				readErr error
			)
			alloc := batchtest.Allocated(func() {
				r, err := c.NewReader(testContext(t), ReadOptions{Topic: topic, Partition: -1, UntilEnd: true})
				if err != nil {
					readErr = err
					return
				}
				defer r.Close()
				for !r.Done() && readErr == nil {
					var recs []*kgo.Record
					recs, readErr = r.Poll(testContext(t))
					for _, rec := range recs {
						got = append(got, fmt.Sprintf("%d:%s", rec.Offset, rec.Value[:min(len(rec.Value), 8)]))
					}
				}
			})
			if strings.Join(got, " ") != "0:a 1:b 2:c" {
				t.Errorf("read %d records (%q ...), want 0:a 1:b 2:c and nothing of the bomb", len(got), got[:min(len(got), 4)])
			}
			var tooLarge *bounded.TooLargeError
			if !errors.As(readErr, &tooLarge) || tooLarge.Topic != topic || tooLarge.Partition != 0 || tooLarge.Offset != 3 {
				t.Fatalf("read over the bomb ended with %v; want a *bounded.TooLargeError for %s partition 0 offset 3", readErr, topic)
			}
			want := fmt.Sprintf("topic %q partition 0: the batch at offset 3 decompresses to more than %s", topic, tc.bound)
			if !strings.HasPrefix(readErr.Error(), want) {
				t.Errorf("error %q, want it to start %q", readErr, want)
			}
			if alloc > tc.alloc {
				t.Errorf("reading up to the 200 MiB bomb allocated %d MiB, want at most %d MiB", alloc>>20, tc.alloc>>20)
			}
			t.Logf("%s bomb: %d bytes compressed, refused having allocated %.1f MiB: %v", tc.name, len(tc.bomb), float64(alloc)/(1<<20), readErr)
		})
	}
}
