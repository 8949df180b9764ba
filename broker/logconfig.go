package broker

// Config changes a partition log cannot take. The metadata store checks a
// config value against Kafka's bounds; the log's own bounds are tighter for
// a few keys (max.message.bytes below a batch header, segment.index.bytes
// below four index entries). A topic left with such a config
// could not be opened, and the broker could not start again on its data
// dir. So CreateTopics, AlterConfigs and IncrementalAlterConfigs (topic or
// broker resource, validate-only too) compute the log config of every topic
// the change touches and refuse the change with INVALID_CONFIG, naming the
// key, when one would not validate.

import (
	"fmt"

	"github.com/sluicehq/sluice/broker/meta"
)

// checkLogConfigs returns an error wrapping meta.ErrInvalidConfig when
// applying recs would give a topic a log config that does not validate. It
// leaves errors of recs themselves to the metadata store.
func (s *Server) checkLogConfigs(recs ...meta.Record) error {
	img := s.meta.Image()
	next := img
	for _, r := range recs {
		var err error
		if next, err = meta.Apply(next, r); err != nil {
			return nil // the store's validation reports it
		}
	}
	d := meta.Diff(img, next)
	touched := append(d.Created, d.Reconfigured...)
	if d.BrokersChanged {
		touched = next.Topics() // dynamic broker configs are every topic's defaults
	}
	for _, t := range touched {
		if _, err := s.logConfig(next, t); err != nil {
			return fmt.Errorf("%w: topic %s: %v", meta.ErrInvalidConfig, t.Name, err)
		}
	}
	return nil
}
