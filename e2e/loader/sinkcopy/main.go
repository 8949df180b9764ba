// Command sinkcopy copies a loader sink (hdfs://..., file://... or a path)
// to a local folder through the loader's own file-system layer, so the
// e2e checks can read an HDFS sink with pyarrow and DuckDB.
//
//	go run ./e2e/loader/sinkcopy hdfs://127.0.0.1:9000/warehouse/events /tmp/copy
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/loader/fs"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sinkcopy SINK-URL LOCAL-DIR")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "sinkcopy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, dest string) error {
	fsys, root, err := fs.Open(ctx, url)
	if err != nil {
		return err
	}
	defer fsys.Close()
	files := 0
	err = fsys.Walk(ctx, root, func(e fs.Entry) error {
		rel := strings.TrimPrefix(strings.TrimPrefix(e.Path, root), "/")
		local := filepath.Join(dest, filepath.FromSlash(rel))
		if e.IsDir {
			return os.MkdirAll(local, 0o755)
		}
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			return err
		}
		r, err := fsys.Open(ctx, e.Path)
		if err != nil {
			return err
		}
		defer r.Close()
		w, err := os.Create(local)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			w.Close()
			return fmt.Errorf("copy %s: %w", e.Path, err)
		}
		files++
		return w.Close()
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "sinkcopy: %d files from %s\n", files, url)
	return nil
}
