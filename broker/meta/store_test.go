package meta

import (
	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"

	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustApply(t *testing.T, s *Store, recs ...Record) {
	t.Helper()
	if err := s.Apply(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

func topic(t *testing.T, img *Image, name string) *Topic {
	t.Helper()
	tp, ok := img.Topic(name)
	if !ok {
		t.Fatalf("topic %q not in image:\n%s", name, img)
	}
	return tp
}

func TestStoreReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, CreateTopic{Name: "a", Partitions: 2, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}})
	mustApply(t, s, &CreateTopic{Name: "b", Partitions: 1, ReplicationFactor: 1})
	a := topic(t, s.Image(), "a")
	mustApply(t, s,
		CreatePartitions{ID: a.ID, Count: 4},
		AlterTopicConfigs{ID: a.ID, Set: map[string]string{"cleanup.policy": "compact"}},
		RegisterBroker{NodeID: 0, Host: "127.0.0.1", Port: 9092},
		AlterBrokerConfigs{NodeID: AllBrokers, Set: map[string]string{"log.retention.ms": "3600000"}},
	)
	mustApply(t, s, DeleteTopic{ID: topic(t, s.Image(), "b").ID})
	before := s.Image()
	if before.Offset() != 3 {
		t.Fatalf("offset = %d, want 3 (four entries)", before.Offset())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir)
	after := s2.Image()
	if after.String() != before.String() {
		t.Fatalf("reopened image differs\n--- before\n%s--- after\n%s", before, after)
	}
	a2 := topic(t, after, "a")
	if a2.ID != a.ID || a2.Partitions != 4 || a2.Configs["cleanup.policy"] != "compact" || a2.Configs["retention.ms"] != "1000" {
		t.Fatalf("topic a after reopen: %+v", a2)
	}
	if _, ok := after.Topic("b"); ok {
		t.Fatal("deleted topic b came back")
	}
}

func TestStoreApplyIsAllOrNothing(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustApply(t, s, CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1})
	before := s.Image()
	err := s.Apply(context.Background(),
		CreateTopic{Name: "b", Partitions: 1, ReplicationFactor: 1},
		CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1},
	)
	if !errors.Is(err, ErrTopicExists) || !strings.Contains(err.Error(), "record 2 of 2") {
		t.Fatalf("apply: %v, want ErrTopicExists naming record 2", err)
	}
	if ErrorCode(err) != kerr.TopicAlreadyExists.Code {
		t.Fatalf("ErrorCode = %d", ErrorCode(err))
	}
	if s.Image() != before {
		t.Fatal("failed Apply published a new image")
	}
	// The records a batch validates against include the earlier ones.
	err = s.Apply(context.Background(),
		CreateTopic{Name: "c", Partitions: 1, ReplicationFactor: 1},
		CreateTopic{Name: "c", Partitions: 1, ReplicationFactor: 1},
	)
	if !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate inside one batch: %v", err)
	}
	if err := s.Validate(CreateTopic{Name: "c", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if err := s.Validate(CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("validate existing: %v", err)
	}
	if s.Image() != before {
		t.Fatal("Validate changed the image")
	}
	if err := s.Apply(context.Background()); err != nil || s.Image() != before {
		t.Fatalf("empty Apply: %v", err)
	}
}

func TestStoreFillsTopicIDWithoutTouchingCaller(t *testing.T) {
	s := openStore(t, t.TempDir())
	rec := &CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1}
	recs := []Record{rec, CreateTopic{Name: "b", Partitions: 1, ReplicationFactor: 1}}
	mustApply(t, s, recs...)
	if !rec.ID.IsZero() || !recs[1].(CreateTopic).ID.IsZero() {
		t.Fatal("Apply modified the caller's record")
	}
	a, b := topic(t, s.Image(), "a"), topic(t, s.Image(), "b")
	if a.ID.IsZero() || b.ID.IsZero() || a.ID == b.ID {
		t.Fatalf("IDs not filled: %s %s", a.ID, b.ID)
	}
	if got, ok := s.Image().TopicByID(a.ID); !ok || got != a {
		t.Fatal("TopicByID does not find a")
	}
}

