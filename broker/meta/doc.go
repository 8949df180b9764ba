// Package meta holds the cluster metadata of a Sluice broker: topics, their
// partition counts and config overrides, registered brokers and dynamic broker
// configs.
//
// Metadata is a log (the invariant of that name in docs/architecture.md).
// Every change is a typed Record (CreateTopic, DeleteTopic,
// CreatePartitions, AlterTopicConfigs, RegisterBroker, AlterBrokerConfigs)
// that is validated against the current Image, appended to a durable
// Journal, and then applied to build the next Image. Apply is a pure state
// machine with no I/O, in the style of etcd raft's RawNode: the same
// records applied to the same image always give the same image, which is
// what lets a Raft log replace the local Journal later without touching
// the broker.
//
// Options.MaxPartitions (max.broker.partitions) makes Store.Apply and
// Store.Validate refuse, with ErrPolicyViolation, a change that would leave
// more partitions than that (and more than before); replaying the journal
// never does, so a lowered limit never stops a store from opening.
//
// Readers get the current Image lock-free from Store.Image; an Image is never
// modified after it is published, so it may be shared freely. Applying copies
// only the touched topic and the maps that index topics.
//
// Journal file format (one file, journal.log, in the store's directory):
//
//	+----------------+----------------+------------------------+
//	| length uint32  | crc32c uint32  | payload (length bytes) |  ... repeated
//	+----------------+----------------+------------------------+
//
// Both integers are big-endian; the CRC (Castagnoli) covers the payload only.
// The n-th frame in the file has journal offset n (starting at 0). A frame
// that runs past the end of the file, a partial header, a last frame that
// fails its CRC, or a bad frame after which only zero bytes follow, is a
// torn write: it is truncated on open with a warning that names the byte
// range cut and what it held, as far as it decodes (each record's type and
// JSON body, marked where it is cut). A bad frame followed by more data,
// or a length outside 1..64 MiB, is corruption: Open fails
// with a *CorruptionError naming the file, byte position and offset, and
// leaves the file as it is for an operator.
//
// A journal append that fails (a full disk, an I/O error) makes the Store
// read-only, logged once: the image stays as it was, and every change is
// refused with an error wrapping ErrStorage (KAFKA_STORAGE_ERROR) until
// Store.Recover succeeds, which the broker calls with a backoff. For a
// FileJournal that cuts the refused frame off (every acknowledged frame
// was fsynced, so nothing before it needs re-reading; a frame whose fsync
// failed is not known durable and was refused, so it must not survive) and
// succeeds once a probe write of zeros, fsynced and cut off again, does.
// A FileJournal does its file I/O through the broker's vfs.FS
// (FileJournalOptions.FS), so tests run it on errorfs with the same fault
// rules and crash model as the partition log.
//
// The Store takes no snapshots yet: Open replays the whole journal (about
// 60,000 entries a second), which is fine for metadata that changes rarely.
// EncodeSnapshot and DecodeSnapshot turn an Image into bytes and back (as
// the records that rebuild it), ready for a Raft FSM's Snapshot and Restore.
//
// A Store payload is one entry (EncodeEntry): a version byte, the append time
// and one or more records, each itself a version byte, a type byte and a JSON
// body, so that changes applied together are durable together.
package meta
