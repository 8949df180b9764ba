// Command gen produces a realistic activity stream to a Kafka-protocol
// broker: page views (JSON) to one topic and searches (CSV) to another, from
// visitors with sessions, users, countries, devices and referrers, at a
// steady rate. It is the source of examples/activity (see
// examples/README.md):
//
//	go run ./examples/activity/gen -rate 200          # until Ctrl-C
//	go run ./examples/activity/gen -n 20000 -rate 0 -step 1s -start 2026-06-01T08:00:00Z -seed 7
//
// # Time
//
// The generator keeps a simulated clock: event i is produced at
// -start + i*-step, and that time is the Kafka record timestamp (the
// loader's _timestamp column). -step defaults to 1/-rate, so with the
// default -start (now) the clock keeps real time. A start in the past and a
// step of a second replay hours of traffic in seconds, deterministically
// (keep the start within the broker's retention, 7 days by default, or it
// deletes the records as too old).
// An event's own time (event_time) is 0-5 s before its record timestamp; a
// share -late of events are late instead, 61 min to 6 h before it (phones
// flushing what they buffered offline), so "more than an hour behind
// _timestamp" counts exactly the late ones.
//
// # Records
//
// Both topics are keyed by session id, so a visit's events stay in order in
// one partition. A page view is
//
//	{"event_id":"9f1c...","event_time":1748764800123,"session_id":"s-3a0f...",
//	 "user_id":100042,"url":"https://shop.example.com/products/1003",
//	 "path":"/products/1003","referrer":"https://www.google.com/",
//	 "country":"DE","device":"mobile","duration_ms":5210}
//
// with event_time in epoch milliseconds, user_id null for anonymous
// visitors and referrer null for direct traffic. A search is one CSV line,
// columns in this order (no header):
//
//	event_time,search_id,session_id,user_id,country,device,query,results,clicked_position
//	2025-06-01T08:00:01.250Z,5be1...,s-3a0f...,100042,DE,mobile,"shoes, red",87,2
//
// event_time is RFC 3339 in UTC with milliseconds; an empty user_id
// (anonymous) or clicked_position (no click) is null. -searches-format json
// sends searches as JSON objects with the same fields instead.
//
// Topics missing on the broker are created (-partitions, default 4). With
// -n 0 it runs until SIGINT or SIGTERM. On exit it prints one line of JSON
// to stdout: the records the broker acknowledged, by kind, and how many of
// them were late; a produce error also exits 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	brokers        []string
	rate           float64
	n              int64
	late           float64
	seed           uint64
	start          time.Time
	step           time.Duration
	pageviewsTopic string
	searchesTopic  string
	searchesFormat string
	partitions     int
	flushTimeout   time.Duration
}

