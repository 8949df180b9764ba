package broker

// JoinGroup, key 11: versions 2-9.
//
// Served by the group coordinator (broker/group): blocks until the group's rebalance completes.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleJoinGroup(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
