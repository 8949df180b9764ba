#!/usr/bin/env bash
# Loader benchmark (issue 11), run or sourced by bench/run.sh: the same
# BENCH_LOAD_N JSON activity events (e2e/loader/gen, 10 fields, event_time
# 10 ms apart) in an 8-partition topic, landed as snappy Parquet in
# dt=YYYY-MM-DD/hr=HH folders (UTC, from event_time) by three systems side
# by side:
#
#   sluice load          the pipeline of e2e/loader/pipeline.sh, 8 workers
#                        (one per partition), GOMAXPROCS=cores
#   spark batch          bench/spark_load.py batch: spark.read from Kafka with
#                        explicit per-partition start/end offsets, from_json
#                        with an explicit schema, partitionBy("dt","hr")
#   spark availableNow   bench/spark_load.py stream: the same transform as a
#                        Structured Streaming query, trigger(availableNow=True)
#
# each pinned to 1 and then 2 cores (taskset; Spark runs local[cores]).
# Every round runs each core count with the three systems in turn, so slow
# phases of a shared machine spread over all of them. Each run appends one
# line to $BENCH_OUT (bench/BENCH_SCHEMA: group "loader"): records_per_s,
# seconds (wall, process start to exit, so Spark's JVM start counts as
# sluice's start does), cpu_s (user + system of the process and the children
# it waited for: spark_load.py waits for its JVM), cpu_s_per_million,
# peak_rss_mb (the largest single process) and rows, counted back from the
# landed footers (bench/landed.py). Every run must land exactly N rows, all
# snappy, in the same set of dt/hr folders as the first run; else this fails
# with the difference.
#
# Env:
#   SLUICE_BIN         the sluice binary (default bin/sluice of this tree)
#   BENCH_OUT          JSONL file to append to (default: stdout)
#   BENCH_LOAD_N       events (default 5,000,000; 20,000 with BENCH_SMOKE=1)
#   BENCH_LOAD_ROUNDS  rounds (default 3, not BENCH_ROUNDS: one round of
#                      5M takes Spark minutes per core count)
#   BENCH_LOAD_CORES   core counts (default "1 2"), CPUs 0..cores-1
#   BENCH_SMOKE=1      one round, N small: checks that it works, no timing
#   BROKER             a running Kafka-protocol broker to use (a topic
#                      bench-loader-* is created there and deleted at the
#                      end); else a `sluice server` is started
#   KEEP=1             keep the work folder
#
# Spark's Kafka source (org.apache.spark:spark-sql-kafka-0-10_2.13 of the
# .venv's pyspark version) is fetched from Maven Central on first use into
# .venv/spark-ivy, its jar list kept in .venv/spark-kafka-VERSION.jars;
# `bash bench/loader.sh prefetch` does only that.

_bench_loader_main() {
  set -euo pipefail
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  ROOT=$root
  PY=${PY:-$ROOT/.venv/bin/python}
  source "$ROOT/e2e/lib/broker.sh"
  e2e_init bench-loader
  log() { echo "[$(date -u +%H:%M:%S)] bench/loader: $*" >&2; }
  die() { echo "bench/loader: FAIL: $*" >&2; exit 1; }

  [[ -x $PY ]] || die "$PY missing: run make deps-python"
  command -v java >/dev/null || die "java missing: run make deps-system (Spark needs a JDK)"
  spark_prefetch
  [[ ${1:-} == prefetch ]] && return 0
  [[ -z ${1:-} ]] || die "unknown argument $1 (want none, or prefetch)"

  local smoke=${BENCH_SMOKE:-0} n rounds cores_list
  if [[ $smoke == 1 ]]; then
    n=${BENCH_LOAD_N:-20000} rounds=1
  else
    n=${BENCH_LOAD_N:-5000000} rounds=${BENCH_LOAD_ROUNDS:-3}
  fi
  cores_list=${BENCH_LOAD_CORES:-1 2}
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_LOAD_N must be a positive integer, got '$n'"
  [[ $rounds =~ ^[1-9][0-9]*$ ]] || die "BENCH_LOAD_ROUNDS must be a positive integer, got '$rounds'"
  local c
  for c in $cores_list; do
    [[ $c =~ ^[1-9][0-9]*$ ]] || die "BENCH_LOAD_CORES: '$c' is not a core count"
    ((c <= $(nproc))) || die "BENCH_LOAD_CORES: $c cores asked for, $(nproc) available"
  done
  N=$n
  export SPARK_LOCAL_IP=127.0.0.1

  if [[ -z ${BENCH_OUT:-} ]]; then
    emit() { _loader_emit "$@"; } # (bench/lib.sh's emit needs BENCH_OUT)
  elif ! declare -F emit >/dev/null; then
    source "$ROOT/bench/lib.sh"
  fi

  (cd "$ROOT" && go build -o "$work/gen" ./e2e/loader/gen) || die "building e2e/loader/gen failed"
  TOPIC=bench-loader-$$-$RANDOM
  if [[ -n ${BROKER:-} ]]; then
    log "using the broker at $BROKER"
    on_exit "$SLUICE_BIN" --brokers "$BROKER" topic delete "$TOPIC"
  else
    start_sluice_server broker >/dev/null
    BROKER=$B
    log "sluice server on $BROKER"
  fi
  "$SLUICE_BIN" --brokers "$BROKER" topic create "$TOPIC" -p 8 >/dev/null || die "creating topic $TOPIC on $BROKER failed"
  "$work/gen" -brokers "$BROKER" -topic "$TOPIC" -n "$N" 2>&1 | sed 's/^/  /' >&2
  topic_offsets

  local label r sys sc
  label=$(count_label "$N")
  log "$N events in $TOPIC; $rounds round(s) on cores: $cores_list"
  for ((r = 1; r <= rounds; r++)); do
    for c in $cores_list; do
      sc="$label JSON events -> snappy Parquet by dt/hr, $c core$( ((c == 1)) || echo s)"
      for sys in "sluice load" "spark batch" "spark availableNow"; do
        run_one "$sys" "$c" "$r" "$sc"
      done
    done
  done
  log "done: every run landed $N rows in the same $(wc -l <"$work/parts.ref") dt/hr folders"
}

