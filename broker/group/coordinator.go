package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/internal/mention"
)

// Store persists group records. The broker implements it on the compacted
// topic __consumer_offsets; tests use a slice.
type Store interface {
	// Append durably appends records in order; a nil Value is a tombstone.
	Append(ctx context.Context, records []Record) error
	// Load calls fn with every record, oldest first.
	Load(ctx context.Context, fn func(key, value []byte) error) error
}

// ErrClosed is returned by Load after Close.
var ErrClosed = errors.New("group: coordinator closed")

// Options carries what a Coordinator is given rather than configured with.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
}

// Coordinator owns every group: one goroutine per group that has members
// or offsets, fed by Handle. Replies that wait on a rebalance (JoinGroup,
// SyncGroup) block Handle until the group answers or ctx ends.
type Coordinator struct {
	cfg   Config
	store Store
	log   *slog.Logger
	now   func() time.Time

	nextID atomic.Uint64
	loaded atomic.Bool
	// storeFailing is set while appends to the Store fail (a full disk),
	// so that is logged once rather than per commit.
	storeFailing atomic.Bool
	stopped      chan struct{}
	wg           sync.WaitGroup

	mu struct {
		sync.Mutex
		groups map[string]*runner
		closed bool
	}
}

// runner is the goroutine that owns one Group.
type runner struct {
	in      chan op
	refs    int // senders about to send; guarded by Coordinator.mu
	summary atomic.Pointer[Summary]
}

type op struct {
	req   Request
	reply chan kmsg.Response
}

// NewCoordinator returns a coordinator that answers
// COORDINATOR_LOAD_IN_PROGRESS until Load completes.
func NewCoordinator(cfg Config, store Store, opts Options) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Coordinator{cfg: cfg, store: store, log: opts.Logger, now: opts.Now, stopped: make(chan struct{})}
	c.mu.groups = map[string]*runner{}
	return c, nil
}

// Load reads every persisted record and starts the groups that hold
// members or offsets. Until it returns, group requests are answered with
// COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) Load(ctx context.Context) error {
	start := c.now()
	groups := map[string]*Group{}
	var n int
	err := c.store.Load(ctx, func(key, value []byte) error {
		id, err := RecordGroup(key)
		if err != nil {
			c.log.Warn("skipping undecodable __consumer_offsets record", "err", err)
			return nil
		}
		g := groups[id]
		if g == nil {
			g = New(id, c.cfg, start)
			groups[id] = g
		}
		n++
		if err := g.Replay(key, value); err != nil {
			c.log.Warn("skipping undecodable __consumer_offsets record", "group", id, "err", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("group: load __consumer_offsets: %w", err)
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	for _, g := range groups {
		g.Loaded(now)
		if g.Unused() {
			continue
		}
		c.startLocked(g)
	}
	c.loaded.Store(true)
	c.log.Info("groups loaded", "groups", len(c.mu.groups), "records", n, "took", c.now().Sub(start))
	return nil
}

// Loaded reports whether Load has completed.
func (c *Coordinator) Loaded() bool { return c.loaded.Load() }

// Close stops every group goroutine; requests waiting on a rebalance are
// answered with COORDINATOR_NOT_AVAILABLE so clients move on.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	close(c.stopped)
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Coordinator) startLocked(g *Group) *runner {
	r := &runner{in: make(chan op, 16)}
	s := g.Summary()
	r.summary.Store(&s)
	c.mu.groups[g.ID()] = r
	c.wg.Add(1)
	go c.run(r, g)
	return r
}

// run is the goroutine owning g: it steps requests, fires timers, persists
// records and only then releases replies.
func (c *Coordinator) run(r *runner, g *Group) {
	defer c.wg.Done()
	waiting := map[uint64]chan kmsg.Response{}
	timer := time.NewTimer(g.NextDeadline().Sub(c.now()))
	defer timer.Stop()
	for {
		select {
		case o := <-r.in:
			waiting[o.req.ID] = o.reply
			g.Step(c.now(), o.req)
		case <-timer.C:
			g.Tick(c.now())
		case <-c.stopped:
			for _, ch := range waiting {
				ch <- nil
			}
			return
		}
		c.flush(g, waiting)
		s := g.Summary()
		r.summary.Store(&s)
		if len(waiting) == 0 && g.Unused() && c.retire(r, g.ID()) {
			return
		}
		timer.Reset(g.NextDeadline().Sub(c.now()))
	}
}

// retire forgets a group that holds nothing, unless a request is on its way.
func (c *Coordinator) retire(r *runner, id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.refs > 0 || len(r.in) > 0 {
		return false
	}
	if c.mu.groups[id] == r {
		delete(c.mu.groups, id)
	}
	return true
}

func (c *Coordinator) flush(g *Group, waiting map[uint64]chan kmsg.Response) {
	ready := g.Ready()
	var storeErr error
	if len(ready.Records) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		storeErr = c.store.Append(ctx, ready.Records)
		cancel()
		if storeErr != nil {
			if !c.storeFailing.Swap(true) {
				c.log.Error("persisting group records failed; commits are answered COORDINATOR_NOT_AVAILABLE until they persist again",
					"group", g.ID(), "records", len(ready.Records), "err", storeErr)
			}
			g.PersistFailed(ready.Records)
		} else if c.storeFailing.Swap(false) {
			c.log.Info("persisting group records works again", "group", g.ID())
		}
	}
	for _, rep := range ready.Replies {
		if storeErr != nil {
			failUnpersisted(rep.Resp)
		}
		if ch, ok := waiting[rep.ID]; ok {
			ch <- rep.Resp
			delete(waiting, rep.ID)
		}
	}
}

// failUnpersisted turns the successes of an offset commit or a KIP-848
// heartbeat whose records could not be persisted into
// COORDINATOR_NOT_AVAILABLE, as Kafka does when its append to
// __consumer_offsets fails; the client retries (the group accepts a
// heartbeat retried with the member's previous epoch, and the records are
// appended again with the next ones).
func failUnpersisted(resp kmsg.Response) {
	if hb, ok := resp.(*kmsg.ConsumerGroupHeartbeatResponse); ok && hb.ErrorCode == 0 {
		hb.ErrorCode = kerr.CoordinatorNotAvailable.Code
		hb.Assignment = nil
		return
	}
	r, ok := resp.(*kmsg.OffsetCommitResponse)
	if !ok {
		return
	}
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			if r.Topics[i].Partitions[j].ErrorCode == 0 {
				r.Topics[i].Partitions[j].ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
		}
	}
}

