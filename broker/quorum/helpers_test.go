package quorum

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// testSM is an in-memory state machine: the list of data applied. Data
// starting with "bad" is rejected (Apply's error, the state unchanged). It
// fails the test if an index is applied twice, or out of order, in one
// process lifetime (since its last Restore).
type testSM struct {
	t  testing.TB
	mu sync.Mutex
	// state
	data    []string
	indexes []uint64
	// this lifetime
	last     uint64
	restored uint64 // the index Restore was called with
	restores int
}

func newTestSM(t testing.TB) *testSM { return &testSM{t: t} }

func (s *testSM) Apply(index uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.last {
		s.t.Errorf("entry %d applied after entry %d in one lifetime", index, s.last)
	}
	s.last = index
	d := string(data)
	if strings.HasPrefix(d, "bad") {
		return fmt.Errorf("rejected %q", d)
	}
	s.data = append(s.data, d)
	s.indexes = append(s.indexes, index)
	return nil
}

type smState struct {
	Data    []string
	Indexes []uint64
}

func (s *testSM) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(smState{s.data, s.indexes})
}

func (s *testSM) Restore(index uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st smState
	if data != nil {
		if err := json.Unmarshal(data, &st); err != nil {
			return err
		}
	}
	s.data, s.indexes, s.last, s.restored = st.Data, st.Indexes, index, index
	s.restores++
	return nil
}

// state returns the data applied, space-separated.
func (s *testSM) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.data, " ")
}

// full returns the data with their indexes.
func (s *testSM) full() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i, d := range s.data {
		fmt.Fprintf(&b, "%d:%s ", s.indexes[i], d)
	}
	return strings.TrimSpace(b.String())
}

// testNet is an in-memory network: messages wait in one queue, in the
// order they were sent, until the test delivers them. Each is marshalled
// and unmarshalled on the way, as over a wire.
type testNet struct {
	t     testing.TB
	mu    sync.Mutex
	queue []*raftpb.Message
	sent  chan struct{} // signalled (without blocking) on each Send
}

func newTestNet(t testing.TB) *testNet { return &testNet{t: t, sent: make(chan struct{}, 1)} }

type netTransport struct {
	net *testNet
}

func (tr netTransport) Send(msgs []*raftpb.Message) {
	tr.net.mu.Lock()
	defer tr.net.mu.Unlock()
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			tr.net.t.Errorf("marshal %v: %v", m, err)
			continue
		}
		c := &raftpb.Message{}
		if err := proto.Unmarshal(b, c); err != nil {
			tr.net.t.Errorf("unmarshal: %v", err)
			continue
		}
		tr.net.queue = append(tr.net.queue, c)
	}
	select {
	case tr.net.sent <- struct{}{}:
	default:
	}
}

func (n *testNet) take() []*raftpb.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.queue
	n.queue = nil
	return q
}

// records is a slog handler keeping warnings and errors for assertions.
type records struct {
	mu   sync.Mutex
	recs []string
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *records) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *records) WithGroup(string) slog.Handler                { return r }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	s := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" || a.Key == "frame" || a.Key == "err" {
			s += " " + a.String()
		}
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, s)
	r.mu.Unlock()
	return nil
}

// matching returns the records containing sub.
func (r *records) matching(sub string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.recs {
		if strings.Contains(s, sub) {
			out = append(out, s)
		}
	}
	return out
}
