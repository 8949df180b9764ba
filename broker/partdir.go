package broker

// Partition folders and the topic they belong to.
//
// Every partition folder (<data dir>/topics/<topic>-<n>) holds Kafka's
// partition.metadata file naming its topic's ID:
//
//	version: 0
//	topic_id: <22 characters of URL-safe base64>
//
// A folder is used for a partition only when that file names the
// partition's topic. A folder whose topic the metadata does not know (the
// metadata journal lost it, or the broker stopped between deleting a topic
// from the metadata and deleting its folder), or whose file names another
// topic ID (an older topic of the same name), is never adopted by a topic
// that now has that name: it is moved aside as Kafka does with stray logs,
// to <topic>-<n>.<id>-stray (id: the 32 hex digits of the topic ID it
// names, or random ones), logged at warn and counted on /metrics
// (sluice_stray_partition_dirs), and never deleted: that is the operator's
// call. Folders made by Sluice before partition.metadata existed are
// adopted (and get the file) for the partitions the metadata knew when the
// broker started, even if they open only later (after a full disk).
//
// All of it goes through the server's vfs.FS, and each step is durable
// before the next depends on it: a new partition folder's name is synced
// into topics/ before the log opens in it (else a machine crash could
// lose the folder with every record flushed into it), partition.metadata
// is written through writeFileSync, a move aside is synced before the
// folder is made again, and the folders of a deleted topic are synced away
// (else a crash would bring them back as strays).

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/broker/meta"
)

// strayDirSuffix ends the name of a partition folder moved aside (Kafka's).
const strayDirSuffix = "-stray"

// readPartitionMetadata returns the topic ID in dir's partition.metadata;
// ok is false when the file does not exist.
func readPartitionMetadata(fs vfs.FS, dir string) (id meta.TopicID, ok bool, err error) {
	path := filepath.Join(dir, log.PartitionMetadataFile)
	b, err := vfs.ReadFile(fs, path)
	if errors.Is(err, os.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, err
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, found := strings.Cut(line, ":"); found {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if v := fields["version"]; v != "0" {
		return id, false, malformedError(fmt.Sprintf("%s: version %q, want 0", path, v))
	}
	if err := id.UnmarshalText([]byte(fields["topic_id"])); err != nil || id.IsZero() {
		return id, false, malformedError(fmt.Sprintf("%s: topic_id %q is not a topic ID", path, fields["topic_id"]))
	}
	return id, true, nil
}

// malformedError is a partition.metadata whose content is not Kafka's
// format (as opposed to one that cannot be read).
type malformedError string

func (e malformedError) Error() string { return string(e) }

// writePartitionMetadata writes dir's partition.metadata for topic id.
func writePartitionMetadata(fs vfs.FS, dir string, id meta.TopicID) error {
	return writeFileSync(fs, filepath.Join(dir, log.PartitionMetadataFile), []byte("version: 0\ntopic_id: "+id.String()+"\n"))
}

// adoptablePartitions is the partitions of every topic of the image the
// broker starts with.
func adoptablePartitions(img *meta.Image) map[meta.TopicID]int32 {
	m := map[meta.TopicID]int32{}
	for _, t := range img.Topics() {
		m[t.ID] = t.Partitions
	}
	return m
}

// claimPartitionDir makes dir, the folder of partition index of t, fit to
// open: a folder of another topic is moved aside (see the top of this
// file), and partition.metadata is written when missing. A folder without
// the file is adopted only for a partition that existed when the broker
// started; a partition created since is new, and any folder already there
// is left from something else.
func (s *Server) claimPartitionDir(dir string, t *meta.Topic, index int32) error {
	adoptable := index < s.adoptable[t.ID]
	st, err := s.fs.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s is in the way of the partition's folder: it is not a folder", dir)
	}
	exists := err == nil
	id, ok, err := readPartitionMetadata(s.fs, dir)
	var malformed malformedError
	if err != nil && !errors.As(err, &malformed) {
		return err // unreadable: not opened, retried later
	}
	var why string
	switch {
	case !exists:
	case err != nil && !adoptable:
		why = err.Error()
	case err != nil:
		s.logger.Warn("partition.metadata is malformed; rewriting it for the topic the metadata gives this folder", "dir", dir, "err", err)
	case ok && id != t.ID:
		why = fmt.Sprintf("partition.metadata names topic ID %s, not %s", id, t.ID)
	case !ok && !adoptable:
		why = "the folder exists before its partition was created and has no partition.metadata"
	}
	if why != "" {
		if err := s.moveAside(dir, t.Name, index, id, why); err != nil {
			return err
		}
		ok = false
	}
	if ok {
		return nil
	}
	// The folder's name is made durable before anything is written in it.
	if err := vfs.MkdirAllDurable(s.fs, dir); err != nil {
		return err
	}
	if err := writePartitionMetadata(s.fs, dir, t.ID); err != nil {
		// The partition is served all the same (a full disk must not keep
		// a new topic's partitions closed); the next start adopts the
		// folder and writes the file, since the metadata knows its topic.
		s.logger.Warn("could not write partition.metadata; the partition opens without it", "dir", dir, "err", err)
	}
	return nil
}

// moveAside renames the partition folder dir of topic name to Kafka's
// stray name and reports it. id is the topic ID its partition.metadata
// names, if any.
func (s *Server) moveAside(dir, name string, index int32, id meta.TopicID, why string) error {
	unique := hex.EncodeToString(id[:])
	if id.IsZero() {
		unique = randomHex()
	}
	to := filepath.Join(filepath.Dir(dir), strayDirName(name, index, unique))
	if _, err := s.fs.Stat(to); err == nil {
		to = filepath.Join(filepath.Dir(dir), strayDirName(name, index, randomHex()))
	}
	if err := s.fs.Rename(dir, to); err != nil {
		return fmt.Errorf("move stray partition folder %s aside: %w", dir, err)
	}
	if err := s.fs.SyncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("sync %s after moving a stray folder aside: %w", filepath.Dir(dir), err)
	}
	s.logger.Warn("partition folder belongs to no topic the metadata knows; moved aside, not deleted",
		"dir", dir, "moved_to", to, "reason", why)
	return nil
}

