package broker_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// TestPartitionCap: CreateTopics, CreatePartitions and topic auto-creation
// by Metadata that would take the broker above max.broker.partitions are
// refused with POLICY_VIOLATION and a message naming the key; what fits
// is created.
func TestPartitionCap(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithSetting("max.broker.partitions", "20"),
		brokertest.WithSetting("num.partitions", "4"))
	ctx := testCtx(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	policy := func(what string, err error, msg string) {
		t.Helper()
		if !errors.Is(err, kerr.PolicyViolation) {
			t.Fatalf("%s: %v, want POLICY_VIOLATION", what, err)
		}
		if msg != "" && !strings.Contains(msg, "max.broker.partitions=20") {
			t.Fatalf("%s: message %q does not name max.broker.partitions", what, msg)
		}
	}

	createTopic(t, adm, "cap-a", 12, nil)
	resp, _ := adm.CreateTopic(ctx, 9, 1, nil, "cap-b")
	policy("CreateTopics", resp.Err, resp.ErrMessage)
	if resp.ErrMessage == "" {
		t.Fatal("CreateTopics: no error message")
	}
	vr, _ := adm.ValidateCreateTopics(ctx, 9, 1, nil, "cap-b")
	policy("CreateTopics validate_only", vr.Error(), "")

	cr, err := adm.CreatePartitions(ctx, 9, "cap-a")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := cr.On("cap-a", nil)
	policy("CreatePartitions", r.Err, r.ErrMessage)
	if r.ErrMessage == "" {
		t.Fatal("CreatePartitions: no error message")
	}

	// Auto-creation takes num.partitions (4): two topics fit (12+8 = 20),
	// the third does not.
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	for _, name := range []string{"cap-auto-1", "cap-auto-2", "cap-auto-3"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	mr, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range mr.Topics {
		err := kerr.ErrorForCode(st.ErrorCode)
		if i < 2 && err != nil {
			t.Errorf("auto-create %s: %v", *st.Topic, err)
		}
		if i == 2 {
			policy("auto-create by Metadata", err, "")
		}
	}

	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, d := range td {
		total += len(d.Partitions)
	}
	if total != 20 || td.Has("cap-b") || td.Has("cap-auto-3") {
		t.Fatalf("broker holds %d partitions in %v, want 20 without cap-b and cap-auto-3", total, td.Names())
	}
	// Deleting makes room again.
	if _, err := adm.DeleteTopics(ctx, "cap-auto-1"); err != nil {
		t.Fatal(err)
	}
	createTopic(t, adm, "cap-c", 4, nil)
}
