// Package quorum is the metadata quorum's Raft node: go.etcd.io/raft/v3
// (v3.7) does the consensus; this package persists its log, runs its Ready
// loop, applies committed entries to a StateMachine, takes snapshots,
// changes membership and carries messages over TCP.
//
// # The node
//
// Start replays the node's folder and starts one goroutine, the loop, which
// alone touches the raft.RawNode, the log file and the state machine. Every
// call (Step, Propose, the membership changes, Tick) is a request to the
// loop; the loop takes what is waiting (up to 256 requests), steps it into
// raft, handles the Ready structs that result, and only then answers the
// requests, so that a Step or a Tick returns once its messages are handed
// to the Transport and its committed entries are applied (tests with
// ManualTicks and an in-memory transport are deterministic that way).
//
// Each Ready is handled in the order etcd raft requires:
//
//  1. persist: a snapshot from the leader (its file, then the log rewritten
//     to start from it), else the new entries and then the hard state,
//     appended in one write and fsynced (when raft says MustSync);
//  2. send the messages (after the fsync: a vote or an append
//     acknowledgement must be durable before it is sent);
//  3. apply: restore the state machine from the leader's snapshot, then
//     the committed entries in order;
//  4. take a snapshot if SnapshotEntries were applied since the last, or
//     if a member was added to a compacted log (raft refuses a snapshot
//     whose configuration does not name its receiver, so the newcomer
//     needs one taken after it was added);
//  5. Advance, then report each snapshot sent as delivered (the transport
//     cannot tell; a lost one shows as a rejected append, and the leader
//     sends another).
//
// # Proposals
//
// Propose wraps the data in an envelope: a version byte, the proposer's
// node id (uvarint), its incarnation (a random number drawn at Start, 8
// bytes, so an entry proposed before a restart never answers a proposal
// made after it) and a sequence number (uvarint). When a committed entry
// is applied, the state machine sees the data alone; if the envelope names
// this node and incarnation, the waiting Propose gets Apply's error (once
// Status shows the entry applied). Entries from other nodes are applied
// and nobody waits; the empty entry a new leader appends never reaches
// Apply. A follower forwards the proposal to the leader (raft does); with
// no leader known Propose fails at once with ErrNoLeader. A proposal lost
// in a leader change leaves Propose waiting until its context ends
// (ErrOutcomeUnknown): raft may still commit an entry that a new leader
// overwrote on some node, so nothing sooner is certain.
//
// AddLearner, Promote and Remove propose a one-change ConfChangeV2 (raft's
// simple protocol) with the envelope in its context and return once it is
// applied. Whether a change applies is decided at apply time from the
// configuration at that log position alone (checkChange: promote only a
// learner, remove only a member, never the last voter), so every node
// decides the same; a refused change is not applied anywhere and its
// proposer gets ErrMembership. Raft allows one unapplied change at a time:
// a leader whose proposed change raft replaced with an empty entry answers
// ErrConfChangeInProgress.
//
// # Files
//
// Dir holds:
//
//   - raft.wal, the log: frames of a big-endian uint32 payload length, the
//     payload's CRC32C (Castagnoli) and the payload, whose first byte is the
//     record kind: 1 the header (magic "SLQWAL1" and the node id, always
//     first), 2 an entry (a marshalled raftpb.Entry), 3 the hard state
//     (raftpb.HardState), 4 a snapshot (raftpb.SnapshotMetadata: the log
//     continues after the snapshot in the file below). Replay applies the
//     records in order: a later entry at the same or a lower index replaces
//     the suffix from there (an uncommitted tail a new leader overwrote),
//     the last hard state wins. A torn tail (a crash during a write: a
//     partial frame, a last frame failing its CRC, a zero-filled tail) is
//     cut with a warning, as broker/meta's journal does; a bad frame
//     followed by more data, or records that do not fit together, is a
//     *CorruptionError naming the file and the byte.
//   - snap-<index, 16 hex digits>.snap, the snapshot the log starts from:
//     one frame holding a marshalled raftpb.Snapshot (the state machine's
//     data, the index, term and configuration), written atomically
//     (vfs.WriteFileAtomic).
//   - LOCK, held while the node runs.
//
// A snapshot, taken or received, is written to its file first; then the
// log is rewritten atomically (a temporary file, fsync, rename, folder
// sync) as the header, the snapshot record, the hard state and the
// entries after the snapshot; then older snapshot files are removed. A
// crash between the steps leaves the old log and a snapshot file it does
// not name, which Start removes. All file I/O goes through Config.FS, so
// tests run the node on broker/log/vfs/errorfs.
//
// Start replays the log into a raft.MemoryStorage, restores the state
// machine from the snapshot (or from nothing), and raft then applies the
// committed entries after the snapshot again. A folder with no state and a
// node id in Config.Voters bootstraps: like etcd's StartNode with peers,
// every voter starts from the same configuration entries. (Entries with no
// hard state are a first write torn by a crash, never acknowledged: they
// count as no state.)
//
// A failed write or fsync of the log, or a state machine that cannot
// snapshot or restore, stops the node: raft's state cannot go on past a
// log it could not write. Err and Close return the failure, every waiting
// call gets ErrClosed wrapping it, and a new Start recovers from what the
// files hold.
//
// # Transport
//
// TCPTransport sends each peer's messages over one connection, from a
// bounded queue (a full queue drops: raft retries), reconnecting with
// backoff. After a handshake (magic "SLRAFT1", node id, cluster id) each
// frame is a length-prefixed marshalled raftpb.Message. A node refuses a
// peer whose cluster id differs from its own (both non-empty) with a reply
// naming both, and the dialing side reports it through
// TCPConfig.OnClusterMismatch.
package quorum
