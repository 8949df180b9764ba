package log

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
)

// TestRecoverInPlaceAtEveryWriteAndSync injects a failure at every write
// and every fsync of a workload, as TestErrorAtEveryWriteAndSync does, but
// recovers the running log with Recover instead of a reopen: every
// acknowledged record is there once and in order, appends work again, and
// a reopen afterwards sees the same.
func TestRecoverInPlaceAtEveryWriteAndSync(t *testing.T) {
	const n = 60
	faults := everyFault(t, n)
	recovered := 0
	for _, f := range faults {
		name := f.name
		for _, flushEvery := range []int64{4, 1} {
			e := newEnv(t)
			f.apply(e.fs)
			cfg := faultConfig(flushEvery)
			l, err := Open(e.dir, cfg, e.options())
			if err != nil {
				continue // the fault hit Open itself
			}
			acked, failed, werr := workload(t, l, e, n)
			if werr == nil {
				l.Close()
				continue
			}
			if _, err := l.Failure(); !errors.Is(err, errorfs.ErrInjected) {
				t.Fatalf("%s: Failure() = %v after %v", name, err, werr)
			}
			if err := l.Recover(); err != nil {
				t.Fatalf("%s: recover: %v\n%s", name, err, e.logs)
			}
			if _, err := l.Failure(); err != nil {
				t.Fatalf("%s: Failure() = %v after a successful Recover", name, err)
			}
			got := values(readAll(t, l, 1<<20))
			checkRecovered(t, got, acked, failed)
			if res := mustAppend(t, l, makeBatch(t, spec("after recovery"))); res.BaseOffset != int64(len(got)) {
				t.Fatalf("%s: append after recovery at %d, want %d", name, res.BaseOffset, len(got))
			}
			recovered++
			want := append(got, "after recovery")
			if err := l.Close(); err != nil {
				t.Fatalf("%s: close after recovery: %v", name, err)
			}
			e.fs = e.fs.Clone()
			l2 := e.open(cfg)
			if got := values(readAll(t, l2, 1<<20)); !slices.Equal(got, want) {
				t.Fatalf("%s (flush every %d): reopened after recovery: %d records, want %d", name, flushEvery, len(got), len(want))
			}
			l2.Close()
		}
	}
	if recovered < len(faults) {
		t.Fatalf("only %d of %d runs failed and recovered", recovered, 2*len(faults))
	}
}

// fullDisk is a log on an errorfs whose capacity leaves room for a few
// batches, beside a filler file whose removal frees the disk.
type fullDisk struct {
	*env
	l      *Log
	filler string
}

func newFullDisk(t *testing.T, cfg Config, room int64) *fullDisk {
	t.Helper()
	e := newEnv(t)
	d := &fullDisk{env: e, filler: "/data/filler"}
	d.l = e.open(cfg)
	e.fs.WriteFile(d.filler, make([]byte, 4*probeBytes))
	e.fs.SetCapacity(e.fs.Used() + room)
	return d
}

func (d *fullDisk) free() { d.fs.Remove(d.filler) }

