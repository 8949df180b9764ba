package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testutil"
)

// mountTmpfs mounts a tmpfs with mount options opts ("size=8m") on a
// fresh folder and unmounts it when the test ends. It skips, loudly, where
// mounting is impossible (not root, no mount namespace).
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("SKIPPED %s: cannot mount a tmpfs (%s) to fill (this test needs root): %v: %s", t.Name(), opts, err, strings.TrimSpace(string(out)))
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillFile appends zeros to path until the file system is full.
func fillFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}

// fastMetadata makes a client refresh metadata at once after an error,
// rather than after kgo's default 5s minimum age.
var fastMetadata = kgo.MetadataMinAge(50 * time.Millisecond)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fullDisk is a real `sluice server` on a small tmpfs, with a producer.
type fullDisk struct {
	mnt, data, filler string
	c                 *child
	cl                *kgo.Client
	adm               *kadm.Client
}

// brokerOnTmpfs mounts an 8 MiB tmpfs holding a 1 MiB filler file (to free
// later) and starts a broker on it that probes read-only stores every
// 100-400ms, with a topic "fill" and an idempotent acks=all producer.
func brokerOnTmpfs(t *testing.T) *fullDisk {
	t.Helper()
	mnt := mountTmpfs(t, "size=8m")
	d := &fullDisk{mnt: mnt, data: filepath.Join(mnt, "data"), filler: filepath.Join(mnt, "filler")}
	if err := os.WriteFile(d.filler, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	createTopic(t, d.adm, "fill", 1, nil)
	return d
}

// start (re)starts the broker on the tmpfs and connects the clients.
func (d *fullDisk) start(t *testing.T) {
	t.Helper()
	d.c = startChild(t, d.data, "--http", "127.0.0.1:0",
		"--set", "log.segment.bytes=1048576", // rolls (index, snapshot writes) on the way
		"--set", "log.dir.failure.retry.backoff.ms=100", "--set", "log.dir.failure.retry.backoff.max.ms=400")
	d.cl = newClient(t, d.c.addr, kgo.DefaultProduceTopic("fill"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(2),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }), fastMetadata)
	d.adm = kadmClient(t, d.cl)
}

// fill produces 16 KiB records until the broker answers
// KAFKA_STORAGE_ERROR, returning the acknowledged values and the refused one.
func (d *fullDisk) fill(t *testing.T) (acked []string, refused string) {
	t.Helper()
	pad := strings.Repeat("p", 16<<10)
	for i := 0; refused == ""; i++ {
		if i > 1000 {
			t.Fatalf("%d records of 16 KiB fit on an 8 MiB disk", i)
		}
		v := fmt.Sprintf("r%06d-%s", i, pad)
		err := d.cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(v)}).FirstErr()
		switch {
		case err == nil:
			acked = append(acked, v)
		case errors.Is(err, kerr.KafkaStorageError):
			refused = v
		default:
			t.Fatalf("produce %d: %v, want success or KAFKA_STORAGE_ERROR", i, err)
		}
	}
	t.Logf("disk full after %d acknowledged records", len(acked))
	return acked, refused
}

// free removes the filler and top-up files.
func (d *fullDisk) free(t *testing.T) {
	t.Helper()
	for _, f := range []string{d.filler, filepath.Join(d.mnt, "topup")} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// produceUntilResumed retries v until it is acknowledged, failing the test
// on any error but KAFKA_STORAGE_ERROR or after 30s; it returns how long
// that took.
func (d *fullDisk) produceUntilResumed(t *testing.T, v string) time.Duration {
	t.Helper()
	start := time.Now()
	testutil.EventuallyNil(t, 30*time.Second, "produce after freeing space", func() error {
		err := d.cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(v)}).FirstErr()
		if err != nil && !errors.Is(err, kerr.KafkaStorageError) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("produce after freeing space: %v\n%s", err, d.c.stderr.String())
		}
		return err
	})
	return time.Since(start)
}

// checkRecords asserts that "fill" holds exactly acked, in order.
func (d *fullDisk) checkRecords(t *testing.T, acked []string, when string) {
	t.Helper()
	got := consumeN(t, d.c.addr, "fill", len(acked), fastMetadata)
	for i, r := range got {
		if string(r.Value) != acked[i] {
			t.Fatalf("%s: record %d = %.8s, want %.8s", when, i, r.Value, acked[i])
		}
	}
	if end := endOffsets(t, d.c.addr, "fill")[0]; end != int64(len(acked)) {
		t.Fatalf("%s: end offset %d, want %d (a record stored twice or lost)", when, end, len(acked))
	}
}

