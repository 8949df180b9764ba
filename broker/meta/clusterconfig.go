package meta

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// The cluster's keys, Kafka's KRaft ones: process.roles says whether this
// node is a broker, a controller (a metadata quorum voter) or both;
// controller.quorum.voters names the voters, id@host:port each, or
// controller.quorum.bootstrap.servers names some of them for a node that
// is not one; controller.listener.names says which of listeners the
// quorum speaks on. With no process.roles the node is a single broker
// with a local metadata journal, as before the cluster existed.
var clusterBrokerKeys = []brokerKey{
	brokerKey{def: ConfigDef{Name: "process.roles", Type: ConfigList, Default: "", check: listOf("broker", "controller"), valid: []string{"broker", "controller"},
		Doc: "The roles of this node: broker, controller, or both (broker,controller). Empty (the default) runs one broker with a local metadata journal and no quorum."},
		field: func(c *BrokerConfig) any { return &c.ProcessRoles }},
	bk("controller.quorum.voters", ConfigList, "", voterList, "The metadata quorum's voters as id@host:port, e.g. 1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093 (1, 3 or 5 of them). Voters with empty data directories bootstrap a new cluster on first start; no format step.", func(c *BrokerConfig) any { return &c.ControllerQuorumVoters }),
	bk("controller.quorum.bootstrap.servers", ConfigList, "", hostPortList, "Some of the quorum's controllers as host:port, for a node that is not a voter (instead of controller.quorum.voters).", func(c *BrokerConfig) any { return &c.ControllerQuorumBootstrapServers }),
	bk("controller.listener.names", ConfigList, "", nil, "The listeners (from listeners) the metadata quorum speaks on; the first is the one voters are reached at.", func(c *BrokerConfig) any { return &c.ControllerListenerNames }),
	bk("broker.rack", ConfigString, "", nil, "This broker's rack: replicas of a partition are spread over racks first.", func(c *BrokerConfig) any { return &c.BrokerRack }),
	bk("replica.lag.time.max.ms", ConfigLong, "30000", atLeast(1), "A follower that has not caught up with the leader's log end for this long leaves the ISR.", func(c *BrokerConfig) any { return &c.ReplicaLagTimeMaxMs }),
	bk("broker.session.timeout.ms", ConfigInt, "9000", atLeast(1), "A broker the active controller has not heard from for this long is fenced: it leads nothing and leaves every ISR.", func(c *BrokerConfig) any { return &c.BrokerSessionTimeoutMs }),
	bk("controller.quorum.election.timeout.ms", ConfigInt, "1000", atLeast(10), "How long a quorum voter waits without hearing from a leader before it calls an election.", func(c *BrokerConfig) any { return &c.ControllerQuorumElectionTimeout }),
}

// Voter is one metadata quorum voter of controller.quorum.voters.
type Voter struct {
	ID   int32
	Addr string // host:port
}

// ParseVoters parses controller.quorum.voters entries, id@host:port each.
// The error wraps ErrInvalidConfig and names the entry.
func ParseVoters(list []string) ([]Voter, error) {
	var out []Voter
	for _, e := range list {
		id, addr, ok := strings.Cut(strings.TrimSpace(e), "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || n < 0 {
			return nil, invalid(ErrInvalidConfig, "controller.quorum.voters: %q is not id@host:port with a node id of 0 or more", e)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, invalid(ErrInvalidConfig, "controller.quorum.voters: %q: %q is not host:port", e, addr)
		}
		if slices.ContainsFunc(out, func(v Voter) bool { return v.ID == int32(n) }) {
			return nil, invalid(ErrInvalidConfig, "controller.quorum.voters: node id %d is listed twice", n)
		}
		out = append(out, Voter{ID: int32(n), Addr: addr})
	}
	return out, nil
}

func voterList(v any) error {
	_, err := ParseVoters(v.([]string))
	return err
}

func hostPortList(v any) error {
	for _, e := range v.([]string) {
		if _, _, err := net.SplitHostPort(strings.TrimSpace(e)); err != nil {
			return fmt.Errorf("%q is not host:port", e)
		}
	}
	return nil
}

// ClusterConfig is what the cluster keys say about this node, checked
// against each other and listeners.
type ClusterConfig struct {
	// Broker and Controller are this node's roles; both false is a
	// single broker with no quorum (no process.roles).
	Broker, Controller bool
	NodeID             int32
	Voters             []Voter
	// Bootstrap are controllers to reach when this node is not a voter.
	Bootstrap []string
	// ControllerListener is the listener the quorum speaks on here (for
	// a controller), and ClientListener the one Kafka clients use (for a
	// broker).
	ControllerListener, ClientListener Listener
	Rack                               string
}

