#!/usr/bin/env bash
# The cluster fault schedule as a soak: TestSchedule runs fault after
# fault (every kind, in random orders) for SLUICE_SOAK_DURATION (default
# 10m), then checks everything it was told against the final logs.
# Needs root (network namespaces); fails rather than skips without it.
# For make soak: `bash broker/clusterfault/soak.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SLUICE_SOAK_DURATION="${SLUICE_SOAK_DURATION:-10m}"
export SLUICE_NETFAULT_REQUIRED=1
# Every wait in the test is bounded; no go test timeout to size.
exec go test -count=1 -v -run '^TestSchedule$' -timeout 0 ./broker/clusterfault/
