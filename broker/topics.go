package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/meta"
)

// partition returns the served partition of a topic by name, or the Kafka
// error to answer with.
func (s *Server) partition(topic string, index int32) (*partition, *kerr.Error) {
	t, ok := s.meta.Image().Topic(topic)
	if !ok {
		return nil, kerr.UnknownTopicOrPartition
	}
	if index < 0 || index >= t.Partitions {
		return nil, kerr.UnknownTopicOrPartition
	}
	s.mu.RLock()
	ps := s.mu.parts[t.ID]
	s.mu.RUnlock()
	if int(index) < len(ps) && ps[index] != nil {
		return ps[index], nil
	}
	if int(index) < len(t.Parts) && !t.Parts[index].Hosts(s.cfg.NodeID) {
		return nil, kerr.NotLeaderForPartition
	}
	return nil, kerr.UnknownTopicOrPartition
}

// leaderPartition is partition for what only a partition's leader
// answers (produce, consumer fetches, offsets): NOT_LEADER_OR_FOLLOWER
// from a follower, which sends clients to refresh their metadata.
func (s *Server) leaderPartition(topic string, index int32) (*partition, *kerr.Error) {
	p, err := s.partition(topic, index)
	if err != nil {
		return nil, err
	}
	if !p.role().leader {
		return nil, kerr.NotLeaderForPartition
	}
	return p, nil
}

func (s *Server) topicNameByID(id [16]byte) (string, bool) {
	t, ok := s.meta.Image().TopicByID(meta.TopicID(id))
	if !ok {
		return "", false
	}
	return t.Name, true
}

// onMetadata brings the set of open partition logs in line with a new
// metadata image: it opens logs of new topics and partitions, closes and
// deletes those of deleted topics, and applies config changes. It runs in
// the metadata applier, after the change is durable. A topic whose logs
// cannot be opened (a full disk) is retried by the storage prober.
func (s *Server) onMetadata(old, img *meta.Image) {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	d := meta.Diff(old, img)
	for _, t := range d.Deleted {
		s.deleteTopic(t)
	}
	changed := append(append(append(d.Created, d.Grown...), d.Reconfigured...), d.Moved...)
	if d.BrokersChanged {
		// Dynamic broker configs feed every topic's defaults.
		changed = img.Topics()
	}
	for _, t := range changed {
		s.noteOpen(t, s.openTopic(img, t))
	}
}

// openTopic opens any partition of t not open yet and refreshes the config
// of the ones that are.
func (s *Server) openTopic(img *meta.Image, t *meta.Topic) error {
	cfg, err := s.logConfig(img, t)
	if err != nil {
		return fmt.Errorf("topic %s: %w", t.Name, err)
	}
	// Opening a log reads its files (recovery): do it outside s.mu so that
	// produce and fetch on other partitions never wait for it. Callers
	// hold openMu (the metadata applier, the storage prober, New).
	s.mu.RLock()
	ps := s.mu.parts[t.ID]
	s.mu.RUnlock()
	for _, p := range ps {
		if p == nil {
			continue
		}
		if int(p.index) < len(t.Parts) && !t.Parts[p.index].Hosts(s.cfg.NodeID) {
			s.dropReplica(t, p) // reassigned away from this broker
			continue
		}
		if err := p.log.SetConfig(cfg); err != nil {
			return fmt.Errorf("topic %s partition %d: %w", t.Name, p.index, err)
		}
		if err := s.setRole(p, t); err != nil {
			return err
		}
	}
	var opened []*partition
	var openErr error
	s.mu.RLock()
	ps = s.mu.parts[t.ID]
	s.mu.RUnlock()
	for i := int32(0); i < t.Partitions; i++ {
		if int(i) < len(ps) && ps[i] != nil || int(i) < len(t.Parts) && !t.Parts[i].Hosts(s.cfg.NodeID) {
			continue
		}
		dir := s.partitionDir(t.Name, i)
		if err := s.claimPartitionDir(dir, t, i); err != nil {
			openErr = fmt.Errorf("topic %s partition %d: %w", t.Name, i, err)
			break
		}
		l, err := log.Open(dir, cfg, log.Options{FS: s.fs, Logger: s.logger.With("topic", t.Name, "partition", i), Now: s.now, Files: s.files})
		if err != nil {
			openErr = fmt.Errorf("topic %s partition %d: %w", t.Name, i, err)
			break
		}
		p := &partition{topic: t.Name, index: i, log: l}
		if err := s.setRole(p, t); err != nil {
			_ = l.Close()
			openErr = err
			break
		}
		opened = append(opened, p)
	}
	if len(opened) > 0 {
		// Partitions opened before a failure are served (and closed on
		// shutdown). Partitions not opened here are nil.
		s.mu.Lock()
		cur := s.mu.parts[t.ID]
		if n := int(t.Partitions); len(cur) < n {
			cur = append(cur, make([]*partition, n-len(cur))...)
		}
		for _, p := range opened {
			cur[p.index] = p
		}
		s.mu.parts[t.ID] = cur
		s.mu.Unlock()
	}
	return openErr
}

