package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/brokertest"
)

// TestOffsetForLeaderEpoch answers from the log's leader-epoch checkpoint:
// the current epoch (0 on a single node) ends at the log end, a newer one
// is unknown (-1/-1), and a CurrentLeaderEpoch ahead of the partition's is
// UNKNOWN_LEADER_EPOCH.
func TestOffsetForLeaderEpoch(t *testing.T) {
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr(), kgo.AllowAutoTopicCreation())
	produceValues(t, cl, "ofle", "a", "b", "c")
	ask := func(current, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "ofle"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	for _, tc := range []struct {
		current, epoch int32
		code           int16
		gotEpoch       int32
		end            int64
	}{
		{-1, 0, 0, 0, 3},
		{0, 0, 0, 0, 3},
		{-1, 1, 0, -1, -1},
		{-1, -1, 0, -1, -1},
		{1, 0, kerr.UnknownLeaderEpoch.Code, -1, -1},
	} {
		p := ask(tc.current, tc.epoch)
		if p.ErrorCode != tc.code || p.LeaderEpoch != tc.gotEpoch || p.EndOffset != tc.end {
			t.Errorf("current %d epoch %d: error %v, epoch %d, end %d; want %v, %d, %d", tc.current, tc.epoch,
				kerr.ErrorForCode(p.ErrorCode), p.LeaderEpoch, p.EndOffset, kerr.ErrorForCode(tc.code), tc.gotEpoch, tc.end)
		}
	}
}
