package quorum

import (
	"errors"
	"fmt"
)

// Errors returned by the Node. Test them with errors.Is.
var (
	// ErrNoLeader: the node knows no leader (an election is running, or the
	// node is cut off), so a proposal or membership change cannot be
	// forwarded. Nothing was proposed; retry once a leader is known.
	ErrNoLeader = errors.New("quorum: no leader known")
	// ErrDropped: raft refused the proposal at once (for example during a
	// leadership transfer, or on a leader that was removed). Nothing was
	// proposed; retry.
	ErrDropped = errors.New("quorum: proposal dropped by raft")
	// ErrOutcomeUnknown: the caller's context ended before the entry was
	// seen applied. The proposal may still commit (or may have been lost in
	// a leader change); the caller must find out from the state machine.
	ErrOutcomeUnknown = errors.New("quorum: outcome of the proposal is unknown")
	// ErrClosed: the node was closed, or stopped after a failure (which the
	// error then wraps too).
	ErrClosed = errors.New("quorum: node closed")
	// ErrConfChangeInProgress: the leader refused a membership change
	// because an earlier one is not applied yet (raft allows one at a
	// time, and a new leader first applies its whole log). Retry.
	ErrConfChangeInProgress = errors.New("quorum: another membership change is not applied yet")
	// ErrMembership: a membership change that does not fit the current
	// configuration (promoting a node that is not a learner, removing one
	// that is not a member, making the last voter a learner or removing
	// it). It is decided when the change is applied, the same way on every
	// node, and also checked before proposing.
	ErrMembership = errors.New("quorum: invalid membership change")
	// ErrTooLarge: a proposal longer than MaxProposalBytes.
	ErrTooLarge = errors.New("quorum: proposal too large")
)

// CorruptionError reports a damaged raft log or snapshot file: a frame
// that fails its length or CRC check and is followed by more data (so it
// is not a torn tail), a record that does not decode, or records that do
// not fit together. Start refuses to run on it and leaves the files as
// they are for an operator.
type CorruptionError struct {
	Path   string // the file
	Pos    int64  // byte position of the bad frame
	Frame  int64  // how many valid frames precede it
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("quorum: corrupt raft file %s at byte %d (frame %d): %s", e.Path, e.Pos, e.Frame, e.Reason)
}
