package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrorResponse answers a whole request with one error, placed where each
// API carries it (top level, per group or per partition).
func ErrorResponse(body kmsg.Request, err *kerr.Error) kmsg.Response {
	resp := body.ResponseKind()
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		r.ErrorCode = err.Code
		r.MemberID = body.(*kmsg.JoinGroupRequest).MemberID
	case *kmsg.SyncGroupResponse:
		r.ErrorCode = err.Code
	case *kmsg.HeartbeatResponse:
		r.ErrorCode = err.Code
	case *kmsg.LeaveGroupResponse:
		r.ErrorCode = err.Code
	case *kmsg.OffsetDeleteResponse:
		r.ErrorCode = err.Code
	case *kmsg.OffsetCommitResponse:
		for _, t := range body.(*kmsg.OffsetCommitRequest).Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, err.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	case *kmsg.OffsetFetchResponse:
		req := body.(*kmsg.OffsetFetchRequest)
		r.ErrorCode = err.Code
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, err.Code
			r.Groups = append(r.Groups, g)
		}
		if req.Version < 2 {
			// v0-1 have no top-level error: put it on every partition.
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, err.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				r.Topics = append(r.Topics, rt)
			}
		}
	case *kmsg.DescribeGroupsResponse:
		for _, id := range body.(*kmsg.DescribeGroupsRequest).Groups {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = id, err.Code
			r.Groups = append(r.Groups, g)
		}
	case *kmsg.DeleteGroupsResponse:
		for _, id := range body.(*kmsg.DeleteGroupsRequest).Groups {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = id, err.Code
			r.Groups = append(r.Groups, g)
		}
	case *kmsg.ListGroupsResponse:
		r.ErrorCode = err.Code
	case *kmsg.ConsumerGroupHeartbeatResponse:
		r.ErrorCode = err.Code
	case *kmsg.ConsumerGroupDescribeResponse:
		for _, id := range body.(*kmsg.ConsumerGroupDescribeRequest).Groups {
			g := kmsg.NewConsumerGroupDescribeResponseGroup()
			g.Group, g.ErrorCode = id, err.Code
			r.Groups = append(r.Groups, g)
		}
	}
	return resp
}
