// Package client is what the CLI's commands do, as a library the CLI and
// the web console share. Nothing here parses flags or prints tables: callers
// pass typed values and get results and errors about values, which the CLI
// wraps with the flag that carried them.
//
// Jobs talks to a scheduler's admin API. Everything else talks to any
// Kafka-protocol cluster (Sluice, Apache Kafka, Redpanda) with franz-go,
// starting from a [Cluster]:
//
//   - [Admin] creates, lists, describes (with the damaged ranges a Sluice
//     broker reports, damage.go), configures and deletes topics
//     (topics.go), and lists, describes and deletes consumer groups and
//     plans and commits resets of their offsets (groups.go, offsets.go).
//   - [Reader] reads a topic without a consumer group, from a [Position],
//     up to a limit or to the end each partition had at start (read.go);
//     [RecordFormat] is the template language that prints its records
//     (format.go).
//   - [Cluster.ProduceLines] produces one record per input line, stopping
//     at the first failure and reporting the failed lines (produce.go).
//
// A whole request that fails is a [*RequestError] naming the brokers; a
// topic's or group's own error names the topic or group.
package client
