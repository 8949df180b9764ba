package clusterfault_test

// The end of every test: heal, wait for full replication, stop the
// clients, read everything back and check it against the history, stop
// the brokers and compare their logs.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/clusterfault"
	"github.com/sluicehq/sluice/internal/history"
	"github.com/sluicehq/sluice/internal/testutil"
)

// finish ends a test's rounds with every check.
func (c *cluster) finish(w *workload) {
	c.t.Helper()
	c.healAll()
	c.waitHealthy(w, "after the last fault")
	w.stop()
	end := c.waitSettled()
	final := c.readAll(end)
	rep := w.h.Check(final)
	if err := rep.Err(); err != nil {
		c.t.Errorf("history check: %v", err)
	} else {
		c.logf("history check: %d acknowledged writes all stored once at their offsets, in order per producer; %d stored; no read past the high watermark", rep.Acked, rep.Stored)
	}
	c.stopAll()
	logs := c.readLogs()
	c.compareLogs(logs, end)
	c.checkEpochs(w, logs)
	c.logFailovers(w, logs)
}

// waitSettled waits until every replica's log ends at its partition's
// high watermark (the producers have stopped, so the followers catch up
// and the watermark reaches the log end) and returns the watermarks.
func (c *cluster) waitSettled() map[int32]int64 {
	c.t.Helper()
	end := map[int32]int64{}
	testutil.EventuallyNil(c.t, within, "every replica's log ending at the high watermark", func() error {
		c.checkAlive()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lo, err := c.adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		if err := lo.Error(); err != nil {
			return err
		}
		lo.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
		for p := range int32(partitions) {
			for _, n := range c.nodes {
				l, err := clusterfault.ReadLog(c.partitionDir(n, p))
				if err != nil {
					return err
				}
				if l.End() != end[p] {
					return fmt.Errorf("partition %d: node %d's log ends at %d, the high watermark is %d", p, n.id, l.End(), end[p])
				}
			}
		}
		return nil
	})
	c.logf("settled: high watermarks %v", end)
	return end
}

// readAll reads every partition from the start to end with a fresh
// consumer.
func (c *cluster) readAll(end map[int32]int64) map[int32][]history.Stored {
	c.t.Helper()
	offsets := map[int32]kgo.Offset{}
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafkaAddrs()...), kgo.ClientID("clusterfault-final-read"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	final := map[int32][]history.Stored{}
	next := map[int32]int64{}
	done := func() bool {
		for p := range int32(partitions) {
			if next[p] < end[p] {
				return false
			}
		}
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("final read: reached %v of %v after %v", next, end, within)
		}
		fs.EachError(func(_ string, p int32, err error) { c.logf("final read: partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end[r.Partition] || r.Offset < next[r.Partition] {
				return // past the watermarks taken (none should be), or served again
			}
			final[r.Partition] = append(final[r.Partition], history.Stored{Offset: r.Offset, Value: string(r.Value)})
			next[r.Partition] = r.Offset + 1
		})
	}
	return final
}

// readLogs reads every node's log of every partition.
func (c *cluster) readLogs() [][]*clusterfault.Log {
	c.t.Helper()
	logs := make([][]*clusterfault.Log, nodeCount)
	for i, n := range c.nodes {
		for p := range int32(partitions) {
			l, err := clusterfault.ReadLog(c.partitionDir(n, p))
			if err != nil {
				c.t.Fatalf("node %d partition %d: %v", n.id, p, err)
			}
			logs[i] = append(logs[i], l)
		}
	}
	return logs
}

// compareLogs checks that every replica holds the same bytes below the
// high watermark, and that each replica's epochs never go back.
func (c *cluster) compareLogs(logs [][]*clusterfault.Log, end map[int32]int64) {
	c.t.Helper()
	for p := range int32(partitions) {
		same := true
		for i, n := range c.nodes {
			l := logs[i][p]
			if err := l.CheckEpochs(); err != nil {
				c.t.Errorf("node %d partition %d: %v", n.id, p, err)
			}
			if l.Tail != 0 {
				c.t.Errorf("node %d partition %d: %d bytes after the last whole batch after a clean stop", n.id, p, l.Tail)
			}
			if i == 0 {
				continue
			}
			if d := clusterfault.FirstDifference(logs[0][p], l, end[p]); d != "" {
				same = false
				c.t.Errorf("partition %d: node 1's and node %d's logs differ below the high watermark %d: %s", p, n.id, end[p], d)
			}
		}
		if same {
			b, _ := logs[0][p].Prefix(end[p])
			c.logf("partition %d: every replica byte-identical below the high watermark %d (%d bytes, %d batches)", p, end[p], len(b), len(logs[0][p].Batches))
		}
	}
}

