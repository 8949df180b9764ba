// Command sluice is a Kafka-compatible broker and a parallel loader that
// lands topics in HDFS or local folders as Parquet.
//
// Each subcommand lives in its own file and only parses flags and prints;
// the work is done by the packages under broker/, loader/, pipelines/,
// jobs/ and client/ (what topic, produce, consume and group do).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}

// newRootCmd builds the command tree. Add new subcommands here, one line each.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Kafka-compatible broker and Parquet loader for Hadoop",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Subcommands, one per line.
	root.AddCommand(
		newServerCmd(),
		newTopicCmd(),
		newProduceCmd(),
		newConsumeCmd(),
		newLoadCmd(),
		newGroupCmd(),
		newClusterCmd(),
		newPipelineCmd(),
		newJobsCmd(),
		newBenchCmd(),
	)
	nameFlagsInErrors(root)
	return root
}
