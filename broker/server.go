// Package broker is Sluice's Kafka-protocol server: the listener, the
// per-connection request loop, dispatch to one handler per Kafka API (each
// in a file named by its API key, opening with the versions it serves), and
// the glue between partition logs (broker/log), the metadata image
// (broker/meta) and the group coordinator (broker/group). Replication is
// not here yet: each topic lives on this one node.
//
// Requests and responses are encoded with franz-go's kmsg, generated from
// Kafka's own message specs; record batches stay bytes from produce to fetch.
//
// No client can stop the broker or exhaust it through connections and
// request memory: accept errors (EMFILE, ...) are retried with backoff,
// never fatal; connections are bounded by Kafka's max.connections,
// max.connections.per.ip(.overrides) and a descriptor budget that keeps
// RLIMIT_NOFILE's reserve for the logs (limits.go); idle connections close
// after connections.max.idle.ms; request bytes held across connections are
// bounded by queued.max.request.bytes, allocated as they arrive, and a
// request must arrive within socket.request.read.timeout.ms (reqmem.go).
// A listener on all interfaces advertises the machine's hostname.
//
// Answers are bounded by construction: a resource a request names more
// than once is answered once (duplicates.go), so an answer is at most a
// small multiple of its request plus what the resources that exist hold.
//
// A full or failing disk does not stop the broker: a store that fails a
// write turns read-only (reads go on, writes get KAFKA_STORAGE_ERROR), is
// reported on /healthz and /metrics, and resumes by itself once a probe
// write succeeds (storage.go).
//
// Partitions are bounded by max.broker.partitions (KIP-578's name): a
// CreateTopics, CreatePartitions or auto-creation that would go above it
// gets POLICY_VIOLATION naming the key, while a data dir that holds more
// (the limit lowered) still starts. Their files are opened on demand
// through one log.FileCache of log.open.files.max files (by default
// connections.fd.reserve less 64, log.SplitDescriptors), so no number of
// partitions runs the broker out of descriptors.
package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/broker/meta"
)

// Options carries what a server is given rather than configured with.
type Options struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer // nil: a private registry
	Gatherer prometheus.Gatherer   // served at /metrics; default: the private registry
	Now      func() time.Time
	// Hostname names this machine, for the advertised address of a
	// listener on all interfaces; default os.Hostname.
	Hostname func() (string, error)
	// ControllerListener, if set, is the bound controller listener of a
	// clustered server (instead of binding the one listeners names), so
	// tests can pick free ports before naming the quorum's voters.
	ControllerListener net.Listener
	// FS is the file system the data dir is on: every file the broker
	// keeps there (the lock, cluster.id, producer-ids, the metadata
	// journal, partition folders and their logs) goes through it, so that
	// crash tests can run a whole broker on errorfs. Default vfs.Default.
	FS vfs.FS
}

// Server is a single-node Kafka-protocol broker.
type Server struct {
	cfg      Config
	settings *meta.BrokerConfig
	fs       vfs.FS
	opts     Options
	logger   *slog.Logger
	now      func() time.Time
	metrics  *metrics
	prober   *storageProber
	gatherer prometheus.Gatherer
	meta     *meta.Store
	pids     *producerIDs
	// files is the open-file cache every partition log shares.
	files *log.FileCache
	// clusterID is generated once and kept in the data dir, as Kafka keeps
	// it in meta.properties; in a cluster it comes from the metadata
	// quorum (cluster.go). Read it with currentClusterID.
	clusterID atomic.Pointer[string]
	// cluster is the metadata quorum of a clustered server (process.roles
	// set); nil for a single node.
	cluster  *clusterState
	lockFile io.Closer
	// adoptable is each topic's partition count when the broker started:
	// their folders may predate partition.metadata (partdir.go).
	adoptable map[meta.TopicID]int32
	// limits admits connections; reqMem and buffers bound request memory.
	limits  *connLimits
	reqMem  *requestMemory
	buffers bufferPool
	// advHost and advPort are what clients are told to connect to.
	advHost string
	advPort int32

	mu struct {
		sync.RWMutex
		parts map[meta.TopicID][]*partition // by topic ID
	}
	// openMu serialises opening partition logs (openTopic): New, the
	// metadata applier and the storage prober.
	openMu sync.Mutex
	// openFailed holds the topics whose logs could not all be opened
	// (storage.go); the storage prober retries them.
	openFailed struct {
		sync.Mutex
		m map[meta.TopicID]*openFailure
	}

	ln       net.Listener
	httpSrv  *http.Server
	httpMux  *http.ServeMux // for HandleHTTP
	httpLn   net.Listener
	stopping chan struct{}
	inflight struct {
		sync.Mutex
		n       int
		closed  bool
		drained chan struct{}
	}
	conns sync.WaitGroup
	// fetchers are the follower fetchers of a clustered server.
	fetchers fetchers
	// groupState is the group coordinator, started on first use (groups.go).
	groupState groupState
}

