package jobs

import (
	"context"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/batchcodec/bounded"
	"github.com/sluicehq/sluice/pipelines"
)

// fillLag sets the lag of each of the run's partitions after it: the
// high watermark minus the next offset to land, as the pipeline's consumer
// group holds it (the loader commits it after publishing; the sink is the
// truth, the group the gauge). Partitions never committed count from the
// log start.
func fillLag(ctx context.Context, r *Landed, spec *pipelines.Spec, clients *clientCache) error {
	cl, err := clients.get(spec.Source.Brokers)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, spec.Source.Topics...)
	if err != nil {
		return err
	}
	starts, err := adm.ListStartOffsets(ctx, spec.Source.Topics...)
	if err != nil {
		return err
	}
	committed, err := adm.FetchOffsets(ctx, spec.Source.Group)
	if err != nil {
		return err
	}
	type tp struct {
		topic     string
		partition int32
	}
	have := map[tp]int{}
	for i, p := range r.Partitions {
		have[tp{p.Topic, p.Partition}] = i
	}
	r.Lag = 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return
		}
		next := int64(0)
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Err == nil {
			next = s.Offset
		}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= next {
			next = c.At
		}
		lag := max(o.Offset-next, 0)
		i, ok := have[tp{o.Topic, o.Partition}]
		if !ok {
			r.Partitions = append(r.Partitions, PartitionRun{Topic: o.Topic, Partition: o.Partition, First: -1, Last: -1})
			i = len(r.Partitions) - 1
		}
		r.Partitions[i].Lag = lag
		r.Lag += lag
	})
	return nil
}

// clientCache keeps one Kafka client per list of seed brokers, so runs do
// not each dial, handshake and learn API versions anew.
type clientCache struct {
	mu      sync.Mutex
	clients map[string]*kgo.Client
}

func newClientCache() *clientCache { return &clientCache{clients: map[string]*kgo.Client{}} }

func (c *clientCache) get(brokers []string) (*kgo.Client, error) {
	key := strings.Join(brokers, ",")
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clients[key]; cl != nil {
		return cl, nil
	}
	// Admin calls only; bounded all the same, as every client here.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.WithDecompressor(bounded.New(0)))
	if err != nil {
		return nil, err
	}
	c.clients[key] = cl
	return cl, nil
}

func (c *clientCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cl := range c.clients {
		cl.Close()
		delete(c.clients, k)
	}
}
