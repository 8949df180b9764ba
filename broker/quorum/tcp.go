package quorum

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Defaults of a TCPConfig.
const (
	// DefaultQueueSize is the messages that may wait for one peer.
	DefaultQueueSize = 4096
	// DefaultMaxMessageBytes bounds one message: the largest snapshot
	// (1 GiB) fits.
	DefaultMaxMessageBytes = maxSnapFrame + 16<<20
	// DefaultDialTimeout bounds a connection attempt.
	DefaultDialTimeout = 3 * time.Second
	// DefaultMaxBackoff bounds the wait between connection attempts.
	DefaultMaxBackoff = 2 * time.Second
)

const (
	minBackoff       = 50 * time.Millisecond
	handshakeTimeout = 10 * time.Second
	writeTimeout     = 10 * time.Second
	maxHandshake     = 4 << 10
	replyOK          = 0
	replyRefused     = 1
)

var tcpMagic = []byte("SLRAFT1")

// ErrTransportClosed is what Serve returns once the transport is closed.
var ErrTransportClosed = errors.New("quorum: transport closed")

// TCPConfig configures NewTCPTransport.
type TCPConfig struct {
	// NodeID is this node's raft id, sent in the handshake.
	NodeID uint64
	// ClusterID returns this node's cluster id ("" while it has none: it
	// then accepts and joins any). Nil is always "".
	ClusterID func() string
	// Peers returns the address of node id.
	Peers func(id uint64) (addr string, ok bool)
	// OnClusterMismatch is called on the dialing side each time a peer
	// refuses this node because their non-empty cluster ids differ; theirs
	// is the peer's. A server uses it to refuse to start.
	OnClusterMismatch func(peer uint64, theirs string)
	// Logger receives connection errors; nil discards them.
	Logger *slog.Logger
	// QueueSize bounds the messages waiting for one peer (more are
	// dropped: raft retries); 0 is DefaultQueueSize.
	QueueSize int
	// MaxMessageBytes bounds one marshalled message (a snapshot is one);
	// 0 is DefaultMaxMessageBytes.
	MaxMessageBytes int
	// DialTimeout bounds a connection attempt; 0 is DefaultDialTimeout.
	DialTimeout time.Duration
	// MaxBackoff bounds the wait between connection attempts (it starts
	// at 50ms and doubles); 0 is DefaultMaxBackoff.
	MaxBackoff time.Duration
}

// TCPTransport is a Transport over TCP: one outgoing connection per peer,
// fed from a bounded queue, reconnecting with backoff; and a server (Serve)
// that hands received messages to the handler (a Node's Step). Every frame
// is a big-endian uint32 length and that many bytes: first the dialer's
// handshake (magic "SLRAFT1", node id, cluster id) and the receiver's reply
// (accepted, or refused with a reason naming both nodes and cluster ids),
// then proto-marshalled raftpb.Messages.
type TCPTransport struct {
	cfg     TCPConfig
	logger  *slog.Logger
	handler atomic.Pointer[func(context.Context, *raftpb.Message) error]
	ctx     context.Context
	cancel  context.CancelFunc
	dropped atomic.Uint64
	wg      sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	peers     map[uint64]chan *raftpb.Message
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
}

// NewTCPTransport returns a transport; set its handler with SetHandler and
// serve peers with Serve.
func NewTCPTransport(cfg TCPConfig) *TCPTransport {
	if cfg.ClusterID == nil {
		cfg.ClusterID = func() string { return "" }
	}
	if cfg.Peers == nil {
		cfg.Peers = func(uint64) (string, bool) { return "", false }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &TCPTransport{
		cfg: cfg, logger: cfg.Logger.With("raft_node", cfg.NodeID), ctx: ctx, cancel: cancel,
		peers: map[uint64]chan *raftpb.Message{}, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{},
	}
}

// SetHandler sets what received messages are handed to (a Node's Step);
// until it is set they are dropped.
func (t *TCPTransport) SetHandler(h func(ctx context.Context, m *raftpb.Message) error) {
	t.handler.Store(&h)
}

// Dropped returns how many messages were dropped because a peer's queue
// was full.
func (t *TCPTransport) Dropped() uint64 { return t.dropped.Load() }

// Send queues each message for its peer, dropping it if the queue is full.
func (t *TCPTransport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		to := m.GetTo()
		if to == t.cfg.NodeID || to == 0 {
			continue
		}
		q := t.queue(to)
		if q == nil {
			return // closed
		}
		select {
		case q <- m:
		default:
			t.dropped.Add(1)
		}
	}
}

