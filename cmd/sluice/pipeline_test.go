package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runPipelineCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newPipelineCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestPipelineValidateAndShow(t *testing.T) {
	dir := t.TempDir()
	good := "name: clicks\nsource: {brokers: [\"127.0.0.1:9092\"], topics: [clicks]}\nsink: {url: /data/clicks}\n"
	twin := strings.Replace(good, "/data/clicks", "/data/other", 1)
	bad := "name: views\nsource:\n  brokers: [\"127.0.0.1:9092\"]\n  topics: [views]\n  start: oldest\nsink: {url: /data/v, compresion: zstd}\n"
	for name, body := range map[string]string{"a.yaml": good, "b.yml": twin, "c.yaml": bad, "notes.txt": "not a pipeline"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	out, errOut, err := runPipelineCmd(t, "validate", dir)
	if err == nil || !strings.Contains(err.Error(), "3 problem(s) in 2 of 3 pipeline file(s)") {
		t.Fatalf("validate: err %v", err)
	}
	if out != "ok: pipeline clicks\n" {
		t.Errorf("stdout %q", out)
	}
	for _, want := range []string{
		filepath.Join(dir, "b.yml") + `:1:7: name: pipeline name "clicks" is also used by ` + filepath.Join(dir, "a.yaml"),
		filepath.Join(dir, "c.yaml") + `:5:10: source.start: bad value "oldest": want earliest or latest`,
		filepath.Join(dir, "c.yaml") + `:6:22: sink: unknown key "compresion" (did you mean "compression"?)`,
	} {
		if !strings.Contains(errOut, want+"\n") {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	if _, _, err := runPipelineCmd(t, "validate", filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatalf("validate a valid file: %v", err)
	}

	t.Setenv("SASL_PASSWORD", "hunter2")
	withSecret := good + "max_workers: 3\n"
	withSecret = strings.Replace(withSecret, "topics: [clicks]}", "topics: [clicks], sasl: {mechanism: PLAIN, username: u, password: \"${SASL_PASSWORD}\"}}", 1)
	p := filepath.Join(dir, "secret.yaml")
	if err := os.WriteFile(p, []byte(withSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = runPipelineCmd(t, "show", p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"group: sluice-clicks", "password: REDACTED", "max_workers: 3", "layout: dt=YYYY-MM-DD/hr=HH", "bytes: 256MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("show prints the password:\n%s", out)
	}

	_, errOut, err = runPipelineCmd(t, "show", filepath.Join(dir, "c.yaml"))
	if err == nil || !strings.Contains(errOut, "source.start") {
		t.Fatalf("show of an invalid file: %v, %q", err, errOut)
	}
}