// New opens the data directory (recovering every partition log) and binds
// the listeners; Serve starts answering.
func New(cfg Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	cfg, settings, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		settings: settings,
		fs:       opts.FS,
		opts:     opts,
		logger:   opts.Logger,
		now:      opts.Now,
		stopping: make(chan struct{}),
	}
	s.groupState.loaded = make(chan struct{})
	s.fetchers.s = s
	s.mu.parts = make(map[meta.TopicID][]*partition)
	s.openFailed.m = make(map[meta.TopicID]*openFailure)
	s.files = log.NewFileCache(s.openFilesMax())
	reg := opts.Registry
	s.gatherer = opts.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, s.gatherer = r, r
	}
	if s.gatherer == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			s.gatherer = g
		}
	}
	s.reqMem = newRequestMemory(settings.QueuedMaxRequestBytes, func() { s.metrics.memoryWaits.Inc() })
	if s.limits, err = newConnLimits(settings, s.logger); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(reg, s)
	s.prober = newStorageProber(s, reg)
	if err := s.open(); err != nil {
		s.closeStorage()
		return nil, err
	}
	if err := s.listen(); err != nil {
		s.closeStorage()
		return nil, err
	}
	if err := s.resolveAdvertised(opts.Hostname); err != nil {
		s.closeListeners()
		s.closeStorage()
		return nil, err
	}
	return s, nil
}

func (s *Server) open() error {
	if err := vfs.MkdirAllDurable(s.fs, s.cfg.DataDir); err != nil {
		return fmt.Errorf("data dir %s: %w", s.cfg.DataDir, err)
	}
	lf, err := lockDataDir(s.fs, s.cfg.DataDir)
	if err != nil {
		return err
	}
	s.lockFile = lf
	if s.pids, err = openProducerIDs(s.fs, filepath.Join(s.cfg.DataDir, "producer-ids"), s.logger, s.now); err != nil {
		return err
	}
	cc, err := s.settings.Cluster()
	if err != nil {
		return err
	}
	if cc.Clustered() {
		if b, err := vfs.ReadFile(s.fs, filepath.Join(s.cfg.DataDir, "cluster.id")); err == nil {
			s.setClusterID(strings.TrimSpace(string(b)))
		}
		s.adoptable = map[meta.TopicID]int32{}
		// Logs open as the quorum replays the metadata (onMetadata);
		// stray folders are not moved aside, since the image is not
		// complete until the replay is.
		return s.openCluster(cc)
	}
	id, err := loadClusterID(s.fs, filepath.Join(s.cfg.DataDir, "cluster.id"))
	if err != nil {
		return err
	}
	s.setClusterID(id)
	s.meta, err = meta.Open(filepath.Join(s.cfg.DataDir, "meta"), meta.Options{Logger: s.logger, Now: s.now,
		MaxPartitions: int64(s.settings.MaxBrokerPartitions), FS: s.fs})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	img := s.meta.Image()
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.adoptable = adoptablePartitions(img)
	for _, t := range img.Topics() {
		err := s.openTopic(img, t)
		if err != nil && !spaceProblem(err) {
			return err
		}
		// A full disk (recovery rewrites indexes) does not stop the
		// start: the storage prober opens the topic once it can.
		s.noteOpen(t, err)
	}
	if err := s.moveStrayDirs(img); err != nil {
		return err
	}
	s.meta.Subscribe(s.onMetadata)
	return nil
}

// currentClusterID is the cluster id, "" while a new cluster's quorum has
// not chosen one.
func (s *Server) currentClusterID() string {
	if p := s.clusterID.Load(); p != nil {
		return *p
	}
	return ""
}

func (s *Server) setClusterID(id string) { s.clusterID.Store(&id) }

