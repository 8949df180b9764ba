package broker_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// Until transactions exist, a transactional client must stop at once with
// a fatal error rather than retry COORDINATOR_NOT_AVAILABLE forever (a
// Kafka Streams app with exactly_once_v2 hung in REBALANCING).
func TestFindTransactionCoordinatorFailsFast(t *testing.T) {
	b := brokertest.Start(t)
	rc := dialRaw(t, b.Addr())
	for i, v := range []int16{1, 3, 4, 6} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.SetVersion(v)
		req.CoordinatorType = 1
		req.CoordinatorKey = "tx-a"
		req.CoordinatorKeys = []string{"tx-a", "tx-b"}
		rc.send(req, int32(i))
		_, body, err := rc.recv()
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if req.IsFlexible() {
			body = body[1:] // response header v1: no tagged fields
		}
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.SetVersion(v)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("v%d: decoding the answer: %v", v, err)
		}
		type answer struct {
			code int16
			msg  *string
		}
		got := []answer{{resp.ErrorCode, resp.ErrorMessage}}
		if v >= 4 {
			got = got[:0]
			for _, c := range resp.Coordinators {
				got = append(got, answer{c.ErrorCode, c.ErrorMessage})
			}
			if len(got) != 2 {
				t.Fatalf("v%d: %d coordinators, want 2", v, len(got))
			}
		}
		for _, a := range got {
			if a.code != kerr.TransactionalIDAuthorizationFailed.Code {
				t.Errorf("v%d: error %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", v, kerr.ErrorForCode(a.code))
			}
			if v >= 1 && (a.msg == nil || !strings.Contains(*a.msg, "transactions are not supported")) {
				t.Errorf("v%d: message %q does not say transactions are not supported", v, deref(a.msg))
			}
		}
	}
}

// A franz-go transactional producer gets the fatal error at once; before,
// it retried until the context ran out.
func TestTransactionalProducerFailsFast(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithSetting("auto.create.topics.enable", "true"))
	cl := newClient(t, b.Addr(), kgo.TransactionalID("tx-producer"), kgo.DefaultProduceTopic("tx-topic"), kgo.AllowAutoTopicCreation())
	ctx := testCtx(t)
	// franz-go initialises the producer id in BeginTransaction, or else at
	// the first produce; either must carry the fatal error.
	err := cl.BeginTransaction()
	if err == nil {
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
	}
	if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("transactional producer: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}
