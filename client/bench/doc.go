// Package bench measures a Kafka-protocol cluster (Sluice, Apache Kafka,
// Redpanda) with franz-go, so that one tool drives every system and their
// numbers compare. It is what `sluice bench` runs.
//
//   - [Produce] sends fixed-size keyless records from one or more
//     independent producers for a duration or a count, waits for every
//     acknowledgement and fails on any failed record (produce.go).
//   - [Consume] reads every partition of a topic from its start to the end
//     offsets seen at start, partitions split among consumers (consume.go).
//   - [Latency] measures end-to-end latency with one clock: a consumer in
//     the same process, positioned at the end and confirmed ready, and a
//     producer sending at a fixed rate. Each record carries its index, so
//     its latency is the time it was consumed minus the time it was
//     scheduled to be sent, not the time it was sent: a stalled broker
//     cannot hide its stall by slowing the sender (coordinated omission)
//     (latency.go).
//
// Each returns a [Result]; MB is 2^20 bytes, as Kafka's perf tools count.
// A config value that cannot work is a [*ConfigError] naming the field, so
// that callers can name their own flag. A cancelled context stops a run
// cleanly: the result so far comes back with [ErrInterrupted].
package bench
