// Package fstest is the contract every loader/fs.FS implementation must
// meet, as a test suite: the local FS runs it in plain `go test`, HDFS runs
// it under the build tag hdfs against a MiniDFSCluster (e2e/hdfs/run.sh),
// and faultfs runs it to show the wrapper is transparent without rules.
package fstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"reflect"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/loader/fs"
)

// Run runs the contract tests on fsys, each in its own fresh folder under
// root (which need not exist).
func Run(t *testing.T, fsys fs.FS, root string) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, fsys fs.FS, dir string)
	}{
		{"CreateWriteReadBack", testCreateWriteReadBack},
		{"CreateMakesParents", testCreateMakesParents},
		{"CreateExisting", testCreateExisting},
		{"LargeFile", testLargeFile},
		{"EmptyFile", testEmptyFile},
		{"Abort", testAbort},
		{"UseAfterClose", testUseAfterClose},
		{"RenameMoves", testRenameMoves},
		{"RenameNoOverwrite", testRenameNoOverwrite},
		{"RenameMissingSource", testRenameMissingSource},
		{"RenameFolder", testRenameFolder},
		{"Remove", testRemove},
		{"ListAbsent", testListAbsent},
		{"List", testList},
		{"Walk", testWalk},
		{"WalkStops", testWalkStops},
		{"MkdirAll", testMkdirAll},
		{"StatMissing", testStatMissing},
		{"OpenMissing", testOpenMissing},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, fsys, path.Join(root, tc.name))
		})
	}
}

