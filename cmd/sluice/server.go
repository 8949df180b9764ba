package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/jobs"
)

// serverFlagKeys are the `sluice server` flags a --config file may also set.
var serverFlagKeys = []string{"data-dir", "listen", "advertised-listener", "node-id", "http"}

func newServerCmd() *cobra.Command {
	cfg := broker.DefaultConfig()
	jcfg := jobs.DefaultConfig()
	var configFile string
	var settings []string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a single-node Kafka-compatible broker (and, with --pipelines, the scheduler)",
		Long: `Run a single-node Kafka-compatible broker.

Broker settings use Kafka's names (num.partitions, auto.create.topics.enable,
log.segment.bytes, log.retention.hours, message.max.bytes, ...). Set them in
a YAML --config file, one key per line, or with --set key=value. The config
file may also set the flags by name (data-dir, listen, ...); flags given on
the command line win.

With --pipelines DIR it also schedules every pipeline file in DIR that has a
schedule:, keeping run history on this broker, with the admin API (/api/v1/)
on --http. See sluice jobs --help.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kv := map[string]string{}
			if configFile != "" {
				var err error
				if kv, err = readServerConfig(configFile); err != nil {
					return err
				}
			}
			for _, s := range settings {
				k, v, ok := strings.Cut(s, "=")
				if !ok {
					return fmt.Errorf("--set %q: want key=value", s)
				}
				kv[k] = v
			}
			if err := applyServerFileFlags(cmd, &cfg, kv); err != nil {
				return fmt.Errorf("%s: %w", configFile, err)
			}
			cfg.Settings = kv
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			if jcfg.Dir != "" {
				jcfg.Brokers = []string{cfg.Listen} // the bound address, once listening
				if err := jcfg.Validate(); err != nil {
					return err
				}
			}
			reg := prometheus.NewRegistry()
			// The Go heap and the process's RSS and open descriptors
			// (process_open_fds, process_max_fds) beside the broker's own.
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			srv, err := broker.New(cfg, broker.Options{Logger: logger, Registry: reg, Gatherer: reg})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if jcfg.Dir == "" {
				return srv.Serve(ctx)
			}
			// The scheduler keeps its history on this broker, so it stops
			// first (recording the runs it cancels), then the broker.
			jcfg.Brokers = []string{srv.Addr()}
			jcfg.Logger, jcfg.Registerer = logger.With("component", "jobs"), reg
			sched, err := jobs.New(jcfg)
			if err != nil {
				return err
			}
			srv.HandleHTTP("/api/", sched.Handler())
			brokerCtx, stopBroker := context.WithCancel(context.Background())
			defer stopBroker()
			served := make(chan error, 1)
			go func() { served <- srv.Serve(brokerCtx) }()
			schedErr := make(chan error, 1)
			go func() { schedErr <- sched.Run(ctx) }()
			select {
			case err := <-served: // the broker stopped by itself
				stop()
				<-schedErr
				return err
			case err := <-schedErr:
				stopBroker()
				if berr := <-served; err == nil {
					err = berr
				}
				return err
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory holding partition logs and metadata")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "host:port for Kafka clients")
	f.StringVar(&cfg.AdvertisedListener, "advertised-listener", "", "host:port clients are told to connect to (default: the listen address; for a listener on all interfaces, such as :9092, this machine's hostname)")
	f.Int32Var(&cfg.NodeID, "node-id", 0, "this broker's node id")
	f.StringVar(&cfg.HTTP, "http", cfg.HTTP, "host:port serving /metrics, /healthz, /livez and the scheduler's /api/ (empty disables)")
	f.BoolVar(&cfg.PProf, "pprof", false, "also serve Go's profiles at /debug/pprof/ on --http")
	f.StringVar(&configFile, "config", "", "YAML file of broker settings (Kafka's names) and flag values")
	f.StringArrayVar(&settings, "set", nil, "broker setting key=value, e.g. --set num.partitions=3 (repeatable)")
	addSchedulerFlags(cmd, &jcfg)
	return cmd
}

// readServerConfig reads a flat YAML map of settings into strings.
func readServerConfig(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]string{}
	if len(doc.Content) == 0 {
		return out, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d:%d: want a map of setting: value", path, m.Line, m.Column)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch v.Kind {
		case yaml.ScalarNode:
			out[k.Value] = v.Value
		case yaml.SequenceNode: // lists such as listeners become comma-separated
			var parts []string
			for _, e := range v.Content {
				parts = append(parts, e.Value)
			}
			out[k.Value] = strings.Join(parts, ",")
		default:
			return nil, fmt.Errorf("%s:%d:%d: %s: want a scalar or a list", path, v.Line, v.Column, k.Value)
		}
	}
	return out, nil
}

// applyServerFileFlags moves flag keys from kv into cfg unless the flag was
// given on the command line, leaving only broker settings in kv.
func applyServerFileFlags(cmd *cobra.Command, cfg *broker.Config, kv map[string]string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		isFlag := false
		for _, fk := range serverFlagKeys {
			isFlag = isFlag || k == fk
		}
		if !isFlag {
			continue
		}
		v := kv[k]
		delete(kv, k)
		if cmd.Flags().Changed(k) {
			continue
		}
		switch k {
		case "data-dir":
			cfg.DataDir = v
		case "listen":
			cfg.Listen = v
		case "advertised-listener":
			cfg.AdvertisedListener = v
		case "http":
			cfg.HTTP = v
		case "node-id":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return fmt.Errorf("node-id: %q is not an integer", v)
			}
			cfg.NodeID = int32(n)
		}
	}
	return nil
}
