package log

import "testing"

func TestSplitDescriptors(t *testing.T) {
	for _, c := range []struct {
		limit, reserve            int
		wantReserve, files, conns int
	}{
		{512, -1, 128, 64, 384},        // default reserve: at least 128
		{200, -1, 100, 50, 100},        // at most half; half of a small reserve is for others
		{20000, -1, 5000, 4936, 15000}, // a quarter
		{0, -1, 256, 192, 768},         // unknown limit: 1024
		{1024, 512, 512, 448, 512},     // as set
		{256, 0, 0, minLogFiles, 256},  // no reserve: the cache still gets a few files
		{256, 300, 300, 236, 0},        // more than the limit: New refuses
	} {
		b := SplitDescriptors(c.limit, c.reserve)
		if b.Reserve != c.wantReserve || b.LogFiles != c.files || b.Connections != c.conns {
			t.Errorf("SplitDescriptors(%d, %d) = %+v, want reserve %d, log files %d, connections %d",
				c.limit, c.reserve, b, c.wantReserve, c.files, c.conns)
		}
		if c.limit > 0 && b.Reserve <= b.Limit && b.LogFiles >= minLogFiles && b.LogFiles+b.Other+b.Connections > b.Limit && b.Reserve >= 2*minLogFiles {
			t.Errorf("SplitDescriptors(%d, %d) = %+v: shares sum past the limit", c.limit, c.reserve, b)
		}
	}
}
