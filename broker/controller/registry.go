package controller

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors of broker registration and heartbeats, as Kafka names them.
var (
	// ErrDuplicateRegistration is DUPLICATE_BROKER_REGISTRATION: another
	// process (another incarnation) holds the id and its session is alive.
	ErrDuplicateRegistration = errors.New("controller: broker id registered by another incarnation whose session has not expired")
	// ErrStaleBrokerEpoch is STALE_BROKER_EPOCH: a heartbeat from an
	// earlier registration of the broker.
	ErrStaleBrokerEpoch = errors.New("controller: heartbeat carries a broker epoch older than the broker's registration")
	// ErrBrokerNotRegistered is BROKER_ID_NOT_REGISTERED.
	ErrBrokerNotRegistered = errors.New("controller: broker id not registered")
)

// BrokerState is where a registered broker stands.
type BrokerState uint8

const (
	// Fenced brokers lead nothing and get no new replicas: just
	// registered and not caught up with the metadata yet, or their session
	// expired.
	Fenced BrokerState = iota
	// Active brokers may lead and hold replicas.
	Active
	// ShuttingDown brokers asked for a controlled shutdown: leadership is
	// moved away from them before they are told to stop.
	ShuttingDown
)

// String names the state for logs and scripts.
func (s BrokerState) String() string {
	return [...]string{"fenced", "active", "shutting-down"}[s]
}

// Registration is one broker as the controller knows it.
type Registration struct {
	ID          int32
	Incarnation string // a fresh id per process start
	Rack        string
	// Epoch is the broker epoch: it rises with every registration, and a
	// heartbeat must carry the current one.
	Epoch       int64
	State       BrokerState
	LastContact time.Time
}

// Registry holds broker registrations and their sessions, with time given
// by the caller. Not safe for concurrent use.
type Registry struct {
	// Session is broker.session.timeout.ms.
	Session   time.Duration
	brokers   map[int32]*Registration
	lastEpoch int64
}

// NewRegistry returns an empty registry with the given session timeout.
func NewRegistry(session time.Duration) *Registry {
	return &Registry{Session: session, brokers: map[int32]*Registration{}}
}

// Register records a broker starting (BrokerRegistration). A new
// incarnation of a known id takes it over only once the old session has
// expired; the same incarnation registering again (a retried request)
// gets a new epoch. Every registration starts fenced.
func (r *Registry) Register(id int32, incarnation, rack string, now time.Time) (Registration, error) {
	if old := r.brokers[id]; old != nil && old.Incarnation != incarnation && now.Sub(old.LastContact) <= r.Session {
		return Registration{}, fmt.Errorf("broker %d: %w", id, ErrDuplicateRegistration)
	}
	r.lastEpoch++
	reg := &Registration{ID: id, Incarnation: incarnation, Rack: rack, Epoch: r.lastEpoch, State: Fenced, LastContact: now}
	r.brokers[id] = reg
	return *reg, nil
}

// Heartbeat records a broker's heartbeat: caughtUp says it has replayed
// the metadata up to its registration (it may then be unfenced), and
// shutdown that it asks for a controlled shutdown. It returns the
// broker's state after the heartbeat.
func (r *Registry) Heartbeat(id int32, epoch int64, caughtUp, shutdown bool, now time.Time) (BrokerState, error) {
	reg := r.brokers[id]
	switch {
	case reg == nil:
		return Fenced, fmt.Errorf("broker %d: %w", id, ErrBrokerNotRegistered)
	case epoch != reg.Epoch:
		return reg.State, fmt.Errorf("broker %d epoch %d (registered with %d): %w", id, epoch, reg.Epoch, ErrStaleBrokerEpoch)
	}
	reg.LastContact = now
	switch {
	case shutdown:
		reg.State = ShuttingDown
	case reg.State == Fenced && caughtUp:
		reg.State = Active
	}
	return reg.State, nil
}

// Expire fences every unfenced broker whose last heartbeat is older than
// the session timeout at now, and returns their ids (ascending): the
// controller then takes them out of every ISR.
func (r *Registry) Expire(now time.Time) []int32 {
	var out []int32
	for id, reg := range r.brokers {
		if reg.State != Fenced && now.Sub(reg.LastContact) > r.Session {
			reg.State = Fenced
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Live reports whether a broker may lead: registered and active.
func (r *Registry) Live(id int32) bool {
	reg := r.brokers[id]
	return reg != nil && reg.State == Active
}

// Brokers lists the registrations by id, for placement and Metadata.
func (r *Registry) Brokers() []Registration {
	var out []Registration
	for _, reg := range r.brokers {
		out = append(out, *reg)
	}
	slices.SortFunc(out, func(a, b Registration) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Placeable lists the brokers as Place takes them: only active ones get
// new replicas.
func (r *Registry) Placeable() []Broker {
	var out []Broker
	for _, reg := range r.Brokers() {
		out = append(out, Broker{ID: reg.ID, Rack: reg.Rack, Fenced: reg.State != Active})
	}
	return out
}

// Leave returns what each partition becomes once broker id may no longer
// lead (fenced, or shutting down): it leaves every ISR, and partitions it
// led elect another leader (Change with an online election). Only
// partitions that change are returned, keyed as given.
func Leave[K comparable](parts map[K]Partition, id int32, c Cluster) map[K]Partition {
	out := map[K]Partition{}
	for k, p := range parts {
		if !slices.Contains(p.ISR, id) && p.Leader != id {
			continue
		}
		isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == id })
		if isr == nil {
			isr = []int32{}
		}
		if next, o := Change(p, isr, ElectOnline, c); o != Unchanged {
			out[k] = next
		}
	}
	return out
}
