// Package testutil holds the helpers that tests in several packages share:
// polling for a condition with a deadline (tests never sleep a fixed time
// and never assert on speed), the process's CPU time (for benchmarks that
// report CPU per unit of work), a listener that never answers (for
// clients' timeouts) and a Buffer that log output may be written to while
// the test reads it.
package testutil

import (
	"syscall"
	"testing"
	"time"
)

// PollInterval is how often Eventually checks its condition.
const PollInterval = 10 * time.Millisecond

// Eventually polls cond every PollInterval until it holds, or fails the test
// with what once within has passed. The deadline only bounds a hang: it is
// never a speed assertion, so pick it generously.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(PollInterval)
	}
}

// EventuallyNil polls f every PollInterval until it returns nil, or fails
// the test with what and f's last error once within has passed. Like
// Eventually, the deadline only bounds a hang.
func EventuallyNil(t testing.TB, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s: %v", within, what, err)
		}
		time.Sleep(PollInterval)
	}
}

// CPUTime is the user plus system CPU time this process has used so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
