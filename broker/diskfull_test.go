package broker_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// mountTmpfs mounts a tmpfs of size (mount's -o size=) on a fresh folder
// and unmounts it when the test ends. It skips, loudly, where mounting is
// impossible (not root, no mount namespace).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("SKIPPED %s: cannot mount a %s tmpfs to fill (this test needs root): %v: %s", t.Name(), size, err, strings.TrimSpace(string(out)))
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

// TestFullDiskResumesWithoutRestart fills a real 8 MiB tmpfs under a real
// `sluice server` with an idempotent acks=all producer until the broker
// answers KAFKA_STORAGE_ERROR, creates topics until the metadata journal
// hits the full disk too, checks that reads still work and that /healthz
// and /metrics show the state, frees space, and waits for produce to
// succeed again without a restart. Every acknowledged record is then
// present exactly once and in order (also after a restart), the refused
// record retried by the client once, and each state change logged once.
func TestFullDiskResumesWithoutRestart(t *testing.T) {
	mnt := mountTmpfs(t, "8m")
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(mnt, "data")
	c := startChild(t, data, "--http", "127.0.0.1:0",
		"--set", "log.segment.bytes=1048576", // rolls (index, snapshot writes) on the way
		"--set", "log.dir.failure.retry.backoff.ms=100", "--set", "log.dir.failure.retry.backoff.max.ms=400")
	cl := newClient(t, c.addr, kgo.DefaultProduceTopic("fill"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(2),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }), fastMetadata)
	adm := kadmClient(t, cl)
	createTopic(t, adm, "fill", 1, nil)

	pad := strings.Repeat("p", 16<<10)
	value := func(i int) string { return fmt.Sprintf("r%06d-%s", i, pad) }
	var acked []string
	var refused string
	for i := 0; refused == ""; i++ {
		if i > 1000 {
			t.Fatalf("%d records of 16 KiB fit on an 8 MiB disk", i)
		}
		err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(value(i))}).FirstErr()
		switch {
		case err == nil:
			acked = append(acked, value(i))
		case errors.Is(err, kerr.KafkaStorageError):
			refused = value(i)
		default:
			t.Fatalf("produce %d: %v, want success or KAFKA_STORAGE_ERROR", i, err)
		}
	}
	t.Logf("disk full after %d acknowledged records", len(acked))

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

	// Free space: writes resume by themselves.
	for _, f := range []string{filler, filepath.Join(mnt, "topup")} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	freed := time.Now()
	deadline := freed.Add(30 * time.Second)
	for {
		err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(refused)}).FirstErr()
		if err == nil {
			break
		}
		if !errors.Is(err, kerr.KafkaStorageError) || time.Now().After(deadline) {
			t.Fatalf("produce after freeing space: %v\n%s", err, c.stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling for the resume
	}
	t.Logf("produce resumed %v after space was freed", time.Since(freed).Round(time.Millisecond))
	acked = append(acked, refused)
	for i := 0; i < 3; i++ {
		v := fmt.Sprintf("after-%d", i)
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s after resume: %v", v, err)
		}
		acked = append(acked, v)
	}
	for {
		resp, err := adm.CreateTopics(testCtx(t), 1, 1, nil, "after-full")
		if err != nil {
			t.Fatal(err)
		}
		if err := resp["after-full"].Err; err == nil {
			break
		} else if !errors.Is(err, kerr.KafkaStorageError) || time.Now().After(deadline) {
			t.Fatalf("create topic after freeing space: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling for the journal's resume
	}
	created = append(created, "after-full")
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

	check := func(addr, when string) {
		t.Helper()
		got := consumeN(t, addr, "fill", len(acked), fastMetadata)
		for i, r := range got {
			if string(r.Value) != acked[i] {
				t.Fatalf("%s: record %d = %.8s, want %.8s", when, i, r.Value, acked[i])
			}
		}
		if end := endOffsets(t, addr, "fill")[0]; end != int64(len(acked)) {
			t.Fatalf("%s: end offset %d, want %d (a record stored twice or lost)", when, end, len(acked))
		}
		topics, err := kadmClient(t, newClient(t, addr)).ListTopics(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range created {
			if !topics.Has(name) {
				t.Fatalf("%s: topic %s, acknowledged, is missing", when, name)
			}
		}
	}
	check(c.addr, "after resume")
	c.kill(t)
	c2 := startChild(t, data)
	check(c2.addr, "after a restart")
	c2.kill(t)
}
