package broker

// A clustered server (process.roles set): the metadata log is a Raft log
// (broker/quorum) that every node holds, voters and learners alike; the
// quorum's messages travel on the controller listener. Each broker
// registers itself through the log when it starts, and the quorum's
// leader is the active controller: it runs Reconcile (broker/controller)
// every controllerInterval and proposes what it decides, so leadership
// moves as soon as the metadata says a broker is gone.
//
// A broker's liveness is what the active controller hears from its Raft
// node (the last response to the leader's heartbeats and appends): the
// two run in one process, so a broker that stops, pauses or is cut off
// stops answering both.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/broker/controller"
	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/broker/meta"
	"github.com/sluicehq/sluice/broker/quorum"
)

// metadataDirName is the metadata log's folder in the data dir, Kafka's.
const metadataDirName = "__cluster_metadata-0"

// cleanShutdownFile marks a data dir whose broker stopped cleanly (every
// log flushed and closed); a broker registers without it as back from an
// unclean shutdown, which KIP-966 keeps out of the eligible replicas.
const cleanShutdownFile = "clean-shutdown"

// controllerInterval is how often the active controller reconciles.
const controllerInterval = 100 * time.Millisecond

// clusterState is a clustered server's quorum side.
type clusterState struct {
	s           *Server
	cfg         meta.ClusterConfig
	node        *quorum.Node
	transport   *quorum.TCPTransport
	ln          net.Listener // the controller listener
	incarnation string
	// cleanStart says the last run ended with a clean shutdown (its
	// marker was in the data dir).
	cleanStart bool
	// refused is set when a peer's data belongs to another cluster.
	refused chan error
	once    sync.Once

	// seen is, on the active controller, the metadata offset at which it
	// first saw each broker's current registration: the broker is caught
	// up once its log reaches it.
	seen map[int32]registrationSeen
}

type registrationSeen struct {
	epoch  int64
	offset int64
}

// lateProposer lets the store be built before the Raft node it proposes
// through (the node needs the store as its state machine).
type lateProposer struct{ c *clusterState }

func (p lateProposer) Propose(ctx context.Context, data []byte) error {
	return p.c.node.Propose(ctx, data)
}

// openCluster opens the metadata quorum of a clustered server: the store
// replicated through a Raft node in the data dir, and the controller
// listener its transport serves.
func (s *Server) openCluster(cc meta.ClusterConfig) error {
	c := &clusterState{s: s, cfg: cc, refused: make(chan error, 1), seen: map[int32]registrationSeen{}}
	c.incarnation = randomID()
	marker := filepath.Join(s.cfg.DataDir, cleanShutdownFile)
	if _, err := s.fs.Stat(marker); err == nil {
		c.cleanStart = true
		// Gone while this run lasts: a crash from here on is unclean.
		if err := s.fs.Remove(marker); err != nil {
			return fmt.Errorf("remove the clean-shutdown marker: %w", err)
		}
		if err := s.fs.SyncDir(s.cfg.DataDir); err != nil {
			return fmt.Errorf("remove the clean-shutdown marker: %w", err)
		}
	}
	s.cluster = c
	s.pids.block = c.producerIDBlock
	s.meta = meta.OpenReplicated(lateProposer{c}, meta.Options{Logger: s.logger, Now: s.now, MaxPartitions: int64(s.settings.MaxBrokerPartitions)})
	s.meta.Subscribe(s.onMetadata)
	s.meta.Subscribe(c.onClusterID)
	s.meta.Subscribe(func(old, img *meta.Image) { go s.restartGroupsOnLeadership(old, img) })

	voters := map[uint64]string{}
	var ids []uint64
	for _, v := range cc.Voters {
		voters[raftID(v.ID)] = v.Addr
		ids = append(ids, raftID(v.ID))
	}
	c.transport = quorum.NewTCPTransport(quorum.TCPConfig{
		NodeID:    raftID(cc.NodeID),
		ClusterID: func() string { return s.currentClusterID() },
		Peers: func(id uint64) (string, bool) {
			a, ok := voters[id]
			return a, ok
		},
		Logger: s.logger,
		// A peer of another cluster is refused by the transport and
		// logged here; it is that node, not this one, that must stop (it
		// finds its own data foreign: checkVoters, onClusterID).
		OnClusterMismatch: func(peer uint64, theirs string) {
			s.logger.Error("a configured voter belongs to another cluster: its messages are refused (its data dir is another cluster's)",
				"voter", nodeID(peer), "its_cluster", theirs, "this_cluster", s.currentClusterID())
		},
	})
	ln := s.opts.ControllerListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cc.ControllerListener.Addr()); err != nil {
			return fmt.Errorf("listen on the controller listener %s (%s): %w", cc.ControllerListener.Name, cc.ControllerListener.Addr(), err)
		}
	}
	c.ln = ln
	tick := time.Duration(s.settings.ControllerQuorumElectionTimeout) * time.Millisecond / 10
	node, err := quorum.Start(quorum.Config{
		NodeID:       raftID(cc.NodeID),
		Dir:          filepath.Join(s.cfg.DataDir, metadataDirName),
		FS:           s.fs,
		Voters:       ids,
		TickInterval: tick,
		Transport:    c.transport,
		StateMachine: s.meta.Replica(),
		Logger:       s.logger.With("component", "quorum"),
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("metadata quorum: %w", err)
	}
	c.node = node
	c.transport.SetHandler(node.Step)
	go func() { _ = c.transport.Serve(ln) }()
	return nil
}

