package broker_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestDescriptorFlood runs `sluice server` under RLIMIT_NOFILE 256 and opens
// 300 idle connections. With the default reserve the broker refuses those
// past its descriptor budget at once; with no reserve accept fails with
// EMFILE and is retried. Either way the broker keeps running, serves a
// produce and a fetch once some idle connections close, and a SIGTERM
// still writes every log's clean-shutdown marker.
func TestDescriptorFlood(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatalf("prlimit (util-linux) is needed to lower the broker's RLIMIT_NOFILE: %v", err)
	}
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"reserve", nil},
		{"no reserve", []string{"--set", "connections.fd.reserve=0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := startChildUnder(t, []string{"prlimit", "--nofile=256:256"}, dir,
				append([]string{"--http", "127.0.0.1:0"}, tc.extra...)...)
			produceAndFetch(t, c.addr, "fd", "before")

			conns := make([]net.Conn, 0, 300)
			defer func() {
				for _, nc := range conns {
					nc.Close()
				}
			}()
			for i := 0; i < 300; i++ {
				nc, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				conns = append(conns, nc)
			}
			reserve := tc.extra == nil
			if reserve {
				budget := c.metric(t, "sluice_connections_fd_budget")
				if budget != 128 {
					t.Fatalf("fd budget %v under RLIMIT_NOFILE 256, want 256 - the default reserve of 128", budget)
				}
				testutil.Eventually(t, 30*time.Second, "the broker did not refuse the connections past its budget", func() bool {
					return c.metric(t, `sluice_connections_rejected_total{reason="fd_budget"}`) >= 300-budget
				})
				if open := c.metric(t, "sluice_connections_open"); open != budget {
					t.Fatalf("%v connections open, want the budget %v", open, budget)
				}
			} else {
				testutil.Eventually(t, 30*time.Second, "no log line about failing accepts", func() bool {
					c.running(t)
					return strings.Contains(c.stderr.String(), "accept failing")
				})
			}
			c.running(t)

			// Close idle connections until a fresh client fits. Without a
			// reserve, the connections waiting in the backlog take the first
			// descriptors freed (and /metrics cannot be reached until then).
			closeIdle := func(n int) {
				for _, nc := range conns[:n] {
					nc.Close()
				}
				conns = conns[n:]
			}
			if reserve {
				for c.metric(t, "sluice_connections_open") > c.metric(t, "sluice_connections_fd_budget")-10 {
					closeIdle(min(50, len(conns)))
				}
			} else {
				closeIdle(150)
			}
			produceAndFetch(t, c.addr, "fd", "after")
			c.running(t)
			if !reserve {
				// One line when accepts start failing and one when they work
				// again, however many retries in between.
				errs := c.metric(t, "sluice_accept_errors_total")
				failing := strings.Count(c.stderr.String(), "accept failing")
				again := strings.Count(c.stderr.String(), "accepting connections again")
				t.Logf("%v failed accepts, logged in %d episodes", errs, failing)
				if failing < 1 || again != failing || errs < float64(failing) {
					t.Errorf("%v failed accepts logged as %d start and %d end lines, want one of each per episode:\n%s",
						errs, failing, again, c.stderr.String())
				}
			}

			c.stop(t)
			log := c.stderr.String()
			if regexp.MustCompile(`level=ERROR`).MatchString(log) {
				t.Errorf("errors logged:\n%s", log)
			}
			if !strings.Contains(log, "sluice broker stopped") {
				t.Errorf("no stop line:\n%s", log)
			}
			if _, err := os.Stat(filepath.Join(dir, "topics", "fd-0", "clean-shutdown")); err != nil {
				t.Errorf("clean shutdown marker not written: %v\n%s", err, log)
			}
		})
	}
}

// produceAndFetch produces value to topic on a fresh client and reads it
// back at its offset; both clients are closed when it returns.
func produceAndFetch(t *testing.T, addr, topic, value string) {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	r, err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(value)}).First()
	cl.Close()
	if err != nil {
		t.Fatalf("produce %q: %v", value, err)
	}
	cons := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {r.Partition: kgo.NewOffset().At(r.Offset)}}))
	defer cons.Close()
	ctx := testCtx(t)
	for {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("fetch %q at offset %d: %v", value, r.Offset, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		for _, got := range fs.Records() {
			if got.Offset == r.Offset {
				if string(got.Value) != value {
					t.Fatalf("record %d = %q, want %q", r.Offset, got.Value, value)
				}
				return
			}
		}
	}
}
