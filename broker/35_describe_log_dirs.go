package broker

// DescribeLogDirs, key 35: versions 1-4.
//
// One log directory, the data dir's topics folder, with every partition
// asked for (all of them when Topics is null) that this node holds: its
// size on disk, offset lag 0 and IsFuture false (there are no future
// replicas). A partition named more than once is answered once; unknown
// topics and partitions are left out, as Kafka does. v4 adds the folder's
// file system's total and usable bytes.
//
// From v2 (flexible) a partition with damaged ranges (broker/log
// DamagedRange) carries them in the tagged field DamagedRangesTag
// (damage.go), which Kafka's tools skip and `sluice topic describe` shows.

import (
	"context"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/broker/internal/mention"
)

func handleDescribeLogDirs(_ context.Context, c *conn, req *request) kmsg.Response {
	r := req.body.(*kmsg.DescribeLogDirsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	s := c.s
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = filepath.Join(s.cfg.DataDir, "topics")
	if abs, err := filepath.Abs(dir.Dir); err == nil {
		dir.Dir = abs
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.cfg.DataDir, &st); err == nil {
		dir.TotalBytes, dir.UsableBytes = int64(st.Blocks)*st.Bsize, int64(st.Bavail)*st.Bsize
	}
	topicIdx := map[string]int{}
	add := func(p *partition) {
		i := mention.Entry(topicIdx, &dir.Topics, p.topic, func() kmsg.DescribeLogDirsResponseDirTopic {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = p.topic
			return t
		})
		sp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		sp.Partition, sp.Size = p.index, p.log.Size()
		if dmg := p.log.Damage(); len(dmg) > 0 && r.Version >= 2 {
			sp.UnknownTags.Set(DamagedRangesTag, EncodeDamagedRanges(dmg))
		}
		dir.Topics[i].Partitions = append(dir.Topics[i].Partitions, sp)
	}
	if r.Topics == nil {
		for _, p := range s.sortedPartitions() {
			add(p)
		}
	}
	seen := mention.Seen[topicPartition]{}
	for _, rt := range r.Topics {
		for _, idx := range rt.Partitions {
			if !seen.First(topicPartition{topic: rt.Topic, partition: idx}) {
				continue
			}
			if p, perr := s.partition(rt.Topic, idx); perr == nil {
				add(p)
			}
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp
}
