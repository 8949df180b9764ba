package broker

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/meta"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFDReserve(t *testing.T) {
	for _, c := range []struct {
		nofile  uint64
		reserve int32
		want    uint64
	}{
		{256, -1, 128},         // at least 128
		{200, -1, 100},         // at most half
		{1024, -1, 256},        // a quarter
		{1 << 20, -1, 1 << 18}, // a quarter
		{256, 0, 0},            // as set
		{256, 300, 300},        // as set (New then refuses to start)
		{1 << 20, 5000, 5000},  // as set
	} {
		if got := fdReserve(c.nofile, c.reserve); got != c.want {
			t.Errorf("fdReserve(%d, %d) = %d, want %d", c.nofile, c.reserve, got, c.want)
		}
	}
}

func TestAcceptBackoff(t *testing.T) {
	var d time.Duration
	var got []time.Duration
	for i := 0; i < 10; i++ {
		d = acceptBackoff(d)
		got = append(got, d)
	}
	if got[0] != 5*time.Millisecond || got[1] != 10*time.Millisecond || got[7] != 640*time.Millisecond ||
		got[8] != time.Second || got[9] != time.Second {
		t.Errorf("backoff %v: want 5ms doubling to 1s", got)
	}
}

func TestPooledSizes(t *testing.T) {
	if poolClass(maxPooledBuffer) != poolClasses-1 || poolClass(firstChunk) != 0 {
		t.Fatalf("pool classes: 16 KiB is %d, 16 MiB is %d of %d", poolClass(firstChunk), poolClass(maxPooledBuffer), poolClasses)
	}
	for n, want := range map[int]int{1: firstChunk, firstChunk: firstChunk, firstChunk + 1: 2 * firstChunk,
		1 << 20: 1 << 20, 1<<20 + 1: 2 << 20, maxPooledBuffer: maxPooledBuffer, maxPooledBuffer + 1: 0} {
		if got := pooledSize(n); got != want {
			t.Errorf("pooledSize(%d) = %d, want %d", n, got, want)
		}
	}
	var p bufferPool
	for i := 0; i < 3; i++ {
		p.put(make([]byte, maxPooledBuffer))
	}
	if p.pooled() != maxPooledBytes {
		t.Errorf("pool keeps %d bytes, want at most %d", p.pooled(), maxPooledBytes)
	}
	if b := p.get(maxPooledBuffer); cap(b) != maxPooledBuffer || len(b) != 0 || p.pooled() != maxPooledBytes-maxPooledBuffer {
		t.Errorf("get: len %d cap %d, pool left %d", len(b), cap(b), p.pooled())
	}
	p.put(make([]byte, 3000)) // not a pool size: dropped
	if p.pooled() != maxPooledBytes-maxPooledBuffer {
		t.Errorf("pool kept an odd-sized buffer")
	}
}

// TestResponseBufferNotKept: a connection keeps at most maxScratch bytes of
// response buffer between requests, so idle connections that once got a
// large answer do not each hold it.
func TestResponseBufferNotKept(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go io.Copy(io.Discard, client)
	c := &conn{s: &Server{settings: meta.DefaultBrokerConfig()}, nc: server, w: bufio.NewWriter(server)}
	resp := kmsg.NewPtrMetadataResponse()
	for i := 0; i < 2000; i++ {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr(strings.Repeat("t", 200))
		resp.Topics = append(resp.Topics, rt)
	}
	resp.SetVersion(12)
	for _, size := range []string{"large", "small"} {
		if err := c.writeResponse(1, resp, true); err != nil {
			t.Fatal(err)
		}
		if cap(c.scratch) > maxScratch {
			t.Fatalf("after a %s response the connection keeps a %d-byte buffer, want at most %d", size, cap(c.scratch), maxScratch)
		}
		resp.Topics = resp.Topics[:1]
	}
	if cap(c.scratch) == 0 {
		t.Error("a small response's buffer is not kept for reuse")
	}
}
