package broker

// ListGroups, key 16: versions 0-5.
//
// Served by the group coordinator (broker/group): with state (v4) and type (v5) filters.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListGroups(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
