package client

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// planText is the plan as "partition:old->new" items.
func planText(p *OffsetReset) string {
	var b []string
	for _, r := range p.Partitions {
		b = append(b, fmt.Sprintf("%d:%d->%d", r.Partition, r.Old, r.New))
	}
	return strings.Join(b, " ")
}

// TestOffsetReset plans resets of an empty group on a topic whose partition
// 0 holds offsets 0-9 and partition 1 offsets 0-3, commits one, and checks
// that an active group, a missing partition and a missing topic are refused.
func TestOffsetReset(t *testing.T) {
	c, adm := testCluster(t, brokertest.WithSetting("group.initial.rebalance.delay.ms", "0"))
	ctx := testContext(t)
	mustCreate(t, adm, "t", 2)
	produceTo(t, c, "t", 0, strings.Split("0 1 2 3 4 5 6 7 8 9", " ")...)
	produceTo(t, c, "t", 1, "a", "b", "c", "d")
	next := kadm.Offsets{}
	next.AddOffset("t", 0, 5, -1)
	if _, err := adm.adm.CommitOffsets(ctx, "g", next); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name       string
		partitions []int32
		to         Position
		want       string
	}{
		{"earliest", nil, Position{Kind: Earliest}, "0:5->0 1:-1->0"},
		{"latest", nil, Position{Kind: Latest}, "0:5->10 1:-1->4"},
		{"offset, clamped to the end", nil, Position{Kind: AtOffset, N: 7}, "0:5->7 1:-1->4"},
		{"before the end", nil, Position{Kind: BeforeEnd, N: 3}, "0:5->7 1:-1->1"},
		{"a time before every record", nil, Position{Kind: AtTime, N: 0}, "0:5->0 1:-1->0"},
		{"a time after every record", nil, Position{Kind: AtTime, N: time.Now().Add(time.Hour).UnixMilli()}, "0:5->10 1:-1->4"},
		{"given partitions, in order", []int32{1, 0}, Position{Kind: AtOffset, N: 2}, "1:-1->2 0:5->2"},
	} {
		plan, err := adm.PlanOffsetReset(ctx, "g", "t", tc.partitions, tc.to)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := planText(plan); got != tc.want {
			t.Errorf("%s: plan %s, want %s", tc.name, got, tc.want)
		}
	}

	plan, err := adm.PlanOffsetReset(ctx, "g", "t", []int32{1}, Position{Kind: AtOffset, N: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.CommitOffsetReset(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if plan, err = adm.PlanOffsetReset(ctx, "g", "t", nil, Position{Kind: Earliest}); err != nil || planText(plan) != "0:5->0 1:3->0" {
		t.Errorf("after committing 3 on partition 1, the plan is %v (%v), want old offsets 5 and 3", planText(plan), err)
	}

	_, err = adm.PlanOffsetReset(ctx, "g", "t", []int32{2}, Position{Kind: Earliest})
	var pe *UnknownPartitionError
	if !errors.As(err, &pe) || err.Error() != `topic "t" has no partition 2 (it has 2)` {
		t.Errorf("partition 2 of 2: %v", err)
	}
	if _, err = adm.PlanOffsetReset(ctx, "g", "nope", nil, Position{Kind: Earliest}); err == nil ||
		!strings.HasPrefix(err.Error(), `topic "nope": UNKNOWN_TOPIC_OR_PARTITION`) {
		t.Errorf("a missing topic: %v", err)
	}

	// A group with a member is refused.
	cl, err := c.NewClient(kgo.ConsumerGroup("active"), kgo.ConsumeTopics("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		if fs := cl.PollRecords(ctx, 1); fs.NumRecords() > 0 || ctx.Err() != nil {
			break
		}
	}
	_, err = adm.PlanOffsetReset(ctx, "active", "t", nil, Position{Kind: Earliest})
	if err == nil || !strings.Contains(err.Error(), `group "active" is Stable with 1 members: stop its consumers`) {
		t.Errorf("resetting an active group: %v", err)
	}
}

// TestGroupAdmin lists, describes and deletes groups.
func TestGroupAdmin(t *testing.T) {
	c, adm := testCluster(t)
	ctx := testContext(t)
	mustCreate(t, adm, "t", 1)
	produceTo(t, c, "t", 0, "a", "b", "c")
	next := kadm.Offsets{}
	next.AddOffset("t", 0, 1, -1)
	if _, err := adm.adm.CommitOffsets(ctx, "g", next); err != nil {
		t.Fatal(err)
	}

	listed, err := adm.ListGroups(ctx)
	if err != nil || len(listed) != 1 || listed[0].Group != "g" {
		t.Errorf("ListGroups = %+v, %v; want g", listed, err)
	}
	groups, err := adm.DescribeGroups(ctx, "g", "never")
	if err == nil || !strings.HasPrefix(err.Error(), `group "never": GROUP_ID_NOT_FOUND`) {
		t.Errorf("describing a group that never existed: %v, want GROUP_ID_NOT_FOUND naming it", err)
	}
	if l := groups["g"].Lag.Sorted(); len(l) != 1 || l[0].Commit.At != 1 || l[0].End.Offset != 3 || l[0].Lag != 2 {
		t.Errorf("g's lag: %+v, want committed 1, end 3, lag 2", l)
	}
	if _, ok := groups["never"]; ok || len(groups) != 1 {
		t.Errorf("described %d groups, want g alone", len(groups))
	}
	if err := adm.DeleteGroups(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := adm.DeleteGroups(ctx, "g"); err == nil || !strings.HasPrefix(err.Error(), `group "g": GROUP_ID_NOT_FOUND`) {
		t.Errorf("deleting a deleted group: %v", err)
	}
}
