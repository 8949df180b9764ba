package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/loader"
	"github.com/sluicehq/sluice/pipelines"
)

// newLoadCmd is `sluice load FILE`: one batch run of a pipeline (or a
// continuous loader with --follow).
func newLoadCmd() *cobra.Command {
	var (
		follow   bool
		progress string
		retries  int
		verbose  bool
		balancer string
		pprofAt  string
		memProf  string
	)
	cmd := &cobra.Command{
		Use:   "load PIPELINE.yaml",
		Short: "Land a pipeline's topics in its sink as Parquet, exactly once",
		Long: `Load reads each partition of the pipeline's topics from where the sink says
it stopped up to the partition's high watermark at start, writes Parquet files
into time-partition folders, publishes them by rename, and prints a summary.
With --follow it keeps running, sharing partitions with other loaders of the
same pipeline through the consumer group.

Progress: one bar per partition on a terminal, otherwise one log line per
published file (--progress bars|log|none overrides).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := pipelines.Load(args[0])
			if err != nil {
				return err
			}
			bal, err := loader.ParseBalancer(balancer)
			if err != nil {
				return fmt.Errorf("--balancer: %w", err)
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			var prog loader.Progress
			switch progress {
			case "auto":
				if isTerminal(os.Stderr) && !follow {
					prog = loader.NewBarProgress(os.Stderr)
				}
			case "bars":
				prog = loader.NewBarProgress(cmd.ErrOrStderr())
			case "log":
			case "none":
				prog = loader.NewLogProgress(slog.New(slog.DiscardHandler))
			default:
				return fmt.Errorf("--progress %q: want auto, bars, log or none", progress)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if pprofAt != "" {
				stopProf, err := servePProf(pprofAt, log)
				if err != nil {
					return fmt.Errorf("--pprof %s: %w", pprofAt, err)
				}
				defer stopProf()
			}
			lcfg := loader.DefaultConfig(spec)
			lcfg.Dir, lcfg.Follow, lcfg.Logger, lcfg.Progress, lcfg.Retries, lcfg.Balancer = filepath.Dir(args[0]), follow, log, prog, retries, bal
			lcfg.SetMemoryLimit = !follow
			if err := lcfg.Validate(); err != nil {
				return fmt.Errorf("--retries: %w", err)
			}
			if memProf != "" {
				stopProf, perr := startMemProfile(memProf, log)
				if perr != nil {
					return fmt.Errorf("--memprofile: %w", perr)
				}
				defer stopProf()
			}
			sum, err := loader.Run(ctx, lcfg)
			if sum != nil && len(sum.Partitions) > 0 {
				if werr := sum.WriteTable(cmd.OutOrStdout()); werr != nil && err == nil {
					err = werr
				}
			}
			if err != nil && ctx.Err() != nil {
				return fmt.Errorf("interrupted (files published so far are complete; the next run resumes after them): %w", err)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep loading continuously, sharing partitions through the consumer group")
	cmd.Flags().StringVar(&progress, "progress", "auto", "progress display: auto, bars, log or none")
	cmd.Flags().IntVar(&retries, "retries", loader.DefaultRetries, "times a partition recovers and starts over after a sink or broker error")
	cmd.Flags().StringVar(&balancer, "balancer", "cooperative-sticky", "with --follow: group assignor, cooperative-sticky or an eager one (sticky, range, roundrobin)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	cmd.Flags().StringVar(&pprofAt, "pprof", "", "host:port serving Go's profiles at /debug/pprof/ while loading (off when empty)")
	cmd.Flags().StringVar(&memProf, "memprofile", "", "write a Go heap profile to this file, taken when the heap in use peaked (sampled every 100 ms; read it with go tool pprof)")
	return cmd
}

// servePProf serves Go's profiles at /debug/pprof/ on addr until the
// returned stop is called.
func servePProf(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiles served", "pprof", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
