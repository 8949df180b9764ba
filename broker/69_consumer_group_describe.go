package broker

// ConsumerGroupDescribe, key 69: versions 0-1.
//
// Served by the group coordinator (broker/group): members, epochs, current and target assignments of KIP-848 groups.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleConsumerGroupDescribe(ctx context.Context, c *conn, req *request) kmsg.Response {
	return handleGroupRequest(ctx, c, req)
}