// queue returns the queue of peer id, starting its sender on first use.
func (t *TCPTransport) queue(id uint64) chan *raftpb.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	q, ok := t.peers[id]
	if !ok {
		q = make(chan *raftpb.Message, t.cfg.QueueSize)
		t.peers[id] = q
		t.wg.Add(1)
		go t.sender(id, q)
	}
	return q
}

// track registers a connection for Close; false if closed already.
func (t *TCPTransport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *TCPTransport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	_ = c.Close()
}

// sender connects to peer id and streams its queue, reconnecting with
// backoff until the transport closes.
func (t *TCPTransport) sender(id uint64, q chan *raftpb.Message) {
	defer t.wg.Done()
	backoff, failing := minBackoff, false
	for t.ctx.Err() == nil {
		c, err := t.dial(id)
		if err == nil {
			if failing {
				t.logger.Info("quorum: connected to peer", "peer", id)
			}
			backoff, failing = minBackoff, false
			err = t.stream(c, q)
			t.untrack(c)
		}
		if t.ctx.Err() != nil {
			return
		}
		if !failing {
			t.logger.Warn("quorum: peer connection failed", "peer", id, "err", err)
		} else {
			t.logger.Debug("quorum: peer connection failed", "peer", id, "err", err)
		}
		failing = true
		timer := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-t.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, t.cfg.MaxBackoff)
	}
}

