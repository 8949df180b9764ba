package broker

// AlterConfigs, key 33: versions 0-2.
//
// The legacy, non-incremental form: a topic's overrides become exactly the
// given set. For a broker resource the given keys are set as dynamic broker
// configs (for this node, or for all nodes when the name is ""). Invalid keys
// or values are INVALID_CONFIG naming the key, and change nothing. A
// resource named more than once is answered once with INVALID_REQUEST and
// left as it is, as Kafka does.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/meta"
)

func handleAlterConfigs(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.AlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	counts := mention.Count(r.Resources, func(rr *kmsg.AlterConfigsRequestResource) configResource {
		return configResource{rr.ResourceType, rr.ResourceName}
	})
	for _, rr := range r.Resources {
		k := configResource{rr.ResourceType, rr.ResourceName}
		n := counts.Take(k)
		if n == 0 {
			continue // a duplicate, answered already
		}
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if n > 1 {
			sr.ErrorCode, sr.ErrorMessage = errDuplicate.Code, duplicateMessage("resource")
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		set := map[string]string{}
		var deletes []string
		for _, cfg := range rr.Configs {
			if cfg.Value == nil {
				deletes = append(deletes, cfg.Name)
				continue
			}
			set[cfg.Name] = *cfg.Value
		}
		rec, err := c.s.configRecord(rr.ResourceType, rr.ResourceName, set, deletes, true)
		if err == nil {
			err = c.s.applyOrValidate(ctx, rec, r.ValidateOnly)
		}
		sr.ErrorCode, sr.ErrorMessage = configErr(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// configRecord builds the metadata record that changes a topic's or the
// broker's configs.
func (s *Server) configRecord(typ kmsg.ConfigResourceType, name string, set map[string]string, deletes []string, replace bool) (meta.Record, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := s.meta.Image().Topic(name)
		if !ok {
			return nil, fmt.Errorf("%w: topic %q", meta.ErrUnknownTopic, name)
		}
		if replace {
			return &meta.AlterTopicConfigs{ID: t.ID, Set: set, Replace: true}, nil
		}
		return &meta.AlterTopicConfigs{ID: t.ID, Set: set, Delete: deletes}, nil
	case kmsg.ConfigResourceTypeBroker:
		if err := s.checkBrokerResource(name); err != nil {
			return nil, fmt.Errorf("%w: %v", meta.ErrInvalidConfig, err)
		}
		node := meta.AllBrokers
		if name != "" {
			node = s.cfg.NodeID
		}
		return &meta.AlterBrokerConfigs{NodeID: node, Set: set, Delete: deletes}, nil
	default:
		return nil, fmt.Errorf("%w: resource type %v is not supported", meta.ErrInvalidRecord, typ)
	}
}

func (s *Server) applyOrValidate(ctx context.Context, rec meta.Record, validateOnly bool) error {
	if err := s.checkLogConfigs(rec); err != nil {
		return err
	}
	if validateOnly {
		return s.meta.Validate(rec)
	}
	return s.meta.Apply(ctx, rec)
}

// configErr turns a config change error into a response's code and message.
func configErr(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	code := meta.ErrorCode(err)
	if code == kerr.UnknownServerError.Code {
		code = kerr.InvalidConfig.Code
	}
	return code, errMessage(err)
}
