package brokertest

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/broker"
)

// Cluster is a cluster of in-process brokers on 127.0.0.1, every one a
// metadata quorum voter (process.roles=broker,controller), node ids 1..n.
type Cluster struct {
	t       testing.TB
	Brokers []*Broker // nil while stopped
	cfgs    []broker.Config
	ctl     []string // controller listener addresses
}

// StartCluster starts n clustered brokers, each with its own data dir and
// a controller listener on a free port, and stops them when the test
// ends. opts apply to every broker.
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Brokers: make([]*Broker, n)}
	var lns []net.Listener
	var voters []string
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		c.ctl = append(c.ctl, ln.Addr().String())
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, ln.Addr()))
	}
	for i := range n {
		cfg := broker.DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.HTTP = ""
		cfg.Settings = map[string]string{
			"log.retention.check.interval.ms":       "100",
			"process.roles":                         "broker,controller",
			"node.id":                               fmt.Sprint(i + 1),
			"controller.quorum.voters":              strings.Join(voters, ","),
			"controller.listener.names":             "CONTROLLER",
			"listeners":                             "PLAINTEXT://127.0.0.1:0,CONTROLLER://" + c.ctl[i],
			"broker.session.timeout.ms":             "3000",
			"controller.quorum.election.timeout.ms": "500",
		}
		for _, o := range opts {
			o(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	for i := range n {
		c.Brokers[i] = run(t, c.cfgs[i], broker.Options{ControllerListener: lns[i]})
	}
	return c
}

// Stop stops broker i (0-based) cleanly. Restart brings it back on the
// same client address, as a restarted broker's host and port stay.
func (c *Cluster) Stop(i int) {
	addr := c.Brokers[i].Addr()
	c.Brokers[i].Stop()
	c.Brokers[i] = nil
	cfg := c.cfgs[i]
	settings := map[string]string{}
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	settings["listeners"] = "PLAINTEXT://" + addr + ",CONTROLLER://" + c.ctl[i]
	cfg.Settings = settings
	c.cfgs[i] = cfg
}

// Restart starts broker i again on its data dir and controller address.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	ln, err := net.Listen("tcp", c.ctl[i])
	if err != nil {
		c.t.Fatalf("brokertest: rebind controller listener %s: %v", c.ctl[i], err)
	}
	c.Brokers[i] = run(c.t, c.cfgs[i], broker.Options{ControllerListener: ln})
}

// Addrs are the client listeners of the running brokers.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, b := range c.Brokers {
		if b != nil {
			out = append(out, b.Addr())
		}
	}
	return out
}

// Config is broker i's configuration (its data dir, settings).
func (c *Cluster) Config(i int) broker.Config { return c.cfgs[i] }

// ControllerAddr is broker i's controller listener address.
func (c *Cluster) ControllerAddr(i int) string { return c.ctl[i] }
