package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/pipelines"
)

// newPipelineCmd is `sluice pipeline`: check and print pipeline files.
func newPipelineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Check and print pipeline files (docs/pipelines.md)",
		// Problems are printed by the subcommands; usage would hide them.
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(newPipelineValidateCmd(), newPipelineShowCmd())
	return cmd
}

func newPipelineValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Report every problem in pipeline files; exit non-zero if there is any",
		Long: `Validate parses each file (a folder stands for its *.yaml and *.yml files),
expands ${VAR} from the environment, and prints every problem as
FILE:LINE:COLUMN: KEY: MESSAGE, one per line, on stderr. Valid files are
listed on stdout. Pipeline names must be unique among the files given.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := pipelines.Files(args)
			if err != nil {
				return err
			}
			specs, err := pipelines.LoadFiles(files)
			for _, s := range specs {
				fmt.Fprintf(cmd.OutOrStdout(), "ok: pipeline %s\n", s.Name)
			}
			if err == nil {
				return nil
			}
			var es pipelines.Errors
			if !errors.As(err, &es) {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), es.Error())
			bad := map[string]bool{}
			for _, e := range es {
				bad[e.File] = true
			}
			return fmt.Errorf("%d problem(s) in %d of %d pipeline file(s)", len(es), len(bad), len(files))
		},
	}
}

func newPipelineShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Print the effective pipeline: every key, defaults filled in, secrets redacted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := pipelines.Load(args[0])
			if err != nil {
				var es pipelines.Errors
				if errors.As(err, &es) {
					fmt.Fprintln(cmd.ErrOrStderr(), es.Error())
					return fmt.Errorf("%d problem(s) in %s", len(es), args[0])
				}
				return err
			}
			out, err := s.Redacted().YAML()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}