// TestFullDiskStateMachine drives a log through a full disk: appends fail
// with ENOSPC and the log turns read-only (logged once), reads go on, a
// probe on the still-full disk keeps it read-only without a log line, and
// once space is freed Recover resumes it. The idempotent producer's refused
// batch is then accepted as new at the next offset (it did not advance the
// producer state), an acknowledged batch resent is a duplicate, and no
// record is lost or doubled, before or after a reopen.
func TestFullDiskStateMachine(t *testing.T) {
	cfg := faultConfig(1 << 40)
	d := newFullDisk(t, cfg, 3*probeBytes)
	l := d.l
	batch := func(i int) []byte {
		return makeBatch(t, spec(val(i)+strings.Repeat("x", 900)).withProducer(7, 0, int32(i)))
	}
	var acked []string
	var werr error
	i := 0
	for ; i < 1000; i++ {
		if _, werr = l.Append(batch(i)); werr != nil {
			break
		}
		acked = append(acked, val(i))
	}
	if !errors.Is(werr, syscall.ENOSPC) || len(acked) < 10 {
		t.Fatalf("append %d: %v after %d appends, want ENOSPC after many", i, werr, len(acked))
	}
	refused := i
	since, ferr := l.Failure()
	if !errors.Is(ferr, syscall.ENOSPC) || !since.Equal(d.clock.Now()) {
		t.Fatalf("Failure() = %v, %v; want ENOSPC since %v", since, ferr, d.clock.Now())
	}
	// Read-only: reads serve every acknowledged record, writes fail at once.
	checkValues := func(what string) {
		t.Helper()
		var got []string
		for _, v := range values(readAll(t, l, 1<<20)) {
			got = append(got, v[:len(val(0))])
		}
		if !slices.Equal(got, acked) {
			t.Fatalf("%s: read %d records, want the %d acknowledged ones in order", what, len(got), len(acked))
		}
	}
	checkValues("while read-only")
	for range 3 {
		if _, err := l.Append(batch(refused)); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append while read-only: %v", err)
		}
	}
	if err := l.Flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush while read-only: %v", err)
	}
	d.clock.Advance(5e9)
	if err := l.Recover(); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "probe") {
		t.Fatalf("recover on a full disk: %v, want a failed probe", err)
	}
	if _, err := l.Failure(); err == nil {
		t.Fatal("log writable after a failed probe")
	}
	if names, _ := d.fs.List(d.dir); slices.Contains(names, probeFile) {
		t.Fatal("failed probe left its file")
	}
	if got := strings.Count(d.logs.String(), "partition log read-only"); got != 1 {
		t.Fatalf("read-only logged %d times, want once:\n%s", got, d.logs)
	}

	d.free()
	d.clock.Advance(5e9)
	if err := l.Recover(); err != nil {
		t.Fatalf("recover after freeing space: %v\n%s", err, d.logs)
	}
	if err := l.Recover(); err != nil {
		t.Fatalf("second recover: %v", err)
	}
	if _, err := l.Failure(); err != nil {
		t.Fatalf("Failure() = %v after recovery", err)
	}
	if got := strings.Count(d.logs.String(), "partition log writable again"); got != 1 {
		t.Fatalf("resume logged %d times, want once:\n%s", got, d.logs)
	}
	checkValues("after recovery")
	res, err := l.Append(batch(refused))
	if err != nil || res.BaseOffset != int64(len(acked)) {
		t.Fatalf("retry of the refused batch: offset %d, %v; want a new append at %d", res.BaseOffset, err, len(acked))
	}
	acked = append(acked, val(refused))
	if res, err := l.Append(batch(refused - 2)); !errors.Is(err, ErrDuplicateSequence) || res.BaseOffset != int64(refused-2) {
		t.Fatalf("resent acknowledged batch %d: offset %d, %v; want a duplicate", refused-2, res.BaseOffset, err)
	}
	if _, err := l.Append(batch(refused + 2)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap after recovery: %v, want out of order", err)
	}
	mustAppend(t, l, batch(refused+1))
	acked = append(acked, val(refused+1))
	checkValues("after more appends")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	d.l = d.open(cfg)
	l = d.l
	checkValues("after a reopen")
}

// TestRecoverAfterFailedFsync: with flush.messages=1 an append whose fsync
// fails is refused although its bytes were written. Recovery re-reads them
// from the recovery point rather than trusting them; they verify, so the
// producer's retry is a duplicate answered with the original offset.
func TestRecoverAfterFailedFsync(t *testing.T) {
	e := newEnv(t)
	l := e.open(faultConfig(1))
	b := func(i int) []byte { return makeBatch(t, spec(val(i)).withProducer(9, 0, int32(i))) }
	for i := range 5 {
		mustAppend(t, l, b(i))
	}
	e.fs.FailSyncAt(1)
	if _, err := l.Append(b(5)); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("append with failed fsync: %v", err)
	}
	if err := l.Recover(); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Append(b(5)); !errors.Is(err, ErrDuplicateSequence) || res.BaseOffset != 5 {
		t.Fatalf("retry after a failed fsync: offset %d, %v; want the duplicate at 5", res.BaseOffset, err)
	}
	mustAppend(t, l, b(6))
	if got := values(readAll(t, l, 1<<20)); len(got) != 7 || got[6] != val(6) {
		t.Fatalf("records %v", got)
	}
}

// TestRecoverWhileReading keeps readers going through a failure and its
// recovery (run with -race): reads never fail and always see every
// acknowledged record.
func TestRecoverWhileReading(t *testing.T) {
	d := newFullDisk(t, faultConfig(1<<40), 2*probeBytes)
	l := d.l
	n := 0
	for ; ; n++ {
		if _, err := l.Append(makeBatch(t, spec(val(n)))); err != nil {
			break
		}
	}
	readable := int64(n) // readers check these; n grows meanwhile
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for off := int64(0); off < readable; off++ {
					c, err := l.Read(off, 100)
					if err != nil || c.Size == 0 {
						errs <- fmt.Errorf("read %d: %v (size %d)", off, err, c.Size)
						return
					}
				}
			}
		}()
	}
	d.free()
	for range 3 {
		if err := l.Recover(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(makeBatch(t, spec(val(n)))); err != nil {
			t.Fatal(err)
		}
		n++
		// Fail it again: a write error on the next append.
		d.fs.FailWriteAt(1, true)
		if _, err := l.Append(makeBatch(t, spec("refused"))); err == nil {
			t.Fatal("injected write failure did not fail")
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := l.Recover(); err != nil {
		t.Fatal(err)
	}
	if got := values(readAll(t, l, 1<<20)); len(got) != n {
		t.Fatalf("%d records, want %d", len(got), n)
	}
}
