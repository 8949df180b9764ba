package broker_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// TestLongNamesInErrorMessages: an error message quoting a name from the
// request is cut to a bounded length. Found by TestAPIFuzz: a 32,750-byte
// config name in a non-flexible AlterConfigs made a message past 32,767
// bytes, which a 16-bit string length cannot carry, so the answer did not
// decode.
func TestLongNamesInErrorMessages(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, kadmClient(t, newClient(t, b.Addr())), "t", 1, nil)
	long := strings.Repeat("x", 32750)
	f := &ampFixture{b: b}
	for _, c := range []struct {
		name string
		req  kmsg.Request
		msg  func(kmsg.Response) (int16, *string)
	}{
		{"AlterConfigs v1, unknown key", func() kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			r.SetVersion(1)
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
			rr.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: long, Value: kmsg.StringPtr("1")}}
			r.Resources = append(r.Resources, rr)
			return r
		}(), func(resp kmsg.Response) (int16, *string) {
			r := resp.(*kmsg.AlterConfigsResponse).Resources[0]
			return r.ErrorCode, r.ErrorMessage
		}},
		{"CreateTopics v4, name too long", func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.SetVersion(4)
			r.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: long, NumPartitions: 1, ReplicationFactor: 1}}
			return r
		}(), func(resp kmsg.Response) (int16, *string) {
			r := resp.(*kmsg.CreateTopicsResponse).Topics[0]
			return r.ErrorCode, r.ErrorMessage
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, resp := f.exchange(t, c.req)
			code, msg := c.msg(resp)
			if code == 0 || msg == nil || len(*msg) > 1100 {
				t.Fatalf("error %v, message of %d bytes; want an error and a message under 1100 bytes", kerr.ErrorForCode(code), len(deref(msg)))
			}
			t.Logf("%v: %.120s", kerr.ErrorForCode(code), *msg)
		})
	}
}

// TestLongClientIDMemberID: a member ID made from the client ID (or a
// static member's instance ID) stays a string a non-flexible answer can
// carry. A 32,767-byte client ID made a 32,800-byte member ID, whose 16-bit
// length wrapped in JoinGroup v4.
func TestLongClientIDMemberID(t *testing.T) {
	b := brokertest.Start(t, groupSettings("")...)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "long-client" // loads the group coordinator
	if _, err := fc.RequestWith(testCtx(t), newClient(t, b.Addr())); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, b.Addr())
	id := strings.Repeat("c", 32767)
	join := func(v int16, group string, instance *string) *kmsg.JoinGroupResponse {
		t.Helper()
		req := kmsg.NewPtrJoinGroupRequest()
		req.SetVersion(v)
		req.Group, req.ProtocolType, req.InstanceID = group, "consumer", instance
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
		c.writeFrame(frameRequestAs(req, int32(v), &id))
		_, body, err := c.recv()
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		resp, err := decodeAnswer(req, body)
		if err != nil {
			t.Fatalf("v%d: the answer does not decode: %v", v, err)
		}
		r := resp.(*kmsg.JoinGroupResponse)
		if len(r.MemberID) == 0 || len(r.MemberID) > 32767 {
			t.Fatalf("v%d: member ID of %d bytes", v, len(r.MemberID))
		}
		return r
	}
	for v := int16(4); v <= 9; v++ {
		if r := join(v, "long-client", nil); r.ErrorCode != kerr.MemberIDRequired.Code {
			t.Fatalf("v%d: %v, want MEMBER_ID_REQUIRED", v, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	// A static member joins, then rejoins without its member ID: the new
	// ID starts with its instance ID.
	for i := 0; i < 2; i++ {
		if r := join(5, "long-static", &id); r.ErrorCode != 0 {
			t.Fatalf("static join %d: %v", i, kerr.ErrorForCode(r.ErrorCode))
		}
	}
}
