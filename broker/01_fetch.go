package broker

// Fetch, key 1: versions 4-17.
//
// Sessionless: the response always carries SessionID 0, which every client
// treats as "full fetch each time" (Kafka does the same when its session
// cache is full). Topics are named by name up to v12 and by topic ID from
// v13. The request waits up to MaxWaitMillis until MinBytes are available.
// Each partition returns whole batches up to its PartitionMaxBytes, and the
// response stops at MaxBytes, except that the first partition with data
// always returns at least one whole batch (KIP-74), so a batch larger than
// the limits never stalls a consumer. An offset in a damaged range of the
// log (broker/log DamagedRange) is answered CORRUPT_MESSAGE with no
// records; the offsets before and after it are served as usual, so a
// consumer that seeks past the range (sluice topic describe shows it) goes
// on. A partition named more than once is
// answered once, for its first mention (duplicates.go).

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/log"
)

func handleFetch(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.FetchRequest)
	byID := req.version >= 13
	wait := time.Duration(r.MaxWaitMillis) * time.Millisecond
	var deadline <-chan time.Time
	var wake chan struct{}
	var waiting []*partition
	defer func() {
		for _, p := range waiting {
			p.unwait(wake)
		}
	}()
	replicaID := r.ReplicaID
	if req.version >= 15 {
		replicaID = r.ReplicaState.ID
	}
	for {
		resp, total, parts := c.fetchOnce(r, byID, replicaID)
		if total >= int64(r.MinBytes) || wait <= 0 {
			c.countFetched()
			return resp
		}
		if deadline == nil {
			timer := time.NewTimer(wait)
			defer timer.Stop()
			deadline = timer.C
			wake = make(chan struct{}, 1)
			for _, p := range parts {
				p.wait(wake)
				waiting = append(waiting, p)
			}
			// Data may have arrived between the read and the registration.
			continue
		}
		select {
		case <-wake:
		case <-deadline:
			resp, _, _ = c.fetchOnce(r, byID, replicaID)
			c.countFetched()
			return resp
		case <-ctx.Done():
			c.countFetched()
			return resp
		case <-c.s.stopping:
			c.countFetched()
			return resp
		}
	}
}

