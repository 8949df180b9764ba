package client

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ClusterStatus is a cluster's health as `sluice cluster status` shows it:
// its brokers and controller and the partitions that are not fully
// replicated. It works against any Kafka-protocol cluster.
type ClusterStatus struct {
	ClusterID  string
	Controller int32
	Brokers    []kadm.BrokerDetail
	// Partitions counts every partition; the lists name those under
	// replicated (ISR smaller than the replicas), under min ISR (ISR
	// smaller than min.insync.replicas: acks=all is refused) and offline
	// (no leader).
	Partitions                            int
	UnderReplicated, UnderMinISR, Offline []PartitionHealth
}

// PartitionHealth is one partition that is not fully replicated.
type PartitionHealth struct {
	Topic     string
	Partition int32
	Leader    int32
	Replicas  []int32
	ISR       []int32
	MinISR    int
}

// Status reads the cluster's metadata and every topic's min.insync.replicas.
func (a *Admin) Status(ctx context.Context) (*ClusterStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cluster.Timeout)
	defer cancel()
	md, err := a.adm.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("metadata from %s: %w", a.cluster.brokers(), err)
	}
	st := &ClusterStatus{ClusterID: md.Cluster, Controller: md.Controller, Brokers: md.Brokers}
	minISR := map[string]int{}
	if names := md.Topics.Names(); len(names) > 0 {
		cfgs, err := a.adm.DescribeTopicConfigs(ctx, names...)
		if err != nil {
			return nil, fmt.Errorf("describe topic configs: %w", err)
		}
		for _, rc := range cfgs {
			for _, c := range rc.Configs {
				if c.Key == "min.insync.replicas" && c.Value != nil {
					minISR[rc.Name], _ = strconv.Atoi(*c.Value)
				}
			}
		}
	}
	for _, name := range md.Topics.Names() {
		td := md.Topics[name]
		for _, p := range td.Partitions.Sorted() {
			st.Partitions++
			h := PartitionHealth{Topic: name, Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR, MinISR: max(1, minISR[name])}
			switch {
			case p.Leader < 0:
				st.Offline = append(st.Offline, h)
			case len(p.ISR) < h.MinISR:
				st.UnderMinISR = append(st.UnderMinISR, h)
			case len(p.ISR) < len(p.Replicas):
				st.UnderReplicated = append(st.UnderReplicated, h)
			}
		}
	}
	slices.SortFunc(st.Brokers, func(a, b kadm.BrokerDetail) int { return int(a.NodeID - b.NodeID) })
	return st, nil
}