// refuse records why this node must not run (once) for Serve to report.
func (c *clusterState) refuse(err error) {
	c.once.Do(func() {
		c.s.logger.Error("refusing to join the cluster", "err", err)
		c.refused <- err
	})
}

// onClusterID keeps the cluster id in the data dir once the quorum has
// one, and refuses to go on if the data dir belonged to another.
func (c *clusterState) onClusterID(old, img *meta.Image) {
	id := img.ClusterID()
	if id == "" || id == old.ClusterID() {
		return
	}
	path := filepath.Join(c.s.cfg.DataDir, "cluster.id")
	have, err := vfs.ReadFile(c.s.fs, path)
	switch {
	case err == nil && strings.TrimSpace(string(have)) != id:
		c.refuse(fmt.Errorf("data dir %s belongs to cluster %s, but the metadata quorum is cluster %s; refusing to join", c.s.cfg.DataDir, strings.TrimSpace(string(have)), id))
		return
	case err == nil:
	default:
		if err := writeFileSync(c.s.fs, path, []byte(id+"\n")); err != nil {
			c.s.logger.Error("cannot record the cluster id in the data dir", "err", err)
		}
	}
	c.s.setClusterID(id)
}

// run registers this broker and, while this node leads the quorum, runs
// the controller, until ctx ends.
func (c *clusterState) run(ctx context.Context) {
	t := time.NewTicker(controllerInterval)
	defer t.Stop()
	registered := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := c.node.Status()
		if err := c.checkVoters(st); err != nil {
			c.refuse(err)
			return
		}
		if st.Leader == 0 {
			continue
		}
		if !registered && c.cfg.Broker {
			registered = c.register(ctx) == nil
		}
		if st.Leader == raftID(c.cfg.NodeID) {
			c.reconcile(ctx, st)
		} else {
			clear(c.seen)
		}
		c.s.maintainISR(ctx)
	}
}

// checkVoters refuses a data dir whose metadata log holds another quorum
// than controller.quorum.voters names: another cluster's data (or a
// changed voter list, which needs a membership change, not an edit).
func (c *clusterState) checkVoters(st quorum.Status) error {
	if st.Applied == 0 || len(st.Voters) == 0 {
		return nil
	}
	want := make([]uint64, 0, len(c.cfg.Voters))
	for _, v := range c.cfg.Voters {
		want = append(want, raftID(v.ID))
	}
	slices.Sort(want)
	if slices.Equal(want, st.Voters) {
		return nil
	}
	have := make([]int32, len(st.Voters))
	for i, id := range st.Voters {
		have[i] = nodeID(id)
	}
	return fmt.Errorf("the metadata log in %s holds a quorum of voters %v (cluster %q), but controller.quorum.voters names %v: this data dir is another cluster's; refusing to join (empty it to join as a new node)",
		filepath.Join(c.s.cfg.DataDir, metadataDirName), have, c.s.currentClusterID(), c.cfg.Voters)
}

// register proposes this broker's registration: fenced, with a new
// incarnation and the next broker epoch; the controller unfences it once
// it has caught up.
func (c *clusterState) register(ctx context.Context) error {
	img := c.s.meta.Image()
	var epoch int64
	for _, b := range img.Brokers() {
		epoch = max(epoch, b.Epoch)
	}
	host, port := c.s.advertised()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := c.s.meta.Apply(ctx, meta.RegisterBroker{NodeID: c.cfg.NodeID, Host: host, Port: port, Rack: c.cfg.Rack,
		Fenced: true, UncleanShutdown: !c.cleanStart, Incarnation: c.incarnation, Epoch: epoch + 1})
	if err != nil {
		c.s.logger.Warn("broker registration failed; retrying", "err", err)
		return err
	}
	c.s.logger.Info("broker registered with the metadata quorum", "node_id", c.cfg.NodeID, "broker_epoch", epoch+1, "clean_start", c.cleanStart)
	return nil
}

