package meta

import (
	"maps"
	"slices"
	"strings"
)

// maxTopicNameLen is Kafka's limit on topic name length.
const maxTopicNameLen = 249

// ValidateTopicName applies Kafka's topic name rules: 1 to 249 characters
// from [a-zA-Z0-9._-], and not "." or "..". The error wraps ErrInvalidTopic.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return invalid(ErrInvalidTopic, "topic name is empty")
	case name == "." || name == "..":
		return invalid(ErrInvalidTopic, "topic name cannot be %q", name)
	case len(name) > maxTopicNameLen:
		return invalid(ErrInvalidTopic, "topic name %.20q... is %d characters, more than the limit of %d", name, len(name), maxTopicNameLen)
	}
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalid(ErrInvalidTopic, "topic name %q has illegal character %q at byte %d: only ASCII letters, digits, '.', '_' and '-' are allowed", name, c, i)
		}
	}
	return nil
}

// collisionKey maps a name to the form under which Kafka considers two
// topic names to collide (metric names replace '.' with '_').
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }

// Apply validates rec against img and returns the image with rec applied.
// It does no I/O and never modifies img: the result shares every topic rec
// does not touch. On error img is unchanged and the error wraps one of the
// package's validation errors (see ErrorCode). The result's Offset is img's;
// the Store sets it after the journal append.
func Apply(img *Image, rec Record) (*Image, error) {
	rec, err := deref(rec)
	if err != nil {
		return nil, err
	}
	switch r := rec.(type) {
	case CreateTopic:
		return applyCreateTopic(img, r)
	case DeleteTopic:
		t, err := lookupID(img, r.ID)
		if err != nil {
			return nil, err
		}
		next := img.clone()
		next.partitions -= int64(t.Partitions)
		next.topics.del(t.Name)
		next.byID.del(t.ID)
		next.collisions.del(collisionKey(t.Name))
		return next, nil
	case CreatePartitions:
		t, err := lookupID(img, r.ID)
		if err != nil {
			return nil, err
		}
		switch {
		case r.Count == t.Partitions:
			return nil, invalid(ErrInvalidPartitions, "topic %q already has %d partitions", t.Name, t.Partitions)
		case r.Count < t.Partitions:
			return nil, invalid(ErrInvalidPartitions, "topic %q has %d partitions, more than the requested %d: partitions can only be added", t.Name, t.Partitions, r.Count)
		}
		if err := validateParts(img, t.Name, t.Partitions, r.Count-t.Partitions, t.ReplicationFactor, r.Parts, len(t.Parts) > 0); err != nil {
			return nil, err
		}
		nt := *t
		nt.Partitions = r.Count
		if len(t.Parts) > 0 {
			nt.Parts = append(slices.Clip(t.Parts), clonedParts(r.Parts)...)
		}
		return replaceTopic(img, &nt), nil
	case AlterTopicConfigs:
		return applyAlterTopicConfigs(img, r)
	case RegisterBroker:
		switch {
		case r.NodeID < 0:
			return nil, invalid(ErrInvalidRecord, "broker node ID %d is negative", r.NodeID)
		case r.Host == "":
			return nil, invalid(ErrInvalidRecord, "broker %d has an empty host", r.NodeID)
		case r.Port <= 0 || r.Port > 65535:
			return nil, invalid(ErrInvalidRecord, "broker %d port %d is not in 1..65535", r.NodeID, r.Port)
		}
		next := img.clone()
		next.brokers[r.NodeID] = &Broker{NodeID: r.NodeID, Host: r.Host, Port: r.Port, Rack: r.Rack,
			Fenced: r.Fenced, UncleanShutdown: r.UncleanShutdown, Incarnation: r.Incarnation, Epoch: r.Epoch}
		return next, nil
	case AlterBrokerConfigs:
		return applyAlterBrokerConfigs(img, r)
	case PartitionChange:
		return applyPartitionChange(img, r)
	case BrokerState:
		return applyBrokerState(img, r)
	case SetCluster:
		return applySetCluster(img, r)
	case ProducerIDs:
		return applyProducerIDs(img, r)
	}
	return nil, invalid(ErrInvalidRecord, "unsupported record %T", rec)
}

func lookupID(img *Image, id TopicID) (*Topic, error) {
	t, ok := img.byID.get(id)
	if !ok {
		return nil, invalid(ErrUnknownTopic, "no topic has ID %s", id)
	}
	return t, nil
}

// replaceTopic returns img with t swapped in for the topic with its name
// and ID.
func replaceTopic(img *Image, t *Topic) *Image {
	next := img.clone()
	if old, ok := img.topics.get(t.Name); ok {
		next.partitions -= int64(old.Partitions)
	}
	next.partitions += int64(t.Partitions)
	next.topics.set(t.Name, t)
	next.byID.set(t.ID, t)
	return next
}