// WriteFile creates name with data and closes it, failing the test on error.
func WriteFile(t *testing.T, fsys fs.FS, name string, data []byte) {
	t.Helper()
	f, err := fsys.Create(context.Background(), name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Abort()
		t.Fatalf("write %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

// ReadFile returns the contents of name, failing the test on error.
func ReadFile(t *testing.T, fsys fs.FS, name string) []byte {
	t.Helper()
	r, err := fsys.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func mustNotExist(t *testing.T, fsys fs.FS, name string) {
	t.Helper()
	_, err := fsys.Stat(context.Background(), name)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat %s: got err %v, want one wrapping ErrNotExist", name, err)
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testCreateWriteReadBack(t *testing.T, fsys fs.FS, dir string) {
	name := path.Join(dir, "a.parquet")
	want := []byte("hello, sink")
	f, err := fsys.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range [][]byte{want[:5], want[5:]} {
		if n, err := f.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("write: n=%d err=%v", n, err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := ReadFile(t, fsys, name); !bytes.Equal(got, want) {
		t.Fatalf("read back %q, want %q", got, want)
	}
	e, err := fsys.Stat(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if e.Path != name || e.Size != int64(len(want)) || e.IsDir || e.ModTime.IsZero() {
		t.Fatalf("stat = %+v, want path %s size %d file with a mod time", e, name, len(want))
	}
}

func testCreateMakesParents(t *testing.T, fsys fs.FS, dir string) {
	name := path.Join(dir, "dt=2024-01-02", "hr=03", "x.parquet")
	WriteFile(t, fsys, name, []byte("x"))
	e, err := fsys.Stat(context.Background(), path.Join(dir, "dt=2024-01-02"))
	if err != nil || !e.IsDir {
		t.Fatalf("parent: %+v, %v; want a folder", e, err)
	}
}

func testCreateExisting(t *testing.T, fsys fs.FS, dir string) {
	name := path.Join(dir, "f")
	WriteFile(t, fsys, name, []byte("first"))
	f, err := fsys.Create(context.Background(), name)
	if !errors.Is(err, fs.ErrExist) {
		if f != nil {
			_ = f.Close()
		}
		t.Fatalf("create over an existing file: err %v, want ErrExist", err)
	}
	if got := ReadFile(t, fsys, name); string(got) != "first" {
		t.Fatalf("existing file changed to %q", got)
	}
}

func testLargeFile(t *testing.T, fsys fs.FS, dir string) {
	// 5 MiB in uneven writes: crosses an HDFS block boundary (4 MiB
	// blocks in the e2e cluster) and every buffer size.
	want := randomBytes(5<<20+12345, 1)
	name := path.Join(dir, "big")
	f, err := fsys.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	for off, step := 0, 1; off < len(want); step = step*3 + 7 {
		end := min(off+step%(700<<10)+1, len(want))
		if _, err := f.Write(want[off:end]); err != nil {
			_ = f.Abort()
			t.Fatal(err)
		}
		off = end
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := ReadFile(t, fsys, name); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, want %d identical bytes", len(got), len(want))
	}
	e, err := fsys.Stat(context.Background(), name)
	if err != nil || e.Size != int64(len(want)) {
		t.Fatalf("stat: %+v, %v; want size %d", e, err, len(want))
	}
}

func testEmptyFile(t *testing.T, fsys fs.FS, dir string) {
	name := path.Join(dir, "_SUCCESS")
	WriteFile(t, fsys, name, nil)
	e, err := fsys.Stat(context.Background(), name)
	if err != nil || e.Size != 0 || e.IsDir {
		t.Fatalf("stat: %+v, %v; want an empty file", e, err)
	}
}

func testAbort(t *testing.T, fsys fs.FS, dir string) {
	name := path.Join(dir, "_tmp", "partial")
	f, err := fsys.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(randomBytes(100_000, 2)); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Fatalf("abort: %v", err)
	}
	mustNotExist(t, fsys, name)
	// The name is free again.
	WriteFile(t, fsys, name, []byte("again"))
}

func testUseAfterClose(t *testing.T, fsys fs.FS, dir string) {
	f, err := fsys.Create(context.Background(), path.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("late")); err == nil {
		t.Fatal("write after close succeeded")
	}
	if err := f.Close(); err == nil {
		t.Fatal("second close succeeded")
	}
}

func testRenameMoves(t *testing.T, fsys fs.FS, dir string) {
	ctx := context.Background()
	from := path.Join(dir, "_tmp", "t+0+00000000000000000000+00000000000000000009.parquet")
	to := path.Join(dir, "dt=2024-01-01", "hr=00", "t+0+00000000000000000000+00000000000000000009.parquet")
	WriteFile(t, fsys, from, []byte("rows"))
	if err := fsys.Rename(ctx, from, to); err != nil {
		t.Fatalf("rename into a folder that does not exist yet: %v", err)
	}
	mustNotExist(t, fsys, from)
	if got := ReadFile(t, fsys, to); string(got) != "rows" {
		t.Fatalf("renamed file holds %q", got)
	}
}

func testRenameNoOverwrite(t *testing.T, fsys fs.FS, dir string) {
	ctx := context.Background()
	from, to := path.Join(dir, "new"), path.Join(dir, "old")
	WriteFile(t, fsys, from, []byte("new"))
	WriteFile(t, fsys, to, []byte("old"))
	err := fsys.Rename(ctx, from, to)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("rename onto an existing file: err %v, want ErrExist", err)
	}
	if got := ReadFile(t, fsys, to); string(got) != "old" {
		t.Fatalf("destination overwritten: %q", got)
	}
	if got := ReadFile(t, fsys, from); string(got) != "new" {
		t.Fatalf("source changed: %q", got)
	}
}

func testRenameMissingSource(t *testing.T, fsys fs.FS, dir string) {
	err := fsys.Rename(context.Background(), path.Join(dir, "nope"), path.Join(dir, "dst"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("rename of a missing file: err %v, want ErrNotExist", err)
	}
	mustNotExist(t, fsys, path.Join(dir, "dst"))
}

func testRenameFolder(t *testing.T, fsys fs.FS, dir string) {
	ctx := context.Background()
	WriteFile(t, fsys, path.Join(dir, "a", "f"), []byte("1"))
	if err := fsys.Rename(ctx, path.Join(dir, "a"), path.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if got := ReadFile(t, fsys, path.Join(dir, "b", "f")); string(got) != "1" {
		t.Fatalf("got %q", got)
	}
	WriteFile(t, fsys, path.Join(dir, "c", "g"), []byte("2"))
	if err := fsys.Rename(ctx, path.Join(dir, "c"), path.Join(dir, "b")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("folder rename onto an existing folder: err %v, want ErrExist", err)
	}
}

func testRemove(t *testing.T, fsys fs.FS, dir string) {
	ctx := context.Background()
	if err := fsys.Remove(ctx, path.Join(dir, "absent")); err != nil {
		t.Fatalf("remove absent: %v", err)
	}
	name := path.Join(dir, "sub", "f")
	WriteFile(t, fsys, name, []byte("x"))
	if err := fsys.Remove(ctx, path.Join(dir, "sub")); err == nil {
		t.Fatal("remove of a non-empty folder succeeded")
	}
	if err := fsys.Remove(ctx, name); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, fsys, name)
	if err := fsys.Remove(ctx, path.Join(dir, "sub")); err != nil {
		t.Fatalf("remove empty folder: %v", err)
	}
	mustNotExist(t, fsys, path.Join(dir, "sub"))
}

func testListAbsent(t *testing.T, fsys fs.FS, dir string) {
	es, err := fsys.List(context.Background(), path.Join(dir, "absent"))
	if err != nil || es == nil || len(es) != 0 {
		t.Fatalf("list absent: %v, %v; want empty non-nil, nil", es, err)
	}
}

func testList(t *testing.T, fsys fs.FS, dir string) {
	WriteFile(t, fsys, path.Join(dir, "b.parquet"), []byte("bb"))
	WriteFile(t, fsys, path.Join(dir, "a.parquet"), []byte("a"))
	WriteFile(t, fsys, path.Join(dir, "c", "deep"), []byte("ccc"))
	es, err := fsys.List(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	got := summarize(es)
	want := []string{dir + "/a.parquet 1", dir + "/b.parquet 2", dir + "/c dir"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("list = %q, want %q", got, want)
	}
}

func summarize(es []fs.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		if e.IsDir {
			out[i] = e.Path + " dir"
		} else {
			out[i] = fmt.Sprintf("%s %d", e.Path, e.Size)
		}
	}
	return out
}

func testWalk(t *testing.T, fsys fs.FS, dir string) {
	for _, n := range []string{"dt=2/hr=1/y", "dt=1/hr=2/x", "dt=1/hr=1/x", "_tmp/t", "top"} {
		WriteFile(t, fsys, path.Join(dir, n), []byte(n))
	}
	var got []string
	err := fsys.Walk(context.Background(), dir, func(e fs.Entry) error {
		got = append(got, e.Path[len(dir)+1:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"_tmp", "_tmp/t", "dt=1", "dt=1/hr=1", "dt=1/hr=1/x", "dt=1/hr=2", "dt=1/hr=2/x",
		"dt=2", "dt=2/hr=1", "dt=2/hr=1/y", "top"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("walk = %q, want %q", got, want)
	}
	if err := fsys.Walk(context.Background(), path.Join(dir, "absent"), func(fs.Entry) error {
		t.Fatal("callback for an absent folder")
		return nil
	}); err != nil {
		t.Fatalf("walk absent: %v", err)
	}
}

func testWalkStops(t *testing.T, fsys fs.FS, dir string) {
	WriteFile(t, fsys, path.Join(dir, "a"), nil)
	WriteFile(t, fsys, path.Join(dir, "b"), nil)
	stop := errors.New("stop")
	calls := 0
	err := fsys.Walk(context.Background(), dir, func(fs.Entry) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("walk: err %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func testMkdirAll(t *testing.T, fsys fs.FS, dir string) {
	ctx := context.Background()
	d := path.Join(dir, "x", "y", "z")
	for range 2 {
		if err := fsys.MkdirAll(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	e, err := fsys.Stat(ctx, d)
	if err != nil || !e.IsDir {
		t.Fatalf("stat: %+v, %v", e, err)
	}
	es, err := fsys.List(ctx, d)
	if err != nil || len(es) != 0 {
		t.Fatalf("list of a new folder: %v, %v", es, err)
	}
}

func testStatMissing(t *testing.T, fsys fs.FS, dir string) {
	mustNotExist(t, fsys, path.Join(dir, "missing"))
}

func testOpenMissing(t *testing.T, fsys fs.FS, dir string) {
	r, err := fsys.Open(context.Background(), path.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		if r != nil {
			r.Close()
		}
		t.Fatalf("open missing: err %v, want ErrNotExist", err)
	}
}

func testConcurrent(t *testing.T, fsys fs.FS, dir string) {
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			tmp := path.Join(dir, "_tmp", fmt.Sprintf("w%d", i))
			f, err := fsys.Create(ctx, tmp)
			if err != nil {
				errs <- err
				return
			}
			if _, err := f.Write(randomBytes(300_000, uint64(i))); err != nil {
				_ = f.Abort()
				errs <- err
				return
			}
			if err := f.Close(); err != nil {
				errs <- err
				return
			}
			errs <- fsys.Rename(ctx, tmp, path.Join(dir, "out", fmt.Sprintf("p%d", i)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		got := ReadFile(t, fsys, path.Join(dir, "out", fmt.Sprintf("p%d", i)))
		if !bytes.Equal(got, randomBytes(300_000, uint64(i))) {
			t.Fatalf("file %d corrupted", i)
		}
	}
}

func testCanceledContext(t *testing.T, fsys fs.FS, dir string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fsys.Create(ctx, path.Join(dir, "f")); !errors.Is(err, context.Canceled) {
		t.Fatalf("create with a canceled context: %v", err)
	}
	if _, err := fsys.List(ctx, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("list with a canceled context: %v", err)
	}
	mustNotExist(t, fsys, path.Join(dir, "f"))
}