func TestStoreSubscribe(t *testing.T) {
	s := openStore(t, t.TempDir())
	var mu sync.Mutex
	var seen []string
	cancel := s.Subscribe(func(old, new *Image) {
		mu.Lock()
		defer mu.Unlock()
		d := Diff(old, new)
		if new.Offset() <= old.Offset() {
			t.Errorf("offset went from %d to %d", old.Offset(), new.Offset())
		}
		seen = append(seen, deltaLine(d))
	})
	var second []int64
	cancel2 := s.Subscribe(func(_, new *Image) { second = append(second, new.Offset()) })
	mustApply(t, s, CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1})
	id := topic(t, s.Image(), "a").ID
	mustApply(t, s, CreatePartitions{ID: id, Count: 3})
	cancel2()
	mustApply(t, s, DeleteTopic{ID: id}, CreateTopic{Name: "a", Partitions: 2, ReplicationFactor: 1})
	_ = s.Apply(context.Background(), DeleteTopic{ID: id}) // fails: no callback
	cancel()
	mustApply(t, s, CreateTopic{Name: "z", Partitions: 1, ReplicationFactor: 1})
	want := []string{"(created=a)", "(grown=a:1->3)", "(created=a deleted=a)"}
	if strings.Join(seen, ";") != strings.Join(want, ";") {
		t.Fatalf("deltas %q, want %q", seen, want)
	}
	if len(second) != 2 || second[0] != 0 || second[1] != 1 {
		t.Fatalf("second subscriber saw offsets %v, want [0 1]", second)
	}
}

// failingJournal fails every Append after the first ok ones.
type failingJournal struct {
	ok     int
	closed bool
}

func (j *failingJournal) Append(_ context.Context, _ []byte) (int64, error) {
	if j.ok > 0 {
		j.ok--
		return int64(0), nil
	}
	return -1, errors.New("disk on fire")
}
func (j *failingJournal) Replay(func(int64, []byte) error) error { return nil }
func (j *failingJournal) Close() error                           { j.closed = true; return nil }

func TestStoreJournalFailureLeavesImage(t *testing.T) {
	j := &failingJournal{ok: 1}
	s, err := Open("", Options{Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1})
	before := s.Image()
	err = s.Apply(context.Background(), CreateTopic{Name: "b", Partitions: 1, ReplicationFactor: 1})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("apply: %v", err)
	}
	if ErrorCode(err) != kerr.KafkaStorageError.Code || !errors.Is(err, ErrStorage) {
		t.Fatalf("ErrorCode(journal failure) = %d (%v), want KAFKA_STORAGE_ERROR", ErrorCode(err), err)
	}
	if s.Image() != before {
		t.Fatal("image changed although the journal append failed")
	}
	if err := s.Close(); err != nil || !j.closed {
		t.Fatalf("close: %v, journal closed %v", err, j.closed)
	}
	if err := s.Apply(context.Background(), CreateTopic{Name: "c", Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("apply after close: %v", err)
	}
	if s.Image() != before {
		t.Fatal("Image after Close is not the last image")
	}
}

func TestStoreOpenFailsOnBadJournalEntry(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenFileJournal(filepath.Join(dir, JournalFileName), FileJournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := EncodeEntry(Entry{Time: time.Unix(0, 0), Records: []Record{CreateTopic{Name: "a", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1}}})
	dup, _ := EncodeEntry(Entry{Time: time.Unix(0, 0), Records: []Record{CreateTopic{Name: "a", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1}}})
	for _, p := range [][]byte{good, dup} {
		if _, err := j.Append(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	_ = j.Close()
	_, err = Open(dir, Options{})
	if !errors.Is(err, ErrTopicExists) || !strings.Contains(err.Error(), "journal offset 1 record 0") {
		t.Fatalf("open: %v, want a replay error naming offset 1", err)
	}

	dir2 := t.TempDir()
	j, _ = OpenFileJournal(filepath.Join(dir2, JournalFileName), FileJournalOptions{})
	_, _ = j.Append(context.Background(), []byte{9, 9, 9})
	_ = j.Close()
	if _, err := Open(dir2, Options{}); !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "offset 0") {
		t.Fatalf("open with undecodable entry: %v", err)
	}

	// A corrupt journal is reported, not truncated or skipped.
	dir3 := t.TempDir()
	s := openStore(t, dir3)
	mustApply(t, s, CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1})
	mustApply(t, s, CreateTopic{Name: "b", Partitions: 1, ReplicationFactor: 1})
	_ = s.Close()
	path := filepath.Join(dir3, JournalFileName)
	data, _ := os.ReadFile(path)
	data[frameHeaderLen+3] ^= 1
	_ = os.WriteFile(path, data, 0o644)
	var ce *CorruptionError
	if _, err := Open(dir3, Options{}); !errors.As(err, &ce) || ce.Offset != 0 {
		t.Fatalf("open corrupt: %v", err)
	}
}

func TestStoreTornTailOnOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustApply(t, s, CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1})
	mustApply(t, s, CreateTopic{Name: "b", Partitions: 1, ReplicationFactor: 1})
	_ = s.Close()
	path := filepath.Join(dir, JournalFileName)
	data, _ := os.ReadFile(path)
	_ = os.WriteFile(path, data[:len(data)-3], 0o644)
	logger, logs := newTestLogger()
	s2, err := Open(dir, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, ok := s2.Image().Topic("b"); ok || s2.Image().NumTopics() != 1 || s2.Image().Offset() != 0 {
		t.Fatalf("image after torn tail:\n%s", s2.Image())
	}
	if !strings.Contains(logs.String(), "truncating torn journal tail") {
		t.Fatalf("no truncation log line: %s", logs)
	}
	mustApply(t, s2, CreateTopic{Name: "b", Partitions: 1, ReplicationFactor: 1})
	if s2.Image().Offset() != 1 {
		t.Fatalf("offset after re-create = %d", s2.Image().Offset())
	}
}

