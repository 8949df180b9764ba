package replica

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestScripts runs every testdata/*.txt script with cockroachdb/datadriven
// (-rewrite regenerates the outputs). Time moves only with "tick".
//
//	leader replicas=1,2,3 isr=1,2,3 [min-isr=N] [lag=D] [end=N] [hw=N] [epoch-start=N]  (this broker is the first replica)
//	append END | fetch REPLICA OFFSET | tick D | set-isr 1,2 | shrink | expand | state
func TestScripts(t *testing.T) {
	testutil.RunScripts(t, func(*testing.T) func(*testing.T, *datadriven.TestData) string {
		var tr *Tracker
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		return func(t *testing.T, d *datadriven.TestData) string {
			kv, pos := testutil.ScriptArgs(d)
			switch d.Cmd {
			case "leader":
				cfg := Config{Replicas: ids(t, kv["replicas"]), MinISR: 1, LagMax: 30 * time.Second}
				cfg.Leader = cfg.Replicas[0]
				if v, ok := kv["min-isr"]; ok {
					cfg.MinISR = num(t, v)
				}
				if v, ok := kv["epoch-start"]; ok {
					cfg.EpochStart = int64(num(t, v))
				}
				if v, ok := kv["lag"]; ok {
					cfg.LagMax = dur(t, v)
				}
				tr = New(cfg, ids(t, kv["isr"]), int64(num(t, or(kv["end"], "0"))), int64(num(t, or(kv["hw"], "0"))), now)
			case "append":
				tr.Appended(int64(num(t, pos[0])))
			case "fetch":
				hw := tr.Fetched(int32(num(t, pos[0])), int64(num(t, pos[1])), now)
				return fmt.Sprintf("hw=%d\n", hw)
			case "tick":
				now = now.Add(dur(t, pos[0]))
				return ""
			case "set-isr":
				tr.SetISR(ids(t, or(pos, "")))
			case "shrink":
				return fmt.Sprintf("out of sync: %v\n", tr.OutOfSync(now))
			case "expand":
				return fmt.Sprintf("caught up: %v\n", tr.CaughtUp())
			case "state":
			default:
				t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
			}
			return fmt.Sprintf("hw=%d isr=%v acks-all=%v\n", tr.HighWatermark(), tr.ISR(), tr.CanAppendAcksAll())
		}
	})
}

func or[T string | []string](v T, def string) string {
	switch x := any(v).(type) {
	case string:
		if x != "" {
			return x
		}
	case []string:
		if len(x) > 0 {
			return x[0]
		}
	}
	return def
}

func ids(t *testing.T, s string) []int32 { return testutil.Int32s(t, s) }

func num(t *testing.T, s string) int { return testutil.Atoi(t, s) }

func dur(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("bad duration %q", s)
	}
	return d
}
