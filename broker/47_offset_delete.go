package broker

// OffsetDelete, key 47: versions 0-0.
//
// Served by the group coordinator (broker/group): offsets of topics the group is not subscribed to.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleOffsetDelete(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