// send routes one single-group request to its group's goroutine, starting
// it if needed, and waits for the reply.
func (c *Coordinator) send(ctx context.Context, groupID string, req Request) (kmsg.Response, *kerr.Error) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil, kerr.CoordinatorNotAvailable
	}
	r := c.mu.groups[groupID]
	if r == nil {
		r = c.startLocked(New(groupID, c.cfg, c.now()))
	}
	r.refs++
	c.mu.Unlock()
	req.ID = c.nextID.Add(1)
	o := op{req: req, reply: make(chan kmsg.Response, 1)}
	var sendErr *kerr.Error
	select {
	case r.in <- o:
	case <-ctx.Done():
		sendErr = kerr.CoordinatorNotAvailable
	case <-c.stopped:
		sendErr = kerr.CoordinatorNotAvailable
	}
	c.mu.Lock()
	r.refs--
	c.mu.Unlock()
	if sendErr != nil {
		return nil, sendErr
	}
	select {
	case resp := <-o.reply:
		if resp == nil {
			return nil, kerr.CoordinatorNotAvailable
		}
		return resp, nil
	case <-ctx.Done():
		return nil, kerr.CoordinatorNotAvailable
	case <-c.stopped: // the group's goroutine may have exited before reading o
		return nil, kerr.CoordinatorNotAvailable
	}
}

// Handle answers one group request: JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups,
// DeleteGroups, OffsetDelete, ConsumerGroupHeartbeat or
// ConsumerGroupDescribe. clientID and clientHost are shown by
// DescribeGroups. It never returns nil.
func (c *Coordinator) Handle(ctx context.Context, clientID, clientHost string, body kmsg.Request) kmsg.Response {
	if !c.loaded.Load() {
		return ErrorResponse(body, kerr.CoordinatorLoadInProgress)
	}
	req := Request{ClientID: clientID, ClientHost: clientHost, Body: body}
	single := func(groupID string, requireID bool) kmsg.Response {
		if requireID && groupID == "" {
			return ErrorResponse(body, kerr.InvalidGroupID)
		}
		resp, err := c.send(ctx, groupID, req)
		if err != nil {
			return ErrorResponse(body, err)
		}
		return resp
	}
	switch r := body.(type) {
	case *kmsg.JoinGroupRequest:
		return single(r.Group, true)
	case *kmsg.SyncGroupRequest:
		return single(r.Group, true)
	case *kmsg.HeartbeatRequest:
		return single(r.Group, true)
	case *kmsg.LeaveGroupRequest:
		return single(r.Group, true)
	case *kmsg.OffsetCommitRequest:
		return single(r.Group, true)
	case *kmsg.OffsetDeleteRequest:
		return single(r.Group, true)
	case *kmsg.OffsetFetchRequest:
		if r.Version < 8 {
			return single(r.Group, false)
		}
		return c.fetchGroups(ctx, req, r)
	case *kmsg.DescribeGroupsRequest:
		return c.describeGroups(ctx, req, r)
	case *kmsg.DeleteGroupsRequest:
		return c.deleteGroups(ctx, req, r)
	case *kmsg.ListGroupsRequest:
		return c.listGroups(r)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		if r.Group == "" {
			return ErrorResponse(body, kerr.InvalidRequest)
		}
		return single(r.Group, true)
	case *kmsg.ConsumerGroupDescribeRequest:
		return c.describeConsumerGroups(ctx, req, r)
	}
	return ErrorResponse(body, kerr.UnsupportedVersion)
}

