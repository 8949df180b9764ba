package loader

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/loader/fs"
	"github.com/sluicehq/sluice/pipelines"
)

func TestFileNameRoundTrip(t *testing.T) {
	n := FileName{TopicPartition: TopicPartition{"page.views-v2", 17}, First: 5, Last: 1 << 40, Codec: "zstd"}
	s := n.String()
	if s != "page.views-v2+17+00000000000000000005+00000001099511627776.zstd.parquet" {
		t.Fatalf("name %s", s)
	}
	got, ok := ParseFileName(s)
	if !ok || got != n {
		t.Fatalf("parse %q = %+v, %v", s, got, ok)
	}
	for _, bad := range []string{
		"x+1+2+3.snappy.parquet",
		"x+1+00000000000000000009+00000000000000000002.snappy.parquet", // last < first
		"x+-1+00000000000000000000+00000000000000000002.snappy.parquet",
		"+1+00000000000000000000+00000000000000000002.snappy.parquet",
		"x+1+00000000000000000000+00000000000000000002.parquet",
		"x+1+00000000000000000000+00000000000000000002.snappy.parquet.tmp",
		"_SUCCESS",
	} {
		if _, ok := ParseFileName(bad); ok {
			t.Errorf("ParseFileName(%q) accepted", bad)
		}
	}
}

