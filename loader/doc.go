// Package loader lands Kafka topics in a file system (HDFS or a local
// folder) as Parquet, exactly once, with one worker per partition.
//
// # Sink layout
//
// The sink is the source of truth. A published file is named by the topic,
// the partition and the first and last offsets of the rows it holds:
//
//	<root>/<time partition>/<topic>+<partition>+<first>+<last>.<codec>.parquet
//	<root>/_errors/<topic>+<partition>+<first>+<last>.<codec>.parquet   (dead letters)
//	<root>/_tmp/<topic>+<partition>+<first>.<epoch>.<nonce>.tmp         (being written)
//	<root>/_tmp/intents/<topic>+<partition>+<epoch>.owner               (newest owner)
//	<root>/_tmp/intents/<topic>+<partition>+<first>.<epoch>.prep        (intent, not committed)
//	<root>/_tmp/intents/<topic>+<partition>+<first>.intent              (commit in flight)
//	<root>/_tmp/intents/<topic>+<partition>+<first>.done                (last commit)
//	<root>/_hive/table.sql                                              (DDL + partitions)
//
// Offsets and epochs are zero-padded to 20 digits so names sort by them.
//
// # Ownership
//
// Every recovery of a partition (at start, on a consumer-group assignment,
// or after an error) claims a new ownership epoch for its caller by
// creating the next .owner marker exclusively. Temporary files and
// prepared intents carry their owner's epoch. An owner that lost the
// partition without noticing (its consumer-group session expired, it
// paused) may keep writing, but the commit protocol fences it: nothing it
// commits after a newer owner's recovery can be published.
//
// # Commit protocol
//
// A partition worker reads records in offset order, decodes them and routes
// each to the open temporary file of its time partition. When any open file
// reaches a roll threshold (records, bytes, age), or the run reaches its end
// offset, every open file of the worker is committed together as one batch:
//
//  1. each temporary file is closed (durable);
//  2. a prepared intent naming every rename (temporary -> final) is
//     written under the owner's epoch and closed;
//  3. the intents folder is listed: a newer owner marker (or this
//     owner's gone), or a newer intent or done marker of the partition,
//     means another owner got there first (fenced: remove the prepared
//     intent and the temporaries);
//  4. the prepared intent is committed by renaming it to .intent, named
//     by the batch's first offset, never overwriting (so two owners
//     cannot commit the same batch);
//  5. the renames are done, then the intent is renamed to .done and the
//     previous .done of the partition removed.
//
// Recovery of a partition, after claiming its epoch, lists the intents
// and withdraws (removes) the older owners' prepared intents, lists them
// again, rolls forward the newest committed intent (each rename is
// idempotent: a missing source with an existing destination is done),
// removes every other committed intent and the older owners' temporary
// files, and derives the resume offset as one past the highest last offset
// of the partition's published files.
//
// Steps 2-4 and the claim are ordered so that an old owner and a new one
// cannot both miss each other: the old owner lists after preparing, the
// new one lists after claiming, so either the old owner sees the newer
// epoch and stops, or the new owner sees the prepared intent and withdraws
// it, which makes step 4 fail unless the commit came first, in which case
// the new owner rolls the batch forward before it scans. Withdrawal and
// commit are one remove and one rename of the same file, so exactly one
// wins. So a batch is published whole or not at all, no temporary file a
// committed intent names is removed before it is renamed, and an offset is
// never published twice or skipped, whichever step fails and however two
// owners' steps interleave.
//
// # Compressed batches
//
// franz-go decompresses fetched batches before the loader sees their
// records. Each partition's client decompresses through package
// batchcodec/bounded (shared with the CLI's consumer and the scheduler)
// with two bounds (decompress.go): one batch may expand to at most
// Config.MaxDecompressedBatchBytes (128 MiB by default), and all batches
// decompressed between two polls to twice that. A batch over the first
// bound (a compression bomb from a foreign cluster) stops its partition's
// run with an error naming the batch's offset; the second only makes the
// client fetch the rest of a response again after the next poll. So a
// worker holds at most about 256 MiB of decompressed records, whatever the
// cluster serves. The decoders in package formats take each message's
// bytes as they are and decompress nothing.
//
// # Metrics
//
// A process that runs pipelines makes one [Metrics] with [NewMetrics] on
// the registerer it serves on /metrics and gives it to every run
// (Config.Metrics). Series are labelled by pipeline (the spec's name) and
// topic: sluice_loader_records_read_total, _records_decoded_total,
// _decode_errors_total, _dead_letters_total, _files_published_total,
// _bytes_published_total, _gap_skipped_offsets_total and _retries_total;
// per pipeline, the sluice_loader_commit_duration_seconds histogram (one
// observation per published batch, steps 1-5 above),
// sluice_loader_commit_failures_total{reason} (fenced, canceled, error)
// and the sluice_loader_workers gauge. Published data is counted when its
// batch commits, from the numbers [PartitionStats] holds, so a run adds
// its [Summary] totals to the counters. Each worker resolves its series
// once: counting does no label lookups.

package loader
