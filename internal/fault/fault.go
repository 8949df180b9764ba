// Package fault is the one fault-injection design the test file systems
// share: the broker's in-memory errorfs (broker/log/vfs/errorfs, which the
// metadata journal runs on too) and the loader's sink wrapper
// (loader/fs/faultfs). It follows pebble's vfs/errorfs: a file system asks
// an Injector about every call it makes, by operation and path, and the
// Injector counts the call and says whether it fails.
//
// A Rule picks the N-th call (counted from when the rule is added) of one
// operation, optionally only on paths containing a substring, and fails it
// with ErrInjected: before the operation (nothing happens), or after it
// (it took effect but the caller sees an error, like a timeout after the
// namenode applied a rename; for a write, half the buffer is written, a
// torn write). A rule may instead crash: that call and every later call
// of any operation fail with ErrCrashed, which is what a killed process
// sees of its file system. Rules compose: each fires once, independently.
//
//	var in fault.Injector
//	in.Inject(fault.Rule{Op: fault.OpRename, N: 2, PathContains: "producer"})
//	in.Inject(fault.Rule{Op: fault.OpWrite, N: 10, Crash: true})
//
// What survives an OS crash (only synced bytes) and a full disk are not
// rules: they are properties of the file system model (errorfs.Crash,
// errorfs.SetCapacity).
package fault

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Op names an operation that rules match and the Injector counts.
type Op string

// Operations. A file system counts the ones it has; the names are shared
// so that a rule means the same thing on every file system.
const (
	OpCreate   Op = "create"
	OpOpen     Op = "open"
	OpWrite    Op = "write" // File.Write
	OpSync     Op = "sync"  // File.Sync
	OpTruncate Op = "truncate"
	OpClose    Op = "close" // File.Close
	OpAbort    Op = "abort" // File.Abort (the loader's sink)
	OpRename   Op = "rename"
	OpRemove   Op = "remove"
	OpList     Op = "list"
	OpMkdir    Op = "mkdir"
	OpStat     Op = "stat"
	OpSyncDir  Op = "syncdir"
)

var (
	// ErrInjected is the error of a call a rule failed.
	ErrInjected = errors.New("fault: injected fault")
	// ErrCrashed is the error of every call after a crash.
	ErrCrashed = errors.New("fault: crashed")
)

// Rule is one fault to inject.
type Rule struct {
	Op Op
	// N is which matching call fails, counted from 1 when the rule is
	// added. N <= 0 means the next one.
	N int
	// PathContains limits the rule to calls whose path (either path for
	// rename; the file's name for calls on an open file) contains it.
	PathContains string
	// After lets the operation take effect before reporting ErrInjected.
	// For write it writes the first half of the buffer (a torn write).
	After bool
	// Crash makes this call and all later calls fail with ErrCrashed.
	Crash bool
}

// Action is the verdict on one call.
type Action int

// Verdicts.
const (
	// Proceed: do the operation normally.
	Proceed Action = iota
	// FailBefore: return the error without doing anything.
	FailBefore
	// FailAfter: do the operation (for write, half of it), then return
	// the error.
	FailAfter
	// Crashed: return the error without doing anything; the file system
	// is dead.
	Crashed
)

// Injector holds rules and counts calls. The zero value has no rules and
// is ready to use; it is safe for concurrent use.
type Injector struct {
	mu      sync.Mutex
	counts  map[Op]int
	rules   []*rule
	crashed bool
}

type rule struct {
	Rule
	seen int
}

// Inject adds a rule; each rule fires once.
func (in *Injector) Inject(r Rule) {
	r.N = max(r.N, 1)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = append(in.rules, &rule{Rule: r})
}

// Crash makes every later call fail with ErrCrashed.
func (in *Injector) Crash() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.crashed = true
}

// Crashed reports whether a crash happened.
func (in *Injector) Crashed() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.crashed
}

// Count returns how many calls of op were checked (including failed ones).
func (in *Injector) Count(op Op) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.counts[op]
}

// Reset removes pending rules and clears a crash; counts are kept.
func (in *Injector) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = nil
	in.crashed = false
}

// Check counts a call of op on paths and returns its verdict, with the
// error to return unless the verdict is Proceed. prefix names the file
// system in the error ("errorfs", "faultfs").
func (in *Injector) Check(prefix string, op Op, paths ...string) (Action, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.counts == nil {
		in.counts = map[Op]int{}
	}
	in.counts[op]++
	if in.crashed {
		return Crashed, fmt.Errorf("%s: %s %s: %w", prefix, op, strings.Join(paths, " "), ErrCrashed)
	}
	for i, r := range in.rules {
		if r.Op != op || !matches(r.PathContains, paths) {
			continue
		}
		r.seen++
		if r.seen < r.N {
			continue
		}
		in.rules = append(in.rules[:i:i], in.rules[i+1:]...)
		if r.Crash {
			in.crashed = true
			return Crashed, fmt.Errorf("%s: %s %s: %w", prefix, op, strings.Join(paths, " "), ErrCrashed)
		}
		err := fmt.Errorf("%s: %s %s (call %d): %w", prefix, op, strings.Join(paths, " "), in.counts[op], ErrInjected)
		if r.After {
			return FailAfter, err
		}
		return FailBefore, err
	}
	return Proceed, nil
}

func matches(sub string, paths []string) bool {
	if sub == "" {
		return true
	}
	for _, p := range paths {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

// Run applies the verdict on a call of op to an operation without results
// other than its error: do runs unless the verdict is to fail before.
func (in *Injector) Run(prefix string, op Op, do func() error, paths ...string) error {
	v, err := in.Check(prefix, op, paths...)
	switch v {
	case FailBefore, Crashed:
		return err
	case FailAfter:
		_ = do()
		return err
	}
	return do()
}
