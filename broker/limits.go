package broker

// Connection admission: what stops clients from taking the broker down with
// connections.
//
//   - max.connections: at the limit the acceptor waits for a connection to
//     close before it accepts again (Kafka's ConnectionQuotas does the same);
//     new connections queue in the kernel's listen backlog and hold no
//     descriptor of ours.
//   - max.connections.per.ip and max.connections.per.ip.overrides: a
//     connection past its address's limit is closed right after accept, as
//     Kafka does. Override hostnames are resolved once, at start; every
//     address a name resolves to gets its count.
//   - The descriptor budget: Kafka connections may hold at most
//     RLIMIT_NOFILE - connections.fd.reserve descriptors. The reserve (by
//     default a quarter of the limit, at least 128 and at most half) is what
//     logs, indexes, checkpoints, the metadata journal, the listeners and up
//     to maxHTTPConns --http connections need; the partition logs keep at
//     most log.open.files.max files open, by default the reserve less 64
//     (log.SplitDescriptors), so the reserve covers them. A
//     connection past the budget is accepted and closed at once, which the
//     client sees as a closed connection (Kafka's clients retry with
//     backoff). --http connections past maxHTTPConns are closed the same
//     way, so /metrics stays reachable while Kafka clients flood the broker.
//   - Accept errors never stop the server: temporary ones (EMFILE, ENFILE,
//     ECONNABORTED, ...) and any other are retried with a backoff of 5 ms
//     doubling to 1 s, as net/http does, logged once when they start and once
//     when accepting works again.
//
// Every rejection is counted on /metrics by reason; rejections are logged at
// most once per logEvery per reason, with the count since the last line.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/meta"
)

// Reasons a connection is refused, as the reason label of
// sluice_connections_rejected_total.
const (
	rejectPerIP    = "max_connections_per_ip"
	rejectFDBudget = "fd_budget"
	rejectHTTP     = "http_connections"
)

// maxHTTPConns bounds the --http listener's open connections.
const maxHTTPConns = 32

// logEvery is how often a repeated rejection or closing reason is logged.
const logEvery = 10 * time.Second

// connLimits admits connections and tracks the open ones.
type connLimits struct {
	maxConns  int            // max.connections
	perIP     int            // max.connections.per.ip
	overrides map[string]int // by normalised IP
	budget    int            // descriptors Kafka connections may hold
	logger    *slog.Logger

	mu struct {
		sync.Mutex
		open  map[net.Conn]struct{} // Kafka connections, closed at shutdown
		byIP  map[string]int
		http  int           // open --http connections
		freed chan struct{} // closed (and replaced) when a Kafka connection closes
	}
	rejectLog map[string]*rateLog
}

// fdReserve is the descriptors kept back from connections for a limit of
// nofile: reserve if set, else a quarter of the limit, at least 128 and at
// most half. It is log.SplitDescriptors' reserve, the same split that sizes
// the log file cache (log.open.files.max) from it.
func fdReserve(nofile uint64, reserve int32) uint64 {
	return uint64(log.SplitDescriptors(int(min(nofile, 1<<30)), int(reserve)).Reserve)
}

// connectionBudget is how many descriptors Kafka connections may hold: the
// process's RLIMIT_NOFILE (soft limit) less the reserve.
func connectionBudget(reserve int32) (budget int, nofile uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	nofile = rl.Cur
	r := fdReserve(nofile, reserve)
	if nofile <= r {
		return 0, nofile, fmt.Errorf("RLIMIT_NOFILE is %d and connections.fd.reserve keeps %d of them back: no descriptors are left for connections; raise the limit (ulimit -n) or lower connections.fd.reserve", nofile, r)
	}
	if nofile-r > math.MaxInt32 {
		return math.MaxInt32, nofile, nil
	}
	return int(nofile - r), nofile, nil
}

func newConnLimits(settings *meta.BrokerConfig, logger *slog.Logger) (*connLimits, error) {
	l := &connLimits{
		maxConns: int(settings.MaxConnections),
		perIP:    int(settings.MaxConnectionsPerIP),
		logger:   logger,
		rejectLog: map[string]*rateLog{
			rejectPerIP: {}, rejectFDBudget: {}, rejectHTTP: {},
		},
	}
	budget, nofile, err := connectionBudget(settings.ConnectionsFDReserve)
	if err != nil {
		return nil, err
	}
	l.budget = budget
	logger.Info("connection limits", "rlimit_nofile", nofile, "fd_budget", budget,
		"max_connections", l.maxConns, "max_connections_per_ip", l.perIP)
	if l.overrides, err = resolveOverrides(settings.MaxConnectionsPerIPOverrides); err != nil {
		return nil, err
	}
	l.mu.open = map[net.Conn]struct{}{}
	l.mu.byIP = map[string]int{}
	l.mu.freed = make(chan struct{})
	return l, nil
}

// resolveOverrides parses max.connections.per.ip.overrides and resolves its
// hostnames, once.
func resolveOverrides(s string) (map[string]int, error) {
	hosts, err := meta.ParseConnectionOverrides(s)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for host, n := range hosts {
		if ip := net.ParseIP(host); ip != nil {
			out[ipKey(ip)] = int(n)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: host %q: %w", host, err)
		}
		for _, a := range addrs {
			out[ipKey(a.IP)] = int(n)
		}
	}
	return out, nil
}

// ipKey is the per-IP counting key: IPv4 (and IPv4-mapped IPv6) in dotted
// form, IPv6 in its canonical form.
func ipKey(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

func remoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ipKey(a.IP)
	}
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	return host
}

