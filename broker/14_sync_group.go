package broker

// SyncGroup, key 14: versions 0-5.
//
// Served by the group coordinator (broker/group): blocks until the leader's assignment arrives.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleSyncGroup(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
