package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecodeRecord: decoding never panics, and whatever decodes re-encodes
// to something that decodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords {
		b, _ := EncodeRecord(r)
		f.Add(b)
	}
	f.Add([]byte{1, 1, '{', '}'})
	f.Add([]byte{1, 4, 'n', 'u', 'l', 'l'})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("error does not wrap ErrInvalidRecord: %v", err)
			}
			return
		}
		b2, err := EncodeRecord(r)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", r, err)
		}
		// Compare encodings: an empty map and a nil one are the same record.
		r2, err := DecodeRecord(b2)
		if err != nil {
			t.Fatalf("decode re-encoded %+v: %v", r, err)
		}
		if b3, _ := EncodeRecord(r2); !bytes.Equal(b2, b3) {
			t.Fatalf("round trip: %+v -> %+v", r, r2)
		}
		// Applying a decoded record never panics either.
		_, _ = Apply(NewImage(), r)
	})
}

// FuzzDecodeEntry: decoding never panics or over-allocates, and valid
// entries round trip.
func FuzzDecodeEntry(f *testing.F) {
	e, _ := EncodeEntry(Entry{Time: time.Unix(5, 0), Records: sampleRecords})
	f.Add(e)
	one, _ := EncodeEntry(Entry{Time: time.Unix(5, 0), Records: sampleRecords[:1]})
	f.Add(one)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("error does not wrap ErrInvalidRecord: %v", err)
			}
			return
		}
		b2, err := EncodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := DecodeEntry(b2)
		if err != nil || !e.Time.Equal(e2.Time) || len(e2.Records) != len(e.Records) {
			t.Fatalf("round trip: %v", err)
		}
		if b3, _ := EncodeEntry(e2); !bytes.Equal(b2, b3) {
			t.Fatal("entry does not re-encode to the same bytes")
		}
	})
}

func frame(payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

// FuzzJournalReplay writes arbitrary bytes as a journal file and opens it as
// a store. Open either fails with a clear error or succeeds; on success a
// second open sees the same image (truncation is idempotent), and appending
// still works.
func FuzzJournalReplay(f *testing.F) {
	entry := func(recs ...Record) []byte {
		b, _ := EncodeEntry(Entry{Time: time.Unix(1, 0), Records: recs})
		return frame(b)
	}
	id := TopicID{3, 15: 7}
	good := append(entry(CreateTopic{Name: "a", ID: id, Partitions: 1, ReplicationFactor: 1}),
		entry(CreatePartitions{ID: id, Count: 2}, AlterTopicConfigs{ID: id, Set: map[string]string{"retention.ms": "1"}})...)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(bytes.Clone(good), 0, 0, 0, 0, 0, 0, 0, 0, 0))
	flipped := bytes.Clone(good)
	flipped[12] ^= 1
	f.Add(flipped)
	f.Add(frame([]byte{1, 2, 3}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, JournalFileName)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{})
		if err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) && !errors.Is(err, ErrInvalidRecord) && ErrorCode(err) == 0 {
				t.Fatalf("unexpected open error: %v", err)
			}
			return
		}
		img := s.Image().String()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(dir, Options{})
		if err != nil {
			t.Fatalf("second open failed after first succeeded: %v", err)
		}
		defer s.Close()
		if s.Image().String() != img {
			t.Fatalf("second open differs:\n%s\nvs\n%s", img, s.Image())
		}
		off := s.Image().Offset()
		if err := s.Apply(context.Background(), RegisterBroker{NodeID: 99, Host: "h", Port: 1}); err != nil {
			t.Fatalf("append after open: %v", err)
		}
		if s.Image().Offset() != off+1 {
			t.Fatalf("offset %d after %d", s.Image().Offset(), off)
		}
	})
}

// FuzzJournalScan drives the frame scanner that OpenFileJournal runs on
// recovery over arbitrary bytes, in memory so it runs fast: it never panics,
// and the valid prefix it reports scans again cleanly to the same count.
func FuzzJournalScan(f *testing.F) {
	good := append(frame([]byte("one")), frame([]byte("two"))...)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(bytes.Clone(good), make([]byte, 20)...))
	f.Add(append(bytes.Clone(good), 0, 0, 0, 5, 1, 2, 3, 4, 9))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var count int64
		valid, n, reason, err := scanFrames("fuzz", bytes.NewReader(data), int64(len(data)), func(off int64, p []byte) error {
			if off != count || len(p) == 0 {
				t.Fatalf("frame %d at offset %d with %d bytes", count, off, len(p))
			}
			count++
			return nil
		})
		if err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.Pos < 0 || ce.Pos >= int64(len(data)) {
				t.Fatalf("scan error %v", err)
			}
			return
		}
		if valid > int64(len(data)) || n != count || (valid < int64(len(data))) != (reason != "") {
			t.Fatalf("valid %d of %d, n %d, count %d, reason %q", valid, len(data), n, count, reason)
		}
		v2, n2, r2, err := scanFrames("fuzz", bytes.NewReader(data[:valid]), valid, nil)
		if err != nil || v2 != valid || n2 != n || r2 != "" {
			t.Fatalf("rescan of valid prefix: %d %d %q %v", v2, n2, r2, err)
		}
	})
}
