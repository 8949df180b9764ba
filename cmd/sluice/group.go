package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/client"
)

// newGroupCmd builds `sluice group list|describe|reset-offsets|delete`,
// consumer-group admin commands that work against any Kafka cluster.
func newGroupCmd() *cobra.Command {
	cf := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, reset and delete consumer groups on any Kafka cluster",
	}
	cf.register(cmd)
	cmd.AddCommand(
		newGroupListCmd(cf),
		newGroupDescribeCmd(cf),
		newGroupResetOffsetsCmd(cf),
		newGroupDeleteCmd(cf),
	)
	return cmd
}

func newGroupListCmd(cf *clientFlags) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List consumer groups",
		Long: "List every consumer group with its state and protocol type. --state\n" +
			"(repeatable) keeps only groups in those states: Empty, Stable,\n" +
			"PreparingRebalance, CompletingRebalance, Dead.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cf.withAdmin(func(adm *client.Admin) error {
				groups, err := adm.ListGroups(cmd.Context(), states...)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE")
				for _, g := range groups {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, g.State, g.ProtocolType)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in this state (repeatable)")
	return cmd
}

func newGroupDescribeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's members, assignment, committed offsets and lag",
		Long: "For each group: its state, protocol and members, then one line per\n" +
			"partition it has committed or is assigned: committed offset, log end\n" +
			"offset, lag and the member consuming it.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withAdmin(func(adm *client.Admin) error {
				groups, err := adm.DescribeGroups(cmd.Context(), args...)
				if groups == nil {
					return err
				}
				for i, name := range args {
					if i > 0 {
						fmt.Fprintln(cmd.OutOrStdout())
					}
					if l, ok := groups[name]; ok {
						if err := printGroup(cmd.OutOrStdout(), l); err != nil {
							return err
						}
					}
				}
				return err
			})
		},
	}
}

func printGroup(w io.Writer, l kadm.DescribedGroupLag) error {
	if l.State == "Dead" && len(l.Lag) == 0 {
		fmt.Fprintf(w, "group %s does not exist\n", l.Group)
		return nil
	}
	fmt.Fprintf(w, "GROUP %s  STATE %s  PROTOCOL %s/%s  MEMBERS %d\n", l.Group, l.State, l.ProtocolType, l.Protocol, len(l.Members))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER\tCLIENT-ID\tHOST")
	for _, ml := range l.Lag.Sorted() {
		committed, end, lag := "-", "-", "-"
		if ml.Commit.At >= 0 {
			committed = strconv.FormatInt(ml.Commit.At, 10)
		}
		if ml.End.Err == nil {
			end = strconv.FormatInt(ml.End.Offset, 10)
		}
		if ml.Err == nil && ml.Lag >= 0 {
			lag = strconv.FormatInt(ml.Lag, 10)
		}
		member, clientID, host := "-", "-", "-"
		if ml.Member != nil {
			member, clientID, host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ml.Topic, ml.Partition, committed, end, lag, member, clientID, host)
	}
	for _, m := range l.Members {
		if a, ok := m.Assigned.AsConsumer(); ok && len(a.Topics) == 0 {
			fmt.Fprintf(tw, "-\t-\t-\t-\t-\t%s\t%s\t%s\n", m.MemberID, m.ClientID, m.ClientHost)
		}
	}
	return tw.Flush()
}

func newGroupResetOffsetsCmd(cf *clientFlags) *cobra.Command {
	var (
		topic      string
		partitions []int32
		to         string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic TOPIC --to earliest|latest|OFFSET|DATETIME",
		Short: "Move a group's committed offsets (only while the group is empty)",
		Long: "Commit new offsets for a group on one topic (all partitions, or those\n" +
			"given with --partition). --to earliest or latest moves to the start or\n" +
			"end of each partition; a number sets that offset (clamped to the\n" +
			"partition's range); a date-time (RFC 3339, UTC unless a zone is given)\n" +
			"moves to the first record at or after it, or the end if none.\n" +
			"As in Kafka, this is refused while the group has members: stop the\n" +
			"consumers first. --dry-run shows the plan without committing.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if topic == "" {
				return errors.New("--topic is required")
			}
			target, err := client.ParseResetTo(to)
			if err != nil {
				return fmt.Errorf("--to %q: %w", to, err)
			}
			return cf.withAdmin(func(adm *client.Admin) error {
				plan, err := adm.PlanOffsetReset(cmd.Context(), group, topic, partitions, target)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TOPIC\tPARTITION\tOLD\tNEW")
				for _, p := range plan.Partitions {
					old := "-"
					if p.Old >= 0 {
						old = strconv.FormatInt(p.Old, 10)
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", plan.Topic, p.Partition, old, p.New)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if dryRun {
					fmt.Fprintln(w, "dry run: nothing committed")
					return nil
				}
				return adm.CommitOffsetReset(cmd.Context(), plan)
			})
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "the topic whose offsets to reset (required)")
	cmd.Flags().Int32SliceVar(&partitions, "partition", nil, "only these partitions (repeatable; default all)")
	cmd.Flags().StringVar(&to, "to", "", "earliest, latest, an offset, or a date-time (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the new offsets without committing them")
	cmd.MarkFlagRequired("to")
	return cmd
}

func newGroupDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete empty groups and their committed offsets",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withAdmin(func(adm *client.Admin) error {
				return adm.DeleteGroups(cmd.Context(), args...)
			})
		},
	}
}
