package broker

import (
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
	"github.com/sluicehq/sluice/broker/meta"
)

// The crash tests below run a whole broker (no Serve: the test's calls
// are its only users) on a strict errorfs, where only fsynced bytes and
// directory entries synced into their folder survive Crash.

// startOnFS opens a broker whose data dir /data is on fs.
func startOnFS(t *testing.T, fs vfs.FS) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.HTTP = "/data", "127.0.0.1:0", ""
	s, err := New(cfg, Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("start on errorfs: %v", err)
	}
	t.Cleanup(func() { s.closeListeners(); s.closeStorage() })
	return s
}

func createTopic(t *testing.T, s *Server, name string, partitions int32) meta.TopicID {
	t.Helper()
	if err := s.meta.Apply(t.Context(), &meta.CreateTopic{Name: name, Partitions: partitions, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	tp, ok := s.meta.Image().Topic(name)
	if !ok {
		t.Fatalf("topic %s not created", name)
	}
	return tp.ID
}

// appendFlushed appends one record to every partition of topic id and
// fsyncs it (what flush.messages=1 does on each produce).
func appendFlushed(t *testing.T, s *Server, id meta.TopicID) {
	t.Helper()
	s.mu.RLock()
	ps := s.mu.parts[id]
	s.mu.RUnlock()
	if len(ps) == 0 {
		t.Fatalf("topic %s has no open partition", id)
	}
	for _, p := range ps {
		if _, err := p.log.Append(log.EncodeBatch(log.NewBatchHeader(), []log.Record{{Value: []byte("v")}})); err != nil {
			t.Fatal(err)
		}
		if err := p.log.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkPartitions checks that topic name has id and every partition open
// in a folder whose partition.metadata names id, holding end records.
func checkPartitions(t *testing.T, s *Server, name string, id meta.TopicID, partitions int32, end int64) {
	t.Helper()
	tp, ok := s.meta.Image().Topic(name)
	if !ok || tp.ID != id {
		t.Fatalf("topic %s after the crash: %v %v, want ID %s", name, tp, ok, id)
	}
	s.mu.RLock()
	ps := s.mu.parts[id]
	s.mu.RUnlock()
	if int32(len(ps)) != partitions {
		t.Fatalf("topic %s: %d partitions open after the crash, want %d", name, len(ps), partitions)
	}
	for _, p := range ps {
		got, ok, err := readPartitionMetadata(s.fs, s.partitionDir(name, p.index))
		if err != nil || !ok || got != id {
			t.Errorf("%s-%d: partition.metadata names %s (present %v, %v); want %s", name, p.index, got, ok, err, id)
		}
		if e := p.log.EndOffset(); e != end {
			t.Errorf("%s-%d: end offset %d after the crash, want %d: flushed records lost with the folder", name, p.index, e, end)
		}
	}
}

// A machine crash right after a topic is created and its records flushed
// keeps the partition folders, with their partition.metadata and records:
// the folders' names were synced into topics/ (and topics/ into the data
// dir) before the logs opened in them. Before, only the folders' contents
// were synced, so the crash lost topics/ and every flushed record, and the
// next start made empty folders.
func TestPartitionFoldersSurviveMachineCrash(t *testing.T) {
	fs := errorfs.NewStrict()
	s := startOnFS(t, fs)
	id := createTopic(t, s, "t", 2)
	appendFlushed(t, s, id)

	s2 := startOnFS(t, fs.Crash())
	checkPartitions(t, s2, "t", id, 2, 1)
	if n := s2.countStrayDirs(); n != 0 {
		t.Errorf("%d folders moved aside after the crash, want none", n)
	}
}

// A topic deleted before a machine crash stays deleted on disk: the
// removal of its folders was synced. Before, the crash brought the folders
// back and the next start moved them aside as strays.
func TestDeletedTopicFoldersStayDeletedAfterMachineCrash(t *testing.T) {
	fs := errorfs.NewStrict()
	s := startOnFS(t, fs)
	id := createTopic(t, s, "t", 2)
	appendFlushed(t, s, id)
	if err := s.meta.Apply(t.Context(), &meta.DeleteTopic{ID: id}); err != nil {
		t.Fatal(err)
	}

	s2 := startOnFS(t, fs.Crash())
	if _, ok := s2.meta.Image().Topic("t"); ok {
		t.Fatal("a deleted topic came back after the crash")
	}
	if names, _ := s2.fs.ListDirs(s2.topicsDir()); len(names) != 0 {
		t.Errorf("folders under topics/ after the crash: %v, want none", names)
	}
}

// A folder in the way of a new topic's partition (left by an older topic
// of the same name, its partition.metadata naming that topic) is moved
// aside, not adopted, and a machine crash right after keeps both: the
// stray folder under its stray name with its content, and the new
// partition's folder naming the new topic. A stray folder moved aside at
// startup stays moved aside too.
func TestMoveAsideSurvivesMachineCrash(t *testing.T) {
	fs := errorfs.NewStrict()
	s := startOnFS(t, fs)
	s.closeListeners()
	s.closeStorage()
	old, gone := meta.NewTopicID(), meta.NewTopicID()
	for name, id := range map[string]meta.TopicID{"t-0": old, "gone-0": gone} {
		dir := filepath.Join("/data/topics", name)
		if err := vfs.MkdirAllDurable(fs, dir); err != nil {
			t.Fatal(err)
		}
		if err := writePartitionMetadata(fs, dir, id); err != nil {
			t.Fatal(err)
		}
	}

	s = startOnFS(t, fs) // moves gone-0 aside
	id := createTopic(t, s, "t", 1)
	appendFlushed(t, s, id)

	s2 := startOnFS(t, fs.Crash())
	checkPartitions(t, s2, "t", id, 1, 1)
	names, err := s2.fs.ListDirs(s2.topicsDir())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]meta.TopicID{
		"t-0":                                id,
		strayDirName("t", 0, hexID(old)):     old,
		strayDirName("gone", 0, hexID(gone)): gone,
	}
	if len(names) != len(want) {
		t.Fatalf("folders under topics/ after the crash: %v, want %d", names, len(want))
	}
	for _, name := range names {
		wantID, ok := want[name]
		if !ok {
			t.Errorf("unexpected folder %s after the crash (folders: %v)", name, names)
			continue
		}
		got, present, err := readPartitionMetadata(s2.fs, filepath.Join(s2.topicsDir(), name))
		if err != nil || !present || got != wantID {
			t.Errorf("%s: partition.metadata names %s (present %v, %v), want %s", name, got, present, err, wantID)
		}
	}
	if n := s2.countStrayDirs(); n != 2 {
		t.Errorf("countStrayDirs after the crash = %d, want 2", n)
	}
}

// hexID is the unique part of the stray name moveAside gives a folder
// whose partition.metadata names id.
func hexID(id meta.TopicID) string { return hex.EncodeToString(id[:]) }
