package fs_test

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/loader/fs"
)

// benchWrite writes b.N files of size bytes in 256 KiB writes, closes
// (durably) and publishes each by rename, as the loader does, and reports
// MB/s and files/s.
func benchWrite(b *testing.B, fsys fs.FS, root string, size int) {
	ctx := context.Background()
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := range b.N {
		tmp := path.Join(root, "_tmp", fmt.Sprintf("f%d", i))
		f, err := fsys.Create(ctx, tmp)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < size; n += len(buf) {
			if _, err := f.Write(buf[:min(len(buf), size-n)]); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		if err := fsys.Rename(ctx, tmp, path.Join(root, "dt=x", fmt.Sprintf("f%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

func BenchmarkLocalWrite(b *testing.B) {
	for _, size := range []int{1 << 20, 32 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			benchWrite(b, fs.NewLocal(), filepath.ToSlash(b.TempDir()), size)
		})
	}
}
