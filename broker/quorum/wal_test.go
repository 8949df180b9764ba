package quorum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
	"github.com/sluicehq/sluice/internal/fault"
)

// nowhere is the transport of a one-voter quorum: nobody to send to.
type nowhere struct{}

func (nowhere) Send([]*raftpb.Message) {}

// single starts node 1, the only voter, on dir and makes it lead.
func single(t *testing.T, fs vfs.FS, dir string, snapEvery uint64, logs *records) (*Node, *testSM, error) {
	t.Helper()
	sm := newTestSM(t)
	if logs == nil {
		logs = &records{}
	}
	n, err := Start(Config{NodeID: 1, Dir: dir, FS: fs, Voters: []uint64{1}, TickInterval: ManualTicks,
		Transport: nowhere{}, StateMachine: sm, SnapshotEntries: snapEvery, Logger: slog.New(logs)})
	if err != nil {
		return nil, nil, err
	}
	if err := n.campaign(); err != nil {
		_ = n.Close()
		return nil, nil, err
	}
	return n, sm, nil
}

func proposeAll(t *testing.T, n *Node, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := n.Propose(context.Background(), fmt.Appendf(nil, "e%d", i)); err != nil {
			t.Fatalf("propose e%d: %v", i, err)
		}
	}
}

func want(from, to int) string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("e%d", i))
	}
	return strings.Join(s, " ")
}

// TestRestartRealFiles: a node on the operating system's files restarts
// from its folder with the same state, through snapshots and compactions.
func TestRestartRealFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "raft")
	n, _, err := single(t, nil, dir, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	proposeAll(t, n, 0, 20)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := vfs.Default.List(dir)
	if !slices.Contains(names, walFileName) || len(names) != 3 { // the log, one snapshot, LOCK
		t.Fatalf("files after compaction: %v", names)
	}
	n, sm, err := single(t, nil, dir, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if sm.restored == 0 || sm.state() != want(0, 20) {
		t.Fatalf("restored at %d: %q", sm.restored, sm.state())
	}
	proposeAll(t, n, 20, 25)
	if sm.state() != want(0, 25) {
		t.Fatalf("after more proposals: %q", sm.state())
	}
	// A second node may not use the folder while this one runs.
	if _, _, err := single(t, nil, dir, 7, nil); err == nil || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("second node on a folder in use: %v", err)
	}
}

