package broker

// OffsetFetch, key 9: versions 1-9.
//
// Served by the group coordinator (broker/group): committed offsets; from v8 several groups at once.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleOffsetFetch(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
