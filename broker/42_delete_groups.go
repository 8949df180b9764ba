package broker

// DeleteGroups, key 42: versions 0-2.
//
// Served by the group coordinator (broker/group): only empty groups; their offsets get tombstones.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteGroups(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