// waitForSlot blocks while max.connections connections are open. It
// returns how long it waited and false if stop closed first.
func (l *connLimits) waitForSlot(stop <-chan struct{}) (time.Duration, bool) {
	var start time.Time
	for {
		l.mu.Lock()
		if len(l.mu.open) < l.maxConns {
			l.mu.Unlock()
			if start.IsZero() {
				return 0, true
			}
			return time.Since(start), true
		}
		freed := l.mu.freed
		l.mu.Unlock()
		if start.IsZero() {
			start = time.Now()
		}
		select {
		case <-freed:
		case <-stop:
			return time.Since(start), false
		}
	}
}

// admit registers a newly accepted Kafka connection, or returns why it is
// refused.
func (l *connLimits) admit(nc net.Conn) (reason string) {
	ip := remoteIP(nc)
	l.mu.Lock()
	defer l.mu.Unlock()
	limit, ok := l.overrides[ip]
	if !ok {
		limit = l.perIP
	}
	switch {
	case l.mu.byIP[ip] >= limit:
		return rejectPerIP
	case len(l.mu.open) >= l.budget:
		return rejectFDBudget
	}
	l.mu.open[nc] = struct{}{}
	l.mu.byIP[ip]++
	return ""
}

// release forgets a closed Kafka connection and wakes a waiting acceptor.
func (l *connLimits) release(nc net.Conn) {
	ip := remoteIP(nc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.mu.open[nc]; !ok {
		return
	}
	delete(l.mu.open, nc)
	if l.mu.byIP[ip]--; l.mu.byIP[ip] <= 0 {
		delete(l.mu.byIP, ip)
	}
	close(l.mu.freed)
	l.mu.freed = make(chan struct{})
}

// closeAll closes every open Kafka connection (at shutdown).
func (l *connLimits) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for nc := range l.mu.open {
		nc.Close()
	}
}

// openConns is the number of open Kafka connections.
func (l *connLimits) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.open)
}

// takeHTTP counts an --http connection; false if maxHTTPConns are open.
func (l *connLimits) takeHTTP() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.http >= maxHTTPConns {
		return false
	}
	l.mu.http++
	return true
}

func (l *connLimits) giveHTTP() {
	l.mu.Lock()
	l.mu.http--
	l.mu.Unlock()
}

// logRejected logs a refused connection, at most once per logEvery per
// reason.
func (l *connLimits) logRejected(reason string, nc net.Conn) {
	n, ok := l.rejectLog[reason].tick(time.Now())
	if !ok {
		return
	}
	l.mu.Lock()
	open, http := len(l.mu.open), l.mu.http
	l.mu.Unlock()
	l.logger.Warn("refusing connections", "reason", reason, "remote", nc.RemoteAddr().String(),
		"refused_since_last_line", n, "open_connections", open, "open_http_connections", http, "fd_budget", l.budget)
}

// rateLog lets one log line through per logEvery and counts the rest.
type rateLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// tick records an event; ok says to log it, n is how many events the line
// stands for.
func (r *rateLog) tick(now time.Time) (n int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.suppressed++
	if !r.last.IsZero() && now.Sub(r.last) < logEvery {
		return 0, false
	}
	n, r.suppressed, r.last = r.suppressed, 0, now
	return n, true
}

// acceptBackoff is net/http's retry delay for failing accepts: 5 ms,
// doubling, at most 1 s.
func acceptBackoff(prev time.Duration) time.Duration {
	if prev == 0 {
		return 5 * time.Millisecond
	}
	return min(2*prev, time.Second)
}

// acceptLoop accepts Kafka connections until the listener is closed,
// starting serve for each admitted one. It returns only when the listener
// is closed.
func (s *Server) acceptLoop(serve func(net.Conn)) {
	var delay time.Duration
	failures := 0
	for {
		waited, ok := s.limits.waitForSlot(s.stopping)
		s.metrics.acceptBlocked.Add(waited.Seconds())
		if !ok {
			return
		}
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.metrics.acceptErrors.Inc()
			if failures == 0 {
				s.logger.Warn("accept failing; retrying with backoff up to 1s", "err", err,
					"open_connections", s.limits.openConns())
			}
			failures++
			delay = acceptBackoff(delay)
			select {
			case <-time.After(delay):
			case <-s.stopping:
				return
			}
			continue
		}
		if failures > 0 {
			s.logger.Info("accepting connections again", "failed_accepts", failures)
			failures, delay = 0, 0
		}
		if reason := s.limits.admit(nc); reason != "" {
			nc.Close()
			s.metrics.connsRejected.WithLabelValues(reason).Inc()
			s.limits.logRejected(reason, nc)
			continue
		}
		s.metrics.connsAccepted.Inc()
		serve(nc)
	}
}

// budgetListener closes --http connections past maxHTTPConns right after
// accept.
type budgetListener struct {
	net.Listener
	s *Server
}

func (b budgetListener) Accept() (net.Conn, error) {
	for {
		nc, err := b.Listener.Accept()
		if err != nil {
			return nil, err // net/http retries temporary errors with backoff
		}
		if b.s.limits.takeHTTP() {
			return &budgetConn{Conn: nc, l: b.s.limits}, nil
		}
		nc.Close()
		b.s.metrics.connsRejected.WithLabelValues(rejectHTTP).Inc()
		b.s.limits.logRejected(rejectHTTP, nc)
	}
}

type budgetConn struct {
	net.Conn
	l    *connLimits
	once sync.Once
}

func (c *budgetConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.giveHTTP)
	return err
}