// perGroup serves a request naming several groups: entry i is asked of
// its group alone (as built by one(i)) and the answers are collected in
// order; failed makes the entry of a group that could not be asked (an
// empty ID where one is required, or a coordinator error). A group named
// more than once is asked and answered once, for its first mention, so a
// small request cannot make a large answer by naming a group many times.
func perGroup[E any](ctx context.Context, c *Coordinator, req Request, ids []string, requireID bool,
	one func(i int) kmsg.Request, answer func(kmsg.Response) E, failed func(id string, code int16) E) []E {
	out := make([]E, 0, len(ids))
	seen := mention.Seen[string]{}
	for i, id := range ids {
		if !seen.First(id) {
			continue
		}
		if requireID && id == "" {
			out = append(out, failed(id, kerr.InvalidGroupID.Code))
			continue
		}
		req.Body = one(i)
		got, err := c.send(ctx, id, req)
		if err != nil {
			out = append(out, failed(id, err.Code))
			continue
		}
		out = append(out, answer(got))
	}
	return out
}

func (c *Coordinator) fetchGroups(ctx context.Context, req Request, r *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	ids := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		ids[i] = g.Group
	}
	resp.Groups = perGroup(ctx, c, req, ids, false,
		func(i int) kmsg.Request { one := *r; one.Groups = r.Groups[i : i+1]; return &one },
		func(got kmsg.Response) kmsg.OffsetFetchResponseGroup {
			return got.(*kmsg.OffsetFetchResponse).Groups[0]
		},
		func(id string, code int16) kmsg.OffsetFetchResponseGroup {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = id, code
			return g
		})
	return resp
}

func (c *Coordinator) describeGroups(ctx context.Context, req Request, r *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.Groups = perGroup(ctx, c, req, r.Groups, true,
		func(i int) kmsg.Request { one := *r; one.Groups = r.Groups[i : i+1]; return &one },
		func(got kmsg.Response) kmsg.DescribeGroupsResponseGroup {
			return got.(*kmsg.DescribeGroupsResponse).Groups[0]
		},
		func(id string, code int16) kmsg.DescribeGroupsResponseGroup {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = id, code
			return g
		})
	return resp
}

func (c *Coordinator) describeConsumerGroups(ctx context.Context, req Request, r *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	resp.Groups = perGroup(ctx, c, req, r.Groups, true,
		func(i int) kmsg.Request { one := *r; one.Groups = r.Groups[i : i+1]; return &one },
		func(got kmsg.Response) kmsg.ConsumerGroupDescribeResponseGroup {
			return got.(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
		},
		func(id string, code int16) kmsg.ConsumerGroupDescribeResponseGroup {
			g := kmsg.NewConsumerGroupDescribeResponseGroup()
			g.Group, g.ErrorCode = id, code
			return g
		})
	return resp
}

func (c *Coordinator) deleteGroups(ctx context.Context, req Request, r *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = perGroup(ctx, c, req, r.Groups, true,
		func(i int) kmsg.Request { one := *r; one.Groups = r.Groups[i : i+1]; return &one },
		func(got kmsg.Response) kmsg.DeleteGroupsResponseGroup {
			return got.(*kmsg.DeleteGroupsResponse).Groups[0]
		},
		func(id string, code int16) kmsg.DeleteGroupsResponseGroup {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = id, code
			return g
		})
	return resp
}

// Groups returns a summary of every group, sorted by name.
func (c *Coordinator) Groups() []Summary {
	c.mu.Lock()
	out := make([]Summary, 0, len(c.mu.groups))
	for _, r := range c.mu.groups {
		if s := r.summary.Load(); s != nil && s.State != Dead.String() {
			out = append(out, *s)
		}
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

func (c *Coordinator) listGroups(r *kmsg.ListGroupsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
	// Filters match case-insensitively; as sets, so that a long filter
	// list costs its length once, not once per group.
	set := func(filter []string) map[string]bool {
		if len(filter) == 0 {
			return nil
		}
		m := make(map[string]bool, len(filter))
		for _, f := range filter {
			m[strings.ToLower(f)] = true
		}
		return m
	}
	match := func(filter map[string]bool, v string) bool {
		return filter == nil || filter[strings.ToLower(v)]
	}
	states, types := set(r.StatesFilter), set(r.TypesFilter)
	for _, s := range c.Groups() {
		if !match(states, s.State) || !match(types, s.Type) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = s.Group, s.ProtocolType, s.State, s.Type
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}
