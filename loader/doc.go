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
//	<root>/_tmp/<topic>+<partition>+<first>.<nonce>.tmp                 (being written)
//	<root>/_tmp/intents/<topic>+<partition>+<first>.intent              (commit in flight)
//	<root>/_tmp/intents/<topic>+<partition>+<first>.done                (last commit)
//	<root>/_hive/table.sql                                              (DDL + partitions)
//
// Offsets are zero-padded to 20 digits so names sort by offset.
//
// # Commit protocol
//
// A partition worker reads records in offset order, decodes them and routes
// each to the open temporary file of its time partition. When any open file
// reaches a roll threshold (records, bytes, age), or the run reaches its end
// offset, every open file of the worker is committed together as one batch:
//
//  1. each temporary file is closed (durable);
//  2. an intent file naming every rename (temporary -> final) is created
//     exclusively (its name carries the batch's first offset, so two owners
//     of one partition cannot both commit the same batch) and closed;
//  3. the intents folder is listed: a newer intent or done marker of the
//     same partition means another owner got there first (fenced: abandon);
//  4. the renames are done, then the intent is renamed to .done and the
//     previous .done of the partition removed.
//
// Recovery of a partition (at start, on a consumer-group assignment, or
// after an error) replays the newest complete intent (each rename is
// idempotent: a missing source with an existing destination is done),
// removes every other intent and the partition's temporary files, and
// derives the resume offset as one past the highest last offset of the
// partition's published files. So an offset is never published twice or
// skipped, whichever step fails.
package loader
