package broker

// DescribeQuorum, key 55: versions 0-1, for kafka-metadata-quorum and
// kadm. The one partition is __cluster_metadata-0: the leader is the
// metadata quorum's leader, the leader epoch its Raft term, the high
// watermark its commit index. The leader knows every voter's log end and
// when it last heard from it (and when that showed it caught up); another
// node answers with what it knows, its own log end and -1 for the others.
// A single node is a one-voter quorum of itself. Any other topic or
// partition is UNKNOWN_TOPIC_OR_PARTITION.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopicName is Kafka's name for the metadata log.
const metadataTopicName = "__cluster_metadata"

func handleDescribeQuorum(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.DescribeQuorumRequest)
	resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
	for i, rt := range r.Topics {
		if i > 0 {
			break // one topic, answered once
		}
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for j, rp := range rt.Partitions {
			if j > 0 {
				break
			}
			sp := kmsg.NewDescribeQuorumResponseTopicPartition()
			sp.Partition = rp.Partition
			if rt.Topic != metadataTopicName || rp.Partition != 0 {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				c.s.describeQuorum(&sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (s *Server) describeQuorum(sp *kmsg.DescribeQuorumResponseTopicPartition) {
	replica := func(id int32, end int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = id, end
		return rs
	}
	if s.cluster == nil {
		end := s.meta.Image().Offset() + 1
		sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = s.cfg.NodeID, 0, end
		rs := replica(s.cfg.NodeID, end)
		rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = s.now().UnixMilli(), s.now().UnixMilli()
		sp.CurrentVoters = append(sp.CurrentVoters, rs)
		return
	}
	st := s.cluster.node.Status()
	sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = -1, int32(st.Term), int64(st.Commit)
	if st.Leader != 0 {
		sp.LeaderID = nodeID(st.Leader)
	}
	add := func(id uint64, learner bool) {
		rs := replica(nodeID(id), -1)
		if id == st.ID {
			rs.LogEndOffset = int64(st.LastIndex)
		}
		if p, ok := st.Peers[id]; ok {
			rs.LogEndOffset = int64(p.Match)
			if !p.LastResponse.IsZero() {
				rs.LastFetchTimestamp = p.LastResponse.UnixMilli()
			}
			if !p.LastCaughtUp.IsZero() {
				rs.LastCaughtUpTimestamp = p.LastCaughtUp.UnixMilli()
			}
		}
		if learner {
			sp.Observers = append(sp.Observers, rs)
		} else {
			sp.CurrentVoters = append(sp.CurrentVoters, rs)
		}
	}
	for _, id := range st.Voters {
		add(id, false)
	}
	for _, id := range st.Learners {
		add(id, true)
	}
}
