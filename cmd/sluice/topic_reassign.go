package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
)

// newTopicReassignCmd builds `sluice topic reassign`, Kafka's
// kafka-reassign-partitions on any Kafka cluster.
func newTopicReassignCmd(cf *clientFlags) *cobra.Command {
	var moves []string
	var cancel, list bool
	cmd := &cobra.Command{
		Use:   "reassign TOPIC (--move PARTITION=BROKER,BROKER... ... | --cancel PARTITION... | --list)",
		Short: "Move partitions' replicas to other brokers, cancel a move, or list the moves in progress",
		Long: "--move 0=2,3 (repeatable) moves partition 0's replicas to brokers 2 and\n" +
			"3, the first leading: the new replicas copy the partition from its\n" +
			"leader, and once all are in sync the old ones are dropped (Kafka's\n" +
			"AlterPartitionReassignments). --cancel 0 1 stops the moves of those\n" +
			"partitions, back to where they were. --list shows the moves in\n" +
			"progress with their adding and removing replicas.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			return cf.withAdmin(func(adm *client.Admin) error {
				switch {
				case list:
					if len(args) != 1 || len(moves) > 0 || cancel {
						return fmt.Errorf("--list takes the topic alone")
					}
					rs, err := adm.Reassignments(cmd.Context(), topic)
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tADDING\tREMOVING")
					for _, r := range rs {
						fmt.Fprintf(tw, "%s\t%d\t%v\t%v\t%v\n", r.Topic, r.Partition, r.Replicas, r.AddingReplicas, r.RemovingReplicas)
					}
					return tw.Flush()
				case cancel:
					if len(moves) > 0 || len(args) < 2 {
						return fmt.Errorf("--cancel takes the partitions to cancel, after the topic")
					}
					targets := map[int32][]int32{}
					for _, a := range args[1:] {
						p, err := strconv.ParseInt(a, 10, 32)
						if err != nil || p < 0 {
							return fmt.Errorf("--cancel: %q is not a partition number", a)
						}
						targets[int32(p)] = nil
					}
					return adm.Reassign(cmd.Context(), topic, targets)
				}
				if len(moves) == 0 || len(args) != 1 {
					return fmt.Errorf("give --move PARTITION=BROKER,... (repeatable), --cancel or --list")
				}
				targets, err := parseMoves(moves)
				if err != nil {
					return err
				}
				if err := adm.Reassign(cmd.Context(), topic, targets); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "reassignment of %d partition(s) of %s started; follow it with sluice topic reassign %s --list\n", len(targets), topic, topic)
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&moves, "move", nil, "PARTITION=BROKER,BROKER,...: the brokers the partition's replicas go to, the first leading (repeatable)")
	cmd.Flags().BoolVar(&cancel, "cancel", false, "cancel the moves of the partitions given after the topic")
	cmd.Flags().BoolVar(&list, "list", false, "list the moves in progress")
	return cmd
}

// parseMoves parses --move values, PARTITION=BROKER,BROKER,...
func parseMoves(moves []string) (map[int32][]int32, error) {
	out := map[int32][]int32{}
	for _, m := range moves {
		ps, bs, ok := strings.Cut(m, "=")
		p, err := strconv.ParseInt(ps, 10, 32)
		if !ok || err != nil || p < 0 || bs == "" {
			return nil, fmt.Errorf("--move %q: want PARTITION=BROKER[,BROKER]", m)
		}
		if _, dup := out[int32(p)]; dup {
			return nil, fmt.Errorf("--move: partition %d is given twice", p)
		}
		for _, b := range strings.Split(bs, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
			if err != nil || id < 0 {
				return nil, fmt.Errorf("--move %q: %q is not a broker id", m, b)
			}
			out[int32(p)] = append(out[int32(p)], int32(id))
		}
	}
	return out, nil
}
