package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn serves one client connection. Requests are handled one at a time and
// answered in order, as Kafka does (a client may pipeline; the broker
// processes the next request only after answering the previous one).
type conn struct {
	s      *Server
	nc     net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	logger *slog.Logger
	remote string
	// scratch is reused for response encoding; see keepScratch.
	scratch []byte
	// zeroCopy says fetched records may be sent with sendfile (plain TCP).
	zeroCopy bool
	// sections are the file-backed records of the fetch response being
	// answered; see writeFetch.
	sections []*fileSection
	// frame is the body of the request being read or handled, held bytes
	// of the queued.max.request.bytes budget, and pooled says frame comes
	// from (and goes back to) the buffer pool; see readBody.
	frame  []byte
	held   int64
	pooled bool
	// fetched counts what the fetch being answered returns, per partition.
	fetched []fetchStat
}

// request is one decoded request frame.
type request struct {
	key, version  int16
	correlationID int32
	clientID      *string
	body          kmsg.Request
}

// errFrame marks a malformed frame: the connection is closed, nothing else.
var errFrame = errors.New("broker: malformed request frame")

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	c := &conn{
		s:      s,
		nc:     nc,
		r:      bufio.NewReaderSize(nc, 64<<10),
		w:      bufio.NewWriterSize(nc, 64<<10),
		remote: nc.RemoteAddr().String(),
	}
	c.logger = s.logger.With("remote", c.remote)
	_, c.zeroCopy = nc.(*net.TCPConn)
	defer nc.Close()
	defer c.doneRequest(false)
	for {
		req, err := c.readRequest(ctx)
		if err != nil {
			switch {
			case errors.Is(err, errIdle):
				c.logger.Debug("closing idle connection", "err", err)
			case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil:
				c.logger.Info("closing connection", "err", err)
			}
			return
		}
		if req == nil { // unsupported version answered already
			c.doneRequest(true)
			continue
		}
		if !s.beginRequest() {
			return // shutting down: stop taking new requests
		}
		err = c.handle(ctx, req)
		s.endRequest()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				c.logger.Info("closing connection", "err", err)
			}
			return
		}
	}
}

// errIdle marks a connection closed for connections.max.idle.ms.
var errIdle = errors.New("broker: connection idle")

// readRequest reads and decodes one frame. It returns (nil, nil) when the
// request named an unknown API or version and an error response was written.
// Waiting for the frame's size is idle time (connections.max.idle.ms); the
// rest must arrive within socket.request.read.timeout.ms (see readBody).
func (c *conn) readRequest(ctx context.Context) (*request, error) {
	var sizeBuf [4]byte
	c.nc.SetReadDeadline(deadlineAfter(c.s.settings.ConnectionsMaxIdleMs))
	if _, err := io.ReadFull(c.r, sizeBuf[:]); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.s.metrics.connsClosed.WithLabelValues(closeIdle).Inc()
			return nil, fmt.Errorf("%w: no request for connections.max.idle.ms=%d", errIdle, c.s.settings.ConnectionsMaxIdleMs)
		}
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 10 {
		return nil, fmt.Errorf("%w: size %d", errFrame, size)
	}
	if int64(size) > int64(c.s.settings.SocketRequestMaxBytes) {
		// Kafka closes the connection for oversize requests, before reading them.
		return nil, fmt.Errorf("%w: request of %d bytes exceeds socket.request.max.bytes=%d",
			errFrame, size, int64(c.s.settings.SocketRequestMaxBytes))
	}
	deadline := deadlineAfter(c.s.settings.SocketRequestReadTimeoutMs)
	c.nc.SetReadDeadline(deadline)
	// Produce frames' only bytes are record batches, which the log has
	// written (and no one references) by the time the handler returns, so
	// their buffers are pooled. Every other request gets fresh memory, since
	// its handler may keep slices of it.
	key, err := c.r.Peek(2)
	if err != nil {
		return nil, c.bodyError(err, 0, int(size))
	}
	buf, err := c.readBody(ctx, int(size), binary.BigEndian.Uint16(key) == uint16(kmsg.Produce), deadline)
	if err != nil {
		return nil, err
	}
	req, err := decodeRequest(buf)
	var unsupported *errUnsupported
	if errors.As(err, &unsupported) {
		return nil, c.writeUnsupported(unsupported.key, unsupported.version, unsupported.corr)
	}
	return req, err
}

// deadlineAfter is the deadline ms from now, or none for ms < 0.
func deadlineAfter(ms int64) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(ms) * time.Millisecond)
}

// errUnsupported is a well-framed request for an API or version this broker
// does not serve.
type errUnsupported struct {
	key, version int16
	corr         int32
}

func (e *errUnsupported) Error() string {
	return fmt.Sprintf("unsupported api %s (key %d) version %d", kmsg.NameForKey(e.key), e.key, e.version)
}

