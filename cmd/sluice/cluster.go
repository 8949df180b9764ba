package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
)

// newClusterCmd builds `sluice cluster status`, which works against any
// Kafka-protocol cluster.
func newClusterCmd() *cobra.Command {
	cf := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show a cluster's brokers, controller and partitions that are not fully replicated",
	}
	cf.register(cmd)
	cmd.AddCommand(newClusterDrainCmd(cf), &cobra.Command{
		Use:   "status",
		Short: "Brokers, the controller, and under-replicated, under-min-ISR and offline partitions",
		Long: "Lists the brokers and the active controller, then every partition whose\n" +
			"ISR is smaller than its replicas (under-replicated), smaller than the\n" +
			"topic's min.insync.replicas (under min ISR: acks=all produces are\n" +
			"refused), or that has no leader (offline). Exits 0 either way.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cf.withAdmin(func(adm *client.Admin) error {
				st, err := adm.Status(cmd.Context())
				if err != nil {
					return err
				}
				return printClusterStatus(cmd.OutOrStdout(), st)
			})
		},
	})
	return cmd
}

func newClusterDrainCmd(cf *clientFlags) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "drain BROKER",
		Short: "Move every replica off a broker, to decommission it",
		Long: "Starts a reassignment of every partition with a replica on BROKER: the\n" +
			"replica moves to the broker holding the fewest replicas that does not\n" +
			"hold the partition yet. With --wait it waits until no partition has a\n" +
			"replica on BROKER (then it can be stopped for good).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return fmt.Errorf("%q is not a broker id", args[0])
			}
			return cf.withAdmin(func(adm *client.Admin) error {
				plan, err := adm.Drain(cmd.Context(), int32(id))
				for _, topic := range slices.Sorted(maps.Keys(plan)) {
					for _, p := range slices.Sorted(maps.Keys(plan[topic])) {
						fmt.Fprintf(cmd.OutOrStdout(), "moving %s-%d to %v\n", topic, p, plan[topic][p])
					}
				}
				if err != nil || wait <= 0 {
					return err
				}
				deadline := time.Now().Add(wait)
				for {
					n, err := adm.Drained(cmd.Context(), int32(id))
					switch {
					case err != nil:
						return err
					case n == 0:
						fmt.Fprintf(cmd.OutOrStdout(), "broker %d holds no replica\n", id)
						return nil
					case time.Now().After(deadline):
						return fmt.Errorf("--wait %v: broker %d still holds replicas of %d partitions (see sluice topic reassign TOPIC --list)", wait, id, n)
					}
					select {
					case <-cmd.Context().Done():
						return cmd.Context().Err()
					case <-time.After(500 * time.Millisecond):
					}
				}
			})
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the moves to finish (0: start them and return)")
	return cmd
}

func printClusterStatus(w io.Writer, st *client.ClusterStatus) error {
	fmt.Fprintf(w, "cluster %s, controller %d, %d brokers, %d partitions\n", st.ClusterID, st.Controller, len(st.Brokers), st.Partitions)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tHOST\tPORT\tRACK")
	for _, b := range st.Brokers {
		rack := ""
		if b.Rack != nil {
			rack = *b.Rack
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", b.NodeID, b.Host, b.Port, rack)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, sec := range []struct {
		name  string
		parts []client.PartitionHealth
	}{{"offline", st.Offline}, {"under min ISR", st.UnderMinISR}, {"under-replicated", st.UnderReplicated}} {
		fmt.Fprintf(w, "%s: %d\n", sec.name, len(sec.parts))
		if len(sec.parts) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TOPIC\tPARTITION\tLEADER\tREPLICAS\tISR\tMIN-ISR")
		for _, p := range sec.parts {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%v\t%v\t%d\n", p.Topic, p.Partition, p.Leader, p.Replicas, p.ISR, p.MinISR)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
