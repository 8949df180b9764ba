package fault

import (
	"errors"
	"testing"
)

func TestRulesCompose(t *testing.T) {
	var in Injector
	in.Inject(Rule{Op: OpRename, N: 2, PathContains: "pid"})
	in.Inject(Rule{Op: OpWrite, After: true})
	want := []struct {
		op   Op
		path string
		v    Action
	}{
		{OpRename, "/d/a", Proceed}, // not on a matching path: not seen by the rule
		{OpRename, "/d/pid.tmp", Proceed},
		{OpWrite, "/d/x", FailAfter},
		{OpWrite, "/d/x", Proceed}, // each rule fires once
		{OpRename, "/d/pid.tmp", FailBefore},
		{OpRename, "/d/pid.tmp", Proceed},
	}
	for i, w := range want {
		v, err := in.Check("t", w.op, w.path)
		if v != w.v || (v == Proceed) != (err == nil) || (v != Proceed && !errors.Is(err, ErrInjected)) {
			t.Fatalf("call %d (%s %s): %v %v, want %v", i, w.op, w.path, v, err, w.v)
		}
	}
	if in.Count(OpRename) != 4 || in.Count(OpWrite) != 2 {
		t.Fatalf("counts: %d renames, %d writes", in.Count(OpRename), in.Count(OpWrite))
	}
}

func TestCrashRuleFailsEveryLaterCall(t *testing.T) {
	var in Injector
	in.Inject(Rule{Op: OpSync, N: 2, Crash: true})
	ran := 0
	do := func() error { ran++; return nil }
	for range 2 {
		_ = in.Run("t", OpSync, do, "/f")
	}
	if err := in.Run("t", OpCreate, do, "/g"); !errors.Is(err, ErrCrashed) || !in.Crashed() || ran != 1 {
		t.Fatalf("after crash: %v crashed=%v ran=%d", err, in.Crashed(), ran)
	}
	in.Inject(Rule{Op: OpCreate})
	in.Reset()
	if err := in.Run("t", OpCreate, do, "/g"); err != nil || ran != 2 {
		t.Fatalf("after Reset: %v ran=%d", err, ran)
	}
	if in.Count(OpCreate) != 2 {
		t.Fatalf("Reset dropped counts: %d", in.Count(OpCreate))
	}
}
