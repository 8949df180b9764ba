package broker

// The log cleaner: compaction of every partition whose cleanup.policy
// includes compact (broker/log.Cleaner), run by the server every
// log.cleaner.backoff.ms while log.cleaner.enable is on.
//
// A batch the cleaner cannot read (data that does not decompress, or more
// than max.decompressed.message.bytes or 64 times max.message.bytes, as an
// older data dir may hold) is kept as it is, logged once and counted in
// sluice_log_cleaner_uncleanable_batches_total; it never fails the round.
//
// The server runs it through maintainAndClean beside maintain, and
// logConfig sets log.Config.Compact from cleanup.policy (which also lets
// log recovery accept compaction's offset gaps).

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/meta"
)

// maintainAndClean runs maintain, the log cleaner and the scrubber
// (scrub.go) until ctx ends.
func (s *Server) maintainAndClean(ctx context.Context) {
	done := make(chan struct{})
	go func() { defer close(done); s.runLogCleaner(ctx) }()
	scrubbed := make(chan struct{})
	go func() { defer close(scrubbed); s.runScrubber(ctx) }()
	s.maintain(ctx)
	<-done
	<-scrubbed
}

// runLogCleaner compacts due logs until ctx ends.
func (s *Server) runLogCleaner(ctx context.Context) {
	if !s.settings.LogCleanerEnable {
		return
	}
	backoff := time.Duration(s.settings.LogCleanerBackoffMs) * time.Millisecond
	if backoff <= 0 {
		backoff = 15 * time.Second
	}
	cleaner := log.NewCleaner()
	every(ctx, backoff, func() { s.cleanOnce(ctx, cleaner) })
}

// cleanOnce offers every compacted partition to the cleaner once.
func (s *Server) cleanOnce(ctx context.Context, cleaner *log.Cleaner) {
	img := s.meta.Image()
	live := map[*log.Log]bool{}
	defer cleaner.Retain(live)
	for _, p := range s.allPartitions() {
		if ctx.Err() != nil {
			return
		}
		if !p.log.Config().Compact {
			continue
		}
		live[p.log] = true
		if _, err := p.log.Failure(); err != nil {
			continue // read-only: the storage prober brings it back
		}
		t, ok := img.Topic(p.topic)
		if !ok {
			continue
		}
		res, err := cleaner.Compact(ctx, p.log, s.now(), s.compactConfig(img, t))
		for _, u := range res.Uncleanable {
			// Each batch once: the cleaner remembers what it reported.
			s.logger.Warn("log cleaner keeps a batch it cannot read as it is", "topic", p.topic, "partition", p.index,
				"segment", u.Segment, "position", u.Position, "offset", u.Offset, "err", u.Err)
			s.metrics.uncleanable.WithLabelValues(p.topic).Inc()
		}
		if errors.Is(err, context.Canceled) {
			return
		}
		if err != nil {
			// Once per run of failures (a full disk fails every pass).
			if !p.cleanFailing {
				s.logger.Error("log compaction failed; retrying every log.cleaner.backoff.ms", "topic", p.topic, "partition", p.index, "err", err)
			}
			p.cleanFailing = true
			continue
		}
		if p.cleanFailing {
			s.logger.Info("log compaction works again", "topic", p.topic, "partition", p.index)
			p.cleanFailing = false
		}
		if res.Segments > 0 {
			s.logger.Info("log compacted", "topic", p.topic, "partition", p.index, "segments", res.Segments,
				"bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter, "records_removed", res.RecordsRemoved,
				"dirty_ratio", res.DirtyRatio)
		}
	}
}

// compactConfig is a topic's effective cleaner settings.
func (s *Server) compactConfig(img *meta.Image, t *meta.Topic) log.CompactConfig {
	eff := meta.ResolveTopicConfig(img, t.Configs, s.settings)
	ms := func(key string) time.Duration {
		v := eff.Int64(key)
		if v < 0 || v > math.MaxInt64/int64(time.Millisecond) {
			return math.MaxInt64
		}
		return time.Duration(v) * time.Millisecond
	}
	cc := log.CompactConfig{
		DeleteRetention:        ms("delete.retention.ms"),
		MinCleanableDirtyRatio: eff.Float64("min.cleanable.dirty.ratio"),
		MinCompactionLag:       ms("min.compaction.lag.ms"),
		MaxCompactionLag:       ms("max.compaction.lag.ms"),
	}
	if cc.MaxCompactionLag == math.MaxInt64 {
		cc.MaxCompactionLag = 0
	}
	return cc
}