// dial connects to peer id and does the handshake.
func (t *TCPTransport) dial(id uint64) (net.Conn, error) {
	addr, ok := t.cfg.Peers(id)
	if !ok {
		return nil, fmt.Errorf("quorum: no address known for node %d", id)
	}
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	c, err := d.DialContext(t.ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if !t.track(c) {
		_ = c.Close()
		return nil, ErrTransportClosed
	}
	if err := t.handshake(c, id, addr); err != nil {
		t.untrack(c)
		return nil, err
	}
	return c, nil
}

// handshake sends this node's hello and reads the peer's reply.
func (t *TCPTransport) handshake(c net.Conn, id uint64, addr string) error {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	hello := binary.BigEndian.AppendUint64(append([]byte(nil), tcpMagic...), t.cfg.NodeID)
	hello = appendString(hello, t.cfg.ClusterID())
	if err := writeFrame(c, hello); err != nil {
		return fmt.Errorf("quorum: handshake with node %d at %s: %w", id, addr, err)
	}
	b, err := readFrame(bufio.NewReader(c), maxHandshake)
	if err != nil {
		return fmt.Errorf("quorum: handshake with node %d at %s: %w", id, addr, err)
	}
	if len(b) < len(tcpMagic)+1+8 || string(b[:len(tcpMagic)]) != string(tcpMagic) {
		return fmt.Errorf("quorum: node %d at %s is not a sluice raft peer", id, addr)
	}
	status := b[len(tcpMagic)]
	theirID := binary.BigEndian.Uint64(b[len(tcpMagic)+1:])
	theirCluster, rest, err := cutString(b[len(tcpMagic)+9:])
	if err != nil {
		return fmt.Errorf("quorum: handshake with node %d at %s: %w", id, addr, err)
	}
	if status != replyOK {
		ours := t.cfg.ClusterID()
		if theirCluster != "" && ours != "" && theirCluster != ours && t.cfg.OnClusterMismatch != nil {
			t.cfg.OnClusterMismatch(id, theirCluster)
		}
		return fmt.Errorf("quorum: node %d at %s refused the connection: %s", id, addr, rest)
	}
	if theirID != id {
		return fmt.Errorf("quorum: dialed node %d at %s and node %d answered", id, addr, theirID)
	}
	return c.SetDeadline(time.Time{})
}

// stream writes queued messages to c until a write fails or the
// transport closes.
func (t *TCPTransport) stream(c net.Conn, q chan *raftpb.Message) error {
	w := bufio.NewWriterSize(c, 64<<10)
	for {
		var m *raftpb.Message
		select {
		case <-t.ctx.Done():
			return nil
		case m = <-q:
		}
		_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
		for m != nil {
			b, err := proto.Marshal(m)
			if err != nil || len(b) > t.cfg.MaxMessageBytes {
				t.logger.Error("quorum: dropping a message that cannot be sent", "type", m.GetType(), "to", m.GetTo(), "bytes", len(b), "err", err)
			} else if err := writeFrame(w, b); err != nil {
				return err
			}
			select {
			case m = <-q:
			default:
				m = nil
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// Serve accepts peers on l until the transport is closed (then it returns
// ErrTransportClosed) or l fails.
func (t *TCPTransport) Serve(l net.Listener) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = l.Close()
		return ErrTransportClosed
	}
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.listeners, l)
		t.mu.Unlock()
	}()
	backoff := time.Duration(0)
	for {
		c, err := l.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return ErrTransportClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("quorum: accept: %w", err)
			}
			// Out of descriptors, say: wait and try again, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.logger.Warn("quorum: accept failed; retrying", "err", err, "in", backoff)
			select {
			case <-t.ctx.Done():
				return ErrTransportClosed
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		t.mu.Lock()
		ok := !t.closed
		if ok {
			t.conns[c] = struct{}{}
			t.wg.Add(1)
		}
		t.mu.Unlock()
		if !ok {
			_ = c.Close()
			return ErrTransportClosed
		}
		go t.serveConn(c)
	}
}

// serveConn checks a peer's handshake, then hands its messages to the
// handler in order.
func (t *TCPTransport) serveConn(c net.Conn) {
	defer t.wg.Done()
	defer t.untrack(c)
	r := bufio.NewReaderSize(c, 64<<10)
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	b, err := readFrame(r, maxHandshake)
	if err != nil {
		t.logger.Debug("quorum: bad handshake", "remote", c.RemoteAddr(), "err", err)
		return
	}
	if len(b) < len(tcpMagic)+8 || string(b[:len(tcpMagic)]) != string(tcpMagic) {
		t.logger.Warn("quorum: a connection that is not from a sluice raft peer", "remote", c.RemoteAddr())
		return
	}
	peer := binary.BigEndian.Uint64(b[len(tcpMagic):])
	theirs, _, err := cutString(b[len(tcpMagic)+8:])
	ours := t.cfg.ClusterID()
	var refusal string
	switch {
	case err != nil:
		refusal = fmt.Sprintf("bad handshake: %v", err)
	case peer == 0:
		refusal = "node id 0"
	case theirs != "" && ours != "" && theirs != ours:
		refusal = fmt.Sprintf("node %d is in cluster %q, node %d is in cluster %q", t.cfg.NodeID, ours, peer, theirs)
	}
	reply := append(append([]byte(nil), tcpMagic...), replyOK)
	if refusal != "" {
		reply[len(tcpMagic)] = replyRefused
		t.logger.Warn("quorum: refusing a raft peer", "peer", peer, "remote", c.RemoteAddr(), "reason", refusal)
	}
	reply = binary.BigEndian.AppendUint64(reply, t.cfg.NodeID)
	reply = append(appendString(reply, ours), refusal...)
	if err := writeFrame(c, reply); err != nil || refusal != "" {
		return
	}
	_ = c.SetDeadline(time.Time{})
	for {
		b, err := readFrame(r, t.cfg.MaxMessageBytes)
		if err != nil {
			if t.ctx.Err() == nil && !errors.Is(err, io.EOF) {
				t.logger.Debug("quorum: peer connection ended", "peer", peer, "err", err)
			}
			return
		}
		m := &raftpb.Message{}
		if err := proto.Unmarshal(b, m); err != nil {
			t.logger.Warn("quorum: undecodable message; closing the connection", "peer", peer, "err", err)
			return
		}
		if m.GetFrom() != peer {
			t.logger.Warn("quorum: message from another node than the connection's; closing it", "peer", peer, "from", m.GetFrom())
			return
		}
		if h := t.handler.Load(); h != nil {
			if err := (*h)(t.ctx, m); err != nil {
				t.logger.Debug("quorum: message refused", "peer", peer, "type", m.GetType(), "err", err)
			}
		}
	}
}

// Close stops every connection, sender and Serve, and waits for them.
func (t *TCPTransport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.cancel()
	for l := range t.listeners {
		_ = l.Close()
	}
	for c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

func writeFrame(w io.Writer, b []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r *bufio.Reader, maxLen int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || int64(n) > int64(maxLen) {
		return nil, fmt.Errorf("frame of %d bytes is not in 1..%d", n, maxLen)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// appendString appends s with a uint16 length.
func appendString(b []byte, s string) []byte {
	s = s[:min(len(s), 1<<16-1)]
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func cutString(b []byte) (s string, rest []byte, err error) {
	if len(b) < 2 || len(b)-2 < int(binary.BigEndian.Uint16(b)) {
		return "", nil, errors.New("truncated string")
	}
	n := int(binary.BigEndian.Uint16(b))
	return string(b[2 : 2+n]), b[2+n:], nil
}
