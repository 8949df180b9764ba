package broker_test

// Bounded answers: a small request must not get a huge answer. Each case
// sends one raw request that names a resource many times (or many cheap
// resources) and checks that the answer stays within a small factor of the
// request plus a fixed allowance, and that the distinct resources are
// answered correctly. The fixture and the exchange helper are here; the
// cases are in amplify_cases_test.go.

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// ampFixture is a broker holding what the cases ask about: topic amp (16
// partitions, a 4 KiB record in partition 0), topic keep, a stable classic
// group cg with one member whose metadata and assignment are 1 KiB each and
// offsets committed for every partition of amp, and a KIP-848 group kg with
// one member subscribed to amp.
type ampFixture struct {
	b        *brokertest.Broker
	cl       *kgo.Client
	ampID    [16]byte
	member   string // cg's member
	gen      int32  // cg's generation
	kgMember string
}

const ampPartitions = 16

func newAmpFixture(t *testing.T) *ampFixture {
	t.Helper()
	b := brokertest.Start(t, groupSettings("")...)
	ctx := testCtx(t)
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	createTopic(t, adm, "amp", ampPartitions, nil)
	createTopic(t, adm, "keep", 1, nil)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "amp", Partition: 0, Value: bytes.Repeat([]byte("v"), 4096)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	f := &ampFixture{b: b, cl: cl, kgMember: "kg-member-0001"}
	md, err := adm.Metadata(ctx, "amp")
	if err != nil {
		t.Fatal(err)
	}
	f.ampID = md.Topics["amp"].ID

	join := func(member string) *kmsg.JoinGroupResponse {
		r := kmsg.NewPtrJoinGroupRequest()
		r.Group, r.MemberID, r.ProtocolType = "cg", member, "consumer"
		r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 300000, 300000
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: bytes.Repeat([]byte("m"), 1024)}}
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := join("")
	joined := join(first.MemberID)
	if joined.ErrorCode != 0 {
		t.Fatalf("join cg: %v", kerr.ErrorForCode(joined.ErrorCode))
	}
	f.member, f.gen = joined.MemberID, joined.Generation
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = "cg", f.gen, f.member
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: f.member, MemberAssignment: bytes.Repeat([]byte("a"), 1024)}}
	if resp, err := sync.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("sync cg: %v %v", err, resp)
	}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation, commit.MemberID = "cg", f.gen, f.member
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "amp"
	for p := int32(0); p < ampPartitions; p++ {
		ct.Partitions = append(ct.Partitions, kmsg.OffsetCommitRequestTopicPartition{Partition: p, Offset: int64(p) + 100})
	}
	commit.Topics = append(commit.Topics, ct)
	cresp, err := commit.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cresp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("commit cg: partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}

	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch = "kg", f.kgMember, 0
	hb.RebalanceTimeoutMillis = 60000
	hb.SubscribedTopicNames = []string{"amp"}
	hresp, err := hb.RequestWith(ctx, cl)
	if err != nil || hresp.ErrorCode != 0 {
		t.Fatalf("heartbeat kg: %v %v", err, hresp)
	}
	return f
}

// exchange sends req (at its set version) on a new connection and returns
// the sizes of the request and response frames and the decoded response.
func (f *ampFixture) exchange(t *testing.T, req kmsg.Request) (int, int, kmsg.Response) {
	t.Helper()
	c := dialRaw(t, f.b.Addr())
	defer c.nc.Close()
	sent := c.send(req, 7)
	corr, body, err := c.recv()
	if err != nil {
		t.Fatalf("%s v%d: no answer: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	if corr != 7 {
		t.Fatalf("correlation id %d, want 7", corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		body = body[1:] // response header v1: no tagged fields
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("%s v%d: decoding the answer: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return sent, len(body) + 8, resp
}

// ampCase is one amplifying request and what its answer must say.
type ampCase struct {
	name string
	// factor bounds the answer: answer bytes <= factor*request bytes +
	// slack. 0 means 4; a case names a larger one only where the protocol
	// itself answers each distinct entry with more bytes than it costs.
	factor int
	// slack is the fixed allowance in bytes; 0 means 64 KiB.
	slack int
	req   func(t *testing.T, f *ampFixture) kmsg.Request
	check func(t *testing.T, f *ampFixture, resp kmsg.Response)
}

func runAmpCases(t *testing.T, f *ampFixture, cases []ampCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			factor, slack := c.factor, c.slack
			if factor == 0 {
				factor = 4
			}
			if slack == 0 {
				slack = 64 << 10
			}
			req := c.req(t, f)
			sent, got, resp := f.exchange(t, req)
			t.Logf("%s v%d: request %d bytes, answer %d bytes (%.2fx)", kmsg.NameForKey(req.Key()), req.GetVersion(), sent, got, float64(got)/float64(sent))
			if limit := factor*sent + slack; got > limit {
				t.Errorf("answer of %d bytes to a request of %d bytes; want at most %d (%dx + %d)", got, sent, limit, factor, slack)
			}
			c.check(t, f, resp)
		})
	}
}

// repeat returns n copies of v.
func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// wantCode fails unless code is want.
func wantCode(t *testing.T, what string, code int16, want *kerr.Error) {
	t.Helper()
	if code != want.Code {
		t.Errorf("%s: %v, want %v", what, kerr.ErrorForCode(code), want)
	}
}

// entryCodes returns the error codes of the innermost entries of v that
// carry one: partitions, topics, resources.
func entryCodes(v reflect.Value) []int16 {
	var out []int16
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Struct {
			continue
		}
		for j := 0; j < f.Len(); j++ {
			e := f.Index(j)
			if inner := entryCodes(e); len(inner) > 0 {
				out = append(out, inner...)
			} else if c := e.FieldByName("ErrorCode"); c.IsValid() {
				out = append(out, int16(c.Int()))
			}
		}
	}
	return out
}

// wantOK fails unless code is 0.
func wantOK(t *testing.T, what string, code int16) {
	t.Helper()
	if code != 0 {
		t.Errorf("%s: %v", what, kerr.ErrorForCode(code))
	}
}

// wantLen fails unless n entries answered what.
func wantLen(t *testing.T, what string, n, want int) bool {
	t.Helper()
	if n != want {
		t.Errorf("%s: %d entries, want %d", what, n, want)
		return false
	}
	return true
}

func topicNames(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}
