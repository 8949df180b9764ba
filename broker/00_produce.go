package broker

// Produce, key 0: versions 0-12 advertised; 3-12 served.
//
// Versions 0-2 are advertised as Apache Kafka 4 does (older librdkafka turns
// compression off when it does not see them) and refused with
// UNSUPPORTED_VERSION, since they cannot carry magic v2 batches. acks=0 gets
// no response; acks=1 and acks=all are answered once the batch is written to
// the log (the page cache): on one node the high watermark is the log end.
// Internal topics (__consumer_offsets) refuse client writes with
// INVALID_TOPIC_EXCEPTION, as Kafka does. A partition named more than once
// is answered once, with INVALID_REQUEST, and nothing is appended to it
// (duplicates.go). A partition whose disk is full answers
// KAFKA_STORAGE_ERROR (retriable) until it resumes (storage.go).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/log"
)

func handleProduce(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	var topLevel *kerr.Error
	switch {
	case req.version < 3:
		topLevel = kerr.UnsupportedVersion
	case r.Acks != 0 && r.Acks != 1 && r.Acks != -1:
		topLevel = kerr.InvalidRequiredAcks
	case r.TransactionID != nil:
		topLevel = kerr.TransactionalIDAuthorizationFailed
	}
	counts := mention.CountNested(r.Topics,
		func(t *kmsg.ProduceRequestTopic) []kmsg.ProduceRequestTopicPartition { return t.Partitions },
		func(t *kmsg.ProduceRequestTopic, p *kmsg.ProduceRequestTopicPartition) topicPartition {
			return topicPartition{topic: t.Topic, partition: p.Partition}
		})
	topics := map[string]int{}
	var pending []pendingAck
	for _, rt := range r.Topics {
		ti := mention.Entry(topics, &resp.Topics, rt.Topic, func() kmsg.ProduceResponseTopic {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			return st
		})
		for _, rp := range rt.Partitions {
			k := topicPartition{topic: rt.Topic, partition: rp.Partition}
			n := counts.Take(k)
			if n == 0 {
				continue // a duplicate, answered already
			}
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			switch {
			case topLevel != nil:
				sp.ErrorCode = topLevel.Code
			case n > 1:
				sp.ErrorCode, sp.ErrorMessage = errDuplicate.Code, duplicateMessage("partition")
			default:
				if w := c.s.produce(rt.Topic, rp.Partition, rp.Records, r.Acks, &sp); w.p != nil {
					w.topic, w.part = ti, len(resp.Topics[ti].Partitions)
					pending = append(pending, w)
				}
			}
			resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, sp)
		}
	}
	if r.Acks == 0 {
		return nil
	}
	if len(pending) > 0 {
		// acks=all in a cluster: answered once every in-sync replica has
		// the batch (the high watermark passed it), within the request's
		// timeout.
		wctx, cancel := context.WithTimeout(ctx, time.Duration(max(r.TimeoutMillis, 0))*time.Millisecond)
		defer cancel()
		for _, w := range pending {
			if e := w.p.awaitCommitted(wctx, w.end, w.epoch); e != nil {
				sp := &resp.Topics[w.topic].Partitions[w.part]
				sp.ErrorCode = e.Code
				sp.BaseOffset = -1
			}
		}
	}
	return resp
}

// pendingAck is an acks=all produce waiting for the high watermark to
// reach end in leader epoch epoch; topic and part index its answer.
type pendingAck struct {
	p           *partition
	end         int64
	epoch       int32
	topic, part int
}

// produce appends one partition's record batches and fills in sp; for
// acks=all on a replicated partition it returns what to wait for.
func (s *Server) produce(topic string, index int32, records []byte, acks int16, sp *kmsg.ProduceResponseTopicPartition) pendingAck {
	p, kerrCode := s.leaderPartition(topic, index)
	if kerrCode != nil {
		sp.ErrorCode = kerrCode.Code
		return pendingAck{}
	}
	if isInternalTopic(topic) {
		// Only the broker writes its internal topics: a client's bytes in
		// __consumer_offsets would be replayed as group state. (Checked
		// after the partition exists, so the message is sent once per
		// partition there is.)
		sp.ErrorCode = kerr.InvalidTopicException.Code
		sp.ErrorMessage = errMessage(fmt.Errorf("topic %s is internal: clients cannot produce to it", topic))
		return pendingAck{}
	}
	role := p.role()
	if acks == -1 && !p.canAppendAcksAll() {
		sp.ErrorCode = kerr.NotEnoughReplicas.Code
		sp.ErrorMessage = errMessage(fmt.Errorf("topic %s partition %d: %d in-sync replicas %v, fewer than min.insync.replicas", topic, index, len(role.ISR), role.ISR))
		return pendingAck{}
	}
	res, err := p.log.Append(records)
	switch {
	case err == nil:
	case errors.Is(err, log.ErrDuplicateSequence):
		// A retried batch already in the log: success with its original
		// offset, once it is committed.
		sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
		return p.ackAll(acks, role, res.LastOffset+1)
	default:
		// A failed write made the log read-only, which it logged once;
		// KAFKA_STORAGE_ERROR until the storage prober resumes it.
		sp.ErrorCode = log.ErrorCode(err)
		sp.ErrorMessage = errMessage(fmt.Errorf("topic %s partition %d: %w", topic, index, err))
		return pendingAck{}
	}
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	s.metrics.recordsIn(topic, len(records), res.LastOffset-res.BaseOffset+1)
	p.appended()
	p.notify()
	return p.ackAll(acks, role, res.LastOffset+1)
}

// ackAll is what an acks=all produce ending at end waits for; nothing on
// a single node, where the log end is the high watermark.
func (p *partition) ackAll(acks int16, role *partitionRole, end int64) pendingAck {
	if acks != -1 || p.state.Load() == nil {
		return pendingAck{}
	}
	return pendingAck{p: p, end: end, epoch: role.LeaderEpoch}
}
