package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
)

// brokersEnv names the environment variable that sets the default of
// --brokers for every client command.
const brokersEnv = "SLUICE_BROKERS"

// defaultBrokers is the seed broker used when neither --brokers nor
// SLUICE_BROKERS is given.
const defaultBrokers = "127.0.0.1:9092"

// clientFlags are the flags shared by the commands that talk to a Kafka
// cluster (topic, produce, consume). They only build franz-go options; the
// commands work against any Kafka-protocol cluster, not only Sluice.
type clientFlags struct {
	brokers  string
	clientID string
	timeout  time.Duration
}

// register adds the shared client flags to cmd as persistent flags, so
// `sluice topic --brokers X list` and `sluice topic list --brokers X` both work.
func (f *clientFlags) register(cmd *cobra.Command) {
	def := os.Getenv(brokersEnv)
	if def == "" {
		def = defaultBrokers
	}
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.brokers, "brokers", def,
		"comma-separated seed brokers host:port (env "+brokersEnv+")")
	fs.StringVar(&f.clientID, "client-id", "sluice-cli", "Kafka client.id sent to the brokers")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second,
		"how long to wait for the cluster: each admin request, metadata lookup and record delivery")
}

// seeds parses --brokers into a list of host:port seeds.
func (f *clientFlags) seeds() ([]string, error) {
	seeds, err := client.ParseSeeds(f.brokers)
	if errors.Is(err, client.ErrNoSeeds) {
		return nil, fmt.Errorf("--brokers: no broker given (flag or %s)", brokersEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("--brokers: %w", err)
	}
	return seeds, nil
}

// cluster is the cluster the flags name.
func (f *clientFlags) cluster() (client.Cluster, error) {
	seeds, err := f.seeds()
	return client.Cluster{Seeds: seeds, ClientID: f.clientID, Timeout: f.timeout}, err
}

// withAdmin runs fn with an admin client of the cluster, closed afterwards.
func (f *clientFlags) withAdmin(fn func(*client.Admin) error) error {
	c, err := f.cluster()
	if err != nil {
		return err
	}
	adm, err := c.NewAdmin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return fn(adm)
}

// nameFlagsInErrors wraps the RunE of cmd and of every command under it so
// that the errors of the client library name the flag to change: a request
// that got no answer in time names --timeout.
func nameFlagsInErrors(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			if re, ok := err.(*client.RequestError); ok && re.TimedOut() {
				return fmt.Errorf("%s: brokers %s: no answer within --timeout %s: %w", re.Op, re.Brokers, re.Timeout, re.Err)
			}
			return err
		}
	}
	for _, sub := range cmd.Commands() {
		nameFlagsInErrors(sub)
	}
}

// parseKeyValues parses repeated key=value flags (-c, --set), in order, and
// rejects a missing '=' or an empty key, naming the flag.
func parseKeyValues(flag string, kvs []string) ([][2]string, error) {
	out := make([][2]string, 0, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, kv)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}
