package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestServerConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(path, []byte("data-dir: /var/lib/sluice\nnode-id: 3\nnum.partitions: 6\nlog.retention.hours: 24\nlisteners: [PLAINTEXT://127.0.0.1:19999]\nhttp: 127.0.0.1:0\n"), 0o644)
	sc, err := gatherServerSettings(path, []string{"log.segment.bytes=1048576"}, map[string]string{"advertised-listener": "kafka.example:9092"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"log.dirs": "/var/lib/sluice", "node.id": "3", "num.partitions": "6", "log.retention.hours": "24",
		"listeners": "PLAINTEXT://127.0.0.1:19999", "log.segment.bytes": "1048576", "advertised.listeners": "kafka.example:9092",
	}
	if len(sc.keys) != len(want) {
		t.Errorf("keys %v, want %v", sc.keys, want)
	}
	for k, v := range want {
		if sc.keys[k] != v {
			t.Errorf("%s = %q, want %q", k, sc.keys[k], v)
		}
	}
	if sc.wiring["http"] != "127.0.0.1:0" {
		t.Errorf("http = %q from the file", sc.wiring["http"])
	}
}

// A key given twice with different values, under its own name or a flag's,
// is refused naming both places (the command line used to win silently,
// and --set node.id was ignored by the server).
func TestServerConfigConflicts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.yaml")
	os.WriteFile(path, []byte("num.partitions: 6\nlisten: 127.0.0.1:19999\n"), 0o644)
	for name, tc := range map[string]struct {
		sets  []string
		flags map[string]string
		want  string
	}{
		"flag against file":  {flags: map[string]string{"listen": "127.0.0.1:18888"}, want: `listeners is given twice: "127.0.0.1:19999" at ` + path + `:2:9 and "127.0.0.1:18888" at --listen`},
		"set against file":   {sets: []string{"num.partitions=3"}, want: `num.partitions is given twice: "6" at ` + path + `:1:17 and "3" at --set num.partitions=3`},
		"flag against --set": {sets: []string{"node.id=3"}, flags: map[string]string{"node-id": "4"}, want: `node.id is given twice: "3" at --set node.id=3 and "4" at --node-id`},
		"key and its alias":  {sets: []string{"listeners=PLAINTEXT://127.0.0.1:1"}, want: `listeners is given twice`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gatherServerSettings(path, tc.sets, tc.flags)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The same value twice is not a conflict.
	if _, err := gatherServerSettings(path, []string{"num.partitions=6"}, map[string]string{"listen": "127.0.0.1:19999"}); err != nil {
		t.Errorf("same values given twice: %v", err)
	}
}

func TestServerConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want string }{
		"not a map":   {"- a\n- b\n", "1:1: want a map"},
		"nested map":  {"num.partitions:\n  x: 1\n", "2:3: num.partitions: want a scalar or a list"},
		"bad yaml":    {"a: [1\n", "server.yaml"},
		"bad node id": {"node-id: three\n", `server.yaml:1:10: `},
		"unknown key": {"num.partitons: 3\n", `server.yaml:1:16: `},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "server.yaml")
			os.WriteFile(path, []byte(tc.body), 0o644)
			_, err := gatherServerSettings(path, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// `sluice server --set node.id=3`, run as the command runs, is node 3 in
// Metadata, DescribeCluster and DescribeConfigs (--set node.id used to be
// reported by DescribeConfigs and ignored: the server stayed node 0); and
// --node-id 2 beside --set node.id=3 is refused, naming both places.
func TestServerSetNodeID(t *testing.T) {
	kafka := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCmd()
		cmd.SetArgs([]string{"server", "--data-dir", t.TempDir(), "--listen", kafka, "--http", "", "--set", "node.id=3"})
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	var meta *kmsg.MetadataResponse
	testutil.Eventually(t, time.Minute, "the server answers Metadata", func() bool {
		select {
		case err := <-done:
			done <- err // for the deferred wait
			t.Fatalf("server ended before answering: %v", err)
		default:
		}
		actx, acancel := context.WithTimeout(rctx, 2*time.Second)
		defer acancel()
		meta, err = kmsg.NewPtrMetadataRequest().RequestWith(actx, cl)
		return err == nil
	})
	if len(meta.Brokers) != 1 || meta.Brokers[0].NodeID != 3 || meta.ControllerID != 3 {
		t.Errorf("Metadata brokers %+v, controller %d: want node 3", meta.Brokers, meta.ControllerID)
	}
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(rctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(dc.Brokers) != 1 || dc.Brokers[0].NodeID != 3 || dc.ControllerID != 3 {
		t.Errorf("DescribeCluster brokers %+v, controller %d: want node 3", dc.Brokers, dc.ControllerID)
	}
	cfgs, err := kadm.NewClient(cl).DescribeBrokerConfigs(rctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfgs.On("3", nil)
	if err != nil || c.Err != nil {
		t.Fatalf("DescribeConfigs broker 3: %v %v", err, c.Err)
	}
	found := false
	for _, kv := range c.Configs {
		if kv.Key == "node.id" {
			found = true
			if kv.MaybeValue() != "3" || kv.Source != kmsg.ConfigSourceStaticBrokerConfig {
				t.Errorf("node.id = %q from %v, want 3 from STATIC_BROKER_CONFIG", kv.MaybeValue(), kv.Source)
			}
		}
	}
	if !found {
		t.Error("DescribeConfigs broker 3 does not report node.id")
	}

	// The flag and the key disagree: refused before anything starts.
	dir := filepath.Join(t.TempDir(), "data")
	_, _, err = runCLI(t, "", "", "server", "--data-dir", dir, "--listen", freeAddr(t), "--http", "", "--node-id", "2", "--set", "node.id=3")
	const want = `node.id is given twice: "3" at --set node.id=3 and "2" at --node-id`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("server --node-id 2 --set node.id=3: %v; want an error containing %q", err, want)
	}
	if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
		t.Errorf("the refused server created its data dir %s (%v)", dir, serr)
	}
}