// TestTornTail: a log whose last frame was cut by a crash is cut back to
// its last whole frame, with a warning, and loses nothing acknowledged.
func TestTornTail(t *testing.T) {
	for _, cut := range []struct {
		name string
		tear func(b []byte) []byte
	}{
		{"frame cut short", func(b []byte) []byte { return b[:len(b)-3] }},
		{"partial header", func(b []byte) []byte { return append(b, 0, 0, 1) }},
		{"zeros", func(b []byte) []byte { return append(b, make([]byte, 100)...) }},
		{"bad last frame", func(b []byte) []byte { b = slices.Clone(b); b[len(b)-1] ^= 0xff; return b }},
	} {
		t.Run(cut.name, func(t *testing.T) {
			fs := errorfs.New()
			n, _, err := single(t, fs, "/data/raft", 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			proposeAll(t, n, 0, 5)
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			path := "/data/raft/" + walFileName
			b, _ := fs.ReadFile(path)
			fs.WriteFile(path, cut.tear(b))
			logs := &records{}
			n, sm, err := single(t, fs, "/data/raft", 0, logs)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if w := logs.matching("torn tail"); len(w) != 1 {
				t.Fatalf("warnings %q, want one about the torn tail", logs.matching(""))
			}
			// The lost frame at most held the last commit index: the node,
			// leading again, commits e4 anew.
			if got := sm.state(); got != want(0, 5) {
				t.Fatalf("state %q, want %q", got, want(0, 5))
			}
			proposeAll(t, n, 5, 6)
		})
	}
}

// TestCorruption: a bad frame followed by more frames, and a damaged
// snapshot file, stop Start with a *CorruptionError naming the file and
// the byte.
func TestCorruption(t *testing.T) {
	fs := errorfs.New()
	n, _, err := single(t, fs, "/data/raft", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	proposeAll(t, n, 0, 5)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	path := "/data/raft/" + walFileName
	b, _ := fs.ReadFile(path)
	var pos []int64
	if _, _, _, err := scanFrames(path, bytes.NewReader(b), int64(len(b)), maxWALFrame, func(p, _ int64, _ []byte) error {
		pos = append(pos, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(b)
	bad[pos[3]+frameHeaderLen+2] ^= 0x40
	fs.WriteFile(path, bad)
	_, _, err = single(t, fs, "/data/raft", 0, nil)
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Path != path || ce.Pos != pos[3] || ce.Frame != 3 {
		t.Fatalf("start on a corrupt log: %v, want a CorruptionError at byte %d", err, pos[3])
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("byte %d", pos[3])) {
		t.Fatalf("error %q does not name the file and byte", err)
	}
	if got, _ := fs.ReadFile(path); !slices.Equal(got, bad) {
		t.Fatalf("Start changed a corrupt log")
	}

	// Another node's folder.
	fs.WriteFile(path, b)
	_, err = Start(Config{NodeID: 2, Dir: "/data/raft", FS: fs, Transport: nowhere{}, StateMachine: newTestSM(t)})
	if err == nil || !strings.Contains(err.Error(), "node 1, not of node 2") {
		t.Fatalf("start node 2 on node 1's folder: %v", err)
	}

	// A damaged snapshot file.
	n, _, err = single(t, fs, "/data/raft", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	proposeAll(t, n, 5, 10)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.List("/data/raft")
	var snap string
	for _, name := range names {
		if strings.HasPrefix(name, snapPrefix) {
			snap = "/data/raft/" + name
		}
	}
	sb, _ := fs.ReadFile(snap)
	sb[len(sb)/2] ^= 1
	fs.WriteFile(snap, sb)
	_, _, err = single(t, fs, "/data/raft", 3, nil)
	if !errors.As(err, &ce) || ce.Path != snap || !strings.Contains(err.Error(), "CRC32C") {
		t.Fatalf("start on a damaged snapshot: %v, want a CorruptionError naming %s", err, snap)
	}
}

// TestCrashAnywhere crashes the machine (errorfs.NewStrict: only fsynced
// bytes and synced folder entries survive) at each file-system call of
// each kind while a node proposes through several snapshots and log
// rewrites, restarts it on what survived, and checks that every
// acknowledged proposal is there, once and in order, and nothing that was
// never proposed.
func TestCrashAnywhere(t *testing.T) {
	ops := []fault.Op{fault.OpCreate, fault.OpWrite, fault.OpSync, fault.OpRename, fault.OpSyncDir, fault.OpRemove}
	for _, op := range ops {
		for k := 1; ; k++ {
			fs := errorfs.NewStrict()
			if err := fs.MkdirAll("/data"); err != nil {
				t.Fatal(err)
			}
			n, _, err := single(t, fs, "/data/raft", 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			fs.Inject(fault.Rule{Op: op, N: k, Crash: true})
			acked := 0
			for i := range 12 {
				if err := n.Propose(context.Background(), fmt.Appendf(nil, "e%d", i)); err != nil {
					break
				}
				acked++
			}
			crashed := n.Close() != nil
			after := fs.Crash()
			n2, sm, err := single(t, after, "/data/raft", 3, nil)
			if err != nil {
				t.Fatalf("%s #%d: restart: %v", op, k, err)
			}
			proposeAll(t, n2, 100, 101) // the node works and commits what it kept
			// The acknowledged proposals, maybe the one in flight at the
			// crash, and the new one.
			got := strings.Fields(sm.state())
			extra := len(got) - acked - 1
			if extra < 0 || extra > 1 || strings.Join(got[:acked], " ") != want(0, acked) ||
				(extra == 1 && got[acked] != fmt.Sprintf("e%d", acked)) || got[len(got)-1] != "e100" {
				t.Fatalf("%s #%d: acknowledged %d, state after the crash %q", op, k, acked, got)
			}
			if err := n2.Close(); err != nil {
				t.Fatal(err)
			}
			if !crashed {
				t.Logf("%s: crashed at each of %d calls", op, k-1)
				break // the rule never fired: every call of this kind was tried
			}
		}
	}
}

// TestTornBootstrap: a crash tears the bootstrap's first write (entries
// and no hard state survive); nothing of it was acknowledged, so the next
// start bootstraps again.
func TestTornBootstrap(t *testing.T) {
	fs := errorfs.New()
	fs.Inject(fault.Rule{Op: fault.OpWrite, N: 2, After: true}) // the header, then the bootstrap
	cfg := Config{NodeID: 1, Dir: "/data/raft", FS: fs, Voters: []uint64{1, 2, 3}, TickInterval: ManualTicks,
		Transport: nowhere{}, StateMachine: newTestSM(t)}
	if _, err := Start(cfg); !errors.Is(err, fault.ErrInjected) {
		t.Fatalf("start with a torn bootstrap write: %v", err)
	}
	logs := &records{}
	cfg.FS, cfg.Logger = fs.Clone(), slog.New(logs)
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if s := n.Status(); !slices.Equal(s.Voters, []uint64{1, 2, 3}) || s.Applied != 3 {
		t.Fatalf("status after bootstrapping again: %+v", s)
	}
	if w := logs.matching("without a hard state"); len(w) != 1 || len(logs.matching("torn tail")) != 1 {
		t.Fatalf("warnings %q", logs.matching(""))
	}
}