// fetchOnce reads every requested partition once. It returns the response,
// the number of record bytes in it and the partitions it could read, for the
// long poll to wait on. A fetch with a replica id (>= 0) from a follower
// of a partition this node leads reads past the high watermark and
// reports the follower's progress; every other fetch reads below it.
func (c *conn) fetchOnce(r *kmsg.FetchRequest, byID bool, replicaID int32) (*kmsg.FetchResponse, int64, []*partition) {
	s := c.s
	c.releaseSections() // of an earlier read while the fetch waited
	c.fetched = c.fetched[:0]
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	var total int64
	var parts []*partition
	budget := int64(r.MaxBytes)
	if budget <= 0 {
		budget = 1<<31 - 1
	}
	// Topics are answered in request order (the sendfile sections follow
	// it), a topic named again only for partitions not answered yet.
	seen := mention.Seen[topicPartition]{}
	for i := range r.Topics {
		rt := &r.Topics[i]
		tk := topicPartition{topic: rt.Topic}
		if byID {
			tk = topicPartition{id: rt.TopicID}
		}
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := rt.Topic
		var topicErr *kerr.Error
		if byID {
			var ok bool
			if name, ok = s.topicNameByID(rt.TopicID); !ok {
				topicErr = kerr.UnknownTopicID
			}
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			pk := tk
			pk.partition = rp.Partition
			if !seen.First(pk) {
				continue // answered once, for its first mention
			}
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			// Empty, never null: librdkafka rejects a null record set.
			sp.RecordBatches = noRecords
			if topicErr != nil {
				sp.ErrorCode = topicErr.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, perr := s.leaderPartition(name, rp.Partition)
			if perr == nil {
				perr = p.checkLeaderEpoch(rp.CurrentLeaderEpoch)
			}
			if perr != nil {
				sp.ErrorCode = perr.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			parts = append(parts, p)
			limit := int64(rp.PartitionMaxBytes)
			if limit > budget {
				limit = budget
			}
			// KIP-74: the first partition with data may exceed the limits by one batch.
			if total == 0 && limit <= 0 {
				limit = 1
			}
			maxOffset := p.highWatermark()
			hw := maxOffset
			if replicaID >= 0 {
				if fhw, ok := s.followerFetched(p, replicaID, rp.FetchOffset); ok {
					maxOffset, hw = p.log.EndOffset(), fhw
				}
			}
			n, err := c.readPartition(p, rp.FetchOffset, limit, maxOffset, hw, &sp)
			if err != nil {
				sp.ErrorCode = err.Code
			}
			total += n
			budget -= n
			st.Partitions = append(st.Partitions, sp)
		}
		if len(st.Partitions) > 0 || len(rt.Partitions) == 0 {
			resp.Topics = append(resp.Topics, st)
		}
	}
	return resp, total, parts
}

// readPartition reads up to limit bytes of whole batches from offset, and
// only batches below maxOffset, into sp, with hw as its high watermark.
func (c *conn) readPartition(p *partition, offset, limit, maxOffset, hw int64, sp *kmsg.FetchResponseTopicPartition) (int64, *kerr.Error) {
	s := c.s
	l := p.log
	end := l.EndOffset()
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, hw, l.StartOffset()
	if limit <= 0 || offset == end || offset >= maxOffset && offset <= end && offset >= l.StartOffset() {
		return 0, nil
	}
	chunk, err := l.Read(offset, int(limit))
	if err != nil {
		code := logErrorCode(err)
		switch code {
		case kerr.CorruptMessage:
			// Damaged data is never sent: the client gets CORRUPT_MESSAGE for
			// this offset and may seek past it. A known damaged range was
			// logged when found; a client retrying it must not flood the log.
			level := slog.LevelWarn
			var derr *log.DamagedError
			if errors.As(err, &derr) {
				level = slog.LevelDebug
			}
			s.logger.Log(context.Background(), level, "fetch hit damaged data", "topic", p.topic, "partition", p.index, "offset", offset, "err", err)
		case kerr.KafkaStorageError:
			s.logger.Error("fetch read failed", "topic", p.topic, "partition", p.index, "offset", offset, "err", err)
		}
		return 0, code
	}
	if maxOffset < end {
		if chunk.Size = committedBytes(chunk, maxOffset); chunk.Size == 0 {
			chunk.Release()
			return 0, nil
		}
	}
	if chunk.Size == 0 {
		return 0, nil
	}
	if c.zeroCopy && chunk.File != nil {
		sec, marker := newFileSection(chunk)
		c.sections = append(c.sections, sec)
		sp.RecordBatches = marker
		c.fetched = append(c.fetched, fetchStat{p.topic, chunk.Size, countRecords(chunk.R, chunk.Pos, chunk.Size)})
		return chunk.Size, nil
	}
	buf := make([]byte, chunk.Size)
	_, err = chunk.R.ReadAt(buf, chunk.Pos)
	chunk.Release()
	if err != nil {
		s.logger.Error("fetch read failed", "topic", p.topic, "partition", p.index, "offset", offset, "err", err)
		return 0, kerr.KafkaStorageError
	}
	sp.RecordBatches = buf
	c.fetched = append(c.fetched, fetchStat{p.topic, chunk.Size, countBatchRecords(buf)})
	return chunk.Size, nil
}

// committedBytes is how much of chunk holds batches starting below
// maxOffset (the high watermark, always a batch boundary).
func committedBytes(chunk log.Chunk, maxOffset int64) int64 {
	var hdr [12]byte
	var n int64
	for n+12 <= chunk.Size {
		if _, err := chunk.R.ReadAt(hdr[:], chunk.Pos+n); err != nil {
			break
		}
		if int64(binary.BigEndian.Uint64(hdr[:8])) >= maxOffset {
			break
		}
		n += 12 + int64(binary.BigEndian.Uint32(hdr[8:]))
	}
	return min(n, chunk.Size)
}

// checkLeaderEpoch compares a client's CurrentLeaderEpoch (-1: none)
// with the partition's, as Kafka does: older is FENCED_LEADER_EPOCH,
// newer (our metadata is behind) UNKNOWN_LEADER_EPOCH.
func (p *partition) checkLeaderEpoch(epoch int32) *kerr.Error {
	cur := p.role().LeaderEpoch
	switch {
	case epoch < 0 || epoch == cur:
		return nil
	case epoch < cur:
		return kerr.FencedLeaderEpoch
	}
	return kerr.UnknownLeaderEpoch
}

// noRecords is the empty record set of a partition with nothing to return.
var noRecords = []byte{}

// fetchStat is what one partition contributed to a fetch response.
type fetchStat struct {
	topic          string
	bytes, records int64
}

// countFetched adds the response about to be sent to the out metrics; reads
// repeated while a fetch waits for MinBytes are not counted twice.
func (c *conn) countFetched() {
	for _, f := range c.fetched {
		c.s.metrics.bytesRecordsOut(f.topic, f.bytes, f.records)
	}
	c.fetched = c.fetched[:0]
}
