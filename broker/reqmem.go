package broker

// Request memory: what bounds the bytes clients can make the broker hold.
//
// queued.max.request.bytes is a budget of request bytes across all
// connections, counted from a request body's first chunk until its handler
// returns. A body's buffer starts at firstChunk bytes and doubles as bytes
// actually arrive (never past the declared size); each step is reserved from
// the budget before it is allocated (a produce body takes a whole-size
// buffer from the pool instead once its first chunk has arrived, if the
// pool has one: that memory exists already). So a client that declares 100 MiB and
// sends 10 bytes holds one small chunk, and the budget counts memory that
// exists. (Kafka reserves the declared size up front, which lets a client
// pin the whole budget without sending anything.) A connection whose next
// step does not fit stops reading, leaving its bytes in the socket, until
// memory is freed: backpressure, like Kafka's muting of channels when its
// memory pool is empty.
//
// So that waiting can never deadlock, one request at a time may go past the
// budget: held bytes stay under queued.max.request.bytes plus one
// socket.request.max.bytes, and a request larger than the whole budget is
// still served. Requests of at most smallRequest bytes never wait: a
// connection's own read and write buffers are of that size already, so the
// connection limits (limits.go) bound them, and small requests (metadata,
// heartbeats, commits, small produces) keep flowing while large ones wait.
//
// socket.request.read.timeout.ms bounds how long a request may take to
// arrive, waiting for budget included, once its size is read: a trickling
// client is closed and its memory freed. connections.max.idle.ms bounds the
// wait for the next request and for the client to read a response.
//
// Produce buffers, which no handler keeps, go back to a pool of power-of-two
// buffers that holds at most maxPooledBytes; every other request's buffer is
// left to the garbage collector, since its handler may keep slices of it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"
	"time"
)

const (
	// firstChunk is the first buffer of a request body.
	firstChunk = 16 << 10
	// smallRequest is the largest request that never waits for budget.
	smallRequest = 64 << 10
	// maxPooledBuffer is the largest produce buffer the pool keeps.
	maxPooledBuffer = 16 << 20
	// maxPooledBytes bounds the bytes the buffer pool keeps in all.
	maxPooledBytes = 32 << 20
	// poolClasses is the number of pool sizes: 16 KiB, 32 KiB, ... 16 MiB.
	poolClasses = 11
)

// errRequestTimeout marks a request that did not arrive within
// socket.request.read.timeout.ms.
var errRequestTimeout = errors.New("broker: request not received in time")

// requestMemory is the queued.max.request.bytes budget.
type requestMemory struct {
	limit int64 // <= 0: unbounded
	mu    struct {
		sync.Mutex
		used  int64
		over  *conn         // the one connection allowed past limit
		freed chan struct{} // closed (and replaced) when bytes are released
	}
	waits func() // counts a reservation that had to wait
}

func newRequestMemory(limit int64, waits func()) *requestMemory {
	m := &requestMemory{limit: limit, waits: waits}
	m.mu.freed = make(chan struct{})
	return m
}

