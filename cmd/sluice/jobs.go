package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/jobs"
)

// httpEnv sets the default of --server for the jobs commands.
const httpEnv = "SLUICE_HTTP"

// newJobsCmd is `sluice jobs`: the scheduler on its own (serve) and the
// commands that talk to a scheduler's admin API.
func newJobsCmd() *cobra.Command {
	var server, output string
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Scheduled pipelines: run the scheduler, list pipelines, show run history, trigger, pause, resume",
	}
	def := os.Getenv(httpEnv)
	if def == "" {
		def = "127.0.0.1:9644"
	}
	cmd.PersistentFlags().StringVar(&server, "server", def, "admin API address of `sluice server` or `sluice jobs serve`, host:port (env "+httpEnv+")")
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "output: table or json")
	api := func() *client.Jobs { return client.NewJobs(server) }
	emit := func(w io.Writer, v any, table func(*tabwriter.Writer)) error {
		switch output {
		case "json":
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		case "table":
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			table(tw)
			return tw.Flush()
		}
		return fmt.Errorf("-o %q: want table or json", output)
	}
	cmd.AddCommand(
		newJobsServeCmd(),
		&cobra.Command{
			Use:   "list",
			Short: "Pipelines with their schedule, next run, last run and errors",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				l, err := api().Pipelines(cmd.Context())
				if err != nil {
					return err
				}
				return emit(cmd.OutOrStdout(), l, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "PIPELINE\tSCHEDULE\tNEXT RUN\tLAST RUN\tSTATUS\tRECORDS\tPAUSED\tERRORS")
					for _, p := range l.Pipelines {
						last, status, recs := "-", "-", "-"
						if p.LastRun != nil {
							last, status, recs = p.LastRun.ID, p.LastRun.Status, fmt.Sprint(p.LastRun.Records)
						}
						sched := p.Schedule
						if sched == "" {
							sched = "(manual)"
						} else if p.ScheduleTimezone != "" {
							sched += " " + p.ScheduleTimezone
						}
						errs := "-"
						if len(p.Errors) > 0 {
							errs = specErrorText(p.Errors[0])
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\n", p.Name, sched, timePtr(p.NextRun), last, status, recs, p.Paused, errs)
					}
					for _, e := range l.InvalidFiles {
						fmt.Fprintf(tw, "(invalid)\t\t\t\t\t\t\t%s\n", specErrorText(e))
					}
				})
			},
		},
		&cobra.Command{
			Use:   "history PIPELINE",
			Short: "A pipeline's runs, newest first",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				runs, err := api().Runs(cmd.Context(), args[0], 0)
				if err != nil {
					return err
				}
				return emit(cmd.OutOrStdout(), runs, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "RUN\tTRIGGER\tSTATUS\tSCHEDULED\tSTARTED\tTOOK\tRECORDS\tFILES\tLAG\tSERVER")
					for _, r := range runs {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.ID, r.Trigger, r.Status, timeText(r.Scheduled),
							timeText(r.Started), took(&r), r.Records, r.Files, r.Lag, r.Server)
					}
				})
			},
		},
		&cobra.Command{
			Use:   "show RUN",
			Short: "One run: status, timing, per-partition records, offsets and lag, errors",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				r, err := api().Run(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return emit(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) { writeRun(tw, r) })
			},
		},
		newJobsRunCmd(api, emit),
		newJobsPauseCmd("pause", true, api, emit),
		newJobsPauseCmd("resume", false, api, emit),
	)
	return cmd
}

type emitFunc func(io.Writer, any, func(*tabwriter.Writer)) error

func newJobsRunCmd(api func() *client.Jobs, emit emitFunc) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "run PIPELINE",
		Short: "Start a manual run (--wait: until it ends; exit status 1 unless it succeeded)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := api()
			id, err := c.Trigger(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if !wait {
				return emit(cmd.OutOrStdout(), jobs.TriggerResult{ID: id, Status: jobs.StatusPending}, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "%s\tpending\n", id)
				})
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := c.Wait(ctx, id, 250*time.Millisecond)
			if err != nil {
				return err
			}
			if err := emit(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) { writeRun(tw, r) }); err != nil {
				return err
			}
			if r.Status != jobs.StatusSucceeded {
				return fmt.Errorf("run %s ended %s", r.ID, r.Status)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the run to end and print it")
	return cmd
}

func newJobsPauseCmd(verb string, paused bool, api func() *client.Jobs, emit emitFunc) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " PIPELINE",
		Short: map[bool]string{true: "Pause a pipeline's schedule (manual runs still start)", false: "Resume a paused schedule from now"}[paused],
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := api().SetPaused(cmd.Context(), args[0], paused)
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "%s\tpaused=%v\tnext run %s\n", v.Name, v.Paused, timePtr(v.NextRun))
			})
		},
	}
}

