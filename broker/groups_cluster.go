package broker

// Groups in a cluster: a group's coordinator is the leader of its
// __consumer_offsets partition (Kafka's rule: abs(hash(group)) mod
// partitions), so FindCoordinator answers with that leader and every
// other broker answers the group's requests with NOT_COORDINATOR, which
// sends clients to find it again. A coordinator writes a group's records
// to the partition it leads and answers once they are committed (the high
// watermark passed them), so committed offsets survive the loss of a
// broker. When a broker starts leading an offsets partition it reloads
// the groups from its replica of the logs (restarting its coordinator:
// groups on the partitions it kept rejoin, a rebalance).

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/meta"
)

// groupKeys names the groups a group request is about; ListGroups names
// none (each broker lists the groups it coordinates, as Kafka's do).
func groupKeys(body kmsg.Request) []string {
	switch r := body.(type) {
	case *kmsg.JoinGroupRequest:
		return []string{r.Group}
	case *kmsg.SyncGroupRequest:
		return []string{r.Group}
	case *kmsg.HeartbeatRequest:
		return []string{r.Group}
	case *kmsg.LeaveGroupRequest:
		return []string{r.Group}
	case *kmsg.OffsetCommitRequest:
		return []string{r.Group}
	case *kmsg.OffsetDeleteRequest:
		return []string{r.Group}
	case *kmsg.OffsetFetchRequest:
		if len(r.Groups) > 0 {
			out := make([]string, len(r.Groups))
			for i, g := range r.Groups {
				out[i] = g.Group
			}
			return out
		}
		return []string{r.Group}
	case *kmsg.DescribeGroupsRequest:
		return r.Groups
	case *kmsg.DeleteGroupsRequest:
		return r.Groups
	case *kmsg.ConsumerGroupHeartbeatRequest:
		return []string{r.Group}
	case *kmsg.ConsumerGroupDescribeRequest:
		return r.Groups
	}
	return nil
}

// groupPartition is a group's __consumer_offsets partition state, if the
// topic is replicated.
func (s *Server) groupPartition(img *meta.Image, group string) (meta.PartitionState, bool) {
	t, ok := img.Topic(offsetsTopic)
	if !ok || len(t.Parts) == 0 {
		return meta.PartitionState{}, false
	}
	return t.Parts[offsetsPartition(group, int(t.Partitions))], true
}

// coordinatesHere reports whether this broker coordinates every group a
// request names (always on a single node).
func (s *Server) coordinatesHere(body kmsg.Request) bool {
	if s.cluster == nil {
		return true
	}
	img := s.meta.Image()
	for _, g := range groupKeys(body) {
		if st, ok := s.groupPartition(img, g); !ok || st.Leader != s.cfg.NodeID {
			return false
		}
	}
	return true
}

// coordinatorOf is the broker coordinating group in a cluster, or ok
// false with the error for FindCoordinator.
func (s *Server) coordinatorOf(group string) (*meta.Broker, *kerr.Error) {
	img := s.meta.Image()
	st, ok := s.groupPartition(img, group)
	if !ok || st.Leader == meta.NoLeader {
		return nil, kerr.CoordinatorNotAvailable
	}
	b, ok := img.Broker(st.Leader)
	if !ok || b.Fenced {
		return nil, kerr.CoordinatorNotAvailable
	}
	return b, nil
}

// awaitOffsetsCommitted waits until the group's records appended to p
// (ending at end, in leader epoch epoch) are committed.
func awaitOffsetsCommitted(ctx context.Context, p *partition, end int64, epoch int32) error {
	if p.state.Load() == nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if e := p.awaitCommitted(wctx, end, epoch); e != nil {
		return fmt.Errorf("%s-%d: %w", offsetsTopic, p.index, e)
	}
	return nil
}

// restartGroupsOnLeadership restarts the coordinator when this broker
// starts leading an offsets partition it did not lead, so that it loads
// those groups from the replicated log.
func (s *Server) restartGroupsOnLeadership(old, img *meta.Image) {
	if s.cluster == nil {
		return
	}
	nt, ok := img.Topic(offsetsTopic)
	if !ok || len(nt.Parts) == 0 {
		return
	}
	ot, _ := old.Topic(offsetsTopic)
	gained := false
	for i, p := range nt.Parts {
		wasLeader := ot != nil && i < len(ot.Parts) && ot.Parts[i].Leader == s.cfg.NodeID
		if p.Leader == s.cfg.NodeID && !wasLeader && ot != nil {
			gained = true
		}
	}
	if !gained {
		return
	}
	gs := &s.groupState
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if c := gs.started.Swap(nil); c != nil {
		s.logger.Info("this broker leads more __consumer_offsets partitions: reloading groups")
		c.Close()
		gs.loaded = make(chan struct{})
	}
}
