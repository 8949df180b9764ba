package jobs

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/sluicehq/sluice/pipelines"
)

// TestScripts runs testdata/*.txt against a Core and a Catalog. Time moves
// only when a script says so, so an hour-long timeout runs in
// microseconds. Regenerate expected output with -rewrite.
//
//	now t=RFC3339                 set the clock (no Advance)
//	advance by=D | to=RFC3339     move the clock and Advance
//	file name=F.yaml              write a pipeline file (input: its keys;
//	                              name:, source: and sink: are filled in)
//	rmfile name=F.yaml            delete it
//	reload                        Catalog.Update, then Set/Remove on the core
//	restore name=P [last=T] [paused]  what the history said before reload
//	finish id=ID [out=ok|err|cancelled]
//	trigger name=P | pause name=P | resume name=P
//	rand v=F                      the jitter source's next values
//	state name=P                  the core's view of P
//	next from=T [count=N] [tz=Z]  ticks of the expression in the input
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{core: NewCore(), cat: NewCatalog(), files: map[string][]byte{}, zones: map[string]*time.Location{}}
		h.core.Rand = func() float64 { return h.rand }
		h.rand = 0.5
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.do(t, d)
		})
	})
}

type harness struct {
	core  *Core
	cat   *Catalog
	files map[string][]byte
	now   time.Time
	rand  float64
	zones map[string]*time.Location // pipeline -> schedule zone, for output
}

func (h *harness) do(t *testing.T, d *datadriven.TestData) string {
	arg := func(k string) string {
		var v string
		d.MaybeScanArgs(t, k, &v)
		return v
	}
	tm := func(k string) time.Time {
		v, err := time.Parse(time.RFC3339, arg(k))
		if err != nil {
			t.Fatalf("%s: %s=%q: %v", d.Pos, k, arg(k), err)
		}
		return v
	}
	switch d.Cmd {
	case "now":
		h.now = tm("t")
		return "now " + h.fmt("", h.now) + "\n"
	case "advance":
		if d.HasArg("to") {
			h.now = tm("to")
		} else {
			by, err := time.ParseDuration(arg("by"))
			if err != nil {
				t.Fatalf("%s: by: %v", d.Pos, err)
			}
			h.now = h.now.Add(by)
		}
		return "now " + h.fmt("", h.now) + "\n" + h.actions(h.core.Advance(h.now))
	case "file":
		body := d.Input
		name := arg("name")
		if !strings.Contains(body, "name:") {
			body = "name: " + strings.TrimSuffix(name, ".yaml") + "\n" + body
		}
		if !strings.Contains(body, "source:") {
			body += "\nsource: {brokers: [\"127.0.0.1:9092\"], topics: [t]}"
		}
		if !strings.Contains(body, "sink:") {
			body += "\nsink: {url: /lake/x}"
		}
		h.files[name] = []byte(body + "\n")
		return "ok\n"
	case "rmfile":
		delete(h.files, arg("name"))
		return "ok\n"
	case "reload":
		var b strings.Builder
		for _, c := range h.cat.Update(h.files, func(string) (string, bool) { return "", false }) {
			if c.Removed {
				fmt.Fprintf(&b, "removed %s\n", c.Name)
				h.core.Remove(c.Name)
				continue
			}
			cs, err := CoreSpec(c.Entry)
			if err != nil {
				fmt.Fprintf(&b, "error %v\n", err)
				continue
			}
			fmt.Fprintf(&b, "set %s schedule=%q\n", c.Name, c.Entry.Spec.Schedule)
			if z := c.Entry.Spec.ScheduleTimezone; z != "" {
				h.zones[c.Name], _ = time.LoadLocation(z)
			}
			b.WriteString(h.actions(h.core.Set(h.now, cs)))
		}
		for _, e := range h.cat.Errors() {
			keeps := "never valid: nothing scheduled"
			if e.Pipeline != "" {
				keeps = fmt.Sprintf("pipeline %s keeps its last valid version", e.Pipeline)
			}
			fmt.Fprintf(&b, "invalid %s (%s): %v\n", e.File, keeps, e.Err)
		}
		return b.String()
	case "restore":
		var last time.Time
		if d.HasArg("last") {
			last = tm("last")
		}
		h.core.Restore(arg("name"), last, d.HasArg("paused"))
		return "ok\n"
	case "finish":
		out := map[string]Outcome{"": OutcomeOK, "ok": OutcomeOK, "err": OutcomeErr, "cancelled": OutcomeCancelled}[arg("out")]
		r, acts := h.core.Finished(h.now, arg("id"), out)
		if r.ID == "" {
			return "no such run\n" + h.actions(acts)
		}
		return fmt.Sprintf("ended %s %s\n", r.ID, r.Status) + h.actions(acts)
	case "trigger":
		acts, err := h.core.Trigger(h.now, arg("name"), "")
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		return h.actions(acts)
	case "pause":
		h.core.Pause(arg("name"))
		return "ok\n"
	case "resume":
		return "ok\n" + h.actions(h.core.Resume(h.now, arg("name")))
	case "rand":
		fmt.Sscan(arg("v"), &h.rand)
		return "ok\n"
	case "state":
		name := arg("name")
		st, ok := h.core.State(name)
		if !ok {
			return "unknown\n"
		}
		return fmt.Sprintf("next=%s last_tick=%s paused=%v running=%q queued=%v retry_at=%s\n",
			h.fmt(name, st.Next), h.fmt(name, st.LastTick), st.Paused, st.Running, st.Queued, h.fmt(name, st.RetryAt))
	case "next":
		tz := arg("tz")
		sched, err := pipelines.ParseScheduleIn(strings.TrimSpace(d.Input), tz)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		loc := time.UTC
		if tz != "" {
			loc, _ = time.LoadLocation(tz)
		}
		n := 1
		d.MaybeScanArgs(t, "count", &n)
		s := NewSchedule(sched)
		var b strings.Builder
		for at, i := tm("from"), 0; i < n; i++ {
			at = s.Next(at)
			if at.IsZero() {
				b.WriteString("none\n")
				break
			}
			fmt.Fprintf(&b, "%s  %s\n", at.In(loc).Format("2006-01-02 15:04:05 MST -07:00"), at.UTC().Format(time.RFC3339))
		}
		return b.String()
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

// actions prints what the core asked for, one line each.
func (h *harness) actions(acts []Action) string {
	var b strings.Builder
	for _, a := range acts {
		r := a.Run
		kind := map[ActionKind]string{ActStart: "start", ActRecord: "record", ActCancel: "cancel"}[a.Kind]
		fmt.Fprintf(&b, "%s %s trigger=%s status=%s attempt=%d", kind, r.ID, r.Trigger, r.Status, r.Attempt)
		if !r.Scheduled.IsZero() {
			fmt.Fprintf(&b, " scheduled=%s", h.fmt(r.Pipeline, r.Scheduled))
		}
		if r.Covers > 1 {
			fmt.Fprintf(&b, " covers=%d", r.Covers)
		}
		if r.Reason != "" {
			fmt.Fprintf(&b, " reason=%q", r.Reason)
		}
		b.WriteString("\n")
	}
	if w := h.core.NextWake(); !w.IsZero() {
		fmt.Fprintf(&b, "wake %s\n", h.fmt("", w))
	}
	return b.String()
}

// fmt prints t in UTC, and in the pipeline's schedule zone if it has one.
func (h *harness) fmt(pipeline string, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	s := t.UTC().Format(time.RFC3339)
	if loc := h.zones[pipeline]; loc != nil {
		s += " (" + t.In(loc).Format("15:04 MST") + ")"
	}
	return s
}
