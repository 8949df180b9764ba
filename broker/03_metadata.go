package broker

// Metadata, key 3: versions 0-12.
//
// A single node is the only broker, the controller, and the leader of
// every partition (leader epoch 0, replicas and ISR [node]). In a cluster
// the brokers are the registered, unfenced ones, the controller is the
// metadata quorum's leader, and each partition is as the metadata holds
// it: leader (LEADER_NOT_AVAILABLE with none), leader epoch, replicas,
// ISR and the replicas on fenced brokers as offline. Unknown topics are
// created when auto.create.topics.enable is on and the request allows it
// (v4+), with num.partitions and default.replication.factor. From v10 topics
// carry their IDs and may be asked for by ID. A topic named more than once
// is answered once (duplicates.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
	"github.com/sluicehq/sluice/broker/meta"
)

func handleMetadata(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.MetadataRequest)
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	s := c.s
	img := s.meta.Image()
	resp.Brokers, resp.ControllerID = s.metadataBrokers(img)
	clusterID := s.currentClusterID()
	resp.ClusterID = &clusterID

	all := r.Topics == nil || (req.version == 0 && len(r.Topics) == 0)
	if all {
		for _, t := range img.Topics() {
			resp.Topics = append(resp.Topics, s.metadataTopic(t))
		}
		return resp
	}
	autoCreate := s.settings.AutoCreateTopicsEnable && (req.version < 4 || r.AllowAutoTopicCreation)
	seen := mention.Seen[topicPartition]{}
	for _, rt := range r.Topics {
		var t *meta.Topic
		var ok bool
		byID := rt.Topic == nil || *rt.Topic == ""
		k := topicPartition{id: rt.TopicID}
		if !byID {
			k = topicPartition{topic: *rt.Topic}
		}
		if !seen.First(k) {
			continue // answered once, for its first mention
		}
		if byID {
			t, ok = img.TopicByID(meta.TopicID(rt.TopicID))
			if !ok {
				st := kmsg.NewMetadataResponseTopic()
				st.TopicID = rt.TopicID
				st.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
		} else {
			name := *rt.Topic
			t, ok = img.Topic(name)
			if !ok && autoCreate {
				var err error
				t, err = s.autoCreate(ctx, name)
				ok = err == nil
				if err != nil {
					st := kmsg.NewMetadataResponseTopic()
					st.Topic = &name
					st.ErrorCode = metaErrorCode(err).Code
					resp.Topics = append(resp.Topics, st)
					continue
				}
			}
			if !ok {
				st := kmsg.NewMetadataResponseTopic()
				st.Topic = &name
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
				if meta.ValidateTopicName(name) != nil {
					st.ErrorCode = kerr.InvalidTopicException.Code
				}
				resp.Topics = append(resp.Topics, st)
				continue
			}
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(t))
	}
	return resp
}

// metadataBrokers lists the brokers clients may use and the controller:
// this node alone on a single node; the unfenced registered brokers and
// the quorum's leader in a cluster.
func (s *Server) metadataBrokers(img *meta.Image) ([]kmsg.MetadataResponseBroker, int32) {
	if s.cluster == nil {
		host, port := s.advertised()
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = s.cfg.NodeID, host, port
		return []kmsg.MetadataResponseBroker{b}, s.cfg.NodeID
	}
	var out []kmsg.MetadataResponseBroker
	for _, br := range img.Brokers() {
		if br.Fenced {
			continue
		}
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = br.NodeID, br.Host, br.Port
		if br.Rack != "" {
			rack := br.Rack
			b.Rack = &rack
		}
		out = append(out, b)
	}
	return out, s.cluster.controllerID()
}

func (s *Server) metadataTopic(t *meta.Topic) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	name := t.Name
	st.Topic = &name
	st.TopicID = t.ID
	st.IsInternal = isInternalTopic(t.Name)
	if len(t.Parts) > 0 {
		img := s.meta.Image()
		for i, ps := range t.Parts {
			sp := kmsg.NewMetadataResponseTopicPartition()
			sp.Partition = int32(i)
			sp.Leader, sp.LeaderEpoch = ps.Leader, ps.LeaderEpoch
			sp.Replicas, sp.ISR = ps.Replicas, ps.ISR
			if sp.ISR == nil {
				sp.ISR = []int32{}
			}
			for _, r := range ps.Replicas {
				if b, ok := img.Broker(r); !ok || b.Fenced {
					sp.OfflineReplicas = append(sp.OfflineReplicas, r)
				}
			}
			if ps.Leader == meta.NoLeader {
				sp.ErrorCode = kerr.LeaderNotAvailable.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		return st
	}
	for i := int32(0); i < t.Partitions; i++ {
		sp := kmsg.NewMetadataResponseTopicPartition()
		sp.Partition = i
		sp.Leader = s.cfg.NodeID
		sp.LeaderEpoch = 0
		sp.Replicas = []int32{s.cfg.NodeID}
		sp.ISR = []int32{s.cfg.NodeID}
		st.Partitions = append(st.Partitions, sp)
	}
	return st
}
