package broker

// DescribeConfigs, key 32: versions 1-4.
//
// Topic resources report every topic key with its effective value and
// source (DYNAMIC_TOPIC_CONFIG, DYNAMIC_BROKER_CONFIG, STATIC_BROKER_CONFIG,
// DEFAULT_CONFIG), synonyms when asked (v1+), the type (v3+) and the
// documentation (v3+). Broker resources (name "" or this node's id) report
// every broker key. Sensitive values are returned as null, as Kafka does.
// A resource named more than once is answered once, with INVALID_REQUEST
// and no configs (Kafka describes every mention in full, so a small request
// naming one topic many times would build a huge answer).

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/meta"
)

func handleDescribeConfigs(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	s := c.s
	img := s.meta.Image()
	counts := mention.Count(r.Resources, func(rr *kmsg.DescribeConfigsRequestResource) configResource {
		return configResource{rr.ResourceType, rr.ResourceName}
	})
	for _, rr := range r.Resources {
		k := configResource{rr.ResourceType, rr.ResourceName}
		n := counts.Take(k)
		if n == 0 {
			continue // a duplicate, answered already
		}
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if n > 1 {
			sr.ErrorCode, sr.ErrorMessage = errDuplicate.Code, duplicateMessage("resource")
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		var values []*meta.ConfigValue
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := img.Topic(rr.ResourceName)
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			values = meta.ResolveTopicConfig(img, t.Configs, s.settings).All()
		case kmsg.ConfigResourceTypeBroker:
			if err := s.checkBrokerResource(rr.ResourceName); err != nil {
				sr.ErrorCode = kerr.InvalidRequest.Code
				sr.ErrorMessage = errMessage(err)
				break
			}
			values = meta.ResolveBrokerConfig(img, s.settings)
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = errMessage(fmt.Errorf("resource type %v is not supported", rr.ResourceType))
		}
		var names map[string]bool // nil or empty: every config, as Kafka
		if len(rr.ConfigNames) > 0 {
			names = make(map[string]bool, len(rr.ConfigNames))
			for _, n := range rr.ConfigNames {
				names[n] = true
			}
		}
		for _, v := range values {
			if names != nil && !names[v.Def.Name] {
				continue
			}
			sr.Configs = append(sr.Configs, describeConfig(v, r.IncludeSynonyms, r.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func describeConfig(v *meta.ConfigValue, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	cc := kmsg.NewDescribeConfigsResponseResourceConfig()
	cc.Name = v.Def.Name
	if !v.Def.Sensitive && !(v.Def.NoDefault && v.Source == meta.SourceDefault && v.Value == "") {
		val := v.Value
		cc.Value = &val
	}
	cc.ReadOnly = v.Def.ReadOnly
	cc.Source = kmsg.ConfigSource(v.Source)
	cc.IsDefault = v.Source == meta.SourceDefault
	cc.IsSensitive = v.Def.Sensitive
	cc.ConfigType = kmsg.ConfigType(v.Def.Type)
	if docs && v.Def.Doc != "" {
		doc := v.Def.Doc
		cc.Documentation = &doc
	}
	if synonyms {
		for _, syn := range v.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name = syn.Name
			if !v.Def.Sensitive {
				sv := syn.Value
				cs.Value = &sv
			}
			cs.Source = kmsg.ConfigSource(syn.Source)
			cc.ConfigSynonyms = append(cc.ConfigSynonyms, cs)
		}
	}
	return cc
}

// checkBrokerResource accepts "" (cluster default) or this node's id.
func (s *Server) checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || int32(id) != s.cfg.NodeID {
		return fmt.Errorf("broker resource %q: this is broker %d", name, s.cfg.NodeID)
	}
	return nil
}