// reconcile is one round of the active controller.
func (c *clusterState) reconcile(ctx context.Context, st quorum.Status) {
	img := c.s.meta.Image()
	session := time.Duration(c.s.settings.BrokerSessionTimeoutMs) * time.Millisecond
	now := time.Now()
	for _, b := range img.Brokers() {
		if r, ok := c.seen[b.NodeID]; !ok || r.epoch != b.Epoch {
			c.seen[b.NodeID] = registrationSeen{epoch: b.Epoch, offset: img.Offset()}
		}
	}
	v := controller.View{
		Alive: func(id int32) bool {
			if id == c.cfg.NodeID {
				return true
			}
			p, ok := st.Peers[raftID(id)]
			return ok && now.Sub(p.LastResponse) <= session
		},
		CaughtUp: func(id int32) bool {
			if id == c.cfg.NodeID {
				return true
			}
			p, ok := st.Peers[raftID(id)]
			return ok && int64(p.Match) >= c.seen[id].offset
		},
		MinISR: func(t *meta.Topic) int {
			return int(img.TopicConfig(t, c.s.settings).Int64("min.insync.replicas"))
		},
		NewClusterID: func() string {
			if id := c.s.currentClusterID(); id != "" {
				return id
			}
			return randomID()
		},
	}
	for _, r := range controller.Reconcile(img, v) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.s.meta.Apply(pctx, r)
		cancel()
		if err != nil && ctx.Err() == nil {
			// A stale decision (the image moved) is refused; the next
			// round decides again.
			c.s.logger.Debug("controller: change refused", "record", r.Type(), "err", err)
		}
	}
}

// close stops the quorum and its listener.
func (c *clusterState) close() error {
	var errs []error
	if c.ln != nil {
		c.ln.Close()
	}
	if c.transport != nil {
		errs = append(errs, c.transport.Close())
	}
	if c.node != nil {
		errs = append(errs, c.node.Close())
	}
	return errors.Join(errs...)
}

// randomID is 16 random bytes as Kafka writes ids: URL-safe base64.
func randomID() string {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// raftID is a node's id in the quorum: etcd raft reserves 0 for "none",
// and Kafka's node.id starts at 0.
func raftID(node int32) uint64 { return uint64(node) + 1 }

// nodeID is raftID's inverse.
func nodeID(raft uint64) int32 { return int32(raft - 1) }

// producerIDBlock gets this broker a block of producer ids no other
// broker holds, from the metadata quorum (Kafka's AllocateProducerIds).
func (c *clusterState) producerIDBlock() (int64, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.s.meta.Apply(ctx, meta.ProducerIDs{NodeID: c.cfg.NodeID, Count: producerIDBlock}); err != nil {
		return 0, 0, fmt.Errorf("producer ids from the metadata quorum: %w", err)
	}
	start, end, ok := c.s.meta.Image().ProducerIDBlock(c.cfg.NodeID)
	if !ok {
		return 0, 0, errors.New("producer ids: no block after allocation")
	}
	return start, end, nil
}

// controllerID is the active controller (the quorum's leader), -1 while
// there is none.
func (c *clusterState) controllerID() int32 {
	if l := c.node.Status().Leader; l != 0 {
		return nodeID(l)
	}
	return -1
}

// placeParts places a new topic's partitions, or new partitions of one,
// over the cluster's unfenced brokers (Kafka's rack-aware placement) from
// start (-1: a random broker, as Kafka starts), as their first states. A
// single node's topics have none.
func (s *Server) placeParts(img *meta.Image, n, rf, start int) ([]meta.PartitionState, error) {
	if s.cluster == nil {
		return nil, nil
	}
	if start < 0 {
		start = int(randomUint32() % 1024)
	}
	parts, err := controller.Assign(img, n, rf, start)
	var pe *controller.PlacementError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("%w: %v", meta.ErrInvalidReplicationFactor, err)
	}
	return parts, err
}

// placeable counts the brokers that may take new replicas.
func (c *clusterState) placeable(img *meta.Image) int {
	n := 0
	for _, b := range img.Brokers() {
		if !b.Fenced && !b.ShuttingDown {
			n++
		}
	}
	return max(n, 1)
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// shutdown is a controlled shutdown: the broker tells the controller it
// is going, and waits (up to timeout) until it leads nothing, so that
// clients move to the new leaders before it stops.
func (c *clusterState) shutdown(timeout time.Duration) {
	if !c.cfg.Broker || c.node.Status().Leader == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A quorum that cannot commit (most voters gone) must not hold the
	// shutdown for long.
	tctx, tcancel := context.WithTimeout(ctx, min(timeout, 3*time.Second))
	err := c.s.meta.Apply(tctx, meta.BrokerState{NodeID: c.cfg.NodeID, ShuttingDown: true})
	tcancel()
	if err != nil {
		c.s.logger.Warn("controlled shutdown: could not tell the controller", "err", err)
		return
	}
	for c.leadsAny() {
		select {
		case <-ctx.Done():
			c.s.logger.Warn("controlled shutdown: still leading partitions at the timeout", "timeout", timeout)
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	c.s.logger.Info("controlled shutdown: leadership moved away")
}

// leadsAny reports whether this node leads any partition in the metadata.
func (c *clusterState) leadsAny() bool {
	for _, t := range c.s.meta.Image().Topics() {
		for _, p := range t.Parts {
			if p.Leader == c.cfg.NodeID {
				return true
			}
		}
	}
	return false
}
