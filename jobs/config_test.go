package jobs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigValidate: DefaultConfig with a folder and brokers is valid;
// each bad field is refused with an error naming it (its flag where it has
// one), and every problem is reported at once.
func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	valid := func() Config {
		c := DefaultConfig()
		c.Dir, c.Brokers = dir, []string{"127.0.0.1:9092"}
		return c
	}
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		errors []string // substrings, one per expected problem; none: valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"session timeout of 1s", func(c *Config) { c.SessionTimeout = time.Second }, nil},
		{"no folder", func(c *Config) { c.Dir = "" }, []string{"--pipelines: a folder of pipeline files is required"}},
		{"missing folder", func(c *Config) { c.Dir = filepath.Join(dir, "nope") }, []string{"--pipelines " + filepath.Join(dir, "nope") + ": not a folder"}},
		{"folder is a file", func(c *Config) { c.Dir = file }, []string{"--pipelines " + file + ": not a folder"}},
		{"no brokers", func(c *Config) { c.Brokers = nil }, []string{"--brokers: the cluster for run history is required"}},
		{"no history topic", func(c *Config) { c.HistoryTopic = "" }, []string{"--history-topic: "}},
		{"no group", func(c *Config) { c.Group = "" }, []string{"group: the scheduler group must be named"}},
		{"short session", func(c *Config) { c.SessionTimeout = 999 * time.Millisecond }, []string{"--session-timeout 999ms: at least 1s"}},
		{"zero rescan", func(c *Config) { c.Rescan = 0 }, []string{"rescan 0s: must be more than 0"}},
		{"negative stop timeout", func(c *Config) { c.StopTimeout = -time.Second }, []string{"stop timeout -1s: must be more than 0"}},
		{"all at once", func(c *Config) { *c = Config{} }, []string{
			"--pipelines:", "--brokers:", "--history-topic:", "group:", "--session-timeout 0s", "rescan 0s", "stop timeout 0s",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.errors) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tc.errors)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.errors) {
				t.Errorf("Validate() reports %d problems, want %d:\n%v", len(lines), len(tc.errors), err)
			}
			for _, want := range tc.errors {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to say %q", err, want)
				}
			}
		})
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config Validate refuses")
	}
}