func TestParseLayoutDir(t *testing.T) {
	for _, tc := range []struct {
		layout, dir string
		want        time.Time
		ok          bool
	}{
		{"dt=YYYY-MM-DD/hr=HH", "dt=2026-11-25/hr=07", time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC), true},
		{"year=YYYY/month=MM/day=DD/hour=HH/minute=mm", "year=2026/month=01/day=02/hour=03/minute=45", time.Date(2026, 1, 2, 3, 45, 0, 0, time.UTC), true},
		{"dt=YYYYMMDD", "dt=20261125", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), true},
		{"summary/YYYY", "summary/2026", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"dt=YYYY-MM-DD/hr=HH", "dt=2026-11-25", time.Time{}, false},
		{"dt=YYYY-MM-DD/hr=HH", "dt=2026-11-25/hr=7x", time.Time{}, false},
		{"dt=YYYY-MM-DD", "other=2026-11-25", time.Time{}, false},
		{"dt=YYYY-MM-DD/hr=HH", "dt=2026-13-25/hr=07", time.Time{}, false},
		{"dt=YYYY-MM-DD/hr=HH", "dt=2026-02-30/hr=07", time.Time{}, false},
		{"dt=YYYY-MM-DD/hr=HH", "dt=2026-11-25/hr=24", time.Time{}, false},
	} {
		got, ok := parseLayoutDir(tc.layout, tc.dir, time.UTC)
		if ok != tc.ok || ok && !got.Equal(tc.want) {
			t.Errorf("parseLayoutDir(%q, %q) = %v, %v; want %v, %v", tc.layout, tc.dir, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIntentEncoding(t *testing.T) {
	b := &batch{TP: TopicPartition{"t", 3}, First: 10, Last: 99, Renames: []rename{{"_tmp/a.tmp", "dt=x/a.parquet"}, {"_tmp/b.tmp", "_errors/b.parquet"}}}
	data, err := encodeIntent(b)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := decodeIntent(data)
	if !ok || got.TP != b.TP || got.First != 10 || got.Last != 99 || len(got.Renames) != 2 || got.Renames[1] != b.Renames[1] {
		t.Fatalf("decode: %+v %v", got, ok)
	}
	// Every torn prefix is detected.
	for i := range len(data) - 1 {
		if _, ok := decodeIntent(data[:i]); ok {
			t.Fatalf("torn intent of %d bytes accepted", i)
		}
	}
	if _, err := encodeIntent(&batch{TP: b.TP, Renames: []rename{{"a\tb", "c"}}}); err == nil {
		t.Fatal("tab in path accepted")
	}
}

func TestIntentEntryNames(t *testing.T) {
	tp := TopicPartition{"t", 3}
	for _, tc := range []struct {
		base string
		want intentEntry
		ok   bool
	}{
		{intentName(tp, 7, false), intentEntry{kind: kindIntent, first: 7}, true},
		{intentName(tp, 7, true), intentEntry{kind: kindDone, first: 7}, true},
		{preparedName(tp, 7, 42), intentEntry{kind: kindPrepared, first: 7, epoch: 42}, true},
		{ownerName(tp, 42), intentEntry{kind: kindOwner, epoch: 42}, true},
		{intentName(TopicPartition{"t", 33}, 7, false), intentEntry{}, false},
		{"t+3+7.intent", intentEntry{}, false},
		{"t+3+00000000000000000007.00000000000000000001.intent", intentEntry{}, false},
		{"t+3+00000000000000000007.1.prep", intentEntry{}, false},
	} {
		got, ok := parseIntentEntry(tp, tc.base)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("parseIntentEntry(%q) = %+v, %v; want %+v, %v", tc.base, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		base  string
		epoch int64
		ok    bool
	}{
		{tmpName(tp, 7, 42, "abcd"), 42, true},
		{"t+3+00000000000000000007.abcd.tmp", 0, true}, // named before epochs
		{tmpName(TopicPartition{"t", 33}, 7, 42, "abcd"), 0, false},
		{"t+3+00000000000000000007.abcd.tmp.x", 0, false},
	} {
		epoch, ok := parseTmpName(tp, tc.base)
		if ok != tc.ok || epoch != tc.epoch {
			t.Errorf("parseTmpName(%q) = %d, %v; want %d, %v", tc.base, epoch, ok, tc.epoch, tc.ok)
		}
	}
}

// TestFencing: a second owner whose batch starts at or before a batch
// another owner committed is refused and publishes nothing.
func TestFencing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := testSource()
	cfg := testConfig(t, fs.NewLocal(), root, src)
	tp := testTPs[0]
	// The zombie has read from offset 0 but not committed yet.
	zombie := newWorker(cfg, tp)
	zombie.next, zombie.batchFirst = 0, 0
	zombie.format = lineFormat{}
	for _, rec := range src.records[tp][:50] {
		if err := zombie.process(ctx, rec); err != nil {
			t.Fatal(err)
		}
		zombie.next = rec.Offset + 1
	}
	// Meanwhile the new owner loads the first 300 offsets.
	if err := newWorker(cfg, tp).run(ctx, 300); err != nil {
		t.Fatal(err)
	}
	err := zombie.publish(ctx)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("zombie publish: %v, want ErrFenced", err)
	}
	zombie.abandon(ctx)
	if err := newWorker(cfg, tp).run(ctx, testRecords); err != nil {
		t.Fatal(err)
	}
	if err := newWorker(cfg, testTPs[1]).run(ctx, testRecords); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, sinkContents(t, fs.NewLocal(), root), testTPs, testRecords)
}

func TestOnError(t *testing.T) {
	ctx := context.Background()
	bad := int64(0)
	for off := int64(0); off < testRecords; off++ {
		if off%97 == 5 {
			bad++
		}
	}
	t.Run("fail", func(t *testing.T) {
		cfg := testConfig(t, fs.NewLocal(), t.TempDir(), testSource())
		cfg.onError, cfg.retries = pipelines.ErrorFail, 3
		w := newWorker(cfg, testTPs[0])
		err := w.run(ctx, testRecords)
		if err == nil || !strings.Contains(err.Error(), `topic "events" partition 0 offset 5: value "bad" is bad`) {
			t.Fatalf("err = %v", err)
		}
		if w.stats.Retries != 0 {
			t.Fatalf("a bad record was retried %d times", w.stats.Retries)
		}
	})
	t.Run("skip", func(t *testing.T) {
		root := t.TempDir()
		cfg := testConfig(t, fs.NewLocal(), root, testSource())
		cfg.onError = pipelines.ErrorSkip
		w := newWorker(cfg, testTPs[0])
		if err := w.run(ctx, testRecords); err != nil {
			t.Fatal(err)
		}
		if w.stats.Errors != bad || w.stats.DeadLetters != 0 || w.stats.Records != testRecords-bad {
			t.Fatalf("stats %+v", w.stats)
		}
		got := sinkContents(t, fs.NewLocal(), root)[testTPs[0]]
		if len(got) != int(testRecords-bad) || got[5] != 0 {
			t.Fatalf("%d offsets landed, offset 5 %d times", len(got), got[5])
		}
	})
	t.Run("dead_letter", func(t *testing.T) {
		root := t.TempDir()
		cfg := testConfig(t, fs.NewLocal(), root, testSource())
		w := newWorker(cfg, testTPs[0])
		if err := w.run(ctx, testRecords); err != nil {
			t.Fatal(err)
		}
		if w.stats.Errors != bad || w.stats.DeadLetters != bad {
			t.Fatalf("stats %+v", w.stats)
		}
		entries, err := fs.NewLocal().List(ctx, path.Join(root, errorsDir))
		if err != nil || len(entries) == 0 {
			t.Fatalf("no dead-letter files: %v", err)
		}
	})
	t.Run("max_error_ratio", func(t *testing.T) {
		cfg := testConfig(t, fs.NewLocal(), t.TempDir(), testSource())
		cfg.onError, cfg.maxErrorRatio = pipelines.ErrorSkip, 0.005 // the source has 1%
		err := newWorker(cfg, testTPs[0]).run(ctx, testRecords)
		if err == nil || !strings.Contains(err.Error(), "over max_error_ratio 0.005") {
			t.Fatalf("err = %v", err)
		}
		cfg.maxErrorRatio = 0.02
		if err := newWorker(cfg, testTPs[1]).run(ctx, testRecords); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGap(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := testSource()
	cfg := testConfig(t, fs.NewLocal(), root, src)
	tp := testTPs[0]
	if err := newWorker(cfg, tp).run(ctx, 200); err != nil {
		t.Fatal(err)
	}
	src.logStart[tp] = 350 // retention deleted 200..349
	err := newWorker(cfg, tp).run(ctx, testRecords)
	want := `topic "events" partition 0: the next offset to load, 200, was deleted by retention (log start offset is 350)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	cfg.onGap = pipelines.GapSkip
	w := newWorker(cfg, tp)
	if err := w.run(ctx, testRecords); err != nil {
		t.Fatal(err)
	}
	if w.stats.GapSkipped != 150 || w.stats.First != 350 {
		t.Fatalf("stats %+v", w.stats)
	}
	got := sinkContents(t, fs.NewLocal(), root)[tp]
	for off := int64(0); off < testRecords; off++ {
		want := 1
		if off >= 200 && off < 350 {
			want = 0
		}
		if got[off] != want {
			t.Fatalf("offset %d landed %d times, want %d", off, got[off], want)
		}
	}
}

func TestStartLatest(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := testSource()
	cfg := testConfig(t, fs.NewLocal(), root, src)
	cfg.start = "latest"
	cfg.commitStart = src.commit
	tp := testTPs[0]
	w := newWorker(cfg, tp)
	if err := w.run(ctx, testRecords); err != nil {
		t.Fatal(err)
	}
	if w.stats.Files != 0 {
		t.Fatalf("start latest loaded %d files from an existing backlog", w.stats.Files)
	}
	// Records produced after the first run are loaded by the next.
	for off := int64(testRecords); off < testRecords+50; off++ {
		src.records[tp] = append(src.records[tp], &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: off, Value: []byte("new"), Timestamp: time.Now()})
	}
	w = newWorker(cfg, tp)
	if err := w.run(ctx, testRecords+50); err != nil {
		t.Fatal(err)
	}
	if w.stats.First != testRecords || w.stats.Records != 50 {
		t.Fatalf("second run: %+v, want offsets %d.. (50 records)", w.stats, testRecords)
	}
}

// TestFollowRollsByAge: a follower (no end offset) publishes an idle
// partition's open files once they are roll.age old, without new records.
func TestFollowRollsByAge(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := t.TempDir()
	src := testSource()
	cfg := testConfig(t, fs.NewLocal(), root, src)
	cfg.roll = RollPolicy{Records: 1 << 30, Age: 50 * time.Millisecond}
	pubs := make(chan struct{}, 100)
	cfg.onPublish = func(published) { pubs <- struct{}{} }
	done := make(chan error, 1)
	go func() { done <- newWorker(cfg, testTPs[0]).run(ctx, -1) }()
	deadline := time.After(10 * time.Second)
	for {
		got := sinkContents(t, fs.NewLocal(), root)[testTPs[0]]
		if len(got) == testRecords {
			break
		}
		select {
		case <-pubs:
		case <-deadline:
			t.Fatalf("only %d offsets published by age", len(got))
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("follower stopped with %v", err)
	}
}

// TestRecoverDropsEmptyIntent: an intent whose temporary files are gone and
// of which nothing was published (an owner that lost the partition kept
// writing after the new owner cleaned up) is dropped by recovery, so the
// partition does not stay stuck.
func TestRecoverDropsEmptyIntent(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := testSource()
	cfg := testConfig(t, fs.NewLocal(), root, src)
	tp := testTPs[0]
	b := &batch{TP: tp, First: 0, Last: 9, Renames: []rename{{"_tmp/gone.tmp", "dt=x/" + FileName{tp, 0, 9, "none"}.String()}}}
	data, _ := encodeIntent(b)
	f, err := fs.NewLocal().Create(ctx, path.Join(root, intentsDir, intentName(tp, 0, false)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := newWorker(cfg, tp).run(ctx, testRecords); err != nil {
		t.Fatal(err)
	}
	if err := newWorker(cfg, testTPs[1]).run(ctx, testRecords); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, sinkContents(t, fs.NewLocal(), root), testTPs, testRecords)
}

// TestTimezone: rows are placed by their time in partition_by.timezone,
// with the pipelines layout, including half-hour offsets and a DST change.
func TestTimezone(t *testing.T) {
	ctx := context.Background()
	layout, err := pipelines.ParseLayout("dt=YYYY-MM-DD/hr=HH")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		zone string
		at   time.Time // record time of offsets 0..
		want []string  // folders, in order
	}{
		// 10:00-12:29 UTC is 15:30-17:59 in India (UTC+5:30).
		{"Asia/Kolkata", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), []string{"dt=2026-11-25/hr=15", "dt=2026-11-25/hr=16", "dt=2026-11-25/hr=17"}},
		// New York leaves DST on 2026-11-01 at 06:00 UTC: 01:xx happens
		// twice and both hours land in hr=01; 07:00 UTC is 02:00.
		{"America/New_York", time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC), []string{"dt=2026-11-01/hr=01", "dt=2026-11-01/hr=02"}},
	} {
		t.Run(tc.zone, func(t *testing.T) {
			loc, err := time.LoadLocation(tc.zone)
			if err != nil {
				t.Skipf("no tzdata for %s: %v", tc.zone, err) // loud: the test names it
			}
			root := t.TempDir()
			tp := TopicPartition{"tz", 0}
			src := &memSource{records: map[TopicPartition][]*kgo.Record{}, logStart: map[TopicPartition]int64{}, chunk: 100}
			for i := range 150 {
				src.records[tp] = append(src.records[tp], &kgo.Record{Topic: "tz", Offset: int64(i), Value: []byte("v"), Timestamp: tc.at.Add(time.Duration(i) * time.Minute)})
			}
			cfg := testConfig(t, fs.NewLocal(), root, src)
			cfg.layout, cfg.loc = layout, loc
			cfg.roll = RollPolicy{Records: 1000}
			if err := newWorker(cfg, tp).run(ctx, 150); err != nil {
				t.Fatal(err)
			}
			var dirs []string
			_ = fs.NewLocal().Walk(ctx, root, func(e fs.Entry) error {
				if _, ok := ParseFileName(path.Base(e.Path)); ok && !strings.Contains(e.Path, "/_") {
					dirs = append(dirs, strings.TrimPrefix(path.Dir(e.Path), root+"/"))
				}
				return nil
			})
			if strings.Join(dirs, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("folders %v, want %v", dirs, tc.want)
			}
		})
	}
}

// TestSuccessAfterFallBack: _SUCCESS for a folder that two hours share
// (clocks falling back) waits for the end of the second.
func TestSuccessAfterFallBack(t *testing.T) {
	ctx := context.Background()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	layout, err := pipelines.ParseLayout("dt=YYYY-MM-DD/hr=HH")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	s := newSuccessTracker(NewSink(fs.NewLocal(), root), layout, "dt=YYYY-MM-DD/hr=HH", loc, 0, slog.New(slog.DiscardHandler))
	s.addDir("dt=2026-11-01/hr=01")
	tp := TopicPartition{"t", 0}
	marker := path.Join(root, "dt=2026-11-01/hr=01", successFile)
	for _, tc := range []struct {
		wm   time.Time
		want bool
	}{
		{time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), false}, // 01:30 EST, the second 01:xx
		{time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC), true},   // 02:00 EST
	} {
		s.watermark(tp, tc.wm)
		if err := s.flush(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := os.Stat(marker)
		if got := err == nil; got != tc.want {
			t.Fatalf("watermark %s: _SUCCESS present %v, want %v", tc.wm, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	spec := &pipelines.Spec{Name: "unchecked"}
	spec.PartitionBy.Layout = "dt=YYYY-MM-DDD"
	if err := (Config{Spec: spec}).Validate(); err == nil || !strings.Contains(err.Error(), "has not been validated") {
		t.Errorf("Validate() of a spec that did not pass Spec.Validate = %v; want it refused", err)
	}
	if _, err := ParseBalancer("fastest"); err == nil || !strings.Contains(err.Error(), `balancer "fastest"`) {
		t.Errorf("ParseBalancer(fastest) = %v; want an error naming it", err)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("a config without a spec validated")
	}
}

// A Config is used as given: DefaultConfig holds the defaults, and Validate
// refuses what cannot run (there is no "0 means the default" any more, so
// `sluice load --retries 0` needs no workaround to mean none).
func TestConfigDefaultsAndValidate(t *testing.T) {
	spec, err := pipelines.LoadBytes("d.yaml", []byte("name: d\nsource: {brokers: [\"127.0.0.1:9092\"], topics: [t]}\nsink: {url: /tmp/d}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig(spec)
	if c.Retries != DefaultRetries || c.RetryBackoff != time.Second {
		t.Errorf("DefaultConfig = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("DefaultConfig does not validate: %v", err)
	}
	c.Retries = 0
	if err := c.Validate(); err != nil {
		t.Errorf("no retries: %v", err)
	}
	c.Retries, c.RetryBackoff = 3, 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "retry backoff") {
		t.Errorf("retries without a backoff: %v", err)
	}
	c.Retries = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "retries -1") {
		t.Errorf("negative retries: %v", err)
	}
}