// checkEpochs checks that no two brokers acknowledged writes to one
// partition in one leader epoch (the epoch being the one the stored batch
// carries), from the raw producer, which knows which broker answered, and
// logs how many acknowledged writes each epoch took.
func (c *cluster) checkEpochs(w *workload, logs [][]*clusterfault.Log) {
	c.t.Helper()
	type pe struct {
		p     int32
		epoch int32
	}
	brokers := map[pe]map[int32]int{}
	counts := map[pe]map[string]int{}
	w.mu.Lock()
	acks := slices.Clone(w.acks)
	w.mu.Unlock()
	for _, a := range acks {
		b, ok := logs[0][a.p].BatchAt(a.offset)
		if !ok {
			continue // lost: the history check says so
		}
		k := pe{a.p, b.LeaderEpoch}
		if counts[k] == nil {
			counts[k] = map[string]int{}
		}
		counts[k][a.client]++
		if a.broker < 0 {
			continue
		}
		if brokers[k] == nil {
			brokers[k] = map[int32]int{}
		}
		brokers[k][a.broker]++
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b pe) int {
		if a.p != b.p {
			return int(a.p - b.p)
		}
		return int(a.epoch - b.epoch)
	})
	var lines []string
	for _, k := range keys {
		line := fmt.Sprintf("p%d epoch %d: franz-go %d, sarama %d, raw %d", k.p, k.epoch, counts[k]["franz-go"], counts[k]["sarama"], counts[k]["raw"])
		if bs := brokers[k]; len(bs) > 0 {
			line += fmt.Sprintf(" (raw acknowledged by %v)", brokerCounts(bs))
			if len(bs) > 1 {
				c.t.Errorf("partition %d, leader epoch %d: writes acknowledged by more than one broker: %v", k.p, k.epoch, brokerCounts(bs))
			}
		}
		lines = append(lines, line)
	}
	c.logf("acknowledged writes by partition and leader epoch of their stored batch:\n\t%s", strings.Join(lines, "\n\t"))
}

func brokerCounts(bs map[int32]int) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(bs)) {
		parts = append(parts, fmt.Sprintf("node %d: %d", id, bs[id]))
	}
	return strings.Join(parts, ", ")
}

// logFailovers logs each fault's failover time, from the fault to the
// first write a new leader acknowledged (one whose stored batch carries a
// later leader epoch) on every partition the faulty broker led, and the
// median and worst of each kind.
func (c *cluster) logFailovers(w *workload, logs [][]*clusterfault.Log) {
	c.t.Helper()
	w.mu.Lock()
	acks, marks, timings := slices.Clone(w.acks), slices.Clone(w.marks), maps.Clone(w.timings)
	w.mu.Unlock()
	byKind := map[string][]time.Duration{}
	var kinds []string
	for _, m := range marks {
		var worst time.Duration
		ok := true
		var parts []string
		for _, p := range m.parts {
			var first time.Time
			for _, a := range acks {
				if a.p != p || !a.at.After(m.since) || (!first.IsZero() && !a.at.Before(first)) {
					continue
				}
				if b, found := logs[0][p].BatchAt(a.offset); found && b.LeaderEpoch > m.epochs[p] {
					first = a.at
				}
			}
			if first.IsZero() {
				ok = false
				parts = append(parts, fmt.Sprintf("p%d: no write acknowledged in an epoch after %d", p, m.epochs[p]))
				continue
			}
			d := first.Sub(m.since)
			worst = max(worst, d)
			parts = append(parts, fmt.Sprintf("p%d %v", p, d.Round(time.Millisecond)))
		}
		if len(m.parts) == 0 {
			parts = append(parts, "it led no partition")
			ok = false
		}
		c.logf("round %d, %s (node %d): failover %s", m.round, m.kind, m.victim, strings.Join(parts, ", "))
		if ok {
			if _, seen := byKind[m.kind]; !seen {
				kinds = append(kinds, m.kind)
			}
			byKind[m.kind] = append(byKind[m.kind], worst)
		}
	}
	for _, k := range kinds {
		c.logf("failover after %s (to the first write a new leader acknowledged on every partition the broker led): %s", k, summary(byKind[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(timings)) {
		c.logf("%s: %s", k, summary(timings[k]))
	}
}
