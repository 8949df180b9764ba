#!/usr/bin/env bash
# The activity example (examples/activity) end to end, as a new user runs it:
# a real `bin/sluice server`, the generator producing page views (JSON) and
# searches (CSV) spread over hours with 5% late events, both pipelines in
# examples/activity/pipelines landed by the scheduler (`sluice jobs serve`,
# a manual run each, as `make run` would every minute), then the example's
# queries through examples/activity/query.py in DuckDB and in Spark 4 (local
# mode, Hive tables from the generated DDL). check.py asserts that the lake
# holds exactly what the generator's summary says was acknowledged (rows,
# late rows, searches per country, hours), that both engines give the same
# answers, and that examples/activity/hive.sql is still the generated DDL.
# Also: a second run of each pipeline, and `sluice load` of it, publish
# nothing, and the generator run
# without -n stops on SIGTERM with a summary matching the topics.
#
# Needs bin/sluice (make build) and .venv (make deps-python). N=20000 and
# SEED=42 by default. About 1 minute, most of it Spark; SPARK=0 skips Spark.
set -eEuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PY:-$root/.venv/bin/python}
N=${N:-20000}
SEED=${SEED:-42}
[[ -x $PY ]] || { echo "e2e/activity: $PY missing; run make deps-python" >&2; exit 1; }

source "$root/e2e/lib/broker.sh"
e2e_init activity # $work, removed on exit, when every process started here is stopped
start_sluice_server broker # sets B
t0=$SECONDS
cd "$root"
log() { echo "e2e/activity: $*"; }
die() { echo "e2e/activity: FAIL: $*" >&2; exit 1; }

go build -o "$work/gen" ./examples/activity/gen

# Record times start 8 hours before the current hour, a simulated second
# apart (N=20000 spans 5.6 hours), at 20000 records/s. Relative to now, not
# a fixed date, so the broker's 7-day retention never applies; the counts
# depend only on the seed.
start=$(date -u -d "$(date -u +%Y-%m-%dT%H:00:00Z) - 8 hours" +%Y-%m-%dT%H:%M:%SZ)
timeout 120 "$work/gen" -brokers "$B" -n "$N" -rate 20000 -step 1s -start "$start" -seed "$SEED" \
  >"$work/summary.json" 2>"$work/gen.err" || { cat "$work/gen.err" >&2; die "the generator failed"; }
log "generated: $(cat "$work/summary.json")"

export SLUICE_BROKER=$B SLUICE_LAKE=$work/lake
# Land both pipelines the way `make run` does: through the scheduler
# (`sluice jobs serve` on the example's pipeline folder), with a manual run
# each rather than waiting for the @every 1m tick. Then a second run lands
# nothing new, and `sluice load` on the same files publishes nothing: the
# sink is the truth for both.
start_sluice_jobs jobs --pipelines examples/activity/pipelines --brokers "$B" --session-timeout 6s \
  --server-name activity-e2e # sets H
for _ in $(seq 300); do
  "$SLUICE_BIN" jobs list --server "$H" -o json 2>/dev/null | grep -q '"leader": true' && break
  sleep 0.1
done
"$SLUICE_BIN" jobs list --server "$H" -o json | grep -q '"leader": true' || { tail -20 "$work/jobs.log" >&2; die "the scheduler did not start leading"; }
for p in pageviews searches; do
  yaml=examples/activity/pipelines/$p.yaml
  timeout 120 "$SLUICE_BIN" jobs run "activity-$p" --wait --server "$H" >"$work/run-$p.out" 2>&1 ||
    { cat "$work/run-$p.out" >&2; tail -20 "$work/jobs.log" >&2; die "jobs run activity-$p failed"; }
  log "landed $p by a scheduled-pipeline run: $(grep '^landed' "$work/run-$p.out")"
  timeout 120 "$SLUICE_BIN" jobs run "activity-$p" --wait --server "$H" -o json >"$work/rerun-$p.json" ||
    die "the second run of activity-$p failed"
  "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["records"] == 0 and r["lag"] == 0 else 1)' "$work/rerun-$p.json" ||
    die "a second run of activity-$p landed records again: $(cat "$work/rerun-$p.json")"
  timeout 120 "$SLUICE_BIN" load --progress log "$yaml" >"$work/reload-$p.out" 2>"$work/reload-$p.err" ||
    { cat "$work/reload-$p.err" >&2; die "sluice load $yaml after the scheduler's runs failed"; }
  if grep -q 'msg=published' "$work/reload-$p.err"; then
    cat "$work/reload-$p.err" >&2
    die "sluice load $yaml published files the scheduler's runs had landed"
  fi
done
stop_bg jobs || true

timeout 120 "$PY" examples/activity/query.py --lake "$work/lake" --engine duckdb --json "$work/duckdb.json" >"$work/duckdb.out" ||
  die "query.py --engine duckdb failed"
cat "$work/duckdb.out"
spark_json=
if [[ ${SPARK:-1} != 0 ]]; then
  ts=$SECONDS
  mkdir "$work/spark"
  (cd "$work/spark" && SPARK_LOCAL_IP=127.0.0.1 TZ=UTC timeout 300 "$PY" "$root/examples/activity/query.py" \
    --lake "$work/lake" --engine spark --json "$work/spark.json") >"$work/spark.out" 2>"$work/spark.err" ||
    { tail -40 "$work/spark.err" >&2; die "query.py --engine spark failed"; }
  log "Spark: $((SECONDS - ts)) s"
  spark_json=$work/spark.json
fi
"$PY" e2e/activity/check.py "$work/summary.json" "$work/lake" examples/activity/hive.sql "$work/duckdb.json" $spark_json ||
  die "the lake or the query results are not what the generator produced"

# Without -n the generator runs until SIGTERM, then prints what the broker
# acknowledged: it must equal what the topics hold.
start_bg live "$work/gen" -brokers "$B" -rate 2000 -seed "$SEED" -pageviews-topic pv-live -searches-topic se-live \
  >"$work/live.json" 2>"$work/live.err"
gen_pid=$BG_PID
# hwm TOPIC: the sum of its partitions' high watermarks (0 while it does not exist).
hwm() {
  local out
  out=$("$SLUICE_BIN" --brokers "$B" topic describe "$1" 2>/dev/null) || { echo 0; return; }
  awk '$1 ~ /^[0-9]+$/ {s += $7} END {print s + 0}' <<<"$out"
}
deadline=$((SECONDS + 60))
until (($(hwm pv-live) >= 500)); do
  kill -0 "$gen_pid" 2>/dev/null || { cat "$work/live.err" >&2; die "the generator without -n exited by itself"; }
  ((SECONDS < deadline)) || die "the generator without -n produced under 500 page views in 60 s"
  sleep 0.1
done
rc=0
E2E_STOP_SECS=60 stop_bg live || rc=$? # SIGTERM; 137 if it had to be killed after 60 s
((rc == 0)) || { cat "$work/live.err" >&2; die "the generator exited $rc on SIGTERM"; }
got=$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["pageviews"], s["searches"], s["failed"])' "$work/live.json")
want="$(hwm pv-live) $(hwm se-live) 0"
[[ $got == "$want" ]] || die "after SIGTERM the generator reported $got (page views, searches, failed), the topics hold $want"
log "ok    generator stopped by SIGTERM reported what the topics hold ($got)"

log "passed in $((SECONDS - t0)) s"
