package broker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestartWithManyPartitions runs `sluice server` under a limit of 512
// descriptors and gives it 1,000 partitions, which at three open files per
// partition would need 3,000: every partition takes a record, the server
// stops with SIGTERM, restarts, takes a second record in every partition,
// is killed with SIGKILL, and after a second restart serves both records of
// every partition.
func TestRestartWithManyPartitions(t *testing.T) {
	const topics, perTopic, nofile = 4, 250, 512
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatalf("this test needs prlimit (util-linux): %v", err)
	}
	wrap := []string{"prlimit", fmt.Sprintf("--nofile=%d", nofile), "--"}
	dir := t.TempDir()
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("many-%d", i)
	}
	produceAll := func(c *child, round int) {
		t.Helper()
		cl := newClient(t, c.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(3))
		defer cl.Close()
		var recs []*kgo.Record
		for _, name := range names {
			for p := int32(0); p < perTopic; p++ {
				recs = append(recs, &kgo.Record{Topic: name, Partition: p, Value: []byte(fmt.Sprintf("r%d-%s-%d", round, name, p))})
			}
		}
		if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
			t.Fatalf("round %d: produce to every partition: %v\n%s", round, err, c.stderr.String())
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d descriptors open with %d partitions (limit %d)", round, len(fds), topics*perTopic, nofile)
	}

	start := time.Now()
	c := startChildUnder(t, wrap, dir)
	adm := kadm.NewClient(newClient(t, c.addr))
	for _, name := range names {
		createTopic(t, adm, name, perTopic, nil)
	}
	produceAll(c, 0)
	c.stop(t)

	t0 := time.Now()
	c = startChildUnder(t, wrap, dir)
	t.Logf("restart after SIGTERM: ready in %v", time.Since(t0).Round(time.Millisecond))
	produceAll(c, 1)
	c.kill(t)

	t0 = time.Now()
	c = startChildUnder(t, wrap, dir)
	t.Logf("restart after SIGKILL: ready in %v", time.Since(t0).Round(time.Millisecond))
	cons := newClient(t, c.addr, kgo.ConsumeTopics(names...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	got := map[string][]string{}
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n < 2*topics*perTopic {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after restarts read %d of %d records:\n%s", n, 2*topics*perTopic, c.stderr.String())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			n++
			key := fmt.Sprintf("%s-%d", r.Topic, r.Partition)
			got[key] = append(got[key], string(r.Value))
		})
	}
	for _, name := range names {
		for p := 0; p < perTopic; p++ {
			key := fmt.Sprintf("%s-%d", name, p)
			if want := []string{"r0-" + key, "r1-" + key}; fmt.Sprint(got[key]) != fmt.Sprint(want) {
				t.Errorf("partition %s holds %v, want %v", key, got[key], want)
			}
		}
	}
	c.kill(t)
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}
