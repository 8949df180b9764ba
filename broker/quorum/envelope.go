package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
)

// envelopeVersion is the first byte of every envelope.
const envelopeVersion = 1

// envelope names the proposal an entry carries: the node that proposed it,
// that node's process lifetime (a random number drawn at Start, so that an
// entry proposed before a restart never answers a proposal made after it)
// and the proposal's sequence number in that lifetime.
type envelope struct {
	node, incarnation, seq uint64
}

// appendEnvelope returns buf with e and then data appended: a version
// byte, the node id (uvarint), the incarnation (8 bytes big-endian), the
// sequence number (uvarint), the data.
func appendEnvelope(buf []byte, e envelope, data []byte) []byte {
	buf = append(buf, envelopeVersion)
	buf = binary.AppendUvarint(buf, e.node)
	buf = binary.BigEndian.AppendUint64(buf, e.incarnation)
	buf = binary.AppendUvarint(buf, e.seq)
	return append(buf, data...)
}

var errEnvelope = errors.New("quorum: entry is not a proposal envelope")

// decodeEnvelope splits an entry's data into its envelope and the
// proposer's data (which aliases b).
func decodeEnvelope(b []byte) (envelope, []byte, error) {
	if len(b) == 0 || b[0] != envelopeVersion {
		return envelope{}, nil, errEnvelope
	}
	var e envelope
	var k int
	if e.node, k = binary.Uvarint(b[1:]); k <= 0 || len(b) < 1+k+8 {
		return envelope{}, nil, errEnvelope
	}
	b = b[1+k:]
	e.incarnation, b = binary.BigEndian.Uint64(b), b[8:]
	if e.seq, k = binary.Uvarint(b); k <= 0 {
		return envelope{}, nil, errEnvelope
	}
	return e, b[k:], nil
}

// checkChange decides whether the membership change cc applies on top of
// cs. It depends on nothing else, so every node decides the same at the
// same log position; a change it refuses is not applied anywhere and its
// proposer gets the error. Changes raft made itself (the bootstrap's
// ConfChange entries, v1) add voters to an empty configuration.
func checkChange(cs *raftpb.ConfState, cc *raftpb.ConfChangeV2, v1 bool) error {
	changes := cc.GetChanges()
	switch {
	case len(changes) == 0:
		return nil // leaving a joint configuration: raft's own
	case len(changes) > 1:
		return fmt.Errorf("%w: %d changes at once, one at a time is supported", ErrMembership, len(changes))
	}
	id := changes[0].GetNodeId()
	voter, learner := slices.Contains(cs.GetVoters(), id), slices.Contains(cs.GetLearners(), id)
	switch t := changes[0].GetType(); t {
	case raftpb.ConfChangeAddNode:
		if !voter && !learner && !v1 {
			return fmt.Errorf("%w: node %d is not a learner: add it as a learner first", ErrMembership, id)
		}
	case raftpb.ConfChangeAddLearnerNode:
		if voter {
			return fmt.Errorf("%w: node %d is a voter", ErrMembership, id)
		}
	case raftpb.ConfChangeRemoveNode:
		if !voter && !learner {
			return fmt.Errorf("%w: node %d is not a member", ErrMembership, id)
		}
		if voter && len(cs.GetVoters()) == 1 {
			return fmt.Errorf("%w: node %d is the last voter", ErrMembership, id)
		}
	default:
		return fmt.Errorf("%w: change type %v is not supported", ErrMembership, t)
	}
	if id == 0 {
		return fmt.Errorf("%w: node id 0", ErrMembership)
	}
	return nil
}
