package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
)

// logBuffer captures log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, nil)), lb
}

func payload(i int) []byte {
	return []byte(fmt.Sprintf("payload-%03d-%s", i, strings.Repeat("x", i%7)))
}

// writeJournal creates a journal at path holding n payloads and closes it.
func writeJournal(t *testing.T, path string, n int) {
	t.Helper()
	j, err := OpenFileJournal(path, FileJournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		off, err := j.Append(context.Background(), payload(i))
		if err != nil {
			t.Fatal(err)
		}
		if off != int64(i) {
			t.Fatalf("append %d got offset %d", i, off)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAll opens the journal and returns its payloads, checking offsets run
// 0, 1, 2, ...
func readAll(t *testing.T, j *FileJournal) [][]byte {
	t.Helper()
	var out [][]byte
	err := j.Replay(func(off int64, rec []byte) error {
		if off != int64(len(out)) {
			return fmt.Errorf("offset %d, want %d", off, len(out))
		}
		out = append(out, bytes.Clone(rec))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkPayloads(t *testing.T, got [][]byte, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d payloads, want %d", len(got), n)
	}
	for i, p := range got {
		if !bytes.Equal(p, payload(i)) {
			t.Fatalf("payload %d = %q, want %q", i, p, payload(i))
		}
	}
}

func TestJournalRestartReplays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	writeJournal(t, path, 10)
	j, err := OpenFileJournal(path, FileJournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkPayloads(t, readAll(t, j), 10)
	if off, err := j.Append(context.Background(), payload(10)); err != nil || off != 10 {
		t.Fatalf("append after reopen: offset %d, %v; want 10", off, err)
	}
	checkPayloads(t, readAll(t, j), 11)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err = OpenFileJournal(path, FileJournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	checkPayloads(t, readAll(t, j), 11)
	if j.NextOffset() != 11 {
		t.Fatalf("NextOffset = %d, want 11", j.NextOffset())
	}
}

// frameEnds returns the end position of each frame in a journal file.
func frameEnds(t *testing.T, data []byte) []int64 {
	t.Helper()
	var ends []int64
	for pos := 0; pos < len(data); {
		pos += frameHeaderLen + int(binary.BigEndian.Uint32(data[pos:]))
		ends = append(ends, int64(pos))
	}
	return ends
}

func TestJournalTornTailTruncated(t *testing.T) {
	const n = 5
	dir := t.TempDir()
	base := filepath.Join(dir, "base.log")
	writeJournal(t, base, n)
	full, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	ends := frameEnds(t, full)
	lastStart := ends[n-2]
	zeros := make([]byte, 100)
	flipLast := bytes.Clone(full)
	flipLast[len(flipLast)-1] ^= 0x40
	flipLastThenZeros := append(bytes.Clone(flipLast), zeros...)
	cases := []struct {
		name   string
		data   []byte
		want   int // payloads kept
		reason string
	}{
		{"chop 1 byte", full[:len(full)-1], n - 1, "past the end"},
		{"chop into payload", full[:lastStart+frameHeaderLen+2], n - 1, "past the end"},
		{"chop into header", full[:lastStart+3], n - 1, "partial frame header"},
		{"header only", full[:lastStart+frameHeaderLen], n - 1, "past the end"},
		{"zero tail", append(bytes.Clone(full), zeros...), n, "zero-filled"},
		{"short zero tail", append(bytes.Clone(full), 0, 0, 0), n, "partial frame header"},
		{"last frame CRC", flipLast, n - 1, "CRC"},
		{"last frame CRC then zeros", flipLastThenZeros, n - 1, "only zeros follow"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".log")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			logger, logs := newTestLogger()
			j, err := OpenFileJournal(path, FileJournalOptions{Logger: logger})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			checkPayloads(t, readAll(t, j), tc.want)
			if tc.want == n && len(tc.data) == len(full) {
				if logs.String() != "" {
					t.Errorf("unexpected log: %s", logs)
				}
			} else if !strings.Contains(logs.String(), "truncating torn journal tail") || !strings.Contains(logs.String(), tc.reason) {
				t.Errorf("log does not report the truncation (%q): %s", tc.reason, logs)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if wantSize := ends[tc.want-1]; st.Size() != wantSize {
				t.Errorf("file size after open = %d, want %d", st.Size(), wantSize)
			}
			// The journal keeps working after the truncation.
			if off, err := j.Append(context.Background(), payload(tc.want)); err != nil || off != int64(tc.want) {
				t.Fatalf("append after truncation: %d, %v", off, err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			j, err = OpenFileJournal(path, FileJournalOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkPayloads(t, readAll(t, j), tc.want+1)
			_ = j.Close()
		})
	}
}

func TestJournalCorruptionDetected(t *testing.T) {
	const n = 5
	dir := t.TempDir()
	base := filepath.Join(dir, "base.log")
	writeJournal(t, base, n)
	full, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	ends := frameEnds(t, full)
	cases := []struct {
		name    string
		mutate  func(b []byte)
		pos     int64
		offset  int64
		message string
	}{
		{"payload bit flip", func(b []byte) { b[ends[1]+frameHeaderLen+1] ^= 1 }, ends[1], 2, "CRC32C"},
		{"crc bit flip", func(b []byte) { b[ends[0]+5] ^= 0x80 }, ends[0], 1, "CRC32C"},
		{"first frame", func(b []byte) { b[frameHeaderLen] ^= 0xff }, 0, 0, "CRC32C"},
		{"huge length", func(b []byte) { binary.BigEndian.PutUint32(b[ends[2]:], 0xfffffff0) }, ends[2], 3, "frame length"},
		{"zero length", func(b []byte) { binary.BigEndian.PutUint32(b[ends[2]:], 0) }, ends[2], 3, "frame length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := bytes.Clone(full)
			tc.mutate(data)
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".log")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := OpenFileJournal(path, FileJournalOptions{})
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("open error = %v, want *CorruptionError", err)
			}
			if ce.Path != path || ce.Pos != tc.pos || ce.Offset != tc.offset || !strings.Contains(ce.Error(), tc.message) {
				t.Fatalf("corruption error %+v (%v), want pos %d offset %d mentioning %q", ce, err, tc.pos, tc.offset, tc.message)
			}
			// Nothing is truncated: corruption is left for an operator.
			if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
				t.Fatal("corrupt journal was modified")
			}
		})
	}
}

// memJournalPath is where openMemJournal keeps the journal on its errorfs.
const memJournalPath = "/meta/j.log"

// openMemJournal opens a FileJournal on fs (an errorfs, for injected
// faults), creating its folder.
func openMemJournal(t *testing.T, fs *errorfs.FS) *FileJournal {
	t.Helper()
	if err := fs.MkdirAll(filepath.Dir(memJournalPath)); err != nil {
		t.Fatal(err)
	}
	j, err := OpenFileJournal(memJournalPath, FileJournalOptions{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJournalWriteAndSyncFailuresAreSticky(t *testing.T) {
	for _, kind := range []string{"write", "sync"} {
		t.Run(kind, func(t *testing.T) {
			fs := errorfs.New()
			if kind == "write" {
				fs.FailWriteAt(3, true) // half the frame written
			} else {
				fs.FailSyncAt(3)
			}
			j := openMemJournal(t, fs)
			ctx := context.Background()
			for i := range 2 {
				if _, err := j.Append(ctx, payload(i)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := j.Append(ctx, payload(2))
			if !errors.Is(err, errorfs.ErrInjected) || !strings.Contains(err.Error(), kind) {
				t.Fatalf("third append: %v, want injected %s error", err, kind)
			}
			// Sticky: later appends fail with the same error without touching the file.
			writes, _ := fs.Counts()
			if _, err2 := j.Append(ctx, payload(3)); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("append after failure: %v, want %v", err2, err)
			}
			if w, _ := fs.Counts(); w != writes {
				t.Fatal("append after a failure wrote to the file")
			}
			_ = j.Close()
			// Reopening recovers: the two acknowledged payloads are there; a
			// half-written third is truncated; a fully written but unsynced
			// one survives here because the process did not crash.
			j = openMemJournal(t, fs)
			defer j.Close()
			got := readAll(t, j)
			want := 2
			if kind == "sync" {
				want = 3
			}
			checkPayloads(t, got, want)
		})
	}
}

func TestJournalAppendRejects(t *testing.T) {
	j, err := OpenFileJournal(filepath.Join(t.TempDir(), "j.log"), FileJournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(context.Background(), nil); !errors.Is(err, ErrFrameSize) {
		t.Errorf("empty append: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Append(ctx, payload(0)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled append: %v", err)
	}
	if off, err := j.Append(context.Background(), payload(0)); err != nil || off != 0 {
		t.Errorf("append after rejected ones: %d, %v; want offset 0", off, err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(context.Background(), payload(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("append after close: %v", err)
	}
	if err := j.Replay(func(int64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("replay after close: %v", err)
	}
	if err := j.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second close: %v", err)
	}
}

func TestJournalReplayStopsAtCallbackError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	writeJournal(t, path, 5)
	j, err := OpenFileJournal(path, FileJournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	stop := errors.New("stop")
	calls := 0
	err = j.Replay(func(off int64, _ []byte) error {
		calls++
		if off == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Fatalf("replay: %v after %d calls, want stop after 3", err, calls)
	}
}
