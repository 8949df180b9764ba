package jobs

// Benchmarks of the scheduler's own costs (the end-to-end numbers, with
// the real binary, are e2e/jobs/bench.sh):
//
//	go test -run '^$' -bench . ./jobs
//	go test -run '^$' -bench SchedulerRuns -benchtime 1000x -cpuprofile cpu.out -o jobs.test ./jobs
//	go tool pprof -top -cum -ignore sluice/broker jobs.test cpu.out
//
// BenchmarkScheduleNext, BenchmarkCoreTick and BenchmarkHistoryRuns are
// the pure parts: a cron expression's next tick; the core handling one
// tick of 100 pipelines; listing a pipeline's runs once the history is
// full (what every run's Prune starts with). BenchmarkSchedulerRuns is a
// real Scheduler (in-process broker, history, leadership) running 100
// pipelines on empty topics: one op is one run that finds nothing to
// load, as an idle scheduler does 100 times a minute with 100 pipelines on
// "* * * * *"; BenchmarkSchedulerIdle is the same scheduler between
// ticks, one op a second. Both report the process's CPU (scheduler and
// in-process broker together; -ignore sluice/broker in pprof leaves the
// scheduler's side).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/brokertest"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/pipelines"
)

func BenchmarkScheduleNext(b *testing.B) {
	for _, expr := range []string{"* * * * *", "*/15 * * * *", "0 3 * * *", "CRON_TZ=Europe/Berlin 30 2 * * *", "@every 1m"} {
		b.Run(expr, func(b *testing.B) {
			cs, err := pipelines.ParseSchedule(expr)
			if err != nil {
				b.Fatal(err)
			}
			s := NewSchedule(cs)
			t := time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			for b.Loop() {
				t = s.Next(t)
			}
		})
	}
}

// BenchmarkCoreTick: one minute of 100 pipelines on "* * * * *" through the
// core: the tick's Advance starting 100 runs, their Finished, the next
// wake-up.
func BenchmarkCoreTick(b *testing.B) {
	const n = 100
	cs, err := pipelines.ParseSchedule("* * * * *")
	if err != nil {
		b.Fatal(err)
	}
	c := NewCore()
	now := time.Date(2025, 1, 1, 0, 0, 30, 0, time.UTC)
	for i := range n {
		c.Set(now, &Spec{Name: fmt.Sprintf("p%03d", i), Schedule: NewSchedule(cs), Expr: "* * * * *"})
	}
	b.ReportAllocs()
	for b.Loop() {
		now = c.NextWake()
		acts := c.Advance(now)
		if len(acts) != n {
			b.Fatalf("%d actions at %s, want %d", len(acts), now, n)
		}
		for _, a := range acts {
			c.Finished(now.Add(time.Second), a.Run.ID, OutcomeOK)
		}
		c.NextWake()
	}
}

// BenchmarkSchedulerRuns: b.N runs of 100 pipelines "@every 1s" on empty
// topics, through a real Scheduler and broker in this process.
func BenchmarkSchedulerRuns(b *testing.B) {
	const n = 100
	s := startBenchScheduler(b, n, "@every 1s")
	// Runs ended well, read from the counters themselves: gathering the
	// registry this often would cost more than the runs.
	var counters []prometheus.Counter
	for i := range n {
		counters = append(counters, s.m.runs.WithLabelValues(benchPipeline(i), StatusSucceeded))
	}
	ended := func() float64 {
		sum := 0.0
		for _, c := range counters {
			var m dto.Metric
			if err := c.Write(&m); err != nil {
				b.Fatal(err)
			}
			sum += m.GetCounter().GetValue()
		}
		return sum
	}
	// Warm up: every pipeline has run once (sinks made, groups known).
	// Only succeeded runs count: a tick due while the previous run of its
	// pipeline is going is skipped.
	testutil.Eventually(b, 60*time.Second, fmt.Sprintf("fewer than %d runs ended", n), func() bool { return ended() >= n })
	cpu0 := testutil.CPUTime()
	from := ended()
	b.ResetTimer()
	for ended() < from+float64(b.N) {
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	runs := ended() - from
	b.ReportMetric(float64((testutil.CPUTime()-cpu0).Microseconds())/1e3/runs, "cpu-ms/run")
}

// BenchmarkSchedulerIdle: b.N seconds of a leading Scheduler with 100
// pipelines none of which is due (history tail, leadership heartbeats,
// folder rescans), and the in-process broker serving it.
func BenchmarkSchedulerIdle(b *testing.B) {
	const n = 100
	s := startBenchScheduler(b, n, "0 0 1 1 *")
	testutil.Eventually(b, 60*time.Second, fmt.Sprintf("not leading %d pipelines", n), func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.mu.leading && len(s.mu.states) == n
	})
	time.Sleep(3 * time.Second) // the join's and first rescans' work done
	cpu0 := testutil.CPUTime()
	b.ResetTimer()
	time.Sleep(time.Duration(b.N) * time.Second)
	b.StopTimer()
	b.ReportMetric(float64((testutil.CPUTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/s")
}

func benchPipeline(i int) string { return fmt.Sprintf("idle-%03d", i) }

// startBenchScheduler starts a broker, n empty 1-partition topics, n
// pipelines on schedule (one per topic) and a Scheduler of them, all
// stopped when b ends.
func startBenchScheduler(b *testing.B, n int, schedule string) *Scheduler {
	br := brokertest.Start(b)
	dir, lake := b.TempDir(), b.TempDir()
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	for i := range n {
		name := benchPipeline(i)
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, name); err != nil {
			b.Fatal(err)
		}
		y := fmt.Sprintf(`name: %s
schedule: "%s"
source: {brokers: ["%s"], topics: [%s]}
format: {type: json}
sink: {url: %s}
`, name, schedule, br.Addr(), name, filepath.Join(lake, name))
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(y), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.Dir, cfg.Brokers, cfg.Server = dir, []string{br.Addr()}, "bench"
	cfg.Registerer = prometheus.NewRegistry()
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	b.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return s
}

// BenchmarkHistoryRuns: what each run's end costs in the history once it
// is full (history.keep 200 runs of each of 100 pipelines in memory): the
// Runs listing that Prune starts with, and LastTick. (Before the history
// was indexed by pipeline, Runs scanned all 20,000 runs: 1.6-7.7 ms.)
func BenchmarkHistoryRuns(b *testing.B) {
	const pipes, keep = 100, 200
	h := newTestHistory()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	off := int64(0)
	for k := range keep {
		for i := range pipes {
			tick := t0.Add(time.Duration(k) * time.Minute)
			r := Run{ID: fmt.Sprintf("%s-%s", benchPipeline(i), tick.Format("20060102T150405Z")), Pipeline: benchPipeline(i),
				Trigger: TriggerSchedule, Scheduled: tick, Started: tick, Ended: tick.Add(time.Second), Status: StatusSucceeded,
				Attempt: 1, Landed: Landed{Partitions: []PartitionRun{{Topic: benchPipeline(i), First: -1, Last: -1}}}}
			v, err := json.Marshal(r)
			if err != nil {
				b.Fatal(err)
			}
			h.apply(keyRun+r.ID, v, off)
			off++
		}
	}
	b.Run("Runs", func(b *testing.B) {
		for b.Loop() {
			if got := len(h.Runs(benchPipeline(50))); got != keep {
				b.Fatalf("%d runs, want %d", got, keep)
			}
		}
	})
	b.Run("LastTick", func(b *testing.B) {
		for b.Loop() {
			h.LastTick(benchPipeline(50))
		}
	})
}
