#!/usr/bin/env bash
# The benchmark suite's smoke mode, so its scripts keep working: one short
# round of every scenario of bench/run.sh against Sluice, Apache Kafka and
# Spark, with tiny sizes. It checks that every scenario ran and produced
# every measure (bench/report.py), never a speed. `make bench` runs the
# real thing and writes bench/RESULTS.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-smoke.XXXXXX")
trap 'rm -rf "$out"' EXIT
BENCH_SMOKE=1 BENCH_RESULTS="$out/RESULTS.md" bash "$root/bench/run.sh"
python3 "$root/bench/report.py" check "$out/RESULTS.jsonl"
echo "e2e/bench: smoke run passed: $(wc -l <"$out/RESULTS.jsonl") measurements"
