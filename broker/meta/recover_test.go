package meta

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
)

// fullDiskJournal opens a FileJournal on an errorfs beside a filler file;
// capacity is set by the test.
type fullDiskJournal struct {
	fs     *errorfs.FS
	path   string
	filler string
}

func newFullDiskJournal(t *testing.T) *fullDiskJournal {
	t.Helper()
	fs := errorfs.New()
	if err := fs.MkdirAll("/data/meta"); err != nil {
		t.Fatal(err)
	}
	d := &fullDiskJournal{fs: fs, path: "/data/meta/" + JournalFileName, filler: "/data/filler"}
	fs.WriteFile(d.filler, make([]byte, 4*journalProbeBytes))
	return d
}

func (d *fullDiskJournal) open(t *testing.T) *FileJournal {
	t.Helper()
	j, err := OpenFileJournal(d.path, FileJournalOptions{FS: d.fs})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// fill leaves room for about room more bytes.
func (d *fullDiskJournal) fill(room int64) { d.fs.SetCapacity(d.fs.Used() + room) }
func (d *fullDiskJournal) free()           { d.fs.Remove(d.filler) }

// TestJournalRecoverAfterFullDisk: an append that does not fit fails with
// ENOSPC (its half-written frame left in the file) and the journal refuses
// appends; Recover fails while the disk is full; once space is freed it
// drops the refused frame and appends resume at the next offset. A reopen
// sees exactly the acknowledged payloads.
func TestJournalRecoverAfterFullDisk(t *testing.T) {
	d := newFullDiskJournal(t)
	j := d.open(t)
	ctx := context.Background()
	for i := range 3 {
		if _, err := j.Append(ctx, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	d.fill(10)
	if _, err := j.Append(ctx, payload(3)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	if _, err := j.Append(ctx, payload(3)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append while failed: %v, want the sticky ENOSPC", err)
	}
	if err := j.Recover(); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "probe") {
		t.Fatalf("recover on a full disk: %v, want a failed probe", err)
	}
	d.free()
	if err := j.Recover(); err != nil {
		t.Fatalf("recover after freeing space: %v", err)
	}
	if err := j.Recover(); err != nil {
		t.Fatalf("second recover: %v", err)
	}
	for i := 3; i < 5; i++ {
		off, err := j.Append(ctx, payload(i))
		if err != nil || off != int64(i) {
			t.Fatalf("append %d after recovery: offset %d, %v", i, off, err)
		}
	}
	checkPayloads(t, readAll(t, j), 5)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = d.open(t)
	defer j.Close()
	checkPayloads(t, readAll(t, j), 5)
}

// TestJournalRecoverDropsFrameWithFailedSync: a frame written but refused
// because its fsync failed is not known durable and its caller was told it
// failed: Recover cuts it off (a plain reopen would keep it).
func TestJournalRecoverDropsFrameWithFailedSync(t *testing.T) {
	fs := errorfs.New()
	j := openMemJournal(t, fs)
	defer j.Close()
	ctx := context.Background()
	for i := range 2 {
		if _, err := j.Append(ctx, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	fs.FailSyncAt(1) // the append's
	fs.FailSyncAt(1) // the next: Recover's probe
	if _, err := j.Append(ctx, payload(99)); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("append with failed sync: %v", err)
	}
	if err := j.Recover(); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("recover while syncs fail: %v", err)
	}
	fs.Reset()
	if err := j.Recover(); err != nil {
		t.Fatal(err)
	}
	if off, err := j.Append(ctx, payload(2)); err != nil || off != 2 {
		t.Fatalf("append after recovery: offset %d, %v", off, err)
	}
	checkPayloads(t, readAll(t, j), 3)
}

// TestStoreReadOnlyWhileDiskFull: metadata changes on a full disk fail with
// KAFKA_STORAGE_ERROR and leave the image alone; the store logs going
// read-only once however many changes are refused, Recover keeps it
// read-only while the disk is full, and once space is freed it resumes
// (logged once) without a reopen. A reopen then sees exactly the changes
// that were acknowledged.
func TestStoreReadOnlyWhileDiskFull(t *testing.T) {
	d := newFullDiskJournal(t)
	logger, logs := newTestLogger()
	now := time.UnixMilli(1_700_000_000_000)
	s, err := Open("", Options{Journal: d.open(t), Logger: logger, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	create := func(name string) error {
		return s.Apply(ctx, CreateTopic{Name: name, Partitions: 1, ReplicationFactor: 1})
	}
	if err := create("before"); err != nil {
		t.Fatal(err)
	}
	before := s.Image()
	d.fill(10)
	for i := range 3 {
		err := create("refused")
		if ErrorCode(err) != kerr.KafkaStorageError.Code || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("create %d on a full disk: code %d, %v; want KAFKA_STORAGE_ERROR wrapping ENOSPC", i, ErrorCode(err), err)
		}
	}
	if s.Image() != before {
		t.Fatal("a refused change reached the image")
	}
	if since, err := s.Failure(); !errors.Is(err, syscall.ENOSPC) || !since.Equal(now) {
		t.Fatalf("Failure() = %v, %v", since, err)
	}
	// Validation still answers while read-only.
	if err := create("before"); ErrorCode(err) != kerr.KafkaStorageError.Code {
		t.Fatalf("create while read-only: %v", err)
	}
	now = now.Add(3 * time.Second)
	if err := s.Recover(); ErrorCode(err) != kerr.KafkaStorageError.Code || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("recover on a full disk: %v", err)
	}
	if got := strings.Count(logs.String(), "metadata journal read-only"); got != 1 {
		t.Fatalf("read-only logged %d times, want once:\n%s", got, logs)
	}
	d.free()
	if err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Failure(); err != nil {
		t.Fatalf("Failure() = %v after recovery", err)
	}
	if got := strings.Count(logs.String(), "metadata journal writable again"); got != 1 || !strings.Contains(logs.String(), "read_only_for=3s") {
		t.Fatalf("resume logged %d times, want once with its duration:\n%s", got, logs)
	}
	if err := create("after"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open("", Options{Journal: d.open(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var names []string
	for _, tp := range s2.Image().Topics() {
		names = append(names, tp.Name)
	}
	if strings.Join(names, ",") != "after,before" && strings.Join(names, ",") != "before,after" {
		t.Fatalf("topics after reopen: %v, want before and after", names)
	}
}

// TestJournalSurvivesOSCrash: every acknowledged append survives an OS
// crash, including the new journal file's directory entry (synced on
// creation), on a file system where only synced names and bytes survive.
func TestJournalSurvivesOSCrash(t *testing.T) {
	fs := errorfs.NewStrict()
	j := openMemJournal(t, fs)
	ctx := context.Background()
	for i := range 3 {
		if _, err := j.Append(ctx, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	j = openMemJournal(t, fs.Crash())
	defer j.Close()
	checkPayloads(t, readAll(t, j), 3)
}
