package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzReplay feeds arbitrary __consumer_offsets records to a loading
// group: decoding errors are returned, never panics, and a group that
// loaded still answers requests.
func FuzzReplay(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add(offsetKey("g", "t", 3), offsetValue(offsetEntry{offset: 42, epoch: 1, metadata: "m", commitTime: now}))
	g := New("g", DefaultConfig(), now)
	g.members["m1"] = &member{id: "m1", sessionTimeout: time.Second, rebalanceTimeout: time.Second}
	g.protocolType, g.protocol, g.generation = "consumer", "range", 3
	g.persistGroup(now)
	rec := g.Ready().Records[0]
	f.Add(rec.Key, rec.Value)
	f.Add(groupKey("g"), []byte{})
	// KIP-848 records: a member's metadata, the group epoch, target and
	// current assignments.
	cfg := DefaultConfig()
	cfg.Topics = fakeTopics{"t": {Name: "t", ID: topicID, Partitions: 3}}
	cg := New("g", cfg, now)
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.SubscribedTopicNames = 1, "g", "c1", []string{"t"}
	cg.Step(now, Request{ID: 1, Body: hb})
	for _, rec := range cg.Ready().Records {
		f.Add(rec.Key, rec.Value)
	}
	f.Add(consumerMemberKey(keyConsumerCurrent, "g", "c1"), []byte{})
	f.Add([]byte{0, 9, 0, 1, 'g'}, []byte{1, 2})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if _, err := RecordGroup(key); err != nil {
			return
		}
		g := New("g", DefaultConfig(), now)
		if err := g.Replay(key, value); err != nil {
			return
		}
		g.Loaded(now)
		g.Tick(now.Add(time.Hour))
		_ = g.Describe(5)
		_ = g.Summary()
	})
}
