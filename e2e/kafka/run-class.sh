#!/usr/bin/env bash
# Runs a class from Apache Kafka's jars, fetching them first if needed, e.g.
#   e2e/kafka/run-class.sh org.apache.kafka.tools.ProducerPerformance --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kafka_jars
kafka_java "$@"
