package broker

// FindCoordinator, key 10: versions 0-6.
//
// A single node coordinates every group; in a cluster a group's
// coordinator is the leader of its __consumer_offsets partition
// (groups_cluster.go). The first request starts the group
// coordinator (creating __consumer_offsets if needed) and waits briefly for
// it to load; until it has, the answer is COORDINATOR_NOT_AVAILABLE and the
// client retries. Transactions are not supported: transactional IDs get
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which Kafka's clients treat as
// fatal (COORDINATOR_NOT_AVAILABLE made them retry forever: a Kafka Streams
// app with exactly_once_v2 hung in REBALANCING); share groups (type 2) get
// INVALID_REQUEST.
// From v4 the request carries several keys; a key named more than once is
// answered once, and an error message goes with the first 16 keys only (one
// per key would make many short keys a large answer).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
)

// maxCoordinatorMessages is how many keys of a FindCoordinator answer carry
// the error message.
const maxCoordinatorMessages = 16

func handleFindCoordinator(ctx context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := c.s.advertised()
	var code *kerr.Error
	var text string
	switch r.CoordinatorType {
	case 0:
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		if !c.s.groupsLoaded(wait) {
			code = kerr.CoordinatorNotAvailable
		}
		cancel()
	case 1:
		code = kerr.TransactionalIDAuthorizationFailed
		text = "transactions are not supported by this broker yet: use an idempotent producer without transactional.id (Kafka Streams: processing.guarantee=at_least_once)"
	default:
		code = kerr.InvalidRequest
	}
	if code != nil && text == "" {
		text = code.Description
	}
	messages := maxCoordinatorMessages
	answer := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key, rc.NodeID, rc.Host, rc.Port = key, c.s.cfg.NodeID, host, port
		code, text := code, text
		if code == nil && c.s.cluster != nil {
			// In a cluster: the leader of the group's offsets partition.
			if b, err := c.s.coordinatorOf(key); err != nil {
				code, text = err, err.Description
			} else {
				rc.NodeID, rc.Host, rc.Port = b.NodeID, b.Host, b.Port
			}
		}
		if code != nil {
			rc.NodeID, rc.Host, rc.Port = -1, "", -1
			rc.ErrorCode = code.Code
			if messages > 0 {
				messages--
				rc.ErrorMessage = &text
			}
		}
		return rc
	}
	if req.version < 4 {
		rc := answer(r.CoordinatorKey)
		resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = rc.NodeID, rc.Host, rc.Port, rc.ErrorCode, rc.ErrorMessage
		return resp
	}
	seen := mention.Seen[string]{}
	for _, key := range r.CoordinatorKeys {
		if seen.First(key) {
			resp.Coordinators = append(resp.Coordinators, answer(key))
		}
	}
	return resp
}
