package broker_test

// Helpers for tests against a real `sluice server` process.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

var sluiceBin struct {
	once sync.Once
	path string
	err  error
}

// buildSluice builds the sluice binary once per test run.
func buildSluice(t *testing.T) string {
	t.Helper()
	sluiceBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin")
		if err != nil {
			sluiceBin.err = err
			return
		}
		sluiceBin.path = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-o", sluiceBin.path, "github.com/sluicehq/sluice/cmd/sluice").CombinedOutput()
		if err != nil {
			sluiceBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if sluiceBin.err != nil {
		t.Fatal(sluiceBin.err)
	}
	return sluiceBin.path
}

// child is a `sluice server` process.
type child struct {
	cmd    *exec.Cmd
	addr   string
	http   string // the --http address, "" if disabled
	stderr *syncBuffer
	exited chan struct{} // closed once the process has exited
	err    error         // the process's exit status, once exited is closed
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var readyLine = regexp.MustCompile(`sluice broker ready.* listen=(\S+).* http=(\S+)`)

// startChild starts `sluice server` on dir and waits for its ready line.
func startChild(t *testing.T, dir string, extra ...string) *child {
	t.Helper()
	return startChildUnder(t, nil, dir, extra...)
}

// startChildUnder starts `sluice server` run by the command wrapper (such as
// prlimit --nofile=256:256), or directly if wrapper is empty.
func startChildUnder(t *testing.T, wrapper []string, dir string, extra ...string) *child {
	t.Helper()
	args := append([]string{"server", "--data-dir", dir, "--listen", "127.0.0.1:0", "--http", ""}, extra...)
	argv := append(append([]string{}, wrapper...), buildSluice(t))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	// t.Cleanup kills the child, but no cleanup runs when the test binary
	// dies (go test's -timeout panics and exits): the kernel then kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	c := &child{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-c.exited })
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			c.stderr.Write([]byte(line + "\n"))
			if m := readyLine.FindStringSubmatch(line); m != nil {
				select {
				case found <- [2]string{m[1], m[2]}:
				default:
				}
			}
		}
		close(found)
	}()
	select {
	case addrs, ok := <-found:
		if !ok {
			t.Fatalf("sluice server exited before ready:\n%s", c.stderr.String())
		}
		c.addr = addrs[0]
		if addrs[1] != `""` {
			c.http = addrs[1]
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("sluice server not ready in 30s:\n%s", c.stderr.String())
	}
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop sends SIGTERM and waits for the process to exit; it fails the test
// unless the exit status is 0 within 60s.
func (c *child) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("broker still running 60s after SIGTERM:\n%s", c.stderr.String())
	}
	if c.err != nil {
		t.Fatalf("broker exited with %v after SIGTERM:\n%s", c.err, c.stderr.String())
	}
}

// running fails the test if the process has exited.
func (c *child) running(t *testing.T) {
	t.Helper()
	select {
	case <-c.exited:
		t.Fatalf("broker exited (%v) by itself:\n%s", c.err, c.stderr.String())
	default:
	}
}

// metric scrapes one sample of the child's /metrics (started with --http),
// by its name and labels as printed (`name{label="v"}`); -1 if absent.
func (c *child) metric(t *testing.T, sample string) float64 {
	t.Helper()
	return scrapeMetric(t, c.http, sample)
}

// scrapeMetric reads one sample from http://addr/metrics; -1 if absent.
func scrapeMetric(t *testing.T, addr, sample string) float64 {
	t.Helper()
	v, err := tryScrapeMetric(addr, sample)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tryScrapeMetric is scrapeMetric returning its error.
func tryScrapeMetric(addr, sample string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("scrape /metrics: %w", err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1, nil
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

const (
	orphanDirEnv = "SLUICE_TEST_ORPHAN_DIR" // set in the role of a test binary that dies
	orphanBinEnv = "SLUICE_TEST_ORPHAN_BIN"
)

// TestChildDiesWithTheTestBinary: a `sluice server` started by startChild
// does not outlive the test binary when that dies without running its
// cleanups, as it does when go test's -timeout panics. (It used to keep
// running, holding its port and data dir, after `make test` had ended.)
func TestChildDiesWithTheTestBinary(t *testing.T) {
	if dir := os.Getenv(orphanDirEnv); dir != "" {
		sluiceBin.once.Do(func() { sluiceBin.path = os.Getenv(orphanBinEnv) })
		c := startChild(t, dir)
		fmt.Println(c.cmd.Process.Pid)
		os.Exit(3) // no cleanup runs
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithTheTestBinary$")
	cmd.Env = append(os.Environ(), orphanDirEnv+"="+dir, orphanBinEnv+"="+buildSluice(t))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("the dying test binary: %v, want exit status 3:\n%s%s", err, out, stderr.String())
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(out)))
	if err != nil {
		t.Fatalf("the dying test binary printed %q, want its child's pid", out)
	}
	// Ours while its command line names dir (a recycled pid would not).
	alive := func() bool {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			return false
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		i := bytes.LastIndexByte(stat, ')')
		return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z' // a zombie has exited
	}
	t.Cleanup(func() {
		if alive() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	testutil.Eventually(t, 30*time.Second, fmt.Sprintf("sluice server (pid %d) still running after the test binary that started it died", pid),
		func() bool { return !alive() })
}
