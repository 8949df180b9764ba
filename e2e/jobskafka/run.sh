#!/usr/bin/env bash
# The scheduler against Apache Kafka 4.x, not Sluice: `sluice jobs serve`
# keeps its run history in _sluice_runs and elects its leader through a
# consumer group on a real Kafka broker, lands a scheduled pipeline exactly
# once (pyarrow counts distinct offsets), and keeps the history across a
# restart. Fetches Kafka's jars into e2e/kafka/target on the first run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PY:-$root/.venv/bin/python}
source "$root/e2e/lib/broker.sh"
e2e_init jobskafka # on failure the exit trap prints the end of the jobs serve logs
log() { echo "e2e/jobskafka: $*"; }
die() { echo "e2e/jobskafka: FAIL: $*" >&2; exit 1; }

kport=$(free_port) # Kafka's listener takes a fixed port
on_exit "$root/e2e/kafka/stop.sh" "$work/kafka"
on_exit cp "$work/kafka/kafka.log" "$work/kafka.log" # shown on failure
"$root/e2e/kafka/start.sh" "$kport" "$work/kafka" >/dev/null
K=127.0.0.1:$kport
log "Apache Kafka on $K"
N=30000
"$SLUICE_BIN" --brokers "$K" topic create events -p 3 >/dev/null
seq 1 "$N" | awk '{printf "{\"n\": %d}\n", $1}' | "$SLUICE_BIN" --brokers "$K" produce events

mkdir -p "$work/pipes"
cat >"$work/pipes/ev.yaml" <<YAML
name: ev
source: {brokers: ["$K"], topics: [events]}
format:
  type: json
  json: {schema: [{name: n, type: int64, required: true}]}
sink: {url: $work/lake, roll: {records: 5000, age: 1s}}
schedule: "@every 2s"
YAML

start_jobs() { # start_jobs N: sets H to its admin API
  start_sluice_jobs "jobs-$1" --brokers "$K" --pipelines "$work/pipes" --session-timeout 6s --server-name "kafka-$1"
}
# landed: records landed by the pipeline's runs, from the history.
landed() {
  "$SLUICE_BIN" jobs history ev --server "$H" -o json 2>/dev/null |
    "$PY" -c 'import json,sys; print(sum(r["records"] for r in json.load(sys.stdin)))' 2>/dev/null || echo 0
}
wait_landed() {
  local want=$1 deadline=$((SECONDS + 120))
  until [[ $(landed) == "$want" ]]; do
    ((SECONDS < deadline)) || die "after 120 s the history shows $(landed) records landed, want $want"
    kill -0 "$BG_PID" 2>/dev/null || die "jobs serve exited"
    sleep 0.5
  done
}

start_jobs 1
wait_landed "$N"
log "scheduled runs landed $N records from Apache Kafka"
"$SLUICE_BIN" --brokers "$K" topic describe _sluice_runs | grep -q 'cleanup.policy=compact' ||
  die "_sluice_runs on Kafka is not compacted: $("$SLUICE_BIN" --brokers "$K" topic describe _sluice_runs)"
before=$("$SLUICE_BIN" jobs history ev --server "$H" -o json | "$PY" -c 'import json,sys; print(" ".join(sorted(r["id"] for r in json.load(sys.stdin))))')

stop_bg jobs-1 || true
seq $((N + 1)) $((N + 5000)) | awk '{printf "{\"n\": %d}\n", $1}' | "$SLUICE_BIN" --brokers "$K" produce events
start_jobs 2
wait_landed $((N + 5000))
after=$("$SLUICE_BIN" jobs history ev --server "$H" -o json | "$PY" -c 'import json,sys; print(" ".join(sorted(r["id"] for r in json.load(sys.stdin))))')
for id in $before; do
  [[ " $after " == *" $id "* ]] || die "run $id from before the restart is missing from the history"
done
log "the history survived a restart of jobs serve; new runs landed the next 5000"
"$SLUICE_BIN" jobs history ev --server "$H" -o json | "$PY" -c '
import json, sys
runs = json.load(sys.stdin)
ticks = [r["scheduled"] for r in runs if r["trigger"] == "schedule"]
assert len(ticks) == len(set(ticks)), "a tick ran twice"
bad = [r for r in runs if r["status"] not in ("succeeded", "cancelled", "skipped")]
assert not bad, "unexpected runs: %r" % bad[:3]
' || die "history check failed"

"$PY" - "$work/lake" $((N + 5000)) <<'PY' || die "pyarrow check failed"
import sys, pyarrow.dataset as ds
root, n = sys.argv[1], int(sys.argv[2])
t = ds.dataset(root, format="parquet", partitioning="hive", ignore_prefixes=["_", "."]).to_table(columns=["_partition", "_offset", "n"])
pairs = set(zip(t.column("_partition").to_pylist(), t.column("_offset").to_pylist()))
values = t.column("n").to_pylist()
assert t.num_rows == n, f"{t.num_rows} rows, want {n}"
assert len(pairs) == n, f"{len(pairs)} distinct (_partition, _offset), want {n}"
assert sorted(values) == list(range(1, n + 1)), "values differ from what was produced"
print(f"e2e/jobskafka: pyarrow: {t.num_rows} rows, {len(pairs)} distinct offsets, every value once")
PY
log "passed"