func writeRun(tw *tabwriter.Writer, r *jobs.Run) {
	fmt.Fprintf(tw, "run\t%s\n", r.ID)
	fmt.Fprintf(tw, "pipeline\t%s (version %s)\n", r.Pipeline, r.SpecHash)
	fmt.Fprintf(tw, "status\t%s\n", r.Status)
	if r.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", r.Reason)
	}
	fmt.Fprintf(tw, "trigger\t%s (attempt %d", r.Trigger, r.Attempt)
	if r.Covers > 1 {
		fmt.Fprintf(tw, ", covers %d ticks", r.Covers)
	}
	fmt.Fprintln(tw, ")")
	fmt.Fprintf(tw, "scheduled\t%s\n", timeText(r.Scheduled))
	fmt.Fprintf(tw, "started\t%s\n", timeText(r.Started))
	fmt.Fprintf(tw, "ended\t%s (took %s)\n", timeText(r.Ended), took(r))
	fmt.Fprintf(tw, "server\t%s\n", r.Server)
	fmt.Fprintf(tw, "landed\t%d records, %d bytes, %d files, %d dead letters, %d decode errors; lag after %d\n", r.Records, r.Bytes, r.Files, r.DeadLetters, r.DecodeErrs, r.Lag)
	if len(r.Partitions) > 0 {
		fmt.Fprintln(tw, "\nTOPIC\tPARTITION\tRECORDS\tFILES\tFIRST\tLAST\tDEAD LETTERS\tLAG")
		for _, p := range r.Partitions {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%d\t%d\n", p.Topic, p.Partition, p.Records, p.Files, offText(p.First), offText(p.Last), p.DeadLetters, p.Lag)
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintf(tw, "error\t%s\n", e)
	}
}

func specErrorText(e jobs.SpecError) string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
	}
	return e.File + ": " + e.Message
}

func offText(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func timePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return timeText(*t)
}

func took(r *jobs.Run) string {
	if d := r.Duration(); d > 0 {
		return d.Round(time.Millisecond).String()
	}
	return "-"
}

// newJobsServeCmd is `sluice jobs serve`: the scheduler alone, against any
// Kafka cluster, with its admin API and metrics on --http.
func newJobsServeCmd() *cobra.Command {
	cfg := jobs.DefaultConfig()
	var cf clientFlags
	var httpAddr string
	cmd := &cobra.Command{
		Use:   "serve --pipelines DIR",
		Short: "Run the scheduler alone against any Kafka cluster (admin API and /metrics on --http)",
		Long: `Serve schedules every pipeline file in --pipelines that has a schedule:,
keeps run history in the compacted topic _sluice_runs on the --brokers
cluster, and serves the admin API (/api/v1/) and /metrics on --http.
Several serve processes (or sluice server --pipelines) sharing pipelines and
cluster run each tick once: one leads, elected through the Kafka group
protocol; another takes over within about --session-timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seeds, err := cf.seeds()
			if err != nil {
				return err
			}
			cfg.Brokers = seeds
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			cfg.Logger, cfg.Registerer = logger, reg
			sched, err := jobs.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if httpAddr != "" {
				ln, err := net.Listen("tcp", httpAddr)
				if err != nil {
					return fmt.Errorf("--http %s: %w", httpAddr, err)
				}
				mux := http.NewServeMux()
				mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
				mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
				mux.Handle("/api/", sched.Handler())
				srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				go srv.Serve(ln)
				defer srv.Close()
				logger.Info("admin API listening", "http", ln.Addr().String())
			}
			err = sched.Run(ctx)
			if err != nil && errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return err
		},
	}
	cf.register(cmd)
	addSchedulerFlags(cmd, &cfg)
	cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:9645", "host:port for the admin API and /metrics (empty disables)")
	return cmd
}

// addSchedulerFlags adds the flags `sluice jobs serve` and `sluice server`
// share.
func addSchedulerFlags(cmd *cobra.Command, cfg *jobs.Config) {
	f := cmd.Flags()
	f.StringVar(&cfg.Dir, "pipelines", cfg.Dir, "folder of pipeline files to schedule (changes are picked up without a restart)")
	f.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout, "how long a silent scheduler leader keeps leading before another takes over")
	f.StringVar(&cfg.Server, "server-name", "", "this scheduler's name in run records (default host:pid)")
	f.StringVar(&cfg.HistoryTopic, "history-topic", cfg.HistoryTopic, "compacted topic holding run history")
}
