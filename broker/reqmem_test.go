package broker_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/testutil"
)

const mib = 1 << 20

// declareRequest opens a connection to addr and sends the size of a
// request of size bytes and its 10-byte header (api key, version 9, a
// correlation id, no client id), and nothing more.
func declareRequest(t *testing.T, addr string, size int, key kmsg.Key) *rawConn {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", addr)
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, 9)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, 0xffff)
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		t.Fatal(err)
	}
	return c
}

// vmRSS is a process's resident set size, from /proc.
func vmRSS(t *testing.T, pid int) float64 { return procStatusBytes(t, pid, "VmRSS") }

// procStatusBytes is a size field of /proc/<pid>/status (VmRSS, VmHWM for
// the peak resident set, ...), in bytes.
func procStatusBytes(t *testing.T, pid int, field string) float64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				t.Fatalf("%s %q: %v", field, rest, err)
			}
			return kb * 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// memory reports the child's Go heap in use and RSS.
func (c *child) memory(t *testing.T) (heap, rss float64) {
	t.Helper()
	heap = c.metric(t, "go_memstats_heap_inuse_bytes")
	if heap < 0 {
		t.Fatal("go_memstats_heap_inuse_bytes missing from /metrics")
	}
	return heap, vmRSS(t, c.cmd.Process.Pid)
}

// heapReturns waits until the child's Go heap in use
// (go_memstats_heap_inuse_bytes on /metrics) is under limit, as it is once
// a garbage collection has run after the broker let go of what it held:
// the scrapes allocate, so collections keep coming, and the runtime forces
// one every two minutes anyway. The deadline bounds a hang only.
func (c *child) heapReturns(t *testing.T, limit float64) {
	t.Helper()
	var heap float64
	testutil.Eventually(t, 3*time.Minute, fmt.Sprintf("heap in use not back under %.0f MiB after the connections closed", limit/mib), func() bool {
		heap = c.metric(t, "go_memstats_heap_inuse_bytes")
		return heap >= 0 && heap < limit
	})
	t.Logf("after they closed: heap in use %.1f MiB, RSS %.1f MiB", heap/mib, vmRSS(t, c.cmd.Process.Pid)/mib)
}

// TestSlowlorisHoldsNoMemory: 40 connections each declare a 100 MiB request
// and send 10 bytes of it. The broker holds a small first chunk for each,
// not the declared size, keeps serving a normal produce and fetch, and
// releases everything once they close: its heap in use goes back under
// 64 MiB (before, the 4 GiB they made it allocate stayed).
func TestSlowlorisHoldsNoMemory(t *testing.T) {
	c := startChild(t, t.TempDir(), "--http", "127.0.0.1:0", "--set", "socket.request.read.timeout.ms=120000")
	produceAndFetch(t, c.addr, "slow", "warm")
	heap0, rss0 := c.memory(t)

	var conns []*rawConn
	for i := 0; i < 40; i++ {
		key := kmsg.Produce // produce bodies come from the buffer pool
		if i%2 == 1 {
			key = kmsg.Metadata
		}
		conns = append(conns, declareRequest(t, c.addr, 100*mib, key))
	}
	testutil.Eventually(t, 30*time.Second, "the broker did not start reading all 40 requests", func() bool {
		return c.metric(t, "sluice_request_bytes_queued") >= 40*16<<10
	})
	heap, rss := c.memory(t)
	queued := c.metric(t, "sluice_request_bytes_queued")
	t.Logf("40 requests declaring 100 MiB each: %.1f MiB queued; heap in use %.1f MiB (before %.1f), RSS %.1f MiB (before %.1f)",
		queued/mib, heap/mib, heap0/mib, rss/mib, rss0/mib)
	if heap > 128*mib || rss > 300*mib {
		t.Errorf("heap in use %.0f MiB, RSS %.0f MiB while 40 clients declare 4000 MiB and send 400 bytes: want under 128 and 300", heap/mib, rss/mib)
	}
	if queued > 40*64<<10 {
		t.Errorf("%.0f bytes queued for 400 bytes received", queued)
	}

	produceAndFetch(t, c.addr, "slow", "while held")
	if open := c.metric(t, "sluice_connections_open"); open < 40 {
		t.Fatalf("only %v connections open: the slow requests were dropped before the produce ran", open)
	}

	for _, rc := range conns {
		rc.nc.Close()
	}
	testutil.Eventually(t, 30*time.Second, "request memory not released after the connections closed", func() bool {
		return c.metric(t, "sluice_request_bytes_queued") == 0 && c.metric(t, "sluice_connections_open") == 0
	})
	c.heapReturns(t, 64*mib)
	c.stop(t)
}

