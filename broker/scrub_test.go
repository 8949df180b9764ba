package broker

import (
	"context"
	"testing"
	"time"
)

// TestPacerHoldsTheRate drives the scrubber's pacer with a manual clock:
// reading 10 MB at 1 MB/s takes 10 s of sleeps however the reads are cut,
// small reads are not slept one by one, and idle time is not banked as a
// burst beyond the slack.
func TestPacerHoldsTheRate(t *testing.T) {
	for _, chunk := range []int64{61, 16 << 10, 1 << 20} {
		now := time.UnixMilli(0)
		var slept time.Duration
		sleeps := 0
		p := &pacer{rate: 1e6, last: now, now: func() time.Time { return now }, sleep: func(_ context.Context, d time.Duration) bool {
			now, slept, sleeps = now.Add(d), slept+d, sleeps+1
			return true
		}}
		for read := int64(0); read < 10e6; read += chunk {
			if err := p.wait(context.Background(), chunk); err != nil {
				t.Fatal(err)
			}
		}
		if want := 10 * time.Second; slept < want-2*pacerSlack || slept > want+pacerSlack+time.Duration(chunk)*time.Microsecond {
			t.Errorf("chunks of %d bytes: slept %v for 10 MB at 1 MB/s, want about %v", chunk, slept, want)
		}
		if max := int(10 * time.Second / pacerSlack); sleeps > max {
			t.Errorf("chunks of %d bytes: %d sleeps, want at most %d", chunk, sleeps, max)
		}
		now = now.Add(time.Hour) // idle: no hour-long burst afterwards
		before := slept
		for read := int64(0); read < 1e6; read += chunk {
			p.wait(context.Background(), chunk)
		}
		if d := slept - before; d < time.Second-2*pacerSlack-time.Duration(chunk)*time.Microsecond {
			t.Errorf("chunks of %d bytes: after an idle hour, 1 MB took %v of sleep, want about 1s", chunk, d)
		}
	}
}
