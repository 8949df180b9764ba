package broker

// Wiring of the group coordinator (broker/group) into the server: the Store
// on the internal compacted topic __consumer_offsets, the coordinator's
// lifecycle, and the shared handler of the group APIs.
//
// The coordinator starts on the first group request (as Kafka creates
// __consumer_offsets on the first FindCoordinator) and stops when the
// server starts shutting down, answering requests that wait on a rebalance
// so that the shutdown does not wait for them.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/meta"
)

// offsetsTopic is Kafka's internal topic for committed offsets and groups.
const offsetsTopic = "__consumer_offsets"

// groupState is the server's group coordinator, started on the first group
// request and closed when the server stops.
type groupState struct {
	started atomic.Pointer[group.Coordinator] // set once started: the fast path
	mu      sync.Mutex                        // serialises starting
	failing bool                              // the last start failed (logged once)
	loaded  chan struct{}                     // closed when Load returned
}

// groups returns the server's coordinator, starting it on first use. The
// coordinator may still be loading; it answers that itself. A start that
// fails (__consumer_offsets cannot be created while the disk is full) is
// logged once and tried again by the next request.
func (s *Server) groups() (*group.Coordinator, error) {
	gs := &s.groupState
	if c := gs.started.Load(); c != nil {
		return c, nil
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if c := gs.started.Load(); c != nil {
		return c, nil
	}
	coord, err := s.startGroups(gs)
	switch {
	case err != nil && !gs.failing && !s.isStopping():
		gs.failing = true
		s.logger.Error("group coordinator cannot start; group requests get COORDINATOR_NOT_AVAILABLE until it can", "err", err)
	case err == nil && gs.failing:
		gs.failing = false
		s.logger.Info("group coordinator started after earlier failures")
	}
	if err != nil {
		return nil, err
	}
	gs.started.Store(coord)
	return coord, nil
}

func (s *Server) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// groupsLoaded waits up to ctx for the coordinator to finish loading.
func (s *Server) groupsLoaded(ctx context.Context) bool {
	if _, err := s.groups(); err != nil {
		return false
	}
	s.groupState.mu.Lock()
	loaded := s.groupState.loaded
	s.groupState.mu.Unlock()
	select {
	case <-loaded:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) startGroups(gs *groupState) (*group.Coordinator, error) {
	if s.isStopping() {
		return nil, errors.New("broker: shutting down")
	}
	if err := s.ensureOffsetsTopic(context.Background()); err != nil {
		return nil, fmt.Errorf("create %s: %w", offsetsTopic, err)
	}
	cfg := group.DefaultConfig()
	st := s.settings
	cfg.MinSessionTimeout = time.Duration(st.GroupMinSessionTimeoutMs) * time.Millisecond
	cfg.MaxSessionTimeout = time.Duration(st.GroupMaxSessionTimeoutMs) * time.Millisecond
	cfg.MaxSize = int(st.GroupMaxSize)
	cfg.InitialRebalanceDelay = time.Duration(st.GroupInitialRebalanceDelayMs) * time.Millisecond
	cfg.OffsetsRetention = time.Duration(st.OffsetsRetentionMinutes) * time.Minute
	cfg.TopicExists = func(topic string, partition int32) bool {
		_, err := s.partition(topic, partition)
		return err == nil
	}
	cfg.Topics = topicMetadata{s}
	coord, err := group.NewCoordinator(cfg, &offsetsStore{s: s}, group.Options{
		Logger: s.logger.With("component", "groups"),
		Now:    s.now,
	})
	if err != nil {
		return nil, err
	}
	loaded := gs.loaded
	go func() {
		defer close(loaded)
		// Retry until loaded: the topic's partitions may still be opening.
		for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
			err := coord.Load(context.Background())
			if err == nil || errors.Is(err, group.ErrClosed) {
				return
			}
			s.logger.Error("loading groups failed; retrying", "err", err, "backoff", backoff)
			select {
			case <-s.stopping:
				return
			case <-time.After(backoff):
			}
		}
	}()
	go func() {
		<-s.stopping
		coord.Close()
	}()
	return coord, nil
}

// ensureOffsetsTopic creates __consumer_offsets (compacted, Kafka's
// offsets.topic.num.partitions) unless it exists.
func (s *Server) ensureOffsetsTopic(ctx context.Context) error {
	img := s.meta.Image()
	if _, ok := img.Topic(offsetsTopic); ok {
		return nil
	}
	rec := &meta.CreateTopic{
		Name:              offsetsTopic,
		ID:                meta.NewTopicID(),
		Partitions:        s.settings.OffsetsTopicNumPartitions,
		ReplicationFactor: 1,
		Configs: map[string]string{
			"cleanup.policy":   "compact",
			"segment.bytes":    "104857600",
			"compression.type": "producer",
		},
	}
	if s.cluster != nil {
		// Kafka's offsets.topic.replication.factor is 3; a smaller
		// cluster gets one replica per broker.
		rec.ReplicationFactor = int16(min(3, s.cluster.placeable(img)))
		var err error
		if rec.Parts, err = s.placeParts(img, int(rec.Partitions), int(rec.ReplicationFactor), -1); err != nil {
			return err
		}
	}
	err := s.meta.Apply(ctx, rec)
	if err != nil && !errors.Is(err, meta.ErrTopicExists) {
		return err
	}
	return nil
}

// offsetsStore is the coordinator's Store on __consumer_offsets: a group's
// records go to partition hash(group) mod partitions, as one batch per
// Append.
type offsetsStore struct{ s *Server }

func (st *offsetsStore) partitions() ([]*partition, error) {
	t, ok := st.s.meta.Image().Topic(offsetsTopic)
	if !ok {
		return nil, fmt.Errorf("broker: %s does not exist", offsetsTopic)
	}
	st.s.mu.RLock()
	ps := st.s.mu.parts[t.ID]
	st.s.mu.RUnlock()
	open := 0
	for _, p := range ps {
		if p != nil {
			open++
		}
	}
	hosted := int(t.Partitions)
	if len(t.Parts) > 0 { // in a cluster, only the partitions with a replica here
		hosted = 0
		for _, p := range t.Parts {
			if p.Hosts(st.s.cfg.NodeID) {
				hosted++
			}
		}
	}
	if open != hosted || int32(len(ps)) != t.Partitions {
		return nil, fmt.Errorf("broker: %s has %d of %d partitions open", offsetsTopic, open, hosted)
	}
	return ps, nil
}

// Append writes one group's records as one batch.
func (st *offsetsStore) Append(ctx context.Context, recs []group.Record) error {
	if len(recs) == 0 {
		return nil
	}
	groupID, err := group.RecordGroup(recs[0].Key)
	if err != nil {
		return err
	}
	ps, err := st.partitions()
	if err != nil {
		return err
	}
	p := ps[offsetsPartition(groupID, len(ps))]
	if p == nil {
		return fmt.Errorf("%s: %w (another broker coordinates group %q)", offsetsTopic, kerr.NotCoordinator, groupID)
	}
	role := p.role()
	if !role.leader {
		return fmt.Errorf("%s-%d: %w (another broker coordinates group %q)", offsetsTopic, p.index, kerr.NotCoordinator, groupID)
	}
	now := st.s.now().UnixMilli()
	lrs := make([]log.Record, len(recs))
	for i, r := range recs {
		lrs[i] = log.Record{Offset: int64(i), Timestamp: now, Key: r.Key, Value: r.Value}
	}
	res, err := p.log.Append(log.EncodeBatch(log.NewBatchHeader(), lrs))
	if err != nil {
		return fmt.Errorf("append to %s-%d: %w", offsetsTopic, p.index, err)
	}
	p.appended()
	p.notify()
	return awaitOffsetsCommitted(ctx, p, res.LastOffset+1, role.LeaderEpoch)
}

// offsetsPartition is Kafka's choice of partition for a group:
// abs(javaHashCode(group)) mod partitions.
func offsetsPartition(groupID string, partitions int) int {
	var h int32
	for _, u := range utf16.Encode([]rune(groupID)) {
		h = 31*h + int32(u)
	}
	return int(h&0x7fffffff) % partitions
}

// Load reads every partition of __consumer_offsets from its start.
func (st *offsetsStore) Load(ctx context.Context, fn func(key, value []byte) error) error {
	ps, err := st.partitions()
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p == nil {
			continue // no replica here (a cluster): another broker coordinates its groups
		}
		if err := readLog(ctx, p.log, func(r log.Record) error {
			if r.Key == nil {
				return nil
			}
			return fn(r.Key, r.Value)
		}); err != nil {
			return fmt.Errorf("%s-%d: %w", offsetsTopic, p.index, err)
		}
	}
	return nil
}