// strayDirName is Kafka's "<topic>-<n>.<unique>-stray", the topic cut so
// the name fits in 255 bytes.
func strayDirName(topic string, index int32, unique string) string {
	suffix := "-" + strconv.Itoa(int(index)) + "." + unique + strayDirSuffix
	return topic[:min(len(topic), 255-len(suffix))] + suffix
}

func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// moveStrayDirs moves aside every partition folder under topics/ that is
// no partition of img (run at startup). Names that are not <topic>-<n> are
// left alone with a warning.
func (s *Server) moveStrayDirs(img *meta.Image) error {
	root := s.topicsDir()
	names, err := s.fs.ListDirs(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", root, err)
	}
	used := map[string]bool{}
	for _, t := range img.Topics() {
		for i := int32(0); i < t.Partitions; i++ {
			used[filepath.Base(s.partitionDir(t.Name, i))] = true
		}
	}
	for _, name := range names {
		if used[name] || strings.HasSuffix(name, strayDirSuffix) {
			continue
		}
		cut := strings.LastIndexByte(name, '-')
		n, perr := strconv.ParseInt(name[cut+1:], 10, 32)
		if cut <= 0 || perr != nil || n < 0 {
			s.logger.Warn("ignoring a folder that is not <topic>-<partition>", "dir", filepath.Join(root, name))
			continue
		}
		dir := filepath.Join(root, name)
		id, _, rerr := readPartitionMetadata(s.fs, dir)
		why := "the metadata knows no partition " + strconv.Itoa(int(n)) + " of topic " + strconv.Quote(name[:cut])
		if rerr != nil {
			why += "; " + rerr.Error()
		} else if !id.IsZero() {
			why += " (partition.metadata names topic ID " + id.String() + ")"
		}
		if err := s.moveAside(dir, name[:cut], int32(n), id, why); err != nil {
			return err
		}
	}
	return nil
}

// countStrayDirs counts the folders under topics/ that were moved aside.
func (s *Server) countStrayDirs() int {
	names, _ := s.fs.ListDirs(s.topicsDir())
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, strayDirSuffix) {
			n++
		}
	}
	return n
}

// topicsDir is the folder of every partition folder.
func (s *Server) topicsDir() string { return filepath.Join(s.cfg.DataDir, "topics") }
