#!/usr/bin/env bash
# The structured fuzz of every Kafka API (broker/apifuzz_test.go) for a long
# run: random requests at every served version against a real `sluice
# server`, whose RSS is watched. `make test` runs it for 60 seconds; this
# runs it for SLUICE_FUZZ_DURATION (default 30m). A failure prints the seed;
# SLUICE_FUZZ_SEED=<seed> repeats the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export SLUICE_FUZZ_DURATION="${SLUICE_FUZZ_DURATION:-30m}"
# The run bounds itself by SLUICE_FUZZ_DURATION, so go test's own timeout
# (10 minutes by default) is off.
exec go test ./broker/ -run '^TestAPIFuzz$' -count=1 -v -timeout 0
