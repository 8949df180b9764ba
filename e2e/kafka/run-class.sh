#!/usr/bin/env bash
# Runs a class from Apache Kafka's jars, fetching them first if needed, e.g.
#   e2e/kafka/run-class.sh org.apache.kafka.tools.ProducerPerformance --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kafka_jars
# The JVM takes this script's pid, so killing the pid stops the tool rather
# than leaving the JVM orphaned (as e2e/groups' console consumers were).
KAFKA_EXEC=1 kafka_java "$@"