# spark_prefetch makes sure the jar list of Spark's Kafka source exists and
# every jar on it is on disk; fetches them (Maven Central) otherwise.
spark_prefetch() {
  local ver
  ver=$("$PY" -c 'import pyspark; print(pyspark.__version__)') || die "$PY cannot import pyspark: run make deps-python"
  JARS=$ROOT/.venv/spark-kafka-$ver.jars
  if [[ -s $JARS ]] && jars_present; then return 0; fi
  log "fetching org.apache.spark:spark-sql-kafka-0-10_2.13:$ver and its dependencies from Maven Central (once)"
  if ! SPARK_LOCAL_IP=127.0.0.1 timeout 900 "$PY" "$ROOT/bench/spark_load.py" prefetch \
    --jars-file "$JARS" --ivy "$ROOT/.venv/spark-ivy" >"$work/prefetch.log" 2>&1; then
    grep -E 'UNRESOLVED|not found|FAILED|Error|error' "$work/prefetch.log" | head -20 >&2 || tail -20 "$work/prefetch.log" >&2
    die "could not fetch Spark's Kafka source org.apache.spark:spark-sql-kafka-0-10_2.13:$ver (Ivy, from Maven Central: is repo1.maven.org reachable? pyspark and the package must be the same version)"
  fi
  jars_present || die "$JARS lists jars that are not on disk"
  log "$(tail -1 "$work/prefetch.log")"
}

jars_present() {
  local j
  while read -r j; do [[ -z $j || -f $j ]] || return 1; done <"$JARS"
}