// TestFullDiskResumesWithoutRestart fills a real 8 MiB tmpfs under a real
// `sluice server` with an idempotent acks=all producer until the broker
// answers KAFKA_STORAGE_ERROR, creates topics until the metadata journal
// hits the full disk too, checks that reads still work and that /healthz
// and /metrics show the state, frees space, and waits for produce to
// succeed again without a restart. Every acknowledged record is then
// present exactly once and in order (also after a restart), the refused
// record retried by the client once, and each state change logged once.
func TestFullDiskResumesWithoutRestart(t *testing.T) {
	d := brokerOnTmpfs(t)
	c, cl, adm, mnt := d.c, d.cl, d.adm, d.mnt
	acked, refused := d.fill(t)

	// The metadata path: each creation writes a journal entry; some may fit
	// in the journal's last page, but the disk is full, so one fails.
	var created []string
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatalf("100 topics created on a full disk")
		}
		fillFile(t, filepath.Join(mnt, "topup")) // what probes and cut tails freed
		name := fmt.Sprintf("while-full-%d", i)
		resp, err := adm.CreateTopics(testCtx(t), 1, 1, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := resp[name].Err; err == nil {
			created = append(created, name)
			continue
		} else if !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("create %s on a full disk: %v, want KAFKA_STORAGE_ERROR", name, err)
		}
		break
	}

	// Read-only, not down: every acknowledged record is readable.
	for i, r := range consumeN(t, c.addr, "fill", len(acked), fastMetadata) {
		if string(r.Value) != acked[i] {
			t.Fatalf("while full: record %d = %.8s, want %.8s", i, r.Value, acked[i])
		}
	}
	code, body := httpGet(t, "http://"+c.http+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "\npartition fill-0: no_space since ") ||
		!strings.Contains(body, "\nmetadata_journal metadata journal: no_space since ") {
		t.Fatalf("/healthz while full = %d:\n%s", code, body)
	}
	if code, _ := httpGet(t, "http://"+c.http+"/livez"); code != 200 {
		t.Fatalf("/livez while full = %d", code)
	}
	if v := c.metric(t, `sluice_storage_failed_logs{kind="partition",reason="no_space"}`); v != 1 {
		t.Errorf("failed partition logs while full = %v, want 1", v)
	}
	if v := c.metric(t, `sluice_storage_failed_logs{kind="metadata_journal",reason="no_space"}`); v != 1 {
		t.Errorf("failed metadata journals while full = %v, want 1", v)
	}
	// Retries meanwhile are refused without a log line each.
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(refused)}).FirstErr(); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("produce while full: %v", err)
	}
	logs := c.stderr.String()
	for _, line := range []string{"partition log read-only", "metadata journal read-only"} {
		if n := strings.Count(logs, line); n != 1 {
			t.Errorf("%q logged %d times while full, want once:\n%s", line, n, logs)
		}
	}
	if n := strings.Count(logs, "level=ERROR"); n != 2 {
		t.Errorf("%d error lines while full, want 2 (one per read-only store):\n%s", n, logs)
	}

	// Group offsets live in __consumer_offsets, which cannot be created
	// now: commits fail (retriable), logged once, and work after the free.
	commit := func(within time.Duration, at int64) error {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "fill", Partition: 0, At: at, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, "g", offs)
		if err == nil {
			err = resp.Error()
		}
		return err
	}
	for range 2 {
		if err := commit(time.Second, 5); err == nil {
			t.Fatal("offset commit succeeded while __consumer_offsets cannot be created")
		}
	}
	if n := strings.Count(c.stderr.String(), "group coordinator cannot start"); n != 1 {
		t.Errorf("coordinator start failure logged %d times, want once:\n%s", n, c.stderr.String())
	}

	// Free space: writes resume by themselves.
	d.free(t)
	t.Logf("produce resumed %v after space was freed", d.produceUntilResumed(t, refused).Round(time.Millisecond))
	acked = append(acked, refused)
	for i := 0; i < 3; i++ {
		v := fmt.Sprintf("after-%d", i)
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s after resume: %v", v, err)
		}
		acked = append(acked, v)
	}
	// Polling for the journal's resume: only KAFKA_STORAGE_ERROR may come first.
	testutil.EventuallyNil(t, 30*time.Second, "create topic after freeing space", func() error {
		resp, err := adm.CreateTopics(testCtx(t), 1, 1, nil, "after-full")
		if err != nil {
			t.Fatal(err)
		}
		err = resp["after-full"].Err
		if err != nil && !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("create topic after freeing space: %v", err)
		}
		return err
	})
	created = append(created, "after-full")
	if err := commit(30*time.Second, 7); err != nil {
		t.Fatalf("offset commit after freeing space: %v", err)
	}
	if fetched, err := adm.FetchOffsets(testCtx(t), "g"); err != nil || fetched.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, fetched.Error())
	} else if o, _ := fetched.Lookup("fill", 0); o.At != 7 {
		t.Fatalf("committed offset %d after resume, want 7", o.At)
	}
	if code, body := httpGet(t, "http://"+c.http+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz after resume = %d %q", code, body)
	}
	if v := c.metric(t, `sluice_storage_recoveries_total{kind="partition"}`); v != 1 {
		t.Errorf("partition recoveries = %v, want 1", v)
	}
	logs = c.stderr.String()
	for _, line := range []string{"partition log writable again", "metadata journal writable again"} {
		if n := strings.Count(logs, line); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", line, n, logs)
		}
	}

	check := func(when string) {
		t.Helper()
		d.checkRecords(t, acked, when)
		topics, err := kadmClient(t, newClient(t, d.c.addr)).ListTopics(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range created {
			if !topics.Has(name) {
				t.Fatalf("%s: topic %s, acknowledged, is missing", when, name)
			}
		}
	}
	check("after resume")
	d.c.kill(t)
	d.start(t)
	check("after a restart")
}

