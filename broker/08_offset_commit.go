package broker

// OffsetCommit, key 8: versions 2-9.
//
// Served by the group coordinator (broker/group): committed offsets of a group; v10 (topic IDs) is not served.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleOffsetCommit(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