# topic_offsets sets STARTING and ENDING, Kafka's per-partition offset JSON
# for $TOPIC (log start and high watermark), and checks they hold N records.
topic_offsets() {
  "$SLUICE_BIN" --brokers "$BROKER" topic describe "$TOPIC" >"$work/describe.txt" || die "describing $TOPIC failed"
  local parts=() p ls hw total=0
  while read -r p ls hw; do
    parts+=("$p:$ls:$hw")
    total=$((total + hw - ls))
  done < <(awk '$1 == "PARTITION" { t = 1; next } t && $1 ~ /^[0-9]+$/ { print $1, $6, $7 }' "$work/describe.txt")
  ((${#parts[@]} == 8)) || { cat "$work/describe.txt" >&2; die "$TOPIC has ${#parts[@]} partitions, want 8"; }
  ((total == N)) || { cat "$work/describe.txt" >&2; die "$TOPIC holds $total records, want $N"; }
  PARTS=("${parts[@]}")
  STARTING=$(offsets_json 2) ENDING=$(offsets_json 3)
}

# offsets_json FIELD: {"TOPIC":{"P":offset,...}} from field FIELD (2: log
# start, 3: high watermark) of each PARTS entry.
offsets_json() {
  local e sep="" s="{\"$TOPIC\":{"
  for e in "${PARTS[@]}"; do
    s+="$sep\"${e%%:*}\":$(cut -d: -f"$1" <<<"$e")"
    sep=,
  done
  echo "$s}}"
}

# run_one SYSTEM CORES ROUND SCENARIO: one measured run, checked and emitted.
run_one() {
  local sys=$1 cores=$2 round=$3 scenario=$4 id cpus out tf rc=0
  id=$(tr ' ' - <<<"$sys")-$cores-$round
  cpus=$(seq -s, 0 $((cores - 1)))
  out=$work/out/$id
  tf=$work/$id.time
  mkdir -p "$work/out"
  case $sys in
    "sluice load")
      event_pipeline "$id" "$TOPIC" "$out" "{records: 1000000}" >"$work/$id.yaml"
      printf '  compression: snappy\nmax_workers: 8\n' >>"$work/$id.yaml"
      start_bg "$id" env GOMAXPROCS="$cores" taskset -c "$cpus" /usr/bin/time -f "%e %U %S %M" -o "$tf" \
        "$SLUICE_BIN" load --progress none "$work/$id.yaml" >"$work/$id.out" 2>"$work/$id.log"
      ;;
    spark*)
      local mode=batch
      [[ $sys == "spark batch" ]] || mode=stream
      start_bg "$id" taskset -c "$cpus" /usr/bin/time -f "%e %U %S %M" -o "$tf" \
        "$PY" "$ROOT/bench/spark_load.py" "$mode" --jars-file "$JARS" --bootstrap "$BROKER" --topic "$TOPIC" \
        --starting "$STARTING" --ending "$ENDING" --out "$out" --work "$work/spark-$id" --cores "$cores" \
        >"$work/$id.out" 2>"$work/$id.log"
      ;;
  esac
  wait_bg "$id" || rc=$?
  if ((rc != 0)); then
    grep -Ev ' WARN |^\s+at ' "$work/$id.log" | tail -30 >&2
    die "$sys ($cores core(s), round $round) exited $rc"
  fi
  if [[ $sys == "sluice load" ]] && ! grep -q "^ *total *$N " "$work/$id.out"; then
    cat "$work/$id.out" >&2
    die "sluice load ($cores core(s), round $round) did not report $N records loaded"
  fi
  local rows files wall user sys_s rss
  read -r rows files < <("$PY" "$ROOT/bench/landed.py" "$out" "$work/$id.parts") || die "reading back what $sys landed in $out failed"
  ((rows == N)) || die "$sys ($cores core(s), round $round) landed $rows rows, want $N (row counts must be equal for all three systems)"
  if [[ ! -f $work/parts.ref ]]; then
    cp "$work/$id.parts" "$work/parts.ref"
    echo "$sys, $cores core(s), round $round" >"$work/parts.ref.who"
  elif ! cmp -s "$work/parts.ref" "$work/$id.parts"; then
    echo "dt/hr folders: - $(cat "$work/parts.ref.who"), + $sys, $cores core(s), round $round:" >&2
    diff -u "$work/parts.ref" "$work/$id.parts" | tail -n +3 >&2 || true
    die "$sys landed a different set of dt/hr partitions"
  fi
  read -r wall user sys_s rss <"$tf"
  local m
  m=$(awk -v n="$N" -v w="$wall" -v u="$user" -v s="$sys_s" -v k="$rss" 'BEGIN {
    if (w <= 0) w = 0.01
    printf "records_per_s=%.1f seconds=%.2f cpu_s=%.2f cpu_s_per_million=%.3f peak_rss_mb=%.1f", n / w, w, u + s, (u + s) / (n / 1e6), k / 1024 }')
  emit loader "$scenario" "$sys" "$round" $m rows="$rows"
  log "$sys, $cores core(s), round $round: $rows rows in $files files, $m"
  rm -rf "$out" "$work/spark-$id"
}

# count_label N: 5000000 -> 5M, 20000 -> 20k.
count_label() {
  if (($1 % 1000000 == 0)); then echo "$(($1 / 1000000))M"
  elif (($1 % 1000 == 0)); then echo "$(($1 / 1000))k"
  else echo "$1"; fi
}

# _loader_emit GROUP SCENARIO SYSTEM ROUND key=value...: one result line
# (bench/BENCH_SCHEMA.md) appended to $BENCH_OUT, or printed.
_loader_emit() {
  python3 - "$@" >>"${BENCH_OUT:-/dev/stdout}" <<'PY'
import json, sys
g, sc, sy, r, *kv = sys.argv[1:]
print(json.dumps({"group": g, "scenario": sc, "system": sy, "round": int(r),
                  "m": {k: float(v) for k, v in (x.split("=", 1) for x in kv)}}))
PY
}

source "$(dirname "${BASH_SOURCE[0]}")/../e2e/loader/pipeline.sh"

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
  # Sourced: run in a subshell, so its traps, set -e and exit stay here.
  _bench_loader_rc=0
  (_bench_loader_main "$@") || _bench_loader_rc=$?
  return "$_bench_loader_rc"
fi
_bench_loader_main "$@"
