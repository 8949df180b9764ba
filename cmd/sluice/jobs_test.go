package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServerWithPipelinesAndJobsCommands runs `sluice server --pipelines`
// and drives it with the jobs commands as a user would.
func TestServerWithPipelinesAndJobsCommands(t *testing.T) {
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	dir, lake := t.TempDir(), t.TempDir()
	pipeline := fmt.Sprintf(`name: pv
source: {brokers: ["%s"], topics: [pv]}
format: {type: json}
sink: {url: %s, roll: {age: 1s}}
schedule: "0 3 * * *"
`, kafka, filepath.Join(lake, "pv"))
	if err := os.WriteFile(filepath.Join(dir, "pv.yaml"), []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCmd()
		cmd.SetArgs([]string{"server", "--data-dir", t.TempDir(), "--listen", kafka, "--http", httpAddr, "--pipelines", dir, "--session-timeout", "6s"})
		cmd.SetOut(testLog{t})
		cmd.SetErr(testLog{t})
		done <- cmd.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	jobs := func(args ...string) (string, error) {
		out, _, err := runCLI(t, "", "", append(append([]string{"jobs"}, args...), "--server", httpAddr)...)
		return out, err
	}
	listed := regexp.MustCompile(`(?m)^pv +0 3 \* \* \* +\d{4}-\d\d-\d\d 03:00:00Z +- +- +- +false +-$`)
	testutil.EventuallyNil(t, 60*time.Second, "jobs list never showed pv", func() error {
		out, err := jobs("list")
		if err == nil && !listed.MatchString(out) {
			err = fmt.Errorf("listed:\n%s", out)
		}
		return err
	})
	mustCLI(t, kafka, "", "topic", "create", "pv", "-p", "2")
	mustCLI(t, kafka, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", "produce", "pv")

	out, err := jobs("run", "pv", "--wait", "-o", "json")
	if err != nil {
		t.Fatalf("jobs run --wait: %v\n%s", err, out)
	}
	var run struct {
		ID, Status, Trigger string
		Records             int64
	}
	if err := json.Unmarshal([]byte(out), &run); err != nil || run.Status != "succeeded" || run.Records != 3 || run.Trigger != "manual" {
		t.Fatalf("jobs run --wait -o json: %v %+v\n%s", err, run, out)
	}
	out, _ = jobs("history", "pv")
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(run.ID) + ` +manual +succeeded +- +\S+ \S+ +\S+ +3 +\d+ +0 `).MatchString(out) {
		t.Errorf("history does not show the run:\n%s", out)
	}
	out, _ = jobs("show", run.ID)
	for _, want := range []string{"status     succeeded", "landed     3 records", "pv     0 ", "pv     1 "} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if out, _ = jobs("pause", "pv"); !strings.Contains(out, "pv  paused=true  next run -") {
		t.Errorf("pause printed %q", out)
	}
	if out, _ = jobs("resume", "pv"); !regexp.MustCompile(`pv  paused=false  next run \d{4}-\d\d-\d\d 03:00:00Z`).MatchString(out) {
		t.Errorf("resume printed %q", out)
	}
	if _, err = jobs("run", "nope"); err == nil || !strings.Contains(err.Error(), `no pipeline named "nope"`) || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("run of an unknown pipeline: %v", err)
	}
	if _, err = jobs("list", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), `-o "yaml"`) {
		t.Errorf("-o yaml: %v", err)
	}
	if _, _, err = runCLI(t, "", "", "jobs", "list", "--server", freeAddr(t)); err == nil || !strings.Contains(err.Error(), "is `sluice server --pipelines` or `sluice jobs serve` running there?") {
		t.Errorf("no server: %v", err)
	}
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
