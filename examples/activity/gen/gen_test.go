package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"testing"
	"time"
)

var testStart = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

func TestDeterministic(t *testing.T) {
	a := newGenerator(7, testStart, time.Second, 0.05, true)
	b := newGenerator(7, testStart, time.Second, 0.05, true)
	for i := 0; i < 5000; i++ {
		ea, eb := a.next(), b.next()
		if !bytes.Equal(ea.value, eb.value) || !bytes.Equal(ea.key, eb.key) || !ea.produced.Equal(eb.produced) {
			t.Fatalf("event %d differs with the same seed:\n%s\n%s", i, ea.value, eb.value)
		}
	}
	c := newGenerator(8, testStart, time.Second, 0.05, true)
	if bytes.Equal(newGenerator(7, testStart, time.Second, 0.05, true).next().value, c.next().value) {
		t.Fatal("seeds 7 and 8 gave the same first event")
	}
}

func TestEvents(t *testing.T) {
	const n = 20000
	g := newGenerator(1, testStart, time.Second, 0.05, true)
	var pv, se, late int
	lastBySession := map[string]time.Time{}
	for i := 0; i < n; i++ {
		ev := g.next()
		if want := testStart.Add(time.Duration(i) * time.Second); !ev.produced.Equal(want) {
			t.Fatalf("event %d produced at %v, want %v", i, ev.produced, want)
		}
		behind := ev.produced.Sub(ev.eventTime)
		if ev.late {
			late++
			if behind < minLate || behind > maxLate {
				t.Fatalf("late event %d is %v behind", i, behind)
			}
		} else if behind < 0 || behind > maxJitter {
			t.Fatalf("on-time event %d is %v behind", i, behind)
		}
		if prev, ok := lastBySession[string(ev.key)]; ok && ev.produced.Before(prev) {
			t.Fatalf("session %s goes back in record time", ev.key)
		}
		lastBySession[string(ev.key)] = ev.produced
		switch ev.kind {
		case kindPageview:
			pv++
			var m map[string]any
			if err := json.Unmarshal(ev.value, &m); err != nil {
				t.Fatalf("page view %s: %v", ev.value, err)
			}
			if len(m) != 10 || m["session_id"] != string(ev.key) || int64(m["event_time"].(float64)) != ev.eventTime.UnixMilli() {
				t.Fatalf("page view %s: fields", ev.value)
			}
		case kindSearch:
			se++
			if bytes.ContainsRune(ev.value, '\n') {
				t.Fatalf("search %q spans lines", ev.value)
			}
			rec, err := csv.NewReader(bytes.NewReader(ev.value)).Read()
			if err != nil || len(rec) != len(searchColumns) {
				t.Fatalf("search %q: %v, %d columns, want %d", ev.value, err, len(rec), len(searchColumns))
			}
			at, err := time.Parse(time.RFC3339Nano, rec[0])
			if err != nil || !at.Equal(ev.eventTime) || rec[2] != string(ev.key) || rec[4] != ev.country {
				t.Fatalf("search %q: event_time %v (%v), session, country", ev.value, at, err)
			}
		}
	}
	if late < n*4/100 || late > n*6/100 {
		t.Errorf("%d late of %d, want about 5%%", late, n)
	}
	if se < n/10 || se > n/4 || pv+se != n {
		t.Errorf("%d page views, %d searches", pv, se)
	}
	if len(lastBySession) < 1000 {
		t.Errorf("only %d sessions", len(lastBySession))
	}
}

func TestFlags(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	c, err := parseFlags(nil, io.Discard, now)
	if err != nil || c.rate != 200 || c.step != 5*time.Millisecond || !c.start.Equal(now) || c.searchesFormat != "csv" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"-start", "2025-06-01T10:00:00+02:00", "-rate", "0", "-step", "1s"}, io.Discard, now)
	if err != nil || !c.start.Equal(testStart) || c.step != time.Second {
		t.Fatalf("%+v, %v", c, err)
	}
	for _, args := range [][]string{{"-rate", "0"}, {"-late", "2"}, {"-searches-format", "xml"}, {"-start", "yesterday"}, {"extra"}} {
		if _, err := parseFlags(args, io.Discard, now); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestSearchesJSON(t *testing.T) {
	g := newGenerator(3, testStart, time.Second, 0.05, false)
	n := 0
	for i := 0; i < 2000; i++ {
		ev := g.next()
		if ev.kind != kindSearch {
			continue
		}
		n++
		var m map[string]any
		if err := json.Unmarshal(ev.value, &m); err != nil || len(m) != len(searchColumns) {
			t.Fatalf("search %s: %v", ev.value, err)
		}
		for _, c := range searchColumns {
			if _, ok := m[c]; !ok {
				t.Fatalf("search %s: no %s", ev.value, c)
			}
		}
	}
	if n == 0 {
		t.Fatal("no searches")
	}
}