// openFilesMax is the capacity of the log file cache: log.open.files.max,
// or by default the log files' share of connections.fd.reserve
// (log.SplitDescriptors), which a larger value is lowered to.
func (s *Server) openFilesMax() int {
	b := log.SplitDescriptors(log.DescriptorLimit(), int(s.settings.ConnectionsFDReserve))
	n := int(s.settings.LogOpenFilesMax)
	switch {
	case n == 0:
		n = b.LogFiles
	case n > b.LogFiles:
		s.logger.Warn("log.open.files.max is above the log files' share of connections.fd.reserve; using that share (raise connections.fd.reserve for more)",
			"log.open.files.max", n, "descriptor_limit", b.Limit, "connections.fd.reserve", b.Reserve, "using", b.LogFiles)
		n = b.LogFiles
	}
	s.logger.Info("log file cache", "descriptor_limit", b.Limit, "reserve", b.Reserve, "log_files", n)
	return n
}

func (s *Server) listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	if s.cfg.HTTP != "" {
		hl, err := net.Listen("tcp", s.cfg.HTTP)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen --http %s: %w", s.cfg.HTTP, err)
		}
		s.httpLn = budgetListener{Listener: hl, s: s}
		s.httpSrv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	}
	return nil
}

// Addr is the Kafka listener's bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HTTPAddr is the metrics listener's bound address, or "" if disabled.
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

func (s *Server) closeListeners() {
	s.ln.Close()
	if s.httpLn != nil {
		s.httpLn.Close()
	}
}

// advertised is the host and port clients are told to connect to.
func (s *Server) advertised() (string, int32) { return s.advHost, s.advPort }

// resolveAdvertised sets what clients are told to connect to: the
// advertised listener if given, else the bound address; for a listener on
// all interfaces (0.0.0.0, ::), which clients cannot connect to, this
// machine's hostname if it resolves, else an error asking for
// --advertised-listener.
func (s *Server) resolveAdvertised(hostname func() (string, error)) error {
	addr := s.cfg.AdvertisedListener
	if addr == "" {
		addr = s.Addr()
	}
	host, port, err := net.SplitHostPort(addr)
	p, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil {
		return fmt.Errorf("advertised listener %q is not host:port", addr)
	}
	s.advHost, s.advPort = host, int32(p)
	if s.cfg.AdvertisedListener != "" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		return nil
	}
	if hostname == nil {
		hostname = os.Hostname
	}
	name, err := hostname()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = net.DefaultResolver.LookupHost(ctx, name)
		cancel()
	}
	if err != nil {
		return fmt.Errorf("--listen %s is on all interfaces and this machine's hostname cannot be advertised to clients (%v): set --advertised-listener host:port to an address clients can reach", s.cfg.Listen, err)
	}
	s.advHost = name
	return nil
}

// Serve answers requests until ctx is cancelled, then stops accepting,
// finishes in-flight requests, flushes every log and closes cleanly.
func (s *Server) Serve(ctx context.Context) error {
	if s.httpSrv != nil {
		go s.httpSrv.Serve(s.httpLn)
	}
	maintCtx, stopMaint := context.WithCancel(context.Background())
	maintDone := make(chan struct{})
	go func() { defer close(maintDone); s.maintainAndClean(maintCtx) }()
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); s.runStorageProber(maintCtx) }()
	clusterDone := make(chan struct{})
	var refused <-chan error
	if s.cluster != nil {
		refused = s.cluster.refused
		s.fetchers.start(maintCtx)
		go func() { defer close(clusterDone); s.cluster.run(maintCtx); s.fetchers.wait() }()
	} else {
		close(clusterDone)
	}

	connCtx, cancelConns := context.WithCancel(context.Background())
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		s.acceptLoop(func(nc net.Conn) {
			s.conns.Add(1)
			go func() {
				defer s.conns.Done()
				s.serveConn(connCtx, nc)
				s.limits.release(nc)
			}()
		})
	}()
	host, port := s.advertised()
	s.logger.Info("sluice broker ready", "listen", s.Addr(), "advertised", net.JoinHostPort(host, fmt.Sprint(port)),
		"http", s.HTTPAddr(), "node_id", s.cfg.NodeID, "data_dir", s.cfg.DataDir)

	// Accept errors never end Serve (acceptLoop retries them); only ctx
	// does, or a cluster this node's data does not belong to.
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-refused:
	}
	if s.cluster != nil {
		s.cluster.shutdown(s.cfg.ShutdownTimeout)
	}
	// Stop accepting, let in-flight requests finish, then close connections.
	s.ln.Close()
	close(s.stopping)
	<-acceptDone
	s.drain(s.cfg.ShutdownTimeout)
	cancelConns()
	s.limits.closeAll()
	s.conns.Wait()
	stopMaint()
	<-maintDone
	<-probeDone
	<-clusterDone
	if s.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.httpSrv.Shutdown(sctx)
		cancel()
	}
	clustered := s.cluster != nil
	err := errors.Join(runErr, s.closeStorage())
	if err == nil && clustered {
		if werr := vfs.WriteFileAtomic(s.fs, filepath.Join(s.cfg.DataDir, cleanShutdownFile), nil, true); werr != nil {
			s.logger.Warn("could not mark the clean shutdown; the next start counts as unclean", "err", werr)
		}
	}
	s.logger.Info("sluice broker stopped")
	return err
}

