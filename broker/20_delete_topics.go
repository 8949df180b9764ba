package broker

// DeleteTopics, key 20: versions 1-6 (topics by name, or by ID from v6).
//
// Deleting a topic closes and removes its partition logs once the deletion
// is durable in the metadata log. Internal topics cannot be deleted.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		img := s.meta.Image()
		var t *meta.Topic
		var ok bool
		if tg.name != nil && *tg.name != "" {
			t, ok = img.Topic(*tg.name)
		} else {
			t, ok = img.TopicByID(meta.TopicID(tg.id))
		}
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
