package broker

// DescribeGroups, key 15: versions 0-6.
//
// Served by the group coordinator (broker/group): members, assignments and state; v6 answers GROUP_ID_NOT_FOUND for unknown groups.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeGroups(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
