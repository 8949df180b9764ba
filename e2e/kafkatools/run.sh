#!/usr/bin/env bash
# Apache Kafka's own command-line tools (4.4, from Maven Central via
# e2e/kafka) against a real `bin/sluice server`: kafka-topics, kafka-configs,
# the console producer and consumer, and kafka-consumer-groups, as a Kafka
# operator would run them. Each check prints "ok" or "FAIL"; the script exits
# non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/e2e/kafka/lib.sh"
kafka_jars
source "$root/e2e/lib/broker.sh"
e2e_init kafkatools
start_sluice_server broker

failed=0
check() { # NAME FILE REGEX
  if grep -Eq -- "$3" "$2"; then echo "ok   $1"; else echo "FAIL $1: no /$3/ in:"; head -20 "$2"; failed=$((failed + 1)); fi
}
tool() { timeout 120 "$root/e2e/kafka/run-class.sh" "$@"; } # the JVM itself, bounded

tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --create --topic kt --partitions 3 \
  --config retention.ms=3600000 >"$work/out" 2>&1
check "kafka-topics --create" "$work/out" "Created topic kt"
tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --alter --topic kt --partitions 4 >"$work/out" 2>&1 || true
tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --describe --topic kt >"$work/out" 2>&1
check "kafka-topics --describe shows the config" "$work/out" "PartitionCount: 4.*Configs: retention.ms=3600000"
check "kafka-topics --describe shows partition 3 led by node 0" "$work/out" "Partition: 3.*Leader: 0.*Isr: 0"
tool org.apache.kafka.tools.ConfigCommand --bootstrap-server "$B" --entity-type topics --entity-name kt \
  --alter --add-config retention.bytes=1048576 >"$work/out" 2>&1
check "kafka-configs --alter" "$work/out" "Completed updating config for topic kt"
tool org.apache.kafka.tools.ConfigCommand --bootstrap-server "$B" --entity-type topics --entity-name kt --describe >"$work/out" 2>&1
check "kafka-configs --describe" "$work/out" "retention.bytes=1048576"
tool org.apache.kafka.tools.ConfigCommand --bootstrap-server "$B" --entity-type brokers --entity-name 0 --describe --all >"$work/out" 2>&1
check "kafka-configs --describe --all for the broker" "$work/out" "num.partitions=1"

seq 1 500 | sed 's/^/msg-/' >"$work/in"
tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$B" --topic kt <"$work/in" >"$work/out" 2>&1
tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$B" --topic kt --group kt-group \
  --from-beginning --max-messages 500 --timeout-ms 30000 >"$work/got" 2>"$work/err"
sort "$work/got" >"$work/got.sorted"
sort "$work/in" >"$work/in.sorted"
if cmp -s "$work/in.sorted" "$work/got.sorted"; then echo "ok   console producer -> console consumer (group kt-group), 500 records"; else
  echo "FAIL console producer -> console consumer: got $(wc -l <"$work/got") records"; head -5 "$work/err"; failed=$((failed + 1)); fi
tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$B" --list >"$work/out" 2>&1
check "kafka-consumer-groups --list" "$work/out" "^kt-group$"
tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$B" --describe --group kt-group >"$work/out" 2>&1
check "kafka-consumer-groups --describe shows zero lag" "$work/out" "kt-group +kt +[0-9] +[0-9]+ +[0-9]+ +0 "
tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$B" --reset-offsets --group kt-group \
  --topic kt --to-earliest --execute >"$work/out" 2>&1
check "kafka-consumer-groups --reset-offsets --to-earliest" "$work/out" "kt-group +kt +[0-9] +0"
tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --delete --topic kt >"$work/out" 2>&1
tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --list >"$work/out" 2>&1
if grep -q '^kt$' "$work/out"; then echo "FAIL kafka-topics --delete: kt still listed"; failed=$((failed + 1)); else echo "ok   kafka-topics --delete"; fi

# Transactions are not supported yet: a transactional Java producer must stop
# at once with a fatal error, not wait out max.block.ms (set to 10 minutes
# here, so a retrying client would be killed by tool's timeout instead).
tool org.apache.kafka.tools.ProducerPerformance --topic kt-tx --num-records 10 --record-size 10 --throughput -1 \
  --transactional-id kt-tx --producer-props bootstrap.servers="$B" max.block.ms=600000 >"$work/out" 2>&1 || true
check "transactional Java producer fails fast" "$work/out" "TransactionalIdAuthorizationException"

echo "e2e/kafkatools: $failed failed"
((failed == 0))
