package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/bounded"
)

// ErrNoSeeds is returned by ParseSeeds for a list without any broker.
var ErrNoSeeds = errors.New("client: no seed broker given")

// ParseSeeds parses a comma-separated list of host:port seed brokers (the
// syntax of Kafka's bootstrap.servers), ignoring blanks around and between
// entries.
func ParseSeeds(list string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, ":") {
			return nil, fmt.Errorf("%q is not host:port", s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, ErrNoSeeds
	}
	return out, nil
}

// Cluster is how to reach a Kafka-protocol cluster. The zero Timeout is not
// usable: set it (the CLI's default is 30s).
type Cluster struct {
	Seeds    []string      // host:port seed brokers, see ParseSeeds
	ClientID string        // Kafka client.id sent to the brokers
	Timeout  time.Duration // bound of each admin call, metadata lookup and record delivery
	// MaxDecompressedBatchBytes bounds what one fetched record batch may
	// decompress to; 0 means bounded.DefaultMaxBatchBytes (128 MiB). A
	// Reader stops at a larger batch with a *bounded.TooLargeError.
	MaxDecompressedBatchBytes int64
}

// brokers names the seeds in errors.
func (c Cluster) brokers() string { return strings.Join(c.Seeds, ",") }

// NewClient builds a franz-go client for the cluster plus extra options;
// close it with its Close method. It decompresses fetched batches in
// bounded memory (package batchcodec/bounded), each to at most
// MaxDecompressedBatchBytes, unless extra gives it another decompressor.
func (c Cluster) NewClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.Seeds...),
		kgo.ClientID(c.ClientID),
		kgo.RetryTimeout(c.Timeout),
		kgo.DialTimeout(min(c.Timeout, 10*time.Second)),
		kgo.WithDecompressor(bounded.New(c.MaxDecompressedBatchBytes)),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("brokers %s: %w", c.brokers(), err)
	}
	return cl, nil
}

// Admin runs admin requests against a cluster. Each of its methods is
// bounded by the cluster's Timeout; a request that gets no answer is a
// *RequestError, a per-topic or per-group failure names the topic or group.
type Admin struct {
	cluster Cluster
	cl      *kgo.Client
	adm     *kadm.Client
}

// NewAdmin connects an admin client; close it with Close.
func (c Cluster) NewAdmin() (*Admin, error) {
	cl, err := c.NewClient()
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(c.Timeout / time.Millisecond))
	return &Admin{cluster: c, cl: cl, adm: adm}, nil
}

// Close closes the admin client's connections.
func (a *Admin) Close() { a.cl.Close() }

// bound bounds one admin call to the cluster's Timeout.
func (a *Admin) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.cluster.Timeout)
}

// requestErr wraps the error of a whole request (not a per-topic result).
func (c Cluster) requestErr(op string, err error) error {
	return &RequestError{Op: op, Brokers: c.brokers(), Timeout: c.Timeout, Err: err}
}

// RequestError is a whole request that failed, not one topic's or group's
// result: the brokers could not be reached or did not answer in time.
type RequestError struct {
	Op      string        // what was asked: "list topics", `topic "t": flush`, ...
	Brokers string        // the seed brokers, comma-separated
	Timeout time.Duration // the bound the request had
	Err     error
}

// TimedOut reports whether the brokers gave no answer within Timeout.
func (e *RequestError) TimedOut() bool { return errors.Is(e.Err, context.DeadlineExceeded) }

func (e *RequestError) Error() string {
	if e.TimedOut() {
		return fmt.Sprintf("%s: brokers %s: no answer within %s: %v", e.Op, e.Brokers, e.Timeout, e.Err)
	}
	return fmt.Sprintf("%s: brokers %s: %v", e.Op, e.Brokers, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

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

// errOrMissing is err, or an error saying the answer left the item out.
func errOrMissing(err error, response string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("missing from the %s response", response)
}