// Clustered reports whether the node is part of a cluster (process.roles
// set).
func (c ClusterConfig) Clustered() bool { return c.Broker || c.Controller }

// IsVoter reports whether id is one of the quorum's voters.
func (c ClusterConfig) IsVoter(id int32) bool {
	return slices.ContainsFunc(c.Voters, func(v Voter) bool { return v.ID == id })
}

// Cluster checks the cluster keys against each other and listeners, as
// Kafka's KafkaConfig does, and returns what they say. The error wraps
// ErrInvalidConfig and names the keys at fault.
func (c *BrokerConfig) Cluster() (ClusterConfig, error) {
	var cc ClusterConfig
	for _, r := range c.ProcessRoles {
		switch r {
		case "broker":
			cc.Broker = true
		case "controller":
			cc.Controller = true
		}
	}
	cc.NodeID = c.NodeID
	cc.Rack = c.BrokerRack
	ls, err := ParseListeners(c.Listeners)
	if err != nil {
		return cc, err
	}
	if !cc.Clustered() {
		if len(c.ControllerQuorumVoters) > 0 || len(c.ControllerQuorumBootstrapServers) > 0 || len(c.ControllerListenerNames) > 0 {
			return cc, invalid(ErrInvalidConfig, "controller.quorum.voters, controller.quorum.bootstrap.servers and controller.listener.names need process.roles (broker, controller or broker,controller)")
		}
		return cc, nil
	}
	if cc.Voters, err = ParseVoters(c.ControllerQuorumVoters); err != nil {
		return cc, err
	}
	cc.Bootstrap = c.ControllerQuorumBootstrapServers
	switch n := len(cc.Voters); {
	case n == 0 && len(cc.Bootstrap) == 0:
		return cc, invalid(ErrInvalidConfig, "process.roles=%s needs controller.quorum.voters (id@host:port of each voter) or controller.quorum.bootstrap.servers", strings.Join(c.ProcessRoles, ","))
	case n > 0 && len(cc.Bootstrap) > 0:
		return cc, invalid(ErrInvalidConfig, "give controller.quorum.voters or controller.quorum.bootstrap.servers, not both")
	case cc.Controller && n == 0:
		return cc, invalid(ErrInvalidConfig, "a controller (process.roles=%s) needs controller.quorum.voters naming it", strings.Join(c.ProcessRoles, ","))
	case cc.Controller && !cc.IsVoter(cc.NodeID):
		return cc, invalid(ErrInvalidConfig, "node.id=%d is a controller (process.roles=%s) but not one of controller.quorum.voters=%s", cc.NodeID, strings.Join(c.ProcessRoles, ","), strings.Join(c.ControllerQuorumVoters, ","))
	case !cc.Controller && cc.IsVoter(cc.NodeID):
		return cc, invalid(ErrInvalidConfig, "node.id=%d is one of controller.quorum.voters but process.roles=%s has no controller", cc.NodeID, strings.Join(c.ProcessRoles, ","))
	}
	if len(c.ControllerListenerNames) == 0 {
		return cc, invalid(ErrInvalidConfig, "process.roles=%s needs controller.listener.names (e.g. CONTROLLER, with listeners=PLAINTEXT://:9092,CONTROLLER://:9093)", strings.Join(c.ProcessRoles, ","))
	}
	var clients []Listener
	for _, l := range ls {
		if slices.Contains(c.ControllerListenerNames, l.Name) {
			if cc.ControllerListener.Name == "" {
				cc.ControllerListener = l
			}
			continue
		}
		clients = append(clients, l)
	}
	switch {
	case cc.Controller && cc.ControllerListener.Name == "":
		return cc, invalid(ErrInvalidConfig, "controller.listener.names=%s names no listener in listeners=%s", strings.Join(c.ControllerListenerNames, ","), c.Listeners)
	case !cc.Controller && cc.ControllerListener.Name != "":
		return cc, invalid(ErrInvalidConfig, "listeners=%s has the controller listener %s, but process.roles=%s has no controller", c.Listeners, cc.ControllerListener.Name, strings.Join(c.ProcessRoles, ","))
	case cc.Broker && len(clients) != 1:
		return cc, invalid(ErrInvalidConfig, "a broker needs one client listener besides controller.listener.names in listeners=%s", c.Listeners)
	}
	if len(clients) == 1 {
		cc.ClientListener = clients[0]
	}
	return cc, nil
}
