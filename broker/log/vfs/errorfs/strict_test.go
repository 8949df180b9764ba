package errorfs

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/internal/fault"
)

// With NewStrict a rename survives a crash only once its folder is synced.
func TestStrictNamespace(t *testing.T) {
	fs := NewStrict()
	if err := fs.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFileAtomic(fs, "/d/a", []byte("one"), true); err != nil {
		t.Fatal(err)
	}
	// The same replacement without the directory sync.
	f, _ := fs.Create("/d/a.tmp")
	f.Write([]byte("two"))
	f.Sync()
	f.Close()
	if err := fs.Rename("/d/a.tmp", "/d/a"); err != nil {
		t.Fatal(err)
	}
	b, err := vfs.ReadFile(fs.Crash(), "/d/a")
	if err != nil || string(b) != "one" {
		t.Errorf("after a crash before SyncDir: %q, %v; want the old content", b, err)
	}
	if err := fs.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	b, err = vfs.ReadFile(fs.Crash(), "/d/a")
	if err != nil || string(b) != "two" {
		t.Errorf("after a crash after SyncDir: %q, %v; want the new content", b, err)
	}
	if _, err := vfs.ReadFile(fs.Crash(), "/d/a.tmp"); err == nil {
		t.Error("the renamed-away temporary came back")
	}
	// Lax FS: durable at once.
	lax := New()
	lax.MkdirAll("/d")
	g, _ := lax.Create("/d/x")
	g.Write([]byte("x"))
	g.Sync()
	g.Close()
	if _, err := vfs.ReadFile(lax.Crash(), "/d/x"); err != nil {
		t.Errorf("lax FS lost a synced file: %v", err)
	}
}

// TestRulesOnNamespaceOps: the shared fault rules reach renames and
// directory syncs, so a crash test can fail the step after a rename.
func TestRulesOnNamespaceOps(t *testing.T) {
	fs := NewStrict()
	if err := fs.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create("/d/a.tmp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("1")); err != nil || f.Sync() != nil || f.Close() != nil || fs.SyncDir("/d") != nil {
		t.Fatalf("writing a.tmp: %v", err)
	}
	fs.Inject(fault.Rule{Op: fault.OpRename, PathContains: "a.tmp", After: true})
	fs.Inject(fault.Rule{Op: fault.OpSyncDir})
	if err := fs.Rename("/d/a.tmp", "/d/a"); !errors.Is(err, ErrInjected) {
		t.Fatalf("rename: %v", err)
	}
	if b, err := fs.ReadFile("/d/a"); err != nil || string(b) != "1" {
		t.Fatalf("a rename failed after taking effect left %q %v", b, err)
	}
	if err := fs.SyncDir("/d"); !errors.Is(err, ErrInjected) {
		t.Fatalf("syncdir: %v", err)
	}
	if _, err := vfs.ReadFile(fs.Crash(), "/d/a"); err == nil {
		t.Fatal("a rename whose directory sync failed survived the crash")
	}
}

// With NewStrict a folder's name is a directory entry like a file's: made
// or renamed, it survives a crash only once the folder holding it is
// synced, and a lost folder takes its (synced) content with it. A renamed
// folder keeps its synced entries, as an inode does.
func TestStrictFolders(t *testing.T) {
	fs := NewStrict()
	if err := fs.MkdirAll("/data/topics/t-0"); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFileAtomic(fs, "/data/topics/t-0/f", []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Crash().Stat("/data/topics"); err == nil {
		t.Fatal("a folder survived a crash before its parent was synced")
	}
	if _, err := fs.Crash().Stat("/data"); err != nil {
		t.Fatalf("a folder under the root is a mount point, durable at once: %v", err)
	}
	if err := fs.SyncDir("/data"); err != nil {
		t.Fatal(err)
	}
	if err := fs.SyncDir("/data/topics"); err != nil {
		t.Fatal(err)
	}
	if b, err := vfs.ReadFile(fs.Crash(), "/data/topics/t-0/f"); err != nil || string(b) != "x" {
		t.Fatalf("after syncing every parent: %q %v", b, err)
	}
	if err := fs.Rename("/data/topics/t-0", "/data/topics/t-0.x-stray"); err != nil {
		t.Fatal(err)
	}
	c := fs.Crash()
	if _, err := c.Stat("/data/topics/t-0.x-stray"); err == nil {
		t.Fatal("a folder rename survived a crash before SyncDir")
	}
	if b, err := vfs.ReadFile(c, "/data/topics/t-0/f"); err != nil || string(b) != "x" {
		t.Fatalf("the old name after a crash: %q %v", b, err)
	}
	if err := fs.SyncDir("/data/topics"); err != nil {
		t.Fatal(err)
	}
	c = fs.Crash()
	if names, err := c.ListDirs("/data/topics"); err != nil || len(names) != 1 || names[0] != "t-0.x-stray" {
		t.Fatalf("folders after a synced rename and a crash: %v %v", names, err)
	}
	if b, err := vfs.ReadFile(c, "/data/topics/t-0.x-stray/f"); err != nil || string(b) != "x" {
		t.Fatalf("the renamed folder's content after a crash: %q %v", b, err)
	}
	// A removal is undone by a crash before SyncDir too.
	if err := fs.RemoveAll("/data/topics/t-0.x-stray"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Crash().Stat("/data/topics/t-0.x-stray/f"); err != nil {
		t.Fatalf("a removed folder not synced away: %v", err)
	}
}
