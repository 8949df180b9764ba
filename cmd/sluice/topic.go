package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/client"
)

// newTopicCmd builds `sluice topic create|list|describe|delete|alter-config`,
// admin commands that work against any Kafka cluster.
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
		newTopicReassignCmd(cf),
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
			return cf.withAdmin(func(adm *client.Admin) error {
				created, err := adm.CreateTopics(cmd.Context(), partitions, replication, cfgs, args...)
				for _, r := range created {
					fmt.Fprintf(cmd.OutOrStdout(), "created topic %s (partitions %d, replication factor %d)\n",
						r.Topic, r.NumPartitions, r.ReplicationFactor)
				}
				return err
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
			return cf.withAdmin(func(adm *client.Admin) error {
				topics, err := adm.ListTopics(cmd.Context(), internal)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPARTITIONS\tREPLICAS")
				for _, t := range topics {
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
			return cf.withAdmin(func(adm *client.Admin) error {
				topics, err := adm.DescribeTopics(cmd.Context(), args...)
				for i, t := range topics {
					if i > 0 {
						fmt.Fprintln(cmd.OutOrStdout())
					}
					if err := printTopic(cmd.OutOrStdout(), t); err != nil {
						return err
					}
				}
				return err
			})
		},
	}
}

// printTopic prints one described topic: its header, the configs not at
// Kafka's defaults, a row per partition and its damaged ranges.
func printTopic(w io.Writer, t client.TopicDescription) error {
	fmt.Fprintf(w, "Topic: %s\nID: %s\nPartitions: %d\nReplication factor: %d\n",
		t.Topic, base64.RawURLEncoding.EncodeToString(t.ID[:]), len(t.Partitions), t.Partitions.NumReplicas())
	if t.ConfigErr == nil {
		printConfigs(w, t.Configs)
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
			offsetText(t.LogStart, p.Partition), offsetText(t.HighWatermark, p.Partition), perr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeDamage(w, t.Damage)
}

// printConfigs prints configs, sorted by key, with where each one is set.
func printConfigs(w io.Writer, cfgs []kadm.Config) {
	if len(cfgs) == 0 {
		fmt.Fprintln(w, "Configs: (all defaults)")
		return
	}
	fmt.Fprintln(w, "Configs:")
	for _, c := range cfgs {
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		fmt.Fprintf(w, "  %s=%s (%s)\n", c.Key, v, client.ConfigSourceName(c.Source))
	}
}

// offsetText is partition's offset in offsets, or "-" if it is unknown.
func offsetText(offsets map[int32]int64, partition int32) string {
	o, ok := offsets[partition]
	if !ok {
		return "-"
	}
	return strconv.FormatInt(o, 10)
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
			return cf.withAdmin(func(adm *client.Admin) error {
				deleted, err := adm.DeleteTopics(cmd.Context(), args...)
				for _, name := range deleted {
					fmt.Fprintln(cmd.OutOrStdout(), "deleted topic "+name)
				}
				return err
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
			return cf.withAdmin(func(adm *client.Admin) error {
				altered, err := adm.AlterTopicConfigs(cmd.Context(), alters, args...)
				for _, name := range altered {
					fmt.Fprintln(cmd.OutOrStdout(), "altered topic "+name)
				}
				return err
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