// decodeRequest decodes a frame body (the bytes after the size): the request
// header, then the request itself with kmsg.
func decodeRequest(buf []byte) (*request, error) {
	if len(buf) < 10 {
		return nil, fmt.Errorf("%w: short header", errFrame)
	}
	key := int16(binary.BigEndian.Uint16(buf[0:]))
	version := int16(binary.BigEndian.Uint16(buf[2:]))
	corr := int32(binary.BigEndian.Uint32(buf[4:]))
	b := buf[8:]
	var clientID *string
	idLen := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	if idLen >= 0 {
		if int(idLen) > len(b) {
			return nil, fmt.Errorf("%w: client id length %d", errFrame, idLen)
		}
		id := string(b[:idLen])
		clientID = &id
		b = b[idLen:]
	}
	api, ok := apiByKey(key)
	if !ok || version < api.min || version > api.max {
		return nil, &errUnsupported{key: key, version: version, corr: corr}
	}
	body := kmsg.RequestForKey(key)
	body.SetVersion(version)
	if body.IsFlexible() {
		// Request header v2: tagged fields after the client id.
		var err error
		if b, err = skipTags(b); err != nil {
			return nil, err
		}
	}
	if err := body.ReadFrom(b); err != nil {
		return nil, fmt.Errorf("%w: %s v%d: %v", errFrame, kmsg.NameForKey(key), version, err)
	}
	return &request{key: key, version: version, correlationID: corr, clientID: clientID, body: body}, nil
}

// skipTags skips a tagged-field section (uvarint count, then tag, size, data).
func skipTags(b []byte) ([]byte, error) {
	n, l := binary.Uvarint(b)
	if l <= 0 {
		return nil, fmt.Errorf("%w: bad tagged fields", errFrame)
	}
	b = b[l:]
	for i := uint64(0); i < n; i++ {
		_, l := binary.Uvarint(b)
		if l <= 0 {
			return nil, fmt.Errorf("%w: bad tag", errFrame)
		}
		b = b[l:]
		size, l := binary.Uvarint(b)
		if l <= 0 || size > uint64(len(b)-l) {
			return nil, fmt.Errorf("%w: bad tag size", errFrame)
		}
		b = b[l+int(size):]
	}
	return b, nil
}

// writeUnsupported answers a request for an unknown API or version. For
// ApiVersions, KIP-511: answer with version 0 and the supported ranges so the
// client can downgrade. For anything else Kafka closes the connection; we
// answer ApiVersions-style error only where the client can parse it.
func (c *conn) writeUnsupported(key, version int16, corr int32) error {
	c.s.metrics.unsupported.Inc()
	if key == int16(kmsg.ApiVersions) {
		resp := apiVersionsResponse(0)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return c.writeResponse(corr, resp, false)
	}
	return fmt.Errorf("%w: unsupported api %s (key %d) version %d", errFrame, kmsg.NameForKey(key), key, version)
}

// armWriteDeadline gives the client connections.max.idle.ms to read the
// response about to be written.
func (c *conn) armWriteDeadline() {
	c.nc.SetWriteDeadline(deadlineAfter(c.s.settings.ConnectionsMaxIdleMs))
}

func (c *conn) handle(ctx context.Context, req *request) (err error) {
	api, _ := apiByKey(req.key)
	defer func() {
		// A handler bug must cost one connection, not the broker.
		if r := recover(); r != nil {
			c.logger.Error("handler panic", "api", api.name, "version", req.version, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error handling %s", api.name)
			c.releaseSections()
		}
	}()
	start := time.Now()
	resp := api.handle(ctx, c, req)
	c.s.metrics.observeRequest(api.name, time.Since(start))
	c.doneRequest(true) // the handler is done with the request's bytes
	if resp == nil {
		return nil // acks=0 produce: no response
	}
	resp.SetVersion(req.version)
	// ApiVersions responses always use response header v0 (KIP-511).
	flexHeader := resp.IsFlexible() && req.key != int16(kmsg.ApiVersions)
	if len(c.sections) > 0 {
		defer c.releaseSections()
		return c.writeFetch(req.correlationID, resp.(*kmsg.FetchResponse), c.sections, flexHeader)
	}
	return c.writeResponse(req.correlationID, resp, flexHeader)
}

// maxScratch is the largest response buffer a connection keeps between
// requests: the size of its read and write buffers, so that what idle
// connections hold is bounded by the connection limits.
const maxScratch = 64 << 10

// keepScratch keeps b for the next response if it is small; a larger one is
// left to the garbage collector.
func (c *conn) keepScratch(b []byte) {
	if cap(b) <= maxScratch {
		c.scratch = b[:0]
	} else {
		c.scratch = nil
	}
}

func (c *conn) writeResponse(corr int32, resp kmsg.Response, flexHeader bool) error {
	c.armWriteDeadline()
	b := c.scratch[:0]
	b = append(b, 0, 0, 0, 0) // size, filled below
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if flexHeader {
		b = append(b, 0) // no tagged fields
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	c.keepScratch(b)
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return c.w.Flush()
}
