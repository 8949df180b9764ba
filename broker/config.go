package broker

import (
	"fmt"
	"maps"
	"net"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/broker/meta"
)

// Config is a broker's configuration. Kafka's keys in Settings are the one
// source of truth for broker settings: DataDir, Listen, AdvertisedListener
// and NodeID are aliases of log.dirs, listeners, advertised.listeners and
// node.id (as `sluice server`'s --data-dir, --listen, --advertised-listener
// and --node-id flags are), so what DescribeConfigs reports is what the
// server runs with. A field and its key given with different values is an
// error. The other fields are the server's own wiring, with no Kafka key.
type Config struct {
	DataDir            string // alias of log.dirs: where logs and metadata live
	Listen             string // alias of listeners: host:port for the Kafka protocol; port 0 picks one
	AdvertisedListener string // alias of advertised.listeners: host:port clients are told to use; default: the bound address (the hostname if that is 0.0.0.0 or ::)
	NodeID             int32  // alias of node.id; 0 (the default) leaves node.id to Settings
	HTTP               string // host:port for /metrics and /healthz; empty disables
	// PProf also serves Go's profiles at /debug/pprof/ on the HTTP
	// listener. Off by default: profiles expose internals and cost CPU.
	PProf bool
	// Settings holds Kafka-named broker settings layered over Kafka's defaults.
	Settings map[string]string
	// ShutdownTimeout bounds how long Serve waits for in-flight requests.
	ShutdownTimeout time.Duration
}

// DefaultConfig returns the configuration `sluice server` starts with: the
// Kafka keys at their defaults (log.dirs=./data,
// listeners=PLAINTEXT://127.0.0.1:9092, node.id=0), metrics on
// 127.0.0.1:9644, and ten seconds to drain requests on shutdown.
func DefaultConfig() Config {
	return Config{HTTP: "127.0.0.1:9644", ShutdownTimeout: 10 * time.Second}
}

// Validate checks the configuration, its fields against its settings and
// each other, reporting what New would refuse.
func (c Config) Validate() error {
	_, _, err := c.resolve()
	return err
}

// alias is a Config field standing for a Kafka key.
type alias struct{ key, field, value string }

func (c Config) aliases() []alias {
	a := []alias{
		{"log.dirs", "DataDir", c.DataDir},
		{"listeners", "Listen", c.Listen},
		{"advertised.listeners", "AdvertisedListener", c.AdvertisedListener},
	}
	if c.NodeID != 0 {
		a = append(a, alias{"node.id", "NodeID", strconv.Itoa(int(c.NodeID))})
	}
	return a
}

// resolve merges the alias fields into the settings, parses them, and
// returns c with Settings holding every given key and the alias fields set
// from the effective values, with the parsed settings.
func (c Config) resolve() (Config, *meta.BrokerConfig, error) {
	kv := maps.Clone(c.Settings)
	if kv == nil {
		kv = map[string]string{}
	}
	for _, a := range c.aliases() {
		if a.value == "" {
			continue
		}
		if v, ok := kv[a.key]; ok && v != a.value {
			return c, nil, fmt.Errorf("%s is given twice: %q in the settings and %q as Config.%s; give it once", a.key, v, a.value, a.field)
		}
		kv[a.key] = a.value
	}
	bc, err := meta.ParseBrokerConfig(kv)
	if err != nil {
		return c, nil, err
	}
	if len(bc.LogDirs) != 1 {
		return c, nil, fmt.Errorf("log.dirs: one directory is supported, got %d (%v)", len(bc.LogDirs), bc.LogDirs)
	}
	cc, err := bc.Cluster()
	if err != nil {
		return c, nil, err
	}
	var listen string
	switch {
	case cc.Clustered() && !cc.Broker:
		return c, nil, fmt.Errorf("process.roles=controller: a controller-only node is not supported yet; run process.roles=broker,controller")
	case cc.Clustered():
		if cc.ClientListener.Name != "PLAINTEXT" {
			return c, nil, fmt.Errorf("listeners=%s: the client listener must be PLAINTEXT (security protocols are not supported yet)", bc.Listeners)
		}
		listen = cc.ClientListener.Addr()
	default:
		if listen, err = oneListener("listeners", bc.Listeners); err != nil {
			return c, nil, err
		}
	}
	c.DataDir, c.Listen, c.NodeID, c.AdvertisedListener = bc.LogDirs[0], listen, bc.NodeID, ""
	if bc.AdvertisedListeners != "" {
		if c.AdvertisedListener, err = oneListener("advertised.listeners", bc.AdvertisedListeners); err != nil {
			return c, nil, err
		}
	}

	if c.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			return c, nil, fmt.Errorf("http listener %q is not host:port", c.HTTP)
		}
	}
	if c.ShutdownTimeout < 0 {
		return c, nil, fmt.Errorf("shutdown timeout %v is negative", c.ShutdownTimeout)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultConfig().ShutdownTimeout
	}
	c.Settings = kv
	return c, bc, nil
}

// oneListener returns the host:port of the single PLAINTEXT listener a
// listener list may name until named listeners and security exist.
func oneListener(key, list string) (string, error) {
	ls, err := meta.ParseListeners(list)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if len(ls) != 1 || ls[0].Name != "PLAINTEXT" {
		return "", fmt.Errorf("%s=%s: one PLAINTEXT listener is supported", key, list)
	}
	return ls[0].Addr(), nil
}
