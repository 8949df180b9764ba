package broker

// IncrementalAlterConfigs, key 44: versions 0-1.
//
// Per key: SET (0) sets a value, DELETE (1) reverts to the broker or default
// value, APPEND (2) and SUBTRACT (3) add or remove elements of a list key
// (cleanup.policy). A request naming a key twice is INVALID_REQUEST; any
// invalid key or value is INVALID_CONFIG and changes nothing. A resource
// named more than once is answered once with INVALID_REQUEST and left as it
// is, as Kafka does.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/meta"
)

func handleIncrementalAlterConfigs(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	counts := mention.Count(r.Resources, func(rr *kmsg.IncrementalAlterConfigsRequestResource) configResource {
		return configResource{rr.ResourceType, rr.ResourceName}
	})
	for _, rr := range r.Resources {
		k := configResource{rr.ResourceType, rr.ResourceName}
		n := counts.Take(k)
		if n == 0 {
			continue // a duplicate, answered already
		}
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if n > 1 {
			sr.ErrorCode, sr.ErrorMessage = errDuplicate.Code, duplicateMessage("resource")
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		set, deletes, err := c.s.incrementalChanges(rr)
		var rec meta.Record
		if err == nil {
			rec, err = c.s.configRecord(rr.ResourceType, rr.ResourceName, set, deletes, false)
		}
		if err == nil {
			err = c.s.applyOrValidate(ctx, rec, r.ValidateOnly)
		}
		sr.ErrorCode, sr.ErrorMessage = configErr(err)
		if err != nil && strings.Contains(err.Error(), "more than once") {
			sr.ErrorCode = kerr.InvalidRequest.Code
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// incrementalChanges turns the operations on one resource into keys to set
// and keys to delete.
func (s *Server) incrementalChanges(rr kmsg.IncrementalAlterConfigsRequestResource) (map[string]string, []string, error) {
	set := map[string]string{}
	var deletes []string
	seen := map[string]bool{}
	for _, cfg := range rr.Configs {
		if seen[cfg.Name] {
			return nil, nil, fmt.Errorf("config %q appears more than once", cfg.Name)
		}
		seen[cfg.Name] = true
		val := ""
		if cfg.Value != nil {
			val = *cfg.Value
		}
		switch cfg.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			set[cfg.Name] = val
		case kmsg.IncrementalAlterConfigOpDelete:
			deletes = append(deletes, cfg.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			cur, err := s.currentList(rr.ResourceType, rr.ResourceName, cfg.Name)
			if err != nil {
				return nil, nil, err
			}
			for _, e := range strings.Split(val, ",") {
				e = strings.TrimSpace(e)
				if e == "" {
					continue
				}
				i := slices.Index(cur, e)
				switch {
				case cfg.Op == kmsg.IncrementalAlterConfigOpAppend && i < 0:
					cur = append(cur, e)
				case cfg.Op == kmsg.IncrementalAlterConfigOpSubtract && i >= 0:
					cur = slices.Delete(cur, i, i+1)
				}
			}
			set[cfg.Name] = strings.Join(cur, ",")
		default:
			return nil, nil, fmt.Errorf("%w: config %q: unknown operation %d", meta.ErrInvalidConfig, cfg.Name, cfg.Op)
		}
	}
	return set, deletes, nil
}

// currentList returns the effective value of a list-typed key.
func (s *Server) currentList(typ kmsg.ConfigResourceType, name, key string) ([]string, error) {
	img := s.meta.Image()
	var values []*meta.ConfigValue
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := img.Topic(name)
		if !ok {
			return nil, fmt.Errorf("%w: topic %q", meta.ErrUnknownTopic, name)
		}
		values = meta.ResolveTopicConfig(img, t.Configs, s.settings).All()
	default:
		values = meta.ResolveBrokerConfig(img, s.settings)
	}
	for _, v := range values {
		if v.Def.Name != key {
			continue
		}
		if v.Def.Type != meta.ConfigList {
			return nil, fmt.Errorf("%w: config %q is not a list: APPEND and SUBTRACT apply to lists only", meta.ErrInvalidConfig, key)
		}
		if v.Value == "" {
			return nil, nil
		}
		return strings.Split(v.Value, ","), nil
	}
	return nil, fmt.Errorf("%w: unknown config %q", meta.ErrInvalidConfig, key)
}
