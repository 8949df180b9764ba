// Package log is one partition's persistent log: a folder of segments
// holding Kafka v2 record batches exactly as producers sent them (with the
// base offset assigned in place), sparse offset and time indexes, recovery
// after a crash, retention, and the idempotent-producer state.
//
// # Partition folder
//
//	00000000000000000000.log        record batches, back to back
//	00000000000000000000.index      relativeOffset uint32 | position uint32
//	00000000000000000000.timeindex  timestamp int64 | relativeOffset uint32
//	00000000000000004096.log        next segment, named by its base offset
//	...
//	00000000000000004096.snapshot   producer state as of offset 4096
//	log-start-offset                "1 <offset>\n": first readable offset
//	recovery-point                  "1 <offset>\n": everything below is fsynced
//	leader-epoch-checkpoint         Kafka's: "<epoch> <start offset>" lines
//	clean-shutdown                  present only after Close
//	truncation-point                "1 <offset>\n": only while TruncateTo runs
//	write-probe.tmp                 only while Recover tests the disk
//
// Index files are append-only rather than preallocated: the file size gives
// the number of entries, so nothing has to be trimmed on close. The active
// segment's index entries live in memory and reach the file on Flush, roll
// and Close; closed segments' indexes are binary-searched with ReadAt.
//
// # Open files
//
// Segment and index files are opened on demand through a FileCache that
// all logs of a broker share (Options.Files), not held open for the life of
// the segment as Kafka does, so the partition count is bounded by disk and
// memory rather than by the descriptor limit. Idle files are closed least
// recently used first when the cache is full; a file in use (an append, an
// index search, a Chunk not yet released) is never closed under its user,
// and a file written since its last fsync is fsynced before it is closed
// (a failure there fails the log like any failed fsync). A Chunk holds its
// segment file open, even past the segment's deletion, until Release.
// DescriptorLimit and SplitDescriptors give the broker's split of the
// descriptor limit between log files and connections.
//
// # Appending and reading
//
// Append validates every batch (length fields, magic 2, CRC32C, record count,
// max.message.bytes) before writing any, assigns offsets, applies producer
// sequence checks and writes all batches with one write(2). Its cost does not
// depend on how much is stored.
//
// It also reads through the records of every batch (records.go), as Kafka's
// LogValidator does: the codec must be one Kafka defines (0-4, else
// CORRUPT_MESSAGE), the records must match the declared count with offset
// deltas 0, 1, 2, ... and consistent lengths (else INVALID_RECORD), a
// compressed record may not exceed max.decompressed.message.bytes
// (INVALID_RECORD), and a compressed batch's records may decompress to at
// most Config.MaxDecompressedBatchBytes, 64 times max.message.bytes
// (MESSAGE_TOO_LARGE). Compressed batches are streamed through pooled
// decoders in bounded memory (codec.go), never decompressed into one slice,
// and at most GOMAXPROCS at once; the batch is still stored as sent. Read binary-searches the in-memory list of
// segment base offsets, then the sparse index, then steps over at most
// index.interval.bytes of batch headers; it takes no lock.
//
// An index entry is never trusted blindly: the batch header at the
// position it gives must parse (length within the segment, magic 2) and
// have the entry's base offset. That header is read anyway, so the check is
// free. An entry that disagrees makes the reader rebuild both indexes of
// that segment from its batch headers, under the append lock, with one
// warning, and retry; opening is as fast as before. Read returns only
// chunks that start with such a header for a batch holding (or, after a
// compaction gap, following) the requested offset; bytes that are not a
// batch header are a *CorruptionError (ErrCorruptMessage), never data.
//
// # Durability
//
// As in Kafka, flush.messages and flush.ms default to "never": the log
// relies on the page cache and on replication. Every append is written with
// write(2) before Append returns, so a process crash (kill -9) loses nothing
// that was acknowledged. An OS crash or power loss can lose what was not yet
// fsynced; recovery then truncates at the first torn or corrupt batch past
// the recovery point and never serves it. Rolled segments are fsynced by
// the next Maintain call and the recovery checkpoint advanced, so recovery
// rereads only the segments after the checkpoint. Setting flush.messages=1
// fsyncs every append (slow, durable on one node).
//
// Only the tail past the recovery point can hold a torn write. Damage below
// it (or anywhere after a clean shutdown: a cut or overwritten sealed
// segment, a bit flip) is never truncated: the bad bytes stay on disk as a
// DamagedRange (segment, byte range, offsets), logged once and persisted in
// the damaged-ranges file; reads of its offsets fail with a *DamagedError
// (ErrCorruptMessage), reads before and after it work, and the end offset
// never moves back below it, so no offset is handed out twice. Recovery,
// reads that meet a header that does not parse, and Scrub find such ranges
// (see damage.go, scan.go and scrub.go).
//
// After a failed write or fsync (a full disk, an I/O error) the log is
// read-only: reads go on, every later append, flush and retention pass
// fails with that error, and Failure says why and since when. Recover,
// which the broker calls with a backoff, leaves that state without a
// restart once a probe write succeeds: it cuts the active segment back to
// its acknowledged bytes, then recovers the tail exactly as Open does after
// a crash (recover.go). The state of a file after a failed fsync is unknown
// (see PostgreSQL's fsyncgate), so nothing past the recovery checkpoint is
// trusted: it is re-read and checked batch by batch. Bytes of a failed
// write never survive; a batch written but refused because its fsync
// failed is kept if it verifies, and its producer's retry is a duplicate.
//
// # Idempotent producers
//
// The last five batches of each producer id are kept to detect retries. The
// state is snapshotted to <offset>.snapshot at each roll and at Close; Open
// loads the newest valid snapshot and applies only the batches after it.
//
// # Replication
//
// A follower's log takes the leader's batches as they are with
// AppendReplicated (offsets, leader epochs and timestamps kept; the first
// batch must start at the end offset, else ErrOffsetMismatch), recording
// their producers unchecked and each new leader epoch where its first
// batch starts, so that it can lead in turn. TruncateTo cuts a divergent
// tail (KIP-101, KIP-279) at a batch boundary: later segments go, the cut
// one is truncated with its indexes, the producer state is rebuilt and the
// epochs after the cut are dropped. A marker file makes it atomic: Open
// and Recover finish a truncation a crash or a failed write interrupted
// (replica.go).
//
// # Compaction
//
// The cleaner (Cleaner, compact.go and compact_segment.go) rewrites closed
// segments of compacted logs in bounded memory, streaming one batch's
// records at a time; a batch it cannot read is kept as it is and reported
// once (CompactResult.Uncleanable), never retried as a failure. The log
// leaves room for it:
// Segments lists closed segments; readers and recovery accept offset gaps
// between batches when Config.Compact is set (otherwise recovery requires
// contiguous offsets, because the base offset is not covered by the CRC);
// and Open removes leftover *.cleaned, *.deleted and *.tmp files, so a
// cleaner can write a replacement as "<base>.log.cleaned" and install it
// with renames (Kafka's .cleaned -> .swap -> .log protocol).
package log
