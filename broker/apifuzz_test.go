package broker_test

// TestAPIFuzz: a structured fuzz of every served API against a real
// `sluice server` process. Workers send random requests (apifuzz_gen_test.go)
// at random served versions, some of them damaged, while the process is
// watched: it must never exit, never log a panic (a recovered handler panic
// counts), answer every request or close the connection, keep answering a
// liveness probe, and keep its RSS under a bound; after the run it must
// stop cleanly and start again on its data dir.
//
//	SLUICE_FUZZ_DURATION  how long to run (Go duration; default 60s, 10s with -short)
//	SLUICE_FUZZ_SEED      the seed (default: from the clock; printed)
//	SLUICE_FUZZ_RSS_MB    the RSS bound in MiB (default 1024)
//	SLUICE_FUZZ_WORKERS   how many connections send at once (default 3)
//	SLUICE_FUZZ_LOG       a file to write the broker's log to
//	SLUICE_FUZZ_TRACE     set: print the broker's RSS after each answer
//
// make soak runs it for 30 minutes (e2e/fuzz/soak.sh).

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	fuzzWorkers  = 3
	fuzzMaxFrame = 8 << 20
	// fuzzAnswerWait is how long a request may go unanswered; the APIs
	// that wait by design (fuzzWaits) are then given up on, any other is
	// a failure.
	fuzzAnswerWait = 20 * time.Second
	// fuzzMetadataWait is the bound for the APIs that change metadata
	// (fuzzMetadataWrites): they are applied one at a time, and one
	// CreateTopics of up to max.broker.partitions (10,000) partitions
	// opens every log before the next change applies, which takes tens of
	// seconds on a loaded 2-core machine (3,000 partitions: 5-8 s). A
	// change queued behind it is slow, not stuck; a deadlock still fails.
	fuzzMetadataWait = 2 * time.Minute
)

// fuzzMetadataWrites are the APIs that may apply a metadata change (the
// Metadata API through auto-creation).
var fuzzMetadataWrites = map[int16]bool{
	int16(kmsg.CreateTopics): true, int16(kmsg.DeleteTopics): true, int16(kmsg.CreatePartitions): true,
	int16(kmsg.AlterConfigs): true, int16(kmsg.IncrementalAlterConfigs): true, int16(kmsg.Metadata): true,
}

// fuzzWaits are the APIs whose answer may wait on purpose: Fetch for
// MaxWaitMillis, JoinGroup and SyncGroup for a rebalance.
var fuzzWaits = map[int16]bool{int16(kmsg.Fetch): true, int16(kmsg.JoinGroup): true, int16(kmsg.SyncGroup): true}