// TestRequestBytesBounded: connections that really send large requests and
// then stall cannot make the broker hold more than queued.max.request.bytes
// plus one request; those past it stop being read, small requests are
// still served, and once they close the heap in use goes back under 64 MiB
// (the buffer pool keeps at most 32 MiB of their buffers).
func TestRequestBytesBounded(t *testing.T) {
	const limit, maxRequest = 32 * mib, 16 * mib
	c := startChild(t, t.TempDir(), "--http", "127.0.0.1:0",
		"--set", fmt.Sprintf("queued.max.request.bytes=%d", limit),
		"--set", fmt.Sprintf("socket.request.max.bytes=%d", maxRequest),
		"--set", "socket.request.read.timeout.ms=120000")
	produceAndFetch(t, c.addr, "bound", "warm")

	// Eight connections offer 8 x 16 MiB, each one KiB short of complete.
	var wg sync.WaitGroup
	defer wg.Wait()
	junk := make([]byte, maxRequest-10-1024)
	var conns []*rawConn
	for i := 0; i < 8; i++ {
		rc := declareRequest(t, c.addr, maxRequest, kmsg.Produce)
		conns = append(conns, rc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc.nc.SetWriteDeadline(time.Now().Add(60 * time.Second))
			rc.nc.Write(junk) // blocks while the broker does not read; ends when closed
		}()
	}
	defer func() {
		for _, rc := range conns {
			rc.nc.Close()
		}
	}()
	testutil.Eventually(t, 60*time.Second, "the budget never filled", func() bool {
		return c.metric(t, "sluice_request_bytes_queued") >= limit && c.metric(t, "sluice_request_memory_waits_total") >= 1
	})
	for i := 0; i < 5; i++ {
		if q := c.metric(t, "sluice_request_bytes_queued"); q > limit+maxRequest {
			t.Fatalf("%.1f MiB queued, over queued.max.request.bytes + one request (%d MiB)", q/mib, (limit+maxRequest)/mib)
		}
		time.Sleep(50 * time.Millisecond) // sampling the bound over a little time
	}
	heap, rss := c.memory(t)
	t.Logf("8 stalled 16 MiB requests, budget 32 MiB: %.1f MiB queued, heap in use %.1f MiB, RSS %.1f MiB",
		c.metric(t, "sluice_request_bytes_queued")/mib, heap/mib, rss/mib)
	if heap > 128*mib {
		t.Errorf("heap in use %.0f MiB with a 32 MiB request budget", heap/mib)
	}

	produceAndFetch(t, c.addr, "bound", "small requests pass")

	for _, rc := range conns {
		rc.nc.Close()
	}
	testutil.Eventually(t, 30*time.Second, "request memory not released after the connections closed", func() bool {
		return c.metric(t, "sluice_request_bytes_queued") == 0
	})
	c.heapReturns(t, 64*mib)
	c.stop(t)
}

// TestSlowRequestTimesOut: a request that keeps trickling in but does not
// complete within socket.request.read.timeout.ms closes its connection and
// frees its memory.
func TestSlowRequestTimesOut(t *testing.T) {
	c := startChild(t, t.TempDir(), "--http", "127.0.0.1:0", "--set", "socket.request.read.timeout.ms=300")
	rc := declareRequest(t, c.addr, mib, kmsg.Produce)
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		for i := 0; i < 200; i++ { // at most 10 s
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := rc.nc.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-trickled }()
	if err := rc.awaitResponse(30 * time.Second); err != io.EOF {
		t.Fatalf("trickling request: %v, want the connection closed", err)
	}
	testutil.Eventually(t, 30*time.Second, "timeout not counted or memory not released", func() bool {
		return c.metric(t, `sluice_connections_closed_total{reason="request_timeout"}`) == 1 &&
			c.metric(t, "sluice_request_bytes_queued") == 0
	})
	if !strings.Contains(c.stderr.String(), "socket.request.read.timeout.ms=300") {
		t.Errorf("no log line naming the timeout:\n%s", c.stderr.String())
	}
	produceAndFetch(t, c.addr, "timeout", "after")
	c.stop(t)
}
