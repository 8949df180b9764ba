package broker

// InitProducerID, key 22: versions 0-5.
//
// Idempotent producers get a fresh id with epoch 0; a producer that asks to
// re-initialise its own id (KIP-360, ProducerID/ProducerEpoch set) gets the
// same id with the next epoch. Transactions are not supported yet: a
// transactional id is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
// which clients report as fatal instead of retrying forever.

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleInitProducerID(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		c.logger.Info("refused a transactional producer: transactions are not supported", "transactional_id", *r.TransactionalID)
		return resp
	}
	if r.ProducerID >= 0 && r.ProducerEpoch >= 0 && r.ProducerEpoch < math.MaxInt16-1 {
		resp.ProducerID, resp.ProducerEpoch = r.ProducerID, r.ProducerEpoch+1
		return resp
	}
	id, err := c.s.pids.next()
	if err != nil { // logged once by pids, not per request
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
