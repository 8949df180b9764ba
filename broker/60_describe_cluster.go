package broker

// DescribeCluster, key 60: versions 0-1 (v1 adds the endpoint type).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeCluster(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	s := c.s
	resp.ClusterID = s.clusterID
	resp.ControllerID = s.cfg.NodeID
	resp.EndpointType = r.EndpointType
	host, port := s.advertised()
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, host, port
	resp.Brokers = append(resp.Brokers, b)
	return resp
}