func parseFlags(args []string, stderr io.Writer, now time.Time) (config, error) {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defBrokers := os.Getenv("SLUICE_BROKERS")
	if defBrokers == "" {
		defBrokers = "127.0.0.1:9092"
	}
	var c config
	brokers := fs.String("brokers", defBrokers, "comma-separated seed brokers (env SLUICE_BROKERS)")
	fs.Float64Var(&c.rate, "rate", 200, "events per second, both topics together (0: as fast as the broker takes them)")
	fs.Int64Var(&c.n, "n", 0, "events to produce (0: until SIGINT or SIGTERM)")
	fs.Float64Var(&c.late, "late", 0.05, "share of late events (event time 61 min to 6 h before the record timestamp), 0-1")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: the same seed, -start and -step give the same events")
	start := fs.String("start", "", "RFC 3339 time of the first event's record timestamp (default now)")
	fs.DurationVar(&c.step, "step", 0, "simulated time between two events (default 1/rate, which keeps real time)")
	fs.StringVar(&c.pageviewsTopic, "pageviews-topic", "pageviews", "topic for page views (JSON)")
	fs.StringVar(&c.searchesTopic, "searches-topic", "searches", "topic for searches")
	fs.StringVar(&c.searchesFormat, "searches-format", "csv", "searches as csv (one line per record) or json")
	fs.IntVar(&c.partitions, "partitions", 4, "partitions of topics the generator creates")
	fs.DurationVar(&c.flushTimeout, "flush-timeout", 30*time.Second, "at the end or after a signal, how long to wait for the broker to acknowledge what was sent")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.brokers = append(c.brokers, b)
		}
	}
	switch {
	case len(c.brokers) == 0:
		return c, errors.New("-brokers: none given")
	case c.rate < 0:
		return c, fmt.Errorf("-rate %v: must be 0 or more", c.rate)
	case c.n < 0:
		return c, fmt.Errorf("-n %d: must be 0 or more", c.n)
	case c.late < 0 || c.late > 1:
		return c, fmt.Errorf("-late %v: want a share between 0 and 1", c.late)
	case c.step < 0:
		return c, fmt.Errorf("-step %v: must be positive", c.step)
	case c.step == 0 && c.rate == 0:
		return c, errors.New("-rate 0 needs -step (the simulated time between events)")
	case c.searchesFormat != "csv" && c.searchesFormat != "json":
		return c, fmt.Errorf("-searches-format %q: want csv or json", c.searchesFormat)
	case c.partitions < 1:
		return c, fmt.Errorf("-partitions %d: must be at least 1", c.partitions)
	case c.pageviewsTopic == c.searchesTopic:
		return c, errors.New("-pageviews-topic and -searches-topic must differ")
	}
	if c.step == 0 {
		c.step = time.Duration(float64(time.Second) / c.rate)
	}
	c.start = now.UTC().Truncate(time.Millisecond)
	if *start != "" {
		t, err := time.Parse(time.RFC3339Nano, *start)
		if err != nil {
			return c, fmt.Errorf("-start: %v", err)
		}
		c.start = t.UTC()
	}
	return c, nil
}

// summary is the line printed on exit. Counts are acknowledged records.
type summary struct {
	Pageviews     int64 `json:"pageviews"`
	Searches      int64 `json:"searches"`
	LatePageviews int64 `json:"late_pageviews"`
	LateSearches  int64 `json:"late_searches"`
	// PageviewHours is how many distinct UTC hours (dt=/hr= folders) the
	// page views' event times fall in.
	PageviewHours      int              `json:"pageview_hours"`
	SearchesByCountry  map[string]int64 `json:"searches_by_country"`
	Failed             int64            `json:"failed"`
	FirstRecordTime    string           `json:"first_record_time"`
	LastRecordTime     string           `json:"last_record_time,omitempty"`
	Seed               uint64           `json:"seed"`
	ElapsedSeconds     float64          `json:"elapsed_seconds"`
	pageviewHourValues map[int64]bool
}

// tally counts acknowledgements; promises run on several goroutines.
type tally struct {
	mu       sync.Mutex
	s        summary
	last     time.Time
	firstErr error
}

func (t *tally) ack(ev *event, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.s.Failed++
		if t.firstErr == nil {
			t.firstErr = err
		}
		return
	}
	if ev.produced.After(t.last) {
		t.last = ev.produced
	}
	switch ev.kind {
	case kindPageview:
		t.s.Pageviews++
		if ev.late {
			t.s.LatePageviews++
		}
		t.s.pageviewHourValues[ev.eventTime.Unix()/3600] = true
	case kindSearch:
		t.s.Searches++
		if ev.late {
			t.s.LateSearches++
		}
		t.s.SearchesByCountry[ev.country]++
	}
}

