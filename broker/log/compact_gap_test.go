package log

import (
	"slices"
	"testing"
)

// TestGapsInCompactedLogs removes batches from a segment file as a cleaner
// would. With Compact set, recovery keeps the batches after a gap and reads
// at a missing offset return the next batch. Without it the gaps are
// damage (below the recovery point nothing may be missing): the batches
// around them stay, and reads of the missing offsets fail.
func TestGapsInCompactedLogs(t *testing.T) {
	for _, compact := range []bool{true, false} {
		e := newEnv(t)
		cfg := DefaultConfig()
		cfg.Compact = compact
		l, err := Open(e.dir, cfg, e.options())
		if err != nil {
			t.Fatal(err)
		}
		var batches [][]byte
		for i := 0; i < 10; i++ {
			b := makeBatch(t, spec(val(2*i), val(2*i+1)))
			mustAppend(t, l, b)
			batches = append(batches, b)
		}
		l.Close()
		// Keep batches 0-2, 5, 8, 9 (offsets 0-5, 10-11, 16-19).
		var file []byte
		for _, i := range []int{0, 1, 2, 5, 8, 9} {
			file = append(file, batches[i]...)
		}
		e.fs.WriteFile(fileName(e.dir, 0, logSuffix), file)
		e.fs.WriteFile(fileName(e.dir, 0, indexSuffix), nil)
		e.fs.WriteFile(fileName(e.dir, 0, timeIndexSuffix), nil)
		e.fs.Remove(cleanShutdownPath(e.dir))
		l2 := e.open(cfg)
		got, skipped := readAround(t, l2)
		var offs []int64
		for _, r := range got {
			offs = append(offs, r.offset)
		}
		want := []int64{0, 1, 2, 3, 4, 5, 10, 11, 16, 17, 18, 19}
		if !slices.Equal(offs, want) {
			t.Fatalf("compact=%v: offsets %v, want %v", compact, offs, want)
		}
		var holes [][2]int64
		for _, r := range skipped {
			holes = append(holes, [2]int64{r.FirstOffset, r.LastOffset})
		}
		if wantHoles := [][2]int64{{6, 9}, {12, 15}}; !compact && !slices.Equal(holes, wantHoles) || compact && len(holes) > 0 {
			t.Fatalf("compact=%v: damaged offset ranges %v, want %v without compaction, none with", compact, holes, wantHoles)
		}
		if compact {
			c, err := l2.Read(7, 1)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, c.Size)
			c.R.ReadAt(buf, c.Pos)
			c.Release()
			if r := decodeRecords(t, buf); r[0].offset != 10 {
				t.Fatalf("read in a gap returned offset %d, want the next batch at 10", r[0].offset)
			}
			if l2.EndOffset() != 20 {
				t.Fatalf("end %d", l2.EndOffset())
			}
		}
	}
}
