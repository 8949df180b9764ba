package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newTopicCmd builds `sluice topic create|list|describe|delete|alter-config`,
// admin commands that work against any Kafka cluster through kadm.
func newTopicCmd() *cobra.Command {
	cf := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, delete and configure topics on any Kafka cluster",
	}
	cf.register(cmd)
	cmd.AddCommand(
		newTopicCreateCmd(cf),
		newTopicListCmd(cf),
		newTopicDescribeCmd(cf),
		newTopicDeleteCmd(cf),
		newTopicAlterConfigCmd(cf),
	)
	return cmd
}

func newTopicCreateCmd(cf *clientFlags) *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME...",
		Short: "Create topics",
		Long: "Create one or more topics. Without -p or -r the broker's defaults\n" +
			"(num.partitions, default.replication.factor) apply. -c sets a topic\n" +
			"config with Kafka's key, e.g. -c retention.ms=3600000 -c cleanup.policy=compact.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kvs, err := parseKeyValues("-c", configs)
			if err != nil {
				return err
			}
			cfgs := make(map[string]*string, len(kvs))
			for _, kv := range kvs {
				cfgs[kv[0]] = kadm.StringPtr(kv[1])
			}
			return cf.withAdmin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.CreateTopics(ctx, partitions, replication, cfgs, args...)
				if err != nil {
					return cf.requestErr("create topics", err)
				}
				return eachTopicResult(args, "CreateTopics", func(name string) (topicResult, bool) {
					r, ok := resps[name]
					return topicResult{r.Err, r.ErrMessage, fmt.Sprintf("created topic %s (partitions %d, replication factor %d)",
						name, r.NumPartitions, r.ReplicationFactor)}, ok
				}, cmd.OutOrStdout())
			})
		},
	}
	fs := cmd.Flags()
	fs.Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (-1: broker default)")
	fs.Int16VarP(&replication, "replication-factor", "r", -1, "replication factor (-1: broker default)")
	fs.StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	return cmd
}

func newTopicListCmd(cf *clientFlags) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics with their partition count and replication factor",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cf.withAdmin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				list := adm.ListTopics
				if internal {
					list = adm.ListTopicsWithInternal
				}
				topics, err := list(ctx)
				if err != nil {
					return cf.requestErr("list topics", err)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPARTITIONS\tREPLICAS")
				for _, t := range topics.Sorted() {
					if t.Err != nil {
						fmt.Fprintf(tw, "%s\t-\t-\t%v\n", t.Topic, t.Err)
						continue
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\n", t.Topic, len(t.Partitions), t.Partitions.NumReplicas())
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets, ...)")
	return cmd
}

func newTopicDescribeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME...",
		Short: "Show partitions, leaders, replicas, ISR, offsets and non-default configs",
		Long: "For each topic: its ID, the configs whose source is not Kafka's default\n" +
			"(set on the topic or on the broker), and one row per partition with\n" +
			"leader, leader epoch, replicas, in-sync replicas, log start offset and\n" +
			"high watermark. On Sluice, partitions with damaged data on disk are\n" +
			"listed after the table: the segment, its damaged bytes and the offsets\n" +
			"they held, which consumers get CORRUPT_MESSAGE for (seek past them).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withClients(cmd.Context(), func(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
				return describeTopics(ctx, cf, cl, adm, cmd.OutOrStdout(), args)
			})
		},
	}
}

