package log

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fuzzSeeds are valid batches, damaged variants and junk.
func fuzzSeeds(t testing.TB) [][]byte {
	one := makeBatch(t, spec("a"))
	three := makeBatch(t, spec("k1", "k2", "k3"))
	gz := makeBatch(t, batchSpec{values: []string{"x", "y"}, firstTs: 5, pid: -1, seq: -1, codec: 1})
	zs := makeBatch(t, batchSpec{values: []string{"x", "y"}, firstTs: 5, tsDeltas: []int64{3, 1}, pid: -1, seq: -1, codec: 4})
	idem := makeBatch(t, spec("p").withProducer(3, 1, 0))
	flipped := bytes.Clone(three)
	flipped[40] ^= 0xff
	return [][]byte{
		one, three, gz, zs, idem,
		append(bytes.Clone(one), three...),
		one[:len(one)-1], one[:30], flipped,
		{}, bytes.Repeat([]byte{0xff}, 64), make([]byte, 80),
	}
}

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/fuzz seed corpora")

// TestFuzzSeedCorpora checks that testdata/fuzz holds the seeds (CI runs
// them with the fuzz targets); -rewrite regenerates them.
func TestFuzzSeedCorpora(t *testing.T) {
	for _, target := range []string{"FuzzRecovery", "FuzzParseBatch"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if *rewrite {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for i, s := range fuzzSeeds(t) {
			name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
			content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if target == "FuzzRecovery" {
				content += fmt.Sprintf("uint16(%d)\n", (i*53)%400)
			}
			if *rewrite {
				if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(name)
			if err != nil || string(got) != content {
				t.Errorf("%s is missing or stale (%v); run go test -run TestFuzzSeedCorpora -rewrite", name, err)
			}
		}
	}
}

// FuzzRecovery damages the active segment of a log that holds five valid
// batches: it flips the byte at flip-1 (if flip > 0) and appends arbitrary
// bytes, as a torn or corrupt tail after a crash. Open must succeed, keep
// every batch before the damage, and serve only batches that pass
// validation with contiguous offsets.
func FuzzRecovery(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add(s, uint16(i*37))
	}
	f.Fuzz(func(t *testing.T, tail []byte, flip uint16) {
		e := newEnv(t)
		cfg := DefaultConfig()
		cfg.IndexIntervalBytes = 100
		l, err := Open(e.dir, cfg, Options{FS: e.fs, Now: e.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			mustAppend(t, l, makeBatch(t, spec(val(i))))
		}
		e.fs = e.fs.Clone()
		l.Close()
		path := fileName(e.dir, 0, logSuffix)
		b, _ := e.fs.ReadFile(path)
		batchLen := len(b) / 5
		intact := 5
		if flip > 0 && int(flip) <= len(b) {
			b[flip-1] ^= 0x5a
			intact = int(flip-1) / batchLen
		}
		e.fs.WriteFile(path, append(b, tail...))
		l2, err := Open(e.dir, cfg, Options{FS: e.fs, Now: e.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatalf("open with junk tail: %v", err)
		}
		defer l2.Close()
		if l2.EndOffset() < int64(intact) {
			t.Fatalf("lost valid batches: end %d, %d intact", l2.EndOffset(), intact)
		}
		next := int64(0)
		for off := int64(0); off < l2.EndOffset(); {
			c, err := l2.Read(off, 1<<20)
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			buf := make([]byte, c.Size)
			if _, err := c.R.ReadAt(buf, c.Pos); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			c.Release()
			hs, err := ValidateBatches(buf, 0)
			if err != nil {
				t.Fatalf("served a bad batch: %v", err)
			}
			for _, h := range hs {
				if h.BaseOffset != next {
					t.Fatalf("served batch at %d, want %d", h.BaseOffset, next)
				}
				next = h.LastOffset() + 1
			}
			off = next
		}
		if _, err := l2.Append(makeBatch(t, spec("after"))); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}

// FuzzParseBatch feeds arbitrary bytes to validation, Append and record
// decoding: errors are fine, panics and accepting bad data are not.
func FuzzParseBatch(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := ParseBatchHeader(b); err == nil {
			_ = h.LastSequence()
		}
		_, _, _, _ = FirstRecordAtOrAfter(b, 0, 0)
		hs, verr := ValidateBatches(bytes.Clone(b), 1<<20)
		if verr == nil {
			verr = checkBatchRecords(b, hs, DefaultConfig().recordLimits())
		}
		e := newEnv(t)
		l, err := Open(e.dir, DefaultConfig(), Options{FS: e.fs, Now: e.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		res, aerr := l.Append(bytes.Clone(b))
		if (verr == nil) != (aerr == nil) {
			t.Fatalf("validation %v but append %v", verr, aerr)
		}
		if aerr != nil {
			if l.EndOffset() != 0 || l.Size() != 0 {
				t.Fatal("rejected append wrote data")
			}
			return
		}
		var n int64
		for _, h := range hs {
			n += int64(h.NumRecords)
		}
		if res.BaseOffset != 0 || res.LastOffset != n-1 || l.Size() != int64(len(b)) {
			t.Fatalf("append %+v size %d for %d records, %d bytes", res, l.Size(), n, len(b))
		}
		c, err := l.Read(0, 1)
		if err != nil || c.Size < hs[0].TotalSize() {
			t.Fatalf("read back: %+v %v", c, err)
		}
		for pos, i := 0, 0; i < len(hs); pos, i = pos+int(hs[i].TotalSize()), i+1 {
			_, _, _ = l.OffsetForTimestamp(hs[i].MaxTimestamp)
			// What Append accepts, the cleaner can read.
			if _, recs, err := DecodeBatch(b[pos:]); err != nil || len(recs) != int(hs[i].NumRecords) {
				t.Fatalf("accepted batch %d: decode: %v, %d records of %d", i, err, len(recs), hs[i].NumRecords)
			}
		}
	})
}

// FuzzSnapshot checks that producer-state snapshots never panic on load.
func FuzzSnapshot(f *testing.F) {
	var ps producerState
	h := BatchHeader{BaseOffset: 5, LastOffsetDelta: 2, ProducerID: 9, ProducerEpoch: 1, BaseSequence: 3}
	ps.apply(&h)
	f.Add(ps.encode())
	f.Add([]byte("SLPS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := decodeSnapshot(b)
		if err == nil && !bytes.Equal(ps.encode(), b) {
			t.Fatalf("decoded snapshot does not re-encode to the same bytes")
		}
	})
}

// FuzzPlainRecords holds the fast check of uncompressed records to the
// streaming reader's verdict: plainRecordsOK accepts exactly what the
// streaming reader accepts (it may only be faster, never more lenient or
// stricter). The fuzzer varies the record bytes, the record count and the
// last offset delta; the header around them is valid, CRC included, so
// every input whose count and deltas agree reaches the record check.
func FuzzPlainRecords(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if h, err := validateBatch(s, 0); err == nil && h.Compression() == codecNone {
			f.Add(bytes.Clone(s[batchHeaderLen:h.TotalSize()]), h.NumRecords, h.LastOffsetDelta)
		}
	}
	f.Add([]byte{0x0c, 0, 0, 0, 1, 0, 0}, int32(1), int32(0))
	lim := DefaultConfig().recordLimits()
	head := makeBatch(f, spec("a"))[:batchHeaderLen]
	f.Fuzz(func(t *testing.T, recs []byte, count, lastDelta int32) {
		if count < 0 {
			return
		}
		b := append(bytes.Clone(head), recs...)
		be := binary.BigEndian
		be.PutUint32(b[8:], uint32(len(b)-batchLengthOverhead))
		be.PutUint32(b[23:], uint32(lastDelta))
		be.PutUint32(b[57:], uint32(count))
		stampCRC(b, int64(len(b)))
		h, err := validateBatch(b, 0)
		if err != nil {
			return // Append refuses it before the record check (a count that disagrees with the deltas)
		}
		fast := plainRecordsOK(b[batchHeaderLen:], h)
		r, err := newRecordReader(b, h, lim)
		if err != nil {
			t.Fatal(err)
		}
		defer r.close()
		var rec rawRecord
		for {
			ok, err := r.next(fieldsNone, &rec)
			if err != nil {
				if fast {
					t.Fatalf("plainRecordsOK accepts what the streaming reader refuses: %v", err)
				}
				return
			}
			if !ok {
				break
			}
		}
		if !fast {
			t.Fatal("plainRecordsOK refuses what the streaming reader accepts")
		}
	})
}