// TestStoreTornTailSaysWhatItDropped cuts the last entry (a CreateTopic
// of "lost") at several points: the log line names the byte range cut and
// as much of the dropped record as is left, so an operator knows which
// topic the metadata forgot.
func TestStoreTornTailSaysWhatItDropped(t *testing.T) {
	for _, tc := range []struct {
		cut  int    // bytes of the last frame kept
		want string // in the log line
	}{
		{cut: -3, want: `CreateTopic {\"name\":\"lost\",\"id\":`}, // quoted by the text handler
		{cut: 40, want: `CreateTopic {\"name\":\"lost\"`},
		{cut: 8, want: "0 present: 0 bytes of an entry header"},
		{cut: 4, want: "4 bytes of a frame header"},
	} {
		dir := t.TempDir()
		s := openStore(t, dir)
		mustApply(t, s, CreateTopic{Name: "kept", Partitions: 1, ReplicationFactor: 1})
		path := filepath.Join(dir, JournalFileName)
		before, _ := os.ReadFile(path)
		mustApply(t, s, CreateTopic{Name: "lost", Partitions: 3, ReplicationFactor: 1})
		_ = s.Close()
		data, _ := os.ReadFile(path)
		keep := len(before) + tc.cut
		if tc.cut < 0 {
			keep = len(data) + tc.cut
		}
		_ = os.WriteFile(path, data[:keep], 0o644)
		logger, logs := newTestLogger()
		s2, err := Open(dir, Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		_ = s2.Close()
		line := logs.String()
		if !strings.Contains(line, tc.want) || !strings.Contains(line, fmt.Sprintf("pos=%d end=%d", len(before), keep)) {
			t.Errorf("cut at %d: log line does not say %q and the byte range %d-%d:\n%s", tc.cut, tc.want, len(before), keep, line)
		}
	}
}

// TestStoreConcurrentReaders runs readers against a writer (meaningful under
// -race): readers never block and always see a consistent image whose
// offset never goes back.
func TestStoreConcurrentReaders(t *testing.T) {
	s := openStore(t, t.TempDir())
	const n = 50
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(-1)
			for {
				img := s.Image()
				if img.Offset() < last {
					t.Errorf("offset went back from %d to %d", last, img.Offset())
					return
				}
				last = img.Offset()
				if got := int64(img.NumTopics()); got != last+1 {
					t.Errorf("image at offset %d has %d topics", last, got)
					return
				}
				for _, tp := range img.Topics() {
					if byID, ok := img.TopicByID(tp.ID); !ok || byID != tp {
						t.Errorf("topic %s not indexed by ID", tp.Name)
						return
					}
				}
				select {
				case <-done:
					return
				default:
				}
			}
		}()
	}
	for i := range n {
		mustApply(t, s, CreateTopic{Name: "t" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Partitions: 1, ReplicationFactor: 1})
	}
	close(done)
	wg.Wait()
	if s.Image().NumTopics() != n {
		t.Fatalf("%d topics", s.Image().NumTopics())
	}
}