// beginRequest admits a request unless the server is shutting down.
func (s *Server) beginRequest() bool {
	s.inflight.Lock()
	defer s.inflight.Unlock()
	if s.inflight.closed {
		return false
	}
	s.inflight.n++
	return true
}

func (s *Server) endRequest() {
	s.inflight.Lock()
	s.inflight.n--
	if s.inflight.closed && s.inflight.n == 0 && s.inflight.drained != nil {
		close(s.inflight.drained)
		s.inflight.drained = nil
	}
	s.inflight.Unlock()
}

// drain refuses new requests and waits up to timeout for in-flight ones.
func (s *Server) drain(timeout time.Duration) {
	s.inflight.Lock()
	s.inflight.closed = true
	if s.inflight.n == 0 {
		s.inflight.Unlock()
		return
	}
	done := make(chan struct{})
	s.inflight.drained = done
	s.inflight.Unlock()
	select {
	case <-done:
	case <-time.After(timeout):
		s.logger.Warn("shutdown: in-flight requests did not finish in time", "timeout", timeout)
	}
}

// closeStorage flushes and closes every log and the metadata store.
func (s *Server) closeStorage() error {
	var errs []error
	// The quorum first: it applies metadata, which opens and closes logs.
	if s.cluster != nil {
		if err := s.cluster.close(); err != nil {
			errs = append(errs, err)
		}
		s.cluster = nil
	}
	s.mu.Lock()
	for _, ps := range s.mu.parts {
		for _, p := range ps {
			if p == nil {
				continue
			}
			if err := p.log.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s-%d: %w", p.topic, p.index, err))
			}
		}
	}
	s.mu.parts = map[meta.TopicID][]*partition{}
	s.mu.Unlock()
	if s.meta != nil {
		if err := s.meta.Close(); err != nil {
			errs = append(errs, err)
		}
		s.meta = nil
	}
	if s.lockFile != nil {
		s.lockFile.Close()
		s.lockFile = nil
	}
	return errors.Join(errs...)
}

// maintain runs time-based rolling, retention and flush.ms on every log.
func (s *Server) maintain(ctx context.Context) {
	interval := time.Duration(s.settings.LogRetentionCheckIntervalMs) * time.Millisecond
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	every(ctx, interval, func() {
		now := s.now()
		for _, p := range s.allPartitions() {
			if _, err := p.log.Failure(); err != nil {
				continue // read-only: the storage prober brings it back
			}
			if err := p.log.Maintain(now); err != nil {
				if _, ferr := p.log.Failure(); ferr == nil { // else the log said it went read-only
					s.logger.Error("log maintenance failed", "topic", p.topic, "partition", p.index, "err", err)
				}
			}
		}
	})
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

func (s *Server) allPartitions() []*partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*partition
	for _, ps := range s.mu.parts {
		for _, p := range ps {
			if p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// PartitionDir is the folder of one partition's log (for tests and tools
// that look at the data dir).
func (s *Server) PartitionDir(topic string, index int32) string { return s.partitionDir(topic, index) }

// partitionDir is where one partition's log lives: Kafka's <topic>-<n>.
func (s *Server) partitionDir(topic string, index int32) string {
	return filepath.Join(s.cfg.DataDir, "topics", fmt.Sprintf("%s-%d", topic, index))
}

// Logger returns the server's logger, for components wired in by the caller.
func (s *Server) Logger() *slog.Logger { return s.logger }
