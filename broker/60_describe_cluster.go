package broker

// DescribeCluster, key 60: versions 0-1 (v1 adds the endpoint type). The
// brokers and controller are Metadata's (metadataBrokers): this node on a
// single node; the unfenced brokers and the quorum's leader in a cluster.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeCluster(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	s := c.s
	resp.ClusterID = s.currentClusterID()
	resp.EndpointType = r.EndpointType
	brokers, controller := s.metadataBrokers(s.meta.Image())
	resp.ControllerID = controller
	for _, mb := range brokers {
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, b)
	}
	return resp
}
