package main

import (
	"fmt"
	"io"
	"text/tabwriter"

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
	cmd.AddCommand(&cobra.Command{
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
