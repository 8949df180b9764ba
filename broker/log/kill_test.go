package log

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const crashChildEnv = "SLUICE_LOG_CRASH_CHILD_DIR"

// crashChild appends to the log in dir forever, printing each acknowledged
// value on stdout, until the parent kills it.
func crashChild(dir string) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 10
	cfg.RetentionMs = -1
	l, err := Open(dir, cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	for {
		v := fmt.Sprintf("v%08d", l.EndOffset()) // named by its offset
		if _, err := l.Append(makeBatch(&testing.B{}, spec(v, v+"b"))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Fprintln(out, v)
		out.Flush()
	}
}

// TestSIGKILLLosesNoAcknowledgedAppend runs appends in a child process on
// the OS file system and kills it with SIGKILL, twice; every append the
// child acknowledged must be there after reopening, once and in order.
func TestSIGKILLLosesNoAcknowledgedAppend(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p-0")
	var acked []string
	for round := 0; round < 2; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		// The child appends until killed: if this process dies first (a
		// -timeout panic runs no cleanup), the kernel kills it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		sc := bufio.NewScanner(stdout)
		for n := 0; n < 3000 && sc.Scan(); n++ {
			acked = append(acked, sc.Text())
		}
		cmd.Process.Kill() // SIGKILL
		for sc.Scan() {    // acknowledged before the kill landed
			acked = append(acked, sc.Text())
		}
		cmd.Wait()
		if stderr.Len() > 0 {
			t.Fatalf("child: %s", stderr.String())
		}
	}
	l, err := Open(dir, DefaultConfig(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got []string
	for _, r := range readAll(t, l, 1<<20) {
		if !strings.HasSuffix(r.value, "b") {
			got = append(got, r.value)
		}
	}
	if len(acked) < 6000 {
		t.Fatalf("only %d appends acknowledged", len(acked))
	}
	// Every stored append is named by its offset: contiguous, in order,
	// once. Each round's last append may be stored without having been
	// acknowledged.
	for i, v := range got {
		if want := fmt.Sprintf("v%08d", 2*i); v != want {
			t.Fatalf("append %d is %q, want %q", i, v, want)
		}
	}
	stored := make(map[string]bool, len(got))
	for _, v := range got {
		stored[v] = true
	}
	for _, v := range acked {
		if !stored[v] {
			t.Fatalf("acknowledged append %q lost", v)
		}
	}
	if len(got) > len(acked)+2 {
		t.Fatalf("%d appends stored, only %d acknowledged", len(got), len(acked))
	}
}
