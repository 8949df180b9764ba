package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// newGroupCmd builds `sluice group list|describe|reset-offsets|delete`,
// consumer-group admin commands that work against any Kafka cluster
// through kadm.
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

// groupAdmin returns an admin client and a context bounded by --timeout;
// call done when finished.
func groupAdmin(cmd *cobra.Command, cf *clientFlags) (*kadm.Client, context.Context, func(), error) {
	adm, err := cf.newAdmin()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := cf.withTimeout(cmd.Context())
	return adm, ctx, func() { cancel(); adm.Close() }, nil
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
			adm, ctx, done, err := groupAdmin(cmd, cf)
			if err != nil {
				return err
			}
			defer done()
			listed, err := adm.ListGroups(ctx, states...)
			if err != nil {
				return cf.requestErr("list groups", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE")
			for _, g := range listed.Sorted() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, g.State, g.ProtocolType)
			}
			return tw.Flush()
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
			adm, ctx, done, err := groupAdmin(cmd, cf)
			if err != nil {
				return err
			}
			defer done()
			lags, err := adm.Lag(ctx, args...)
			if err != nil {
				return cf.requestErr("describe groups", err)
			}
			var errs []error
			for i, name := range args {
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				l, ok := lags[name]
				if !ok {
					errs = append(errs, fmt.Errorf("group %q: no answer", name))
					continue
				}
				if err := l.Error(); err != nil {
					errs = append(errs, fmt.Errorf("group %q: %w", name, err))
					continue
				}
				if err := printGroup(cmd.OutOrStdout(), l); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
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
		member, client, host := "-", "-", "-"
		if ml.Member != nil {
			member, client, host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ml.Topic, ml.Partition, committed, end, lag, member, client, host)
	}
	for _, m := range l.Members {
		if a, ok := m.Assigned.AsConsumer(); ok && len(a.Topics) == 0 {
			fmt.Fprintf(tw, "-\t-\t-\t-\t-\t%s\t%s\t%s\n", m.MemberID, m.ClientID, m.ClientHost)
		}
	}
	return tw.Flush()
}

// resetTarget is where reset-offsets moves a group: the start or end of
// each partition, an offset, or the first offset at or after a time.
type resetTarget struct {
	kind   string // earliest, latest, offset, time
	offset int64
	millis int64
}

func parseResetTarget(s string) (resetTarget, error) {
	switch s {
	case "earliest", "latest":
		return resetTarget{kind: s}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return resetTarget{}, fmt.Errorf("--to %q: an offset must not be negative", s)
		}
		return resetTarget{kind: "offset", offset: n}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return resetTarget{kind: "time", millis: t.UnixMilli()}, nil
		}
	}
	return resetTarget{}, fmt.Errorf("--to %q: want earliest, latest, an offset, or a date-time such as 2026-01-02T15:04:05Z (UTC unless a zone is given)", s)
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
			target, err := parseResetTarget(to)
			if err != nil {
				return err
			}
			adm, ctx, done, err := groupAdmin(cmd, cf)
			if err != nil {
				return err
			}
			defer done()
			return resetOffsets(ctx, cmd.OutOrStdout(), cf, adm, group, topic, partitions, target, dryRun)
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "the topic whose offsets to reset (required)")
	cmd.Flags().Int32SliceVar(&partitions, "partition", nil, "only these partitions (repeatable; default all)")
	cmd.Flags().StringVar(&to, "to", "", "earliest, latest, an offset, or a date-time (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the new offsets without committing them")
	cmd.MarkFlagRequired("to")
	return cmd
}

func resetOffsets(ctx context.Context, w io.Writer, cf *clientFlags, adm *kadm.Client, group, topic string,
	partitions []int32, target resetTarget, dryRun bool) error {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return cf.requestErr("describe group", err)
	}
	if g, ok := described[group]; ok && g.Err == nil && g.State != "Empty" && g.State != "Dead" {
		return fmt.Errorf("group %q is %s with %d members: stop its consumers before resetting offsets", group, g.State, len(g.Members))
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return cf.requestErr("list offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return cf.requestErr("list offsets", err)
	}
	if err := ends.Error(); err != nil {
		if isUnknownTopic(err) {
			return topicErr(topic, err, "")
		}
		return fmt.Errorf("topic %q: %w", topic, err)
	}
	var byTime kadm.ListedOffsets
	if target.kind == "time" {
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, target.millis, topic); err != nil {
			return cf.requestErr("list offsets by time", err)
		}
	}
	current, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		return cf.requestErr("fetch offsets", err)
	}
	all := make([]int32, 0, len(ends[topic]))
	for p := range ends[topic] {
		all = append(all, p)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(partitions) == 0 {
		partitions = all
	}
	next := kadm.Offsets{}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tOLD\tNEW")
	for _, p := range partitions {
		if !slices.Contains(all, p) {
			return fmt.Errorf("topic %q has no partition %d (it has %d)", topic, p, len(all))
		}
		start, end := starts[topic][p].Offset, ends[topic][p].Offset
		var at int64
		switch target.kind {
		case "earliest":
			at = start
		case "latest":
			at = end
		case "offset":
			at = min(max(target.offset, start), end)
		case "time":
			at = end
			if o := byTime[topic][p]; o.Err == nil && o.Offset >= 0 {
				at = o.Offset
			}
		}
		old := "-"
		if c, ok := current.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
			old = strconv.FormatInt(c.At, 10)
		}
		next.AddOffset(topic, p, at, -1)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", topic, p, old, at)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintln(w, "dry run: nothing committed")
		return nil
	}
	resps, err := adm.CommitOffsets(ctx, group, next)
	if err != nil {
		return cf.requestErr("commit offsets", err)
	}
	var errs []error
	resps.Each(func(r kadm.OffsetResponse) {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("group %q topic %q partition %d: %w", group, r.Topic, r.Partition, r.Err))
		}
	})
	return errors.Join(errs...)
}

func newGroupDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete empty groups and their committed offsets",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := groupAdmin(cmd, cf)
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteGroups(ctx, args...)
			if err != nil {
				return cf.requestErr("delete groups", err)
			}
			var errs []error
			for _, g := range args {
				if r, ok := resps[g]; !ok {
					errs = append(errs, fmt.Errorf("group %q: no answer", g))
				} else if r.Err != nil {
					errs = append(errs, fmt.Errorf("group %q: %w", g, r.Err))
				}
			}
			return errors.Join(errs...)
		},
	}
}