// TestNoInodesTopicOpensLater: with the file system out of inodes (as
// ext4 fails a mkdir when it has no free block), a topic is created in the
// metadata but its partition folder cannot be: it is not served, shows on
// /healthz, and a restart while the disk is still full starts anyway (it
// used to fail, refusing to start on its own data dir). Once inodes are
// freed the storage prober opens the topic, without a restart.
func TestNoInodesTopicOpensLater(t *testing.T) {
	mnt := mountTmpfs(t, "size=8m,nr_inodes=200")
	d := &fullDisk{mnt: mnt, data: filepath.Join(mnt, "data")}
	d.start(t)
	createTopic(t, d.adm, "fill", 1, nil)
	if err := d.cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	hog := filepath.Join(mnt, "hog")
	if err := os.Mkdir(hog, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(hog, strconv.Itoa(i)))
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
		f.Close()
	}
	resp, err := d.adm.CreateTopics(testCtx(t), 1, 1, nil, "late")
	if err != nil || resp["late"].Err != nil {
		t.Fatalf("create topic with no inodes left: %v %v (the journal entry fits the journal's page)", err, resp["late"].Err)
	}
	health := func(want int, has string) {
		t.Helper()
		code, body := httpGet(t, "http://"+d.c.http+"/healthz")
		if code != want || !strings.Contains(body, has) {
			t.Fatalf("/healthz = %d, want %d with %q:\n%s", code, want, has, body)
		}
	}
	health(http.StatusServiceUnavailable, "\npartition late (not open): no_space since ")
	d.c.kill(t)
	d.start(t) // still no inodes
	health(http.StatusServiceUnavailable, "\npartition late (not open): no_space since ")
	d.checkRecords(t, []string{"before"}, "after a restart with no inodes")
	if err := os.RemoveAll(hog); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testutil.EventuallyNil(t, 30*time.Second, "produce to late after freeing inodes (polling for the prober)", func() error {
		err := d.cl.ProduceSync(testCtx(t), &kgo.Record{Topic: "late", Value: []byte("late works")}).FirstErr()
		if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("produce to late after freeing inodes: %v\n%s", err, d.c.stderr.String())
		}
		return err
	})
	t.Logf("topic opened %v after inodes were freed", time.Since(start).Round(time.Millisecond))
	health(http.StatusOK, "ok")
	if n := strings.Count(d.c.stderr.String(), "topic opened after an earlier failure"); n != 1 {
		t.Fatalf("reopen logged %d times, want once:\n%s", n, d.c.stderr.String())
	}
}