// readLog calls fn with every record of l from its start to its end.
func readLog(ctx context.Context, l *log.Log, fn func(log.Record) error) error {
	off, end := l.StartOffset(), l.EndOffset()
	for off < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk, err := l.Read(off, 1<<20)
		if err != nil {
			return err
		}
		if chunk.Size == 0 {
			return nil
		}
		buf := make([]byte, chunk.Size)
		_, err = chunk.R.ReadAt(buf, chunk.Pos)
		chunk.Release()
		if err != nil {
			return err
		}
		for len(buf) > 0 {
			h, recs, err := log.DecodeBatch(buf)
			if err != nil {
				return err
			}
			buf = buf[h.TotalSize():]
			for _, r := range recs {
				if err := fn(r); err != nil {
					return err
				}
			}
			off = h.LastOffset() + 1
		}
	}
	return nil
}

// topicMetadata shows the KIP-848 assignor the metadata image's topics.
type topicMetadata struct{ s *Server }

func (m topicMetadata) Topic(name string) (group.TopicInfo, bool) {
	t, ok := m.s.meta.Image().Topic(name)
	if !ok {
		return group.TopicInfo{}, false
	}
	return group.TopicInfo{Name: t.Name, ID: t.ID, Partitions: t.Partitions}, true
}

func (m topicMetadata) Topics() []group.TopicInfo {
	ts := m.s.meta.Image().Topics()
	out := make([]group.TopicInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, group.TopicInfo{Name: t.Name, ID: t.ID, Partitions: t.Partitions})
	}
	return out
}

// handleGroupRequest serves every group API through the coordinator.
func handleGroupRequest(ctx context.Context, c *conn, req *request) kmsg.Response {
	if !c.s.coordinatesHere(req.body) {
		return group.ErrorResponse(req.body, kerr.NotCoordinator)
	}
	coord, err := c.s.groups()
	if err != nil { // logged once by groups
		return group.ErrorResponse(req.body, kerr.CoordinatorNotAvailable)
	}
	clientID := ""
	if req.clientID != nil {
		clientID = *req.clientID
	}
	host := c.remote
	if h, _, err := net.SplitHostPort(c.remote); err == nil {
		host = h
	}
	return coord.Handle(ctx, clientID, "/"+host, req.body)
}