// dropReplica deletes this broker's copy of a partition reassigned away
// from it.
func (s *Server) dropReplica(t *meta.Topic, p *partition) {
	s.mu.Lock()
	if ps := s.mu.parts[t.ID]; int(p.index) < len(ps) && ps[p.index] == p {
		ps[p.index] = nil
	}
	s.mu.Unlock()
	s.fetchers.forget(p)
	p.follow()
	p.notify()
	if err := p.log.Delete(); err != nil {
		s.logger.Error("deleting a replica reassigned away", "topic", t.Name, "partition", p.index, "err", err)
		return
	}
	s.logger.Info("replica reassigned away: deleted", "topic", t.Name, "partition", p.index)
}

func (s *Server) deleteTopic(t *meta.Topic) {
	s.forgetOpenFailure(t.ID)
	s.mu.Lock()
	ps := s.mu.parts[t.ID]
	delete(s.mu.parts, t.ID)
	s.mu.Unlock()
	for _, p := range ps {
		if p == nil {
			continue
		}
		s.fetchers.forget(p)
		p.notify()
		if err := p.log.Delete(); err != nil {
			s.logger.Error("deleting partition log", "topic", t.Name, "partition", p.index, "err", err)
		}
	}
	if len(ps) == 0 {
		return
	}
	// Until topics/ is synced a machine crash brings the folders back,
	// and the next start would move them aside as strays.
	if err := s.fs.SyncDir(s.topicsDir()); err != nil {
		s.logger.Error("syncing the topics folder after deleting a topic's folders; a machine crash may bring them back as stray folders", "topic", t.Name, "err", err)
	}
}

// logConfig is a topic's effective log configuration: its overrides over
// the broker's settings over Kafka's defaults.
func (s *Server) logConfig(img *meta.Image, t *meta.Topic) (log.Config, error) {
	eff := meta.ResolveTopicConfig(img, t.Configs, s.settings)
	ms := func(key string) time.Duration {
		v := eff.Int64(key)
		if v < 0 || v > math.MaxInt64/int64(time.Millisecond) {
			return math.MaxInt64
		}
		return time.Duration(v) * time.Millisecond
	}
	cfg := log.DefaultConfig()
	cfg.SegmentBytes = eff.Int64("segment.bytes")
	cfg.SegmentMs = ms("segment.ms")
	cfg.RetentionBytes = eff.Int64("retention.bytes")
	cfg.RetentionMs = ms("retention.ms")
	if eff.Int64("retention.ms") < 0 {
		cfg.RetentionMs = -1
	}
	if !slices.Contains(eff.List("cleanup.policy"), "delete") {
		// Compacted-only topics never delete by age or size.
		cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	}
	cfg.IndexIntervalBytes = int(eff.Int64("index.interval.bytes"))
	cfg.SegmentIndexBytes = int(eff.Int64("segment.index.bytes"))
	cfg.FlushMessages = eff.Int64("flush.messages")
	// flush.ms 0 (Kafka: flush at every check) is the shortest the log
	// takes, a millisecond.
	cfg.FlushMs = max(ms("flush.ms"), time.Millisecond)
	cfg.MaxMessageBytes = int(eff.Int64("max.message.bytes"))
	cfg.MaxDecompressedMessageBytes = int(eff.Int64("max.decompressed.message.bytes"))
	cfg.LogAppendTime = eff.String("message.timestamp.type") == "LogAppendTime"
	cfg.Compact = slices.Contains(eff.List("cleanup.policy"), "compact")
	return cfg, cfg.Validate()
}

// autoCreate creates a topic with the broker's defaults, as Metadata does
// when auto.create.topics.enable is on.
func (s *Server) autoCreate(ctx context.Context, name string) (*meta.Topic, error) {
	if isInternalTopic(name) {
		// Internal topics get their own layout (compacted, Kafka's partition
		// count), never the defaults of an auto-created topic.
		if name != offsetsTopic {
			return nil, fmt.Errorf("%w: topic %s is internal and not used by this broker", meta.ErrUnknownTopic, name)
		}
		if err := s.ensureOffsetsTopic(ctx); err != nil {
			return nil, err
		}
		t, ok := s.meta.Image().Topic(name)
		if !ok {
			return nil, fmt.Errorf("topic %s vanished after creation", name)
		}
		return t, nil
	}
	rec := &meta.CreateTopic{
		Name:              name,
		ID:                meta.NewTopicID(),
		Partitions:        s.settings.NumPartitions,
		ReplicationFactor: 1,
	}
	if s.cluster != nil {
		rec.ReplicationFactor = int16(s.settings.DefaultReplicationFactor)
		var err error
		if rec.Parts, err = s.placeParts(s.meta.Image(), int(rec.Partitions), int(rec.ReplicationFactor), -1); err != nil {
			return nil, err
		}
	}
	err := s.meta.Apply(ctx, rec)
	if err != nil && !errors.Is(err, meta.ErrTopicExists) {
		return nil, err
	}
	t, ok := s.meta.Image().Topic(name)
	if !ok {
		return nil, fmt.Errorf("topic %s vanished after creation", name)
	}
	return t, nil
}

// isInternalTopic reports Kafka's internal topics, which clients list as
// internal and cannot delete.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

// TopicNames lists the topics in this node's metadata image, sorted (for
// tests and tools; in a cluster, what this node has applied so far).
func (s *Server) TopicNames() []string {
	var out []string
	for _, t := range s.meta.Image().Topics() {
		out = append(out, t.Name)
	}
	return out
}