// reserve takes n more bytes for c's current request. Unless small, it
// waits while they do not fit, until deadline or ctx ends.
func (m *requestMemory) reserve(ctx context.Context, c *conn, n int64, small bool, deadline time.Time) error {
	waited := false
	for {
		m.mu.Lock()
		fits := m.limit <= 0 || m.mu.used+n <= m.limit
		if fits || small || m.mu.over == c || m.mu.over == nil {
			if !fits && !small {
				m.mu.over = c
			}
			m.mu.used += n
			m.mu.Unlock()
			return nil
		}
		freed := m.mu.freed
		m.mu.Unlock()
		if !waited {
			waited = true
			m.waits()
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-freed:
			t.Stop()
		case <-t.C:
			return os.ErrDeadlineExceeded
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// release returns n bytes of c's request and ends c's turn past the limit.
func (m *requestMemory) release(c *conn, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.used -= n
	if m.mu.over == c {
		m.mu.over = nil
	}
	close(m.mu.freed)
	m.mu.freed = make(chan struct{})
}

// queued is the bytes reserved now.
func (m *requestMemory) queued() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.used
}

// bufferPool keeps produce buffers of power-of-two sizes from firstChunk to
// maxPooledBuffer, at most maxPooledBytes in all.
type bufferPool struct {
	mu   sync.Mutex
	held int64
	free [poolClasses][][]byte
}

// pooledSize is the pool's buffer size for n bytes, or 0 if it keeps none
// that large.
func pooledSize(n int) int {
	if n > maxPooledBuffer {
		return 0
	}
	if n <= firstChunk {
		return firstChunk
	}
	return 1 << bits.Len(uint(n-1))
}

func poolClass(size int) int { return bits.Len(uint(size)) - bits.Len(firstChunk) }

// get returns an empty buffer of capacity size, a pooledSize.
func (p *bufferPool) get(size int) []byte {
	cl := poolClass(size)
	p.mu.Lock()
	if n := len(p.free[cl]); n > 0 {
		b := p.free[cl][n-1]
		p.free[cl][n-1] = nil
		p.free[cl] = p.free[cl][:n-1]
		p.held -= int64(cap(b))
		p.mu.Unlock()
		return b[:0]
	}
	p.mu.Unlock()
	return make([]byte, 0, size)
}

// has says whether the pool keeps a buffer of size, a pooledSize.
func (p *bufferPool) has(size int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free[poolClass(size)]) > 0
}

// put keeps b for reuse if it is a pool size and the pool has room.
func (p *bufferPool) put(b []byte) {
	size := cap(b)
	if size == 0 || pooledSize(size) != size {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held+int64(size) > maxPooledBytes {
		return
	}
	cl := poolClass(size)
	p.free[cl] = append(p.free[cl], b[:0])
	p.held += int64(size)
}

// pooled is the bytes the pool keeps now.
func (p *bufferPool) pooled() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// readBody reads a request body of size bytes, growing its buffer as bytes
// arrive and reserving each step from the budget first. Produce bodies use
// the buffer pool. The caller releases what it holds with doneRequest,
// after an error too.
func (c *conn) readBody(ctx context.Context, size int, produce bool, deadline time.Time) ([]byte, error) {
	c.pooled = produce && size <= maxPooledBuffer
	var buf []byte
	for len(buf) < size {
		if len(buf) == cap(buf) {
			want := min(size, max(firstChunk, 2*cap(buf)))
			if c.pooled {
				want = pooledSize(want)
				// Once the first chunk has arrived, a pooled buffer of the
				// whole size (memory that exists already) saves the copies.
				if full := pooledSize(size); cap(buf) > 0 && full > want && c.s.buffers.has(full) {
					want = full
				}
			}
			if err := c.s.reqMem.reserve(ctx, c, int64(want-cap(buf)), size <= smallRequest, deadline); err != nil {
				return nil, c.bodyError(err, len(buf), size)
			}
			c.held += int64(want - cap(buf))
			var nb []byte
			if c.pooled {
				nb = c.s.buffers.get(want)
			} else {
				nb = make([]byte, 0, want)
			}
			nb = append(nb, buf...)
			if c.pooled {
				c.s.buffers.put(buf)
			}
			buf, c.frame = nb, nb
		}
		n, err := c.r.Read(buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+n]
		c.frame = buf
		if err != nil && len(buf) < size {
			return nil, c.bodyError(err, len(buf), size)
		}
	}
	return buf, nil
}

func (c *conn) bodyError(err error, got, size int) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.s.metrics.connsClosed.WithLabelValues(closeRequestTimeout).Inc()
		return fmt.Errorf("%w: %d of %d bytes arrived within socket.request.read.timeout.ms=%d",
			errRequestTimeout, got, size, c.s.settings.SocketRequestReadTimeoutMs)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("connection closed after %d of %d request bytes", got, size)
	}
	return err
}

// doneRequest releases the current request's budget; reuse returns a
// produce buffer to the pool (only once no handler can be using it).
func (c *conn) doneRequest(reuse bool) {
	if c.held > 0 {
		c.s.reqMem.release(c, c.held)
		c.held = 0
	}
	if c.pooled && reuse && c.frame != nil {
		c.s.buffers.put(c.frame)
	}
	c.frame, c.pooled = nil, false
}
