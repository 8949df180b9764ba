#!/usr/bin/env bash
# Loader benchmark (make bench): end to end from a real `sluice server` to
# local Parquet, JSON activity events (10 fields) in a 6-partition topic.
# Runs `sluice load` with 1 and 2 cores (GOMAXPROCS, max_workers) and 6
# workers on all cores, and prints a markdown table: wall time, records/s,
# records per CPU-second of the loader process (user + system time, the
# per-core rate on a machine shared with the broker and others) and the
# loader's peak RSS.
# Env: N (default 2,000,000), CONFIGS (default "1x1 1x6 2x2 2x6", cores x
# workers), KEEP=1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N=${N:-2000000}
PY=/bin/true # the benchmark reads nothing back
build_tools
start_broker
"$SLUICE_BIN" --brokers "$BROKER" topic create bench -p 6 >/dev/null
"$WORK/gen" -brokers "$BROKER" -topic bench -n "$N"
echo
echo "| cores (GOMAXPROCS) | workers | wall s | records/s | loader CPU s | records/CPU-s | max RSS MiB |"
echo "|---|---|---|---|---|---|---|"
for cfg in ${CONFIGS:-1x1 1x6 2x2 2x6}; do # cores x workers
  cores=${cfg%x*} workers=${cfg#*x}
  name=b$cores-$workers
  pipeline "$name" bench "$WORK/$name" "{records: 1000000}"
  echo "max_workers: $workers" >>"$WORK/$name.yaml"
  GOMAXPROCS=$cores /usr/bin/time -f "%e %U %S %M" -o "$WORK/$name.time" \
    "$SLUICE_BIN" load --progress none "$WORK/$name.yaml" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
    { cat "$WORK/$name.err"; die "load failed"; }
  grep -q "^ *total *$N " "$WORK/$name.out" || { cat "$WORK/$name.out"; die "$name did not load $N records"; }
  read -r wall user sys rss <"$WORK/$name.time"
  awk -v c="$cores" -v w="$workers" -v n="$N" -v wall="$wall" -v u="$user" -v s="$sys" -v rss="$rss" \
    'BEGIN { printf "| %d | %d | %.2f | %.0f | %.2f | %.0f | %.0f |\n", c, w, wall, n / wall, u + s, n / (u + s), rss / 1024 }'
  rm -rf "${WORK:?}/$name"
done
