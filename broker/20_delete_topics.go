package broker

// DeleteTopics, key 20: versions 1-6 (topics by name, or by ID from v6).
//
// Deleting a topic closes and removes its partition logs once the deletion
// is durable in the metadata log. Internal topics cannot be deleted. A topic
// named more than once (by name or by ID) is answered once with
// INVALID_REQUEST and not deleted, as Kafka does.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/meta"
)

func handleDeleteTopics(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.DeleteTopicsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	s := c.s
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	for _, n := range r.TopicNames {
		targets = append(targets, target{name: &n})
	}
	for _, t := range r.Topics {
		targets = append(targets, target{name: t.Topic, id: t.TopicID})
	}
	// A topic named by name and by ID is one topic: duplicates are found
	// by the topic each target resolves to.
	img := s.meta.Image()
	resolve := func(tg target) (*meta.Topic, bool) {
		if tg.name != nil && *tg.name != "" {
			return img.Topic(*tg.name)
		}
		return img.TopicByID(meta.TopicID(tg.id))
	}
	key := func(tg target) topicPartition {
		if t, ok := resolve(tg); ok {
			return topicPartition{id: t.ID}
		}
		if tg.name != nil && *tg.name != "" {
			return topicPartition{topic: *tg.name}
		}
		return topicPartition{id: tg.id, partition: -1}
	}
	counts := mention.Counts[topicPartition]{}
	for _, tg := range targets {
		counts[key(tg)]++
	}
	for _, tg := range targets {
		n := counts.Take(key(tg))
		if n == 0 {
			continue // a duplicate, answered already
		}
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		if n > 1 {
			st.ErrorCode, st.ErrorMessage = errDuplicate.Code, duplicateMessage("topic")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t, ok := resolve(tg)
		switch {
		case !ok && tg.name == nil:
			st.ErrorCode = kerr.UnknownTopicID.Code
		case !ok:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case isInternalTopic(t.Name):
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = errMessage(fmt.Errorf("topic %s is internal and cannot be deleted", t.Name))
		default:
			name := t.Name
			st.Topic, st.TopicID = &name, t.ID
			if err := s.meta.Apply(ctx, &meta.DeleteTopic{ID: t.ID}); err != nil {
				st.ErrorCode = metaErrorCode(err).Code
				st.ErrorMessage = errMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
