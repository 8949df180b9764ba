package broker

// ConsumerGroupHeartbeat, key 68: versions 0-1.
//
// Served by the group coordinator (broker/group): the KIP-848 consumer protocol; the coordinator assigns partitions (uniform assignor).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleConsumerGroupHeartbeat(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