func applyCreateTopic(img *Image, r CreateTopic) (*Image, error) {
	if err := ValidateTopicName(r.Name); err != nil {
		return nil, err
	}
	if _, ok := img.topics.get(r.Name); ok {
		return nil, invalid(ErrTopicExists, "topic %q already exists", r.Name)
	}
	if other, ok := img.collisions.get(collisionKey(r.Name)); ok {
		return nil, invalid(ErrInvalidTopic, "topic %q collides with existing topic %q: '.' and '_' are treated alike in metric names", r.Name, other)
	}
	switch {
	case r.ID.IsZero() || r.ID == metadataTopicID:
		return nil, invalid(ErrInvalidRecord, "topic %q has reserved ID %s", r.Name, r.ID)
	case idInUse(img, r.ID):
		other, _ := img.byID.get(r.ID)
		return nil, invalid(ErrInvalidRecord, "topic %q: ID %s is already used by topic %q", r.Name, r.ID, other.Name)
	case r.Partitions <= 0:
		return nil, invalid(ErrInvalidPartitions, "topic %q: number of partitions must be at least 1, got %d", r.Name, r.Partitions)
	case r.ReplicationFactor <= 0:
		return nil, invalid(ErrInvalidReplicationFactor, "topic %q: replication factor must be at least 1, got %d", r.Name, r.ReplicationFactor)
	case int(r.ReplicationFactor) > max(1, len(img.brokers)):
		return nil, invalid(ErrInvalidReplicationFactor, "topic %q: replication factor %d is larger than the %d available broker(s)", r.Name, r.ReplicationFactor, max(1, len(img.brokers)))
	}
	if err := ValidateTopicConfigs(r.Configs); err != nil {
		return nil, err
	}
	if err := validateParts(img, r.Name, 0, r.Partitions, r.ReplicationFactor, r.Parts, false); err != nil {
		return nil, err
	}
	t := &Topic{
		Name:              r.Name,
		ID:                r.ID,
		Partitions:        r.Partitions,
		ReplicationFactor: r.ReplicationFactor,
		Configs:           maps.Clone(r.Configs),
		Parts:             clonedParts(r.Parts),
	}
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	next := replaceTopic(img, t)
	next.collisions.set(collisionKey(t.Name), t.Name)
	return next, nil
}

func applyAlterTopicConfigs(img *Image, r AlterTopicConfigs) (*Image, error) {
	t, err := lookupID(img, r.ID)
	if err != nil {
		return nil, err
	}
	if r.Replace && len(r.Delete) > 0 {
		return nil, invalid(ErrInvalidRecord, "topic %q: a config replacement cannot also delete keys", t.Name)
	}
	if err := ValidateTopicConfigs(r.Set); err != nil {
		return nil, err
	}
	for _, k := range r.Delete {
		if _, ok := TopicConfigDef(k); !ok {
			return nil, invalid(ErrInvalidConfig, "unknown topic config %q", k)
		}
		if _, ok := r.Set[k]; ok {
			return nil, invalid(ErrInvalidConfig, "topic config %s is both set and deleted", k)
		}
	}
	nt := *t
	if r.Replace {
		nt.Configs = maps.Clone(r.Set)
		if nt.Configs == nil {
			nt.Configs = map[string]string{}
		}
	} else {
		nt.Configs = maps.Clone(t.Configs)
		maps.Copy(nt.Configs, r.Set)
		for _, k := range r.Delete {
			delete(nt.Configs, k)
		}
	}
	return replaceTopic(img, &nt), nil
}

func applyAlterBrokerConfigs(img *Image, r AlterBrokerConfigs) (*Image, error) {
	if r.NodeID < AllBrokers {
		return nil, invalid(ErrInvalidRecord, "broker node ID %d is invalid (use -1 for all brokers)", r.NodeID)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Set)) {
		if err := validateBrokerConfigChange(k, r.Set[k], false); err != nil {
			return nil, err
		}
	}
	for _, k := range r.Delete {
		if err := validateBrokerConfigChange(k, "", true); err != nil {
			return nil, err
		}
		if _, ok := r.Set[k]; ok {
			return nil, invalid(ErrInvalidConfig, "broker config %s is both set and deleted", k)
		}
	}
	cfg := maps.Clone(img.brokerConfigs[r.NodeID])
	if cfg == nil {
		cfg = map[string]string{}
	}
	maps.Copy(cfg, r.Set)
	for _, k := range r.Delete {
		delete(cfg, k)
	}
	next := img.clone()
	if len(cfg) == 0 {
		delete(next.brokerConfigs, r.NodeID)
	} else {
		next.brokerConfigs[r.NodeID] = cfg
	}
	return next, nil
}

func idInUse(img *Image, id TopicID) bool {
	_, ok := img.byID.get(id)
	return ok
}
