package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
	var out []string
	for _, s := range strings.Split(f.brokers, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, ":") {
			return nil, fmt.Errorf("--brokers: %q is not host:port", s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--brokers: no broker given (flag or %s)", brokersEnv)
	}
	return out, nil
}

// newClient builds a franz-go client for the seeds plus extra options.
func (f *clientFlags) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	seeds, err := f.seeds()
	if err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(f.clientID),
		kgo.RetryTimeout(f.timeout),
		kgo.DialTimeout(min(f.timeout, 10*time.Second)),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("brokers %s: %w", f.brokers, err)
	}
	return cl, nil
}

// newAdmin builds an admin client; close it with its Close method.
func (f *clientFlags) newAdmin() (*kadm.Client, error) {
	cl, err := f.newClient()
	if err != nil {
		return nil, err
	}
	return f.adminFor(cl), nil
}

// adminFor wraps cl in an admin client whose requests carry --timeout.
func (f *clientFlags) adminFor(cl *kgo.Client) *kadm.Client {
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(f.timeout / time.Millisecond))
	return adm
}

// withAdmin runs fn with an admin client and a context bounded by --timeout,
// closing the client afterwards.
func (f *clientFlags) withAdmin(ctx context.Context, fn func(context.Context, *kadm.Client) error) error {
	return f.withClients(ctx, func(ctx context.Context, _ *kgo.Client, adm *kadm.Client) error { return fn(ctx, adm) })
}

// withClients is withAdmin that also gives the client under the admin
// client, for requests kadm does not make.
func (f *clientFlags) withClients(ctx context.Context, fn func(context.Context, *kgo.Client, *kadm.Client) error) error {
	cl, err := f.newClient()
	if err != nil {
		return err
	}
	adm := f.adminFor(cl)
	defer adm.Close()
	ctx, cancel := f.withTimeout(ctx)
	defer cancel()
	return fn(ctx, cl, adm)
}

// withTimeout bounds one request to --timeout.
func (f *clientFlags) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.timeout)
}

// requestErr wraps an error from a whole request (not a per-topic result) so
// that it names the brokers that could not answer.
func (f *clientFlags) requestErr(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: brokers %s: no answer within --timeout %s: %w", what, f.brokers, f.timeout, err)
	}
	return fmt.Errorf("%s: brokers %s: %w", what, f.brokers, err)
}

// topicErr formats a per-topic Kafka error as `topic "x": CODE: message`,
// adding the broker's own error message when it sent one.
func topicErr(topic string, err error, brokerMsg string) error {
	if brokerMsg != "" && !strings.Contains(err.Error(), brokerMsg) {
		return fmt.Errorf("topic %q: %w (%s)", topic, err, brokerMsg)
	}
	return fmt.Errorf("topic %q: %w", topic, err)
}

// isUnknownTopic reports whether err says a topic does not exist.
func isUnknownTopic(err error) bool {
	return errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID)
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
