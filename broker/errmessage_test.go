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
