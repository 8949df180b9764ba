package broker

// Heartbeat, key 12: versions 0-4.
//
// Served by the group coordinator (broker/group): keeps a member's session alive.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleHeartbeat(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
