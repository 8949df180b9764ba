package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/log"
)

// partitionDamage is one partition's damaged ranges as a broker reported them.
type partitionDamage struct {
	partition int32
	broker    int32
	ranges    []log.DamagedRange
}

// describeDamage asks every broker for the log dirs of topics
// (DescribeLogDirs) and returns, per topic, the partitions whose response
// carries Sluice's damaged-ranges tag. It is informative: brokers that do
// not answer, or are not Sluice, contribute nothing.
func describeDamage(ctx context.Context, cl *kgo.Client, topics kadm.TopicDetails, names []string) map[string][]partitionDamage {
	req := kmsg.NewPtrDescribeLogDirsRequest()
	for _, name := range names {
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic = name
		for _, p := range topics[name].Partitions.Sorted() {
			rt.Partitions = append(rt.Partitions, p.Partition)
		}
		req.Topics = append(req.Topics, rt)
	}
	out := map[string][]partitionDamage{}
	for _, shard := range cl.RequestSharded(ctx, req) {
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
						out[t.Topic] = append(out[t.Topic], partitionDamage{partition: p.Partition, broker: shard.Meta.NodeID, ranges: rs})
					})
				}
			}
		}
	}
	for _, ps := range out {
		slices.SortFunc(ps, func(a, b partitionDamage) int { return int(a.partition - b.partition) })
	}
	return out
}

// writeDamage prints a topic's damaged ranges after its partition table.
func writeDamage(w io.Writer, ps []partitionDamage) error {
	if len(ps) == 0 {
		return nil
	}
	fmt.Fprintln(w, "Damaged data (kept on disk; fetches of these offsets answer CORRUPT_MESSAGE, seek past them):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tBROKER\tSEGMENT\tBYTES\tOFFSETS\tFOUND-BY\tREASON")
	for _, p := range ps {
		for _, r := range p.ranges {
			offsets := fmt.Sprintf("%d-%d", r.FirstOffset, r.LastOffset)
			if r.Offsets() == 0 {
				offsets = "none"
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%d-%d\t%s\t%s\t%s\n", p.partition, p.broker, r.File(), r.Start, r.End, offsets, r.FoundBy, r.Reason)
		}
	}
	return tw.Flush()
}
