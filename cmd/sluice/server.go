package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/jobs"
)

func newServerCmd() *cobra.Command {
	cfg := broker.DefaultConfig()
	jcfg := jobs.DefaultConfig()
	var configFile string
	var settings []string
	var dataDir, listen, advertised, nodeID string
	clusterKeys := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Kafka-compatible broker, alone or in a cluster (and, with --pipelines, the scheduler)",
		Long: `Run a Kafka-compatible broker.

Broker settings use Kafka's names (num.partitions, auto.create.topics.enable,
log.segment.bytes, log.retention.hours, message.max.bytes, ...). Set them in
a YAML --config file, one key per line, or with --set key=value. Four flags
are Kafka keys under another name: --data-dir is log.dirs, --listen is
listeners, --advertised-listener is advertised.listeners and --node-id is
node.id; a config file may use either name (and http for --http). A key
given twice with different values (in the file, by --set or by a flag) is
an error naming both places.

A cluster is configured with Kafka's KRaft keys, as flags of the same name
or in the config file: --process.roles broker,controller, --node.id (or
--node-id), --controller.quorum.voters 1@host1:9093,2@host2:9093,3@host3:9093
and --controller.listener.names CONTROLLER, with both listeners in
--set listeners=PLAINTEXT://host1:9092,CONTROLLER://host1:9093. Voters with
empty data dirs bootstrap a new cluster on first start (no format step); a
data dir that belongs to another cluster is refused. See docs/cluster.md.

With --pipelines DIR it also schedules every pipeline file in DIR that has a
schedule:, keeping run history on this broker, with the admin API (/api/v1/)
on --http. See sluice jobs --help.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := map[string]string{}
			for name, v := range map[string]string{"data-dir": dataDir, "listen": listen, "advertised-listener": advertised, "node-id": nodeID, "http": cfg.HTTP} {
				if cmd.Flags().Changed(name) {
					flags[name] = v
				}
			}
			for name, v := range clusterKeys {
				if cmd.Flags().Changed(name) {
					flags[name] = *v
				}
			}
			sc, err := gatherServerSettings(configFile, settings, flags)
			if err != nil {
				return err
			}
			cfg.Settings = sc.keys
			if h, ok := sc.wiring["http"]; ok {
				cfg.HTTP = h
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			if jcfg.Dir != "" {
				jcfg.Brokers = []string{"127.0.0.1:9092"} // replaced by the bound address once listening
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
	f.StringVar(&dataDir, "data-dir", "./data", "directory holding partition logs and metadata (Kafka's log.dirs)")
	f.StringVar(&listen, "listen", "127.0.0.1:9092", "host:port for Kafka clients (Kafka's listeners)")
	f.StringVar(&advertised, "advertised-listener", "", "host:port clients are told to connect to (Kafka's advertised.listeners; default: the listen address; for a listener on all interfaces, such as :9092, this machine's hostname)")
	f.StringVar(&nodeID, "node-id", "0", "this broker's node id (Kafka's node.id)")
	for _, k := range []struct{ key, usage string }{
		{"process.roles", "this node's roles: broker,controller for a cluster node (Kafka's process.roles; empty: a single broker)"},
		{"node.id", "this node's id (Kafka's node.id; the same as --node-id)"},
		{"controller.quorum.voters", "the metadata quorum's voters, id@host:port,... (Kafka's controller.quorum.voters)"},
		{"controller.quorum.bootstrap.servers", "some controllers as host:port,..., for a node that is not a voter"},
		{"controller.listener.names", "the listener(s) of listeners the quorum speaks on, e.g. CONTROLLER"},
		{"broker.rack", "this broker's rack, for rack-aware replica placement"},
	} {
		clusterKeys[k.key] = f.String(k.key, "", k.usage)
	}
	f.StringVar(&cfg.HTTP, "http", cfg.HTTP, "host:port serving /metrics, /healthz, /livez and the scheduler's /api/ (empty disables)")
	f.BoolVar(&cfg.PProf, "pprof", false, "also serve Go's profiles at /debug/pprof/ on --http")
	f.StringVar(&configFile, "config", "", "YAML file of broker settings (Kafka's names) and flag values")
	f.StringArrayVar(&settings, "set", nil, "broker setting key=value, e.g. --set num.partitions=3 (repeatable)")
	addSchedulerFlags(cmd, &jcfg)
	return cmd
}
