package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/broker"
)

func TestServerConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(path, []byte("data-dir: /var/lib/sluice\nlisten: 127.0.0.1:19999\nnode-id: 3\nnum.partitions: 6\nlog.retention.hours: 24\nlisteners: [PLAINTEXT://127.0.0.1:19999]\n"), 0o644)
	kv, err := readServerConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := newServerCmd()
	if err := cmd.Flags().Parse([]string{"--listen", "127.0.0.1:18888"}); err != nil {
		t.Fatal(err)
	}
	cfg := broker.DefaultConfig()
	if err := applyServerFileFlags(cmd, &cfg, kv); err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/sluice" || cfg.NodeID != 3 {
		t.Errorf("file flags not applied: %+v", cfg)
	}
	if cfg.Listen != broker.DefaultConfig().Listen {
		t.Errorf("listen = %q: the command line's --listen must win over the file (applied by cobra, not here)", cfg.Listen)
	}
	want := map[string]string{"num.partitions": "6", "log.retention.hours": "24", "listeners": "PLAINTEXT://127.0.0.1:19999"}
	if len(kv) != len(want) {
		t.Errorf("settings left %v, want %v", kv, want)
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("%s = %q, want %q", k, kv[k], v)
		}
	}
}

func TestServerConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want string }{
		"not a map":   {"- a\n- b\n", "1:1: want a map"},
		"nested map":  {"num.partitions:\n  x: 1\n", "2:3: num.partitions: want a scalar or a list"},
		"bad yaml":    {"a: [1\n", "server.yaml"},
		"bad node id": {"node-id: three\n", `node-id: "three" is not an integer`},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "server.yaml")
			os.WriteFile(path, []byte(tc.body), 0o644)
			kv, err := readServerConfig(path)
			if err == nil {
				cfg := broker.DefaultConfig()
				err = applyServerFileFlags(newServerCmd(), &cfg, kv)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