func TestApplyDoesNotModifyInput(t *testing.T) {
	img := NewImage()
	configs := map[string]string{"retention.ms": "5"}
	img1, err := Apply(img, CreateTopic{Name: "a", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1, Configs: configs})
	if err != nil {
		t.Fatal(err)
	}
	configs["retention.ms"] = "6"
	a := topic(t, img1, "a")
	if a.Configs["retention.ms"] != "5" {
		t.Fatal("image shares the caller's config map")
	}
	dump1 := img1.String()
	img2, err := Apply(img1, AlterTopicConfigs{ID: a.ID, Set: map[string]string{"retention.ms": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	img3, err := Apply(img2, CreateTopic{Name: "b", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	if img1.String() != dump1 || img.NumTopics() != 0 {
		t.Fatal("Apply modified an older image")
	}
	// Copy-on-write: an untouched topic is shared, a touched one is not.
	if topic(t, img3, "a") != topic(t, img2, "a") || topic(t, img2, "a") == a {
		t.Fatal("copy-on-write sharing is wrong")
	}
	if _, err := Apply(img3, nil); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("nil record: %v", err)
	}
	if _, err := Apply(img3, (*DeleteTopic)(nil)); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("nil pointer record: %v", err)
	}
	for _, bad := range []Record{
		CreateTopic{Name: "z", Partitions: 1, ReplicationFactor: 1},
		CreateTopic{Name: "z", ID: metadataTopicID, Partitions: 1, ReplicationFactor: 1},
		RegisterBroker{NodeID: -1, Host: "h", Port: 1},
		RegisterBroker{NodeID: 1, Port: 1},
		RegisterBroker{NodeID: 1, Host: "h", Port: 70000},
	} {
		if _, err := Apply(img3, bad); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%+v: %v, want ErrInvalidRecord", bad, err)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	cases := []struct {
		err  error
		code int16
	}{
		{nil, 0},
		{invalid(ErrTopicExists, "x"), kerr.TopicAlreadyExists.Code},
		{invalid(ErrUnknownTopic, "x"), kerr.UnknownTopicOrPartition.Code},
		{invalid(ErrInvalidTopic, "x"), kerr.InvalidTopicException.Code},
		{invalid(ErrInvalidPartitions, "x"), kerr.InvalidPartitions.Code},
		{invalid(ErrInvalidReplicationFactor, "x"), kerr.InvalidReplicationFactor.Code},
		{invalid(ErrInvalidConfig, "x"), kerr.InvalidConfig.Code},
		{invalid(ErrInvalidRecord, "x"), kerr.InvalidRequest.Code},
		{errors.New("other"), kerr.UnknownServerError.Code},
	}
	for _, c := range cases {
		if got := ErrorCode(c.err); got != c.code {
			t.Errorf("ErrorCode(%v) = %d, want %d", c.err, got, c.code)
		}
	}
	err := invalid(ErrInvalidConfig, "bad %s", "thing")
	if ErrorMessage(err) != "bad thing" || err.Error() != "meta: invalid config: bad thing" {
		t.Errorf("message %q / %q", ErrorMessage(err), err.Error())
	}
	if ErrorMessage(nil) != "" || ErrorMessage(errors.New("plain")) != "plain" {
		t.Error("ErrorMessage of nil or plain error")
	}
}

func TestImageTopicConfigMemoizedPerImage(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustApply(t, s, CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "10"}})
	img := s.Image()
	a := topic(t, img, "a")
	bc := DefaultBrokerConfig()
	c1 := img.TopicConfig(a, bc)
	if c1 != img.TopicConfig(a, bc) || c1.Int64(KeyRetentionMs) != 10 {
		t.Fatal("not memoized or wrong")
	}
	// A dynamic broker config change gives a new image and a fresh config,
	// even though topic a itself is shared.
	mustApply(t, s, AlterBrokerConfigs{NodeID: AllBrokers, Set: map[string]string{"message.max.bytes": "99"}})
	img2 := s.Image()
	if topic(t, img2, "a") != a {
		t.Fatal("untouched topic not shared")
	}
	if got := img2.TopicConfig(a, bc).Int32(KeyMaxMessageBytes); got != 99 {
		t.Fatalf("max.message.bytes after dynamic change = %d", got)
	}
	if img.TopicConfig(a, bc).Int32(KeyMaxMessageBytes) != 1048588 {
		t.Fatal("old image's config changed")
	}
}

// The store runs on the broker's vfs: on a file system that keeps only
// what was synced (directory entries included), a machine crash keeps
// every change Apply acknowledged.
func TestStoreSurvivesMachineCrash(t *testing.T) {
	fs := errorfs.NewStrict()
	if err := fs.MkdirAll("/data"); err != nil {
		t.Fatal(err)
	}
	s, err := Open("/data/meta", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		mustApply(t, s, &CreateTopic{Name: name, Partitions: 2, ReplicationFactor: 1})
	}
	crashed := fs.Crash()
	s2, err := Open("/data/meta", Options{FS: crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, name := range []string{"a", "b"} {
		if _, ok := s2.Image().Topic(name); !ok {
			t.Errorf("topic %s lost in a machine crash", name)
		}
	}
	s.Close()
}