// describeTopics prints every named topic; a missing topic is an error that
// names it, the others are still printed.
func describeTopics(ctx context.Context, cf *clientFlags, cl *kgo.Client, adm *kadm.Client, w io.Writer, names []string) error {
	topics, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return cf.requestErr("describe topics", err)
	}
	var errs []error
	var found []string
	for _, name := range names {
		t, ok := topics[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: missing from the metadata response", name))
		case t.Err != nil:
			errs = append(errs, topicErr(name, t.Err, ""))
		default:
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return errors.Join(errs...)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, found...)
	if err != nil {
		return cf.requestErr("describe topic configs", err)
	}
	// Offsets are informative; a failure to list them leaves "-" columns.
	starts, _ := adm.ListStartOffsets(ctx, found...)
	ends, _ := adm.ListEndOffsets(ctx, found...)
	damage := describeDamage(ctx, cl, topics, found)

	for i, name := range found {
		if i > 0 {
			fmt.Fprintln(w)
		}
		t := topics[name]
		fmt.Fprintf(w, "Topic: %s\nID: %s\nPartitions: %d\nReplication factor: %d\n",
			name, base64.RawURLEncoding.EncodeToString(t.ID[:]), len(t.Partitions), t.Partitions.NumReplicas())
		rc, cerr := configs.On(name, nil)
		switch {
		case cerr != nil:
			errs = append(errs, topicErr(name, fmt.Errorf("configs: %w", cerr), ""))
		case rc.Err != nil:
			errs = append(errs, topicErr(name, fmt.Errorf("configs: %w", rc.Err), rc.ErrMessage))
		default:
			writeNonDefaultConfigs(w, rc.Configs)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tLOG-START\tHIGH-WATERMARK\tERROR")
		for _, p := range t.Partitions.Sorted() {
			perr := ""
			if p.Err != nil {
				perr = p.Err.Error()
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Partition, p.Leader, p.LeaderEpoch,
				int32List(p.Replicas), int32List(p.ISR),
				listedOffset(starts, name, p.Partition), listedOffset(ends, name, p.Partition), perr)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if err := writeDamage(w, damage[name]); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// writeNonDefaultConfigs prints the configs that do not come from Kafka's
// built-in defaults, sorted by key, with where each one is set.
func writeNonDefaultConfigs(w io.Writer, cfgs []kadm.Config) {
	var set []kadm.Config
	for _, c := range cfgs {
		if c.Source != kmsg.ConfigSourceDefaultConfig && c.Source != kmsg.ConfigSourceUnknown {
			set = append(set, c)
		}
	}
	if len(set) == 0 {
		fmt.Fprintln(w, "Configs: (all defaults)")
		return
	}
	slices.SortFunc(set, func(a, b kadm.Config) int { return strings.Compare(a.Key, b.Key) })
	fmt.Fprintln(w, "Configs:")
	for _, c := range set {
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		fmt.Fprintf(w, "  %s=%s (%s)\n", c.Key, v, configSourceName(c.Source))
	}
}

// configSourceName names a config source the way kafka-configs does.
func configSourceName(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "dynamic broker"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "dynamic default broker"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "static broker"
	case kmsg.ConfigSourceDynamicBrokerLoggerConfig:
		return "broker logger"
	case kmsg.ConfigSourceGroupConfig:
		return "group"
	default:
		return strings.ToLower(s.String())
	}
}

func listedOffset(l kadm.ListedOffsets, topic string, partition int32) string {
	o, ok := l.Lookup(topic, partition)
	if !ok || o.Err != nil {
		return "-"
	}
	return fmt.Sprint(o.Offset)
}

func int32List(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func newTopicDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics and all their records",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withAdmin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteTopics(ctx, args...)
				if err != nil {
					return cf.requestErr("delete topics", err)
				}
				return eachTopicResult(args, "DeleteTopics", func(name string) (topicResult, bool) {
					r, ok := resps[name]
					return topicResult{r.Err, r.ErrMessage, "deleted topic " + name}, ok
				}, cmd.OutOrStdout())
			})
		},
	}
}

func newTopicAlterConfigCmd(cf *clientFlags) *cobra.Command {
	var sets, deletes []string
	cmd := &cobra.Command{
		Use:   "alter-config NAME... [--set key=value]... [--delete key]...",
		Short: "Set or delete topic configs (IncrementalAlterConfigs)",
		Long: "Change topic configs in place with IncrementalAlterConfigs: --set\n" +
			"overrides a key, --delete removes the override so the broker default\n" +
			"applies again. Other keys are untouched. Keys are Kafka's\n" +
			"(retention.ms, segment.bytes, cleanup.policy, ...).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			alters, err := buildAlterConfigs(sets, deletes)
			if err != nil {
				return err
			}
			return cf.withAdmin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.AlterTopicConfigs(ctx, alters, args...)
				if err != nil {
					return cf.requestErr("alter topic configs", err)
				}
				return eachTopicResult(args, "IncrementalAlterConfigs", func(name string) (topicResult, bool) {
					r, err := resps.On(name, nil)
					return topicResult{r.Err, r.ErrMessage, "altered topic " + name}, err == nil
				}, cmd.OutOrStdout())
			})
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&sets, "set", nil, "config key=value to set (repeatable)")
	fs.StringArrayVar(&deletes, "delete", nil, "config key to delete, back to the default (repeatable)")
	return cmd
}

// buildAlterConfigs turns --set and --delete into incremental operations,
// rejecting an empty request and a key both set and deleted.
func buildAlterConfigs(sets, deletes []string) ([]kadm.AlterConfig, error) {
	if len(sets) == 0 && len(deletes) == 0 {
		return nil, errors.New("alter-config: nothing to do, give --set key=value or --delete key")
	}
	kvs, err := parseKeyValues("--set", sets)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	var out []kadm.AlterConfig
	for _, kv := range kvs {
		if seen[kv[0]] {
			return nil, fmt.Errorf("--set %s: key given twice", kv[0])
		}
		seen[kv[0]] = true
		out = append(out, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[0], Value: kadm.StringPtr(kv[1])})
	}
	for _, k := range deletes {
		k = strings.TrimSpace(k)
		if k == "" || strings.Contains(k, "=") {
			return nil, fmt.Errorf("--delete %q: want a config key without a value", k)
		}
		if seen[k] {
			return nil, fmt.Errorf("--delete %s: key also given to --set or --delete", k)
		}
		seen[k] = true
		out = append(out, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return out, nil
}

// topicResult is one topic's outcome in an admin response: its error (with
// the broker's message) or the line to print on success.
type topicResult struct {
	err    error
	errMsg string
	okLine string
}

// eachTopicResult prints the success line of every named topic and joins
// the errors of the others, each naming its topic; api names the request
// for a topic the response left out.
func eachTopicResult(names []string, api string, lookup func(string) (topicResult, bool), w io.Writer) error {
	var errs []error
	for _, name := range names {
		r, ok := lookup(name)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: missing from the %s response", name, api))
		case r.err != nil:
			errs = append(errs, topicErr(name, r.err, r.errMsg))
		default:
			fmt.Fprintln(w, r.okLine)
		}
	}
	return errors.Join(errs...)
}
