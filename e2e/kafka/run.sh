#!/usr/bin/env bash
# The sluice CLI (franz-go) and kcat against real Apache Kafka 4.x: the same
# checks as e2e/kcat/run.sh, so `sluice topic|produce|consume` is proven on a
# Kafka cluster that is not Sluice. Fetches Kafka's jars from Maven Central
# into e2e/kafka/target on the first run.
set -euo pipefail
SLUICE_E2E_PEER=kafka exec "$(dirname "${BASH_SOURCE[0]}")/../kcat/run.sh"
