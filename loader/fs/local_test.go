package fs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/loader/fs"
	"github.com/sluicehq/sluice/loader/fs/fstest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// colinmarc/hdfs v2.4.0 leaks this goroutine when a block write
		// fails (finish returns before closing the packet channel that
		// ackPackets drains): one per failed HDFS file, seen in
		// TestHDFSDatanodeRestart. Nothing in our code can release it.
		goleak.IgnoreTopFunction("github.com/colinmarc/hdfs/v2/internal/transfer.(*blockWriteStream).ackPackets"))
}

func TestLocalContract(t *testing.T) {
	fstest.Run(t, fs.NewLocal(), filepath.ToSlash(t.TempDir()))
}

func TestLocalClosed(t *testing.T) {
	l := fs.NewLocal()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.List(context.Background(), t.TempDir()); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("list after close: %v, want ErrClosed", err)
	}
}

func TestOpenURLs(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url, root string
	}{
		{"file:///data/out", "/data/out"},
		{"file:///data/out/", "/data/out"},
		{"file://localhost/data/x", "/data/x"},
		{"/abs/path", "/abs/path"},
		{"rel/out", filepath.ToSlash(filepath.Join(wd, "rel/out"))},
	}
	for _, tc := range tests {
		f, root, err := fs.Open(context.Background(), tc.url)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		if _, ok := f.(*fs.Local); !ok || root != tc.root {
			t.Errorf("Open(%q) = %T, %q; want *fs.Local, %q", tc.url, f, root, tc.root)
		}
		f.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	t.Setenv("HADOOP_CONF_DIR", t.TempDir()) // no core-site.xml there
	t.Setenv("HADOOP_HOME", "")
	tests := []struct {
		url, want string
	}{
		{"", "empty sink url"},
		{"s3://bucket/x", `unsupported scheme "s3"`},
		{"file://otherhost/x", `not host "otherhost"`},
		{"hdfs:///warehouse/x", "no namenode in the URL and none in $HADOOP_CONF_DIR"},
		{"hdfs://127.0.0.1:1/x", "connect to namenode"},
		{"hdfs://[::1/x", "sink url"},
	}
	for _, tc := range tests {
		f, _, err := fs.Open(context.Background(), tc.url)
		if err == nil {
			f.Close()
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v; want it to mention %q", tc.url, err, tc.want)
		}
	}
}

func TestOpenHDFSFromConf(t *testing.T) {
	// fs.defaultFS names a port nothing listens on: Open must pick it up
	// from core-site.xml and fail to connect to exactly that address.
	dir := t.TempDir()
	conf := `<configuration><property><name>fs.defaultFS</name><value>hdfs://127.0.0.1:1</value></property></configuration>`
	if err := os.WriteFile(filepath.Join(dir, "core-site.xml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HADOOP_CONF_DIR", dir)
	t.Setenv("HADOOP_USER_NAME", "sluice")
	_, _, err := fs.Open(context.Background(), "hdfs:///warehouse/x")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Open = %v; want a connection error naming 127.0.0.1:1", err)
	}
}
