package client

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/log"
)

// PartitionDamage is one partition's damaged ranges as a Sluice broker
// reported them: data kept on disk whose offsets fetches answer with
// CORRUPT_MESSAGE.
type PartitionDamage struct {
	Partition int32
	Broker    int32 // the node that reported it
	Ranges    []log.DamagedRange
}

// describeDamage asks every broker for the log dirs of topics
// (DescribeLogDirs) and returns, per topic, the partitions whose response
// carries Sluice's damaged-ranges tag, sorted by partition. It is
// informative: brokers that do not answer, or are not Sluice, contribute
// nothing.
func (a *Admin) describeDamage(ctx context.Context, topics kadm.TopicDetails, names []string) map[string][]PartitionDamage {
	req := kmsg.NewPtrDescribeLogDirsRequest()
	for _, name := range names {
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic = name
		for _, p := range topics[name].Partitions.Sorted() {
			rt.Partitions = append(rt.Partitions, p.Partition)
		}
		req.Topics = append(req.Topics, rt)
	}
	out := map[string][]PartitionDamage{}
	for _, shard := range a.cl.RequestSharded(ctx, req) {
		resp, ok := shard.Resp.(*kmsg.DescribeLogDirsResponse)
		if shard.Err != nil || !ok {
			continue
		}
		for _, d := range resp.Dirs {
			for _, t := range d.Topics {
				for _, p := range t.Partitions {
					p.UnknownTags.Each(func(key uint32, val []byte) {
						if key != broker.DamagedRangesTag {
							return
						}
						rs, err := broker.DecodeDamagedRanges(val)
						if err != nil {
							rs = []log.DamagedRange{{Reason: fmt.Sprintf("(undecodable damage report: %v)", err)}}
						}
						out[t.Topic] = append(out[t.Topic], PartitionDamage{Partition: p.Partition, Broker: shard.Meta.NodeID, Ranges: rs})
					})
				}
			}
		}
	}
	for _, ps := range out {
		slices.SortFunc(ps, func(a, b PartitionDamage) int { return int(a.Partition - b.Partition) })
	}
	return out
}
