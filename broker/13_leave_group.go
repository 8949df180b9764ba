package broker

// LeaveGroup, key 13: versions 0-5.
//
// Served by the group coordinator (broker/group): from v3 several members at once (KIP-345).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleLeaveGroup(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