func envOr(t *testing.T, name, def string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func TestAPIFuzz(t *testing.T) {
	def := "60s"
	if testing.Short() {
		def = "10s"
	}
	dur, err := time.ParseDuration(envOr(t, "SLUICE_FUZZ_DURATION", def))
	if err != nil {
		t.Fatalf("SLUICE_FUZZ_DURATION: %v", err)
	}
	seed, err := strconv.ParseUint(envOr(t, "SLUICE_FUZZ_SEED", strconv.FormatInt(time.Now().UnixNano(), 10)), 10, 64)
	if err != nil {
		t.Fatalf("SLUICE_FUZZ_SEED: %v", err)
	}
	rssMB, err := strconv.ParseInt(envOr(t, "SLUICE_FUZZ_RSS_MB", "1024"), 10, 64)
	if err != nil {
		t.Fatalf("SLUICE_FUZZ_RSS_MB: %v", err)
	}
	t.Logf("seed %d (SLUICE_FUZZ_SEED=%d repeats it), %v, RSS bound %d MiB", seed, seed, dur, rssMB)

	dir := t.TempDir()
	settings := []string{
		"--set", "group.initial.rebalance.delay.ms=0",
		"--set", "group.min.session.timeout.ms=100",
		"--set", "offsets.topic.num.partitions=4",
	}
	c := startChild(t, dir, settings...)
	f := newFuzzFixture(t, c.addr)

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	run := &fuzzRun{t: t, c: c, seed: seed, cancel: cancel, stats: map[string]*fuzzStats{}, inFlight: map[int]string{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); run.watch(ctx, int64(rssMB)<<20) }()
	wg.Add(1)
	go func() { defer wg.Done(); run.probe(ctx) }()
	workers, _ := strconv.Atoi(envOr(t, "SLUICE_FUZZ_WORKERS", strconv.Itoa(fuzzWorkers)))
	for i := 0; i < workers; i++ {
		w := &fuzzWorker{run: run, id: i, addr: c.addr, apis: f.apis, gen: f.gen(seed, i)}
		wg.Add(1)
		go func() { defer wg.Done(); w.loop(ctx) }()
	}
	wg.Wait()
	run.checkLog()
	c.running(t)
	// The peak, which 100ms samples can miss.
	if hwm := int64(procStatusBytes(t, c.cmd.Process.Pid, "VmHWM")); hwm > rssMB<<20 {
		t.Errorf("seed %d: broker peak RSS (VmHWM) %d MiB is over the %d MiB bound", seed, hwm>>20, rssMB)
	} else {
		run.mu.Lock()
		run.maxRSS = max(run.maxRSS, hwm)
		run.mu.Unlock()
	}
	run.report()
	if path := os.Getenv("SLUICE_FUZZ_LOG"); path != "" {
		if err := os.WriteFile(path, []byte(c.stderr.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	// Whatever the requests did, the broker stops cleanly and starts again
	// on its data dir.
	c.stop(t)
	startChild(t, dir, settings...).stop(t)
}

// fuzzFixture is what the workers start from: topics with records, their
// IDs, and the served API versions.
type fuzzFixture struct {
	topics []string
	ids    [][16]byte
	apis   []kmsg.ApiVersionsResponseApiKey
}

func newFuzzFixture(t *testing.T, addr string) *fuzzFixture {
	t.Helper()
	ctx := testCtx(t)
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	adm := kadm.NewClient(cl)
	f := &fuzzFixture{}
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("f%d", i)
		createTopic(t, adm, name, int32(i+1), nil)
		f.topics = append(f.topics, name)
		for j := 0; j < 20; j++ {
			cl.Produce(ctx, &kgo.Record{Topic: name, Value: []byte(strings.Repeat("r", j*10))}, nil)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, f.topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range f.topics {
		f.ids = append(f.ids, md.Topics[name].ID)
	}
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range av.ApiKeys {
		if kmsg.RequestForKey(k.ApiKey) != nil {
			f.apis = append(f.apis, k)
		}
	}
	return f
}

// gen returns worker i's generator.
func (f *fuzzFixture) gen(seed uint64, i int) *fuzzGen {
	return &fuzzGen{
		rng:     rand.New(rand.NewPCG(seed, uint64(i))),
		topics:  append(append([]string{}, f.topics...), "c0", "c1", "c2", "c3", "__consumer_offsets"),
		ids:     append([][16]byte{}, f.ids...),
		groups:  []string{"g0", "g1", "g2", "g3", ""},
		members: []string{"", "m0", "nobody"},
	}
}

// fuzzRun is one fuzz run's shared state.
type fuzzRun struct {
	t      *testing.T
	c      *child
	seed   uint64
	cancel context.CancelFunc
	mu     sync.Mutex
	stats  map[string]*fuzzStats
	maxRSS int64
	failed bool
	// inFlight is each worker's request being answered.
	inFlight map[int]string
}

// fuzzStats counts what happened to the requests of one API.
type fuzzStats struct {
	sent, answered, closed, waited, damaged int
}

func (r *fuzzRun) count(api string, fn func(*fuzzStats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats[api]
	if st == nil {
		st = &fuzzStats{}
		r.stats[api] = st
	}
	fn(st)
}

// fail records a failure and stops the run.
func (r *fuzzRun) fail(format string, args ...any) {
	r.mu.Lock()
	first := !r.failed
	r.failed = true
	r.mu.Unlock()
	if first {
		r.t.Errorf("seed %d: "+format, append([]any{r.seed}, args...)...)
		r.dumpGoroutines()
		r.cancel()
	}
}

// dumpGoroutines asks the broker for its goroutines (SIGQUIT makes a Go
// process print every stack and exit) and logs the stacks that are not
// idle, so a hang the fuzz found can be read from the failure alone.
func (r *fuzzRun) dumpGoroutines() {
	if r.c == nil || r.c.cmd.Process == nil {
		return
	}
	before := len(r.c.stderr.String())
	if err := r.c.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		return
	}
	select {
	case <-r.c.exited:
	case <-time.After(10 * time.Second):
	}
	dump := r.c.stderr.String()[before:]
	r.t.Logf("the broker's goroutines at the failure:\n%s", dump)
}

// watch samples the process's RSS and state, and its log for panics.
func (r *fuzzRun) watch(ctx context.Context, limit int64) {
	pid := r.c.cmd.Process.Pid
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.c.exited:
			r.fail("the broker exited (%v):\n%s", r.c.err, logTail(r.c.stderr.String(), 60))
			return
		case <-tick.C:
		}
		rss, err := processRSS(pid)
		if err != nil {
			continue // exited: seen on the next round
		}
		r.mu.Lock()
		r.maxRSS = max(r.maxRSS, rss)
		r.mu.Unlock()
		if rss > limit {
			r.mu.Lock()
			var reqs []string
			for id, req := range r.inFlight {
				reqs = append(reqs, fmt.Sprintf("worker %d: %s", id, req))
			}
			r.mu.Unlock()
			r.fail("broker RSS %d MiB is over the %d MiB bound; requests in flight:\n%s", rss>>20, limit>>20, strings.Join(reqs, "\n"))
			return
		}
		r.checkLog()
	}
}

// processRSS reads VmRSS of pid from /proc.
func processRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0, errors.New("no VmRSS")
	}
	kb, err := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10, err
}

var panicLine = regexp.MustCompile(`handler panic|(?m)^panic: |fatal error: `)

func (r *fuzzRun) checkLog() {
	if log := r.c.stderr.String(); panicLine.MatchString(log) {
		i := panicLine.FindStringIndex(log)[0]
		r.fail("the broker panicked:\n%s", log[i:min(len(log), i+6000)])
	}
}

// probe asks for metadata every second on its own connection: a broker that
// stops answering fails the run.
func (r *fuzzRun) probe(ctx context.Context) {
	var nc net.Conn
	defer func() {
		if nc != nil {
			nc.Close()
		}
	}()
	for corr := int32(0); ; corr++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		if nc == nil {
			var err error
			if nc, err = net.Dial("tcp", r.c.addr); err != nil {
				r.fail("probe: dial: %v", err)
				return
			}
		}
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(12)
		req.Topics = []kmsg.MetadataRequestTopic{}
		nc.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := nc.Write(frameRequest(req, corr)); err != nil {
			r.fail("probe: write: %v", err)
			return
		}
		if _, _, err := readFrame(bufio.NewReader(nc)); err != nil {
			if ctx.Err() == nil {
				r.fail("probe: no answer to Metadata in 15s: %v", err)
			}
			return
		}
	}
}