func (t *tally) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstErr
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr, time.Now())
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, cfg, os.Stderr)
	if sum != nil {
		b, _ := json.Marshal(sum)
		fmt.Println(string(b))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, logw io.Writer) (*summary, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ClientID("sluice-activity-gen"),
		kgo.ProducerLinger(5*time.Millisecond),
		// Records are keyed by session id: the default partitioner hashes
		// keys (murmur2, as Kafka's Java client), so a session stays in one
		// partition, in order.
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := createTopics(ctx, cl, cfg, logw); err != nil {
		return nil, err
	}

	g := newGenerator(cfg.seed, cfg.start, cfg.step, cfg.late, cfg.searchesFormat == "csv")
	t := &tally{s: summary{
		SearchesByCountry:  map[string]int64{},
		pageviewHourValues: map[int64]bool{},
		Seed:               cfg.seed,
		FirstRecordTime:    cfg.start.Format(time.RFC3339Nano),
	}}
	total := "events until stopped"
	if cfg.n > 0 {
		total = fmt.Sprint(cfg.n, " events")
	}
	fmt.Fprintf(logw, "gen: %s at %v/s to %s (JSON) and %s (%s), first record time %s, step %v, %.1f%% late, seed %d\n",
		total, cfg.rate, cfg.pageviewsTopic, cfg.searchesTopic, cfg.searchesFormat,
		cfg.start.Format(time.RFC3339), cfg.step, cfg.late*100, cfg.seed)

	// Records are produced with pctx, not ctx: after a signal what was
	// sent is still delivered, unless the broker takes longer than
	// -flush-timeout (then pctx fails the rest, and a Produce blocked on a
	// full buffer returns).
	pctx, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		select {
		case <-time.After(cfg.flushTimeout):
			pcancel()
		case <-done:
		}
	}()

	began := time.Now()
	var timer *time.Timer
	for i := int64(0); cfg.n == 0 || i < cfg.n; i++ {
		if ctx.Err() != nil || t.err() != nil {
			break
		}
		if cfg.rate > 0 {
			// Event i is due i/rate seconds after the start: a steady rate
			// that catches up after a slow moment instead of drifting.
			due := began.Add(time.Duration(float64(i) / cfg.rate * float64(time.Second)))
			if d := time.Until(due); d > time.Millisecond {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-ctx.Done():
				case <-timer.C:
				}
				if ctx.Err() != nil {
					break
				}
			}
		}
		ev := g.next()
		topic := cfg.pageviewsTopic
		if ev.kind == kindSearch {
			topic = cfg.searchesTopic
		}
		rec := &kgo.Record{Topic: topic, Key: ev.key, Value: ev.value, Timestamp: ev.produced}
		cl.Produce(pctx, rec, func(_ *kgo.Record, err error) { t.ack(&ev, err) })
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), cfg.flushTimeout)
	defer cancel()
	flushErr := cl.Flush(flushCtx)
	if flushErr != nil {
		pcancel() // fail what is still buffered
		last, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Flush(last)
	}

	t.mu.Lock()
	s := t.s
	t.mu.Unlock()
	s.PageviewHours = len(s.pageviewHourValues)
	if !t.last.IsZero() {
		s.LastRecordTime = t.last.Format(time.RFC3339Nano)
	}
	s.ElapsedSeconds = float64(time.Since(began).Milliseconds()) / 1000
	if err := t.err(); err != nil {
		return &s, fmt.Errorf("%d records not acknowledged, the first: %w", s.Failed, err)
	}
	if flushErr != nil {
		return &s, fmt.Errorf("flush: %w", flushErr)
	}
	fmt.Fprintf(logw, "gen: %d page views (%d late), %d searches (%d late) in %.1fs\n",
		s.Pageviews, s.LatePageviews, s.Searches, s.LateSearches, s.ElapsedSeconds)
	return &s, nil
}

// createTopics creates the two topics with cfg.partitions partitions unless
// they exist (also when the broker would auto-create them: auto-created
// topics get num.partitions, 1 by default).
func createTopics(ctx context.Context, cl *kgo.Client, cfg config, logw io.Writer) error {
	adm := kadm.NewClient(cl)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resps, err := adm.CreateTopics(actx, int32(cfg.partitions), -1, nil, cfg.pageviewsTopic, cfg.searchesTopic)
	if err != nil {
		return fmt.Errorf("create topics on %s: %w", strings.Join(cfg.brokers, ","), err)
	}
	names := make([]string, 0, len(resps))
	for name := range resps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := resps[name]
		switch {
		case r.Err == nil:
			fmt.Fprintf(logw, "gen: created topic %s with %d partitions\n", name, cfg.partitions)
		case errors.Is(r.Err, kerr.TopicAlreadyExists):
		default:
			return fmt.Errorf("create topic %s: %w", name, r.Err)
		}
	}
	return nil
}