func (r *fuzzRun) report() {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.stats))
	for n := range r.stats {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	total := 0
	for _, n := range names {
		s := r.stats[n]
		total += s.sent
		fmt.Fprintf(&b, "\n  %-24s sent %6d answered %6d closed %5d waited %4d damaged %5d", n, s.sent, s.answered, s.closed, s.waited, s.damaged)
	}
	r.t.Logf("seed %d: %d requests, broker peak RSS %d MiB%s", r.seed, total, r.maxRSS>>20, b.String())
}

// logTail is the last n lines of log.
func logTail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// readFrame reads one response frame: its correlation id and the rest.
func readFrame(r *bufio.Reader) (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<30 {
		return 0, nil, fmt.Errorf("answer frame of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

// fuzzWorker sends requests on one connection at a time, reconnecting when
// the broker closes it.
type fuzzWorker struct {
	run    *fuzzRun
	id     int
	addr   string
	apis   []kmsg.ApiVersionsResponseApiKey
	gen    *fuzzGen
	nc     net.Conn
	r      *bufio.Reader
	corr   int32
	recent []string // the last requests sent, for a failure's report
}

func (w *fuzzWorker) loop(ctx context.Context) {
	defer func() {
		if w.nc != nil {
			w.nc.Close()
		}
	}()
	for ctx.Err() == nil {
		if w.nc == nil {
			nc, err := net.Dial("tcp", w.addr)
			if err != nil {
				w.run.fail("worker %d: dial: %v", w.id, err)
				return
			}
			w.nc, w.r = nc, bufio.NewReaderSize(nc, 64<<10)
		}
		if err := w.one(ctx); err != nil {
			if ctx.Err() == nil {
				w.run.fail("worker %d: %v\nlast requests:\n%s\nbroker log:\n%s", w.id, err,
					strings.Join(w.recent, "\n"), logTail(w.run.c.stderr.String(), 40))
			}
			return
		}
	}
}

// one sends one random request and reads its answer. It returns an error
// only for a failure of the broker; a closed connection is dropped.
func (w *fuzzWorker) one(ctx context.Context) error {
	g := w.gen
	api := w.apis[g.rng.IntN(len(w.apis))]
	version := api.MinVersion + int16(g.rng.IntN(int(api.MaxVersion-api.MinVersion)+1))
	req := g.request(api.ApiKey, version)
	frame, err := encodeFuzz(req, w.corr, g.clientID())
	if err != nil || len(frame) > fuzzMaxFrame {
		return nil // kmsg cannot encode these values at this version
	}
	name := kmsg.NameForKey(api.ApiKey)
	damaged := g.one(10)
	if damaged {
		frame = g.mutate(frame)
	}
	w.note(fmt.Sprintf("%s v%d, %d bytes, damaged %v: % x", name, version, len(frame), damaged, frame[:min(len(frame), 96)]))
	w.run.count(name, func(s *fuzzStats) {
		s.sent++
		if damaged {
			s.damaged++
		}
	})
	reqCorr := w.corr
	want := reqCorr // the last answer to wait for
	w.corr++
	silent := false
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		silent = true
	}
	wait := fuzzAnswerWait
	if fuzzMetadataWrites[api.ApiKey] {
		wait = fuzzMetadataWait
	}
	deadline := time.Now().Add(wait)
	if end, ok := ctx.Deadline(); ok && end.Before(deadline) {
		deadline = end // the run ends: an answer not in by then is not waited for
	}
	w.nc.SetDeadline(deadline)
	if _, err := w.nc.Write(frame); err != nil {
		return w.drop(name, "closed")
	}
	if damaged || silent {
		// The request may get no answer: an ApiVersions after it shows
		// the connection still serves.
		want = w.corr
		w.corr++
		av := kmsg.NewPtrApiVersionsRequest()
		av.SetVersion(0)
		if _, err := w.nc.Write(frameRequest(av, want)); err != nil {
			return w.drop(name, "closed")
		}
	}
	for {
		corr, body, err := readFrame(w.r)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			if fuzzWaits[api.ApiKey] || damaged || ctx.Err() != nil {
				return w.drop(name, "waited")
			}
			return fmt.Errorf("no answer to %s v%d in %v", name, version, wait)
		case err != nil:
			return w.drop(name, "closed")
		case corr == reqCorr && !silent:
			resp, err := decodeAnswer(req, body)
			if err != nil && !damaged {
				return fmt.Errorf("%s v%d: the answer does not decode: %v", name, version, err)
			}
			if err == nil {
				g.learn(resp)
			}
			w.run.count(name, func(s *fuzzStats) { s.answered++ })
		case corr != want:
			return fmt.Errorf("%s v%d: answer with correlation id %d, want %d", name, version, corr, want)
		}
		if corr == want {
			if os.Getenv("SLUICE_FUZZ_TRACE") != "" {
				rss, _ := processRSS(w.run.c.cmd.Process.Pid)
				fmt.Fprintf(os.Stderr, "TRACE rss %d MiB after %s\n", rss>>20, w.recent[len(w.recent)-1][:min(300, len(w.recent[len(w.recent)-1]))])
			}
			return nil
		}
	}
}

// drop closes the connection after the broker closed it or a wait was
// given up on.
func (w *fuzzWorker) drop(api, why string) error {
	w.run.count(api, func(s *fuzzStats) {
		if why == "closed" {
			s.closed++
		} else {
			s.waited++
		}
	})
	w.nc.Close()
	w.nc = nil
	return nil
}

func (w *fuzzWorker) note(s string) {
	w.run.mu.Lock()
	w.run.inFlight[w.id] = s
	w.run.mu.Unlock()
	if len(w.recent) == 8 {
		w.recent = w.recent[1:]
	}
	w.recent = append(w.recent, s)
}

// encodeFuzz frames req; kmsg panics on some values it cannot encode at a
// version (a null where the version has no null), which are skipped.
func encodeFuzz(req kmsg.Request, corr int32, clientID *string) (frame []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("encode: %v", r)
		}
	}()
	return frameRequestAs(req, corr, clientID), nil
}

// decodeAnswer decodes the answer to req (after the correlation id).
func decodeAnswer(req kmsg.Request, body []byte) (kmsg.Response, error) {
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		if len(body) == 0 || body[0] != 0 {
			return nil, errors.New("response header tags")
		}
		body = body[1:]
	}
	return resp, resp.ReadFrom(body)
}
