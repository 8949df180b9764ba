#!/usr/bin/env bash
# Scheduler end-to-end tests against the real bin/sluice, every process on
# 127.0.0.1 port 0 (e2e/lib/broker.sh), a work dir under mktemp:
#
#  1. landing: `sluice server --pipelines` with a pipeline "@every 2s";
#     three batches of events produced one after another each land (the
#     succeeded runs' records add up to exactly what was produced, in at
#     least three runs), `sluice jobs history` lists those runs, and pyarrow
#     finds every event once in the sink;
#  2. restart: SIGTERM (exit 0, "scheduler stopped"), start again on the same
#     data dir: every earlier run is still listed, unchanged, new runs are
#     made by the new server and a fourth batch lands exactly once;
#  3. edits: the schedule changed to "@every 3s" gives runs with a new
#     spec_hash (the pipeline's version), 3 s apart; a broken edit
#     (concurrency: sometimes) shows up in GET /api/v1/pipelines (errors with
#     file, line 3, column 14), in `jobs list`, in the log and on /metrics
#     (sluice_jobs_invalid_pipeline_files 1) while the 3 s version keeps
#     running; a file that never was valid is listed in invalid_files;
#     fixing both clears every error;
#  4. SIGKILL mid-run: N events (default 1,000,000) in 4 partitions, a new
#     pipeline rolling every 20,000 records; the server is SIGKILLed while
#     the history says its first run is running and some files are
#     published; after a restart that run is abandoned (reason naming both
#     servers), later runs land the rest and pyarrow/DuckDB find exactly N
#     rows, N distinct (_partition, _offset), contiguous per partition;
#  6. fuzzing: schemathesis, from GET /api/v1/openapi.json, for FUZZ_SECONDS
#     (60) against that server: no 5xx, responses as documented; the server
#     is alive, answers /healthz and still runs pipelines afterwards;
#  5. two schedulers: a bare broker and two `sluice jobs serve` sharing the
#     pipelines, "@every 1s": one leads, the other does not; every tick is
#     run once, by the leader, with no tick lost; a manual run asked of the
#     follower is started by the leader; the leader is SIGKILLed during it;
#     the follower takes over (within 30 s), the killed run becomes
#     abandoned, still no tick is run twice; a rerun on the new leader lands
#     everything exactly once;
#  5b. a third scheduler joining during a long run leaves the leader and
#     its run alone; the leader SIGSTOPped past its session is replaced, and
#     once resumed it fences itself rather than run a tick twice.
# Parts 1-4 and 6 share one server (its history grows through them); the
# raw history topic is checked too: no run id is started twice or written
# by two servers.
#
# Needs bin/sluice (make build) and .venv with pyarrow, DuckDB and
# schemathesis (make deps-python). Env: N, FUZZ_SECONDS, KEEP=1 keeps the
# work dir. About 2.5 minutes on this 2-core machine.
set -eEuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PY:-$root/.venv/bin/python}
ST=${ST:-$root/.venv/bin/st}
N=${N:-1000000}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
K=1000 # events per batch in parts 1 and 2
check=$root/e2e/jobs/check.py
verify=$root/e2e/loader/verify.py

log() { printf '[%s +%3ds] e2e/jobs: %s\n' "$(date -u +%H:%M:%S)" $((SECONDS - t0)) "$*"; }
die() { echo "e2e/jobs: FAIL: $*" >&2; exit 1; }
[[ -x $PY ]] || die "$PY missing: run make deps-python"
[[ -x $ST ]] || die "$ST (schemathesis) missing: run make deps-python"
source "$root/e2e/lib/broker.sh"

t0=$SECONDS
# $work, removed on exit (KEEP=1 keeps it) once every process started here
# is stopped; on failure the exit trap prints the end of each $work/*.log.
e2e_init jobs
now() { date +%s.%N; }
q() { "$PY" "$check" q "$@"; }   # q HOST EXPR: print EXPR over the admin API
ok() { "$PY" "$check" ok "$@"; } # ok HOST EXPR: is EXPR true
# published DIR: Parquet files published in a sink.
published() { find "$1" -name '*.parquet' -not -path '*/_tmp/*' -not -path '*/_errors/*' 2>/dev/null | wc -l; }
# stop NAME: SIGTERM, and the process must exit 0 within 40 s.
stop() { E2E_STOP_SECS=40 stop_bg "$1" || die "$1 exited $? after SIGTERM (137: still running 40s after it)"; }
# put FILE: write stdin to FILE atomically (as editors that rename do), so
# the scheduler never reads half a file.
put() { cat >"$1.tmp~" && mv "$1.tmp~" "$1"; }
# check_raw BROKER: every run record in the history topic, uncompacted.
# check_raw BROKER: every run record in the history topic, uncompacted; sets
# RAW to a summary.
check_raw() {
  timeout 60 "$SLUICE_BIN" --brokers "$1" consume _sluice_runs -e --format '%k\t%v' >"$work/raw.tsv"
  RAW=$("$PY" "$check" raw <"$work/raw.tsv") || die "the history topic shows a run started twice (above)"
}

(cd "$root" && go build -o "$work/gen" ./e2e/loader/gen)
pipes=$work/pipelines
mkdir -p "$pipes"

# start_server NAME: broker and scheduler of $pipes, data in $work/data, log
# in $work/NAME.log. The first on port 0 for both listeners, setting KAFKA
# and HTTP to the bound addresses; restarts on those addresses.
start_server() {
  start_sluice_server "$1" --data-dir "$work/data" --listen "${KAFKA:-127.0.0.1:0}" --http "${HTTP:-127.0.0.1:0}" \
    --pipelines "$pipes" --session-timeout 6s --server-name "$1" >/dev/null
  KAFKA=$B HTTP=$H
  wait_for 60 "admin API of $1" ok "$HTTP" "pipelines()['server'] == '$1'"
}

# p1 SCHEDULE [LINE3]: the pipeline of parts 1-3, LINE3 its third line.
p1() {
  put "$pipes/p1.yaml" <<YAML
name: p1
schedule: "$1"
${2:-# (no third line)}
source:
  brokers: ["$KAFKA"]
  topics: [ev]
format:
  type: json
sink:
  url: $work/sink-p1
  roll: {age: 1s}
YAML
}
succeeded_records() { echo "sum(r['records'] for r in runs('$1') if r['status'] == 'succeeded')"; }

# ---- 1. a pipeline every 2 s lands three batches ---------------------------
start_server srv-1
log "1. server srv-1: broker $KAFKA, admin API $HTTP"
"$SLUICE_BIN" --brokers "$KAFKA" topic create ev -p 2 >/dev/null
p1 "@every 2s"
for k in 1 2 3; do
  timeout 120 "$work/gen" -brokers "$KAFKA" -topic ev -start $(((k - 1) * K)) -n "$K" 2>>"$work/gen.out"
  wait_for 40 "run landing batch $k" ok "$HTTP" "$(succeeded_records p1) >= $((k * K))"
  got=$(q "$HTTP" "$(succeeded_records p1)")
  ((got == k * K)) || die "after batch $k the succeeded runs landed $got records, want $((k * K))"
done
landed=$(q "$HTTP" "' '.join(r['id'] for r in runs('p1') if r['records'] > 0)")
read -ra landed <<<"$landed"
((${#landed[@]} >= 3)) || die "3 batches landed in ${#landed[@]} runs: ${landed[*]}"
"$SLUICE_BIN" jobs history p1 --server "$HTTP" >"$work/history1.txt"
for id in "${landed[@]}"; do
  grep -Eq "^$id +schedule +succeeded " "$work/history1.txt" || { cat "$work/history1.txt"; die "jobs history does not list $id as succeeded"; }
done
"$PY" "$verify" "$work/sink-p1" $((3 * K)) 2 --quiet || die "sink of p1 is wrong after part 1"
log "1. passed: 3 batches of $K landed by ${landed[*]}, each listed by jobs history"

# ---- 2. SIGTERM and restart keep the history ------------------------------
q "$HTTP" "runs('p1')" >"$work/before-restart.json"
stop srv-1
grep -q 'msg="scheduler stopped"' "$work/srv-1.log" || die "srv-1 did not log scheduler stopped"
start_server srv-2
wait_for 40 "run by srv-2" ok "$HTTP" "any(r['server'] == 'srv-2' for r in runs('p1'))"
kept=$("$PY" - "$HTTP" "$work/before-restart.json" "$check" <<'PY'
import json, sys, importlib.util
spec = importlib.util.spec_from_file_location("check", sys.argv[3]); c = importlib.util.module_from_spec(spec); spec.loader.exec_module(c)
before = json.load(open(sys.argv[2]))
after = {r["id"]: r for r in c.make_env(sys.argv[1])["runs"]("p1")}
bad = [r["id"] for r in before if r["id"] not in after]
bad += [f"{r['id']} changed" for r in before if r["status"] != "running" and r["id"] in after and after[r["id"]] != r]
if bad:
    sys.exit(f"FAIL: after the restart: missing or changed: {bad}")
print(f"{len(before)} runs from before the restart still listed, unchanged")
PY
) || die "the restart lost or changed history: $kept"
"$SLUICE_BIN" jobs history p1 --server "$HTTP" >"$work/history2.txt"
for id in "${landed[@]}"; do grep -q "^$id " "$work/history2.txt" || die "jobs history lost $id after the restart"; done
timeout 120 "$work/gen" -brokers "$KAFKA" -topic ev -start $((3 * K)) -n "$K" 2>>"$work/gen.out"
wait_for 40 "run landing batch 4" ok "$HTTP" "$(succeeded_records p1) >= $((4 * K))"
got=$(q "$HTTP" "$(succeeded_records p1)")
((got == 4 * K)) || die "after batch 4 the succeeded runs landed $got records, want $((4 * K))"
"$PY" "$verify" "$work/sink-p1" $((4 * K)) 2 --quiet || die "sink of p1 is wrong after the restart"
log "2. passed: $kept; batch 4 landed once by srv-2"

# ---- 3. edits: a new version, then a broken edit ---------------------------
hash1=$(q "$HTTP" "pipeline('p1')['version']")
p1 "@every 3s"
wait_for 20 "reload of the 3s version" ok "$HTTP" "pipeline('p1')['version'] != '$hash1'"
hash3=$(q "$HTTP" "pipeline('p1')['version']")
v3="r['spec_hash'] == '$hash3' and r['status'] == 'succeeded'"
wait_for 30 "two runs of version $hash3" ok "$HTTP" "len([r for r in sched('p1') if $v3]) >= 2"
# Consecutive ticks 3 s apart (times the covers of a tick handled late).
gaps=$(q "$HTTP" "(lambda rs: sorted({round(t(b['scheduled']) - t(a['scheduled'])) / (b.get('covers') or 1) for a, b in zip(rs, rs[1:])}))(sorted((r for r in sched('p1') if r['spec_hash'] == '$hash3'), key=lambda r: t(r['scheduled'])))")
[[ $gaps == "[3.0]" ]] || die "ticks of the @every 3s version are $gaps s apart"
hashes=$(q "$HTTP" "sorted({r['spec_hash'] for r in runs('p1')})")
[[ $hashes == "$("$PY" -c 'import json,sys; print(json.dumps(sorted(sys.argv[1:])))' "$hash1" "$hash3")" ]] || die "p1 ran versions $hashes, want $hash1 then $hash3"

p1 "@every 3s" "concurrency: sometimes"
wait_for 20 "the broken edit reported by the API" ok "$HTTP" "pipeline('p1')['errors']"
t_broken=$(now)
q "$HTTP" "pipeline('p1')['errors']" >"$work/errors.json"
ok "$HTTP" "(lambda e: len(e) == 1 and e[0]['file'] == '$pipes/p1.yaml' and e[0]['line'] == 3 and e[0]['column'] == 14 and e[0]['path'] == 'concurrency' and 'sometimes' in e[0]['message'])(pipeline('p1')['errors'])" ||
  die "GET /api/v1/pipelines reports the broken edit as $(cat "$work/errors.json"), want $pipes/p1.yaml line 3 column 14 at concurrency"
ok "$HTTP" "pipeline('p1')['version'] == '$hash3'" || die "the broken edit replaced version $hash3"
wait_for 10 "the broken edit in the log" grep -q "invalid pipeline file; the last valid version keeps running.*file=$pipes/p1.yaml" "$work/srv-2.log"
ok "$HTTP" "metric('sluice_jobs_invalid_pipeline_files') == 1 and metric('sluice_jobs_pipeline_file_error{file=\"$pipes/p1.yaml\",position=\"$pipes/p1.yaml:3:14\"}') == 1" ||
  die "/metrics does not count the broken file"
"$SLUICE_BIN" jobs list --server "$HTTP" | grep -q "p1.yaml:3:14: bad value \"sometimes\"" || die "jobs list does not show the error"
wait_for 30 "two runs of the old version after the broken edit" ok "$HTTP" "len([r for r in sched('p1') if $v3 and t(r['started']) > $t_broken]) >= 2"
ok "$HTTP" "all(r['spec_hash'] == '$hash3' for r in runs('p1') if t(r.get('started') or r.get('ended')) > $t_broken)" || die "a run after the broken edit ran another version"
# A file that never was valid has no pipeline: it is listed apart.
put "$pipes/bad.yaml" <<YAML
name: bad
schedule: "every 5 minutes"
source: {brokers: ["$KAFKA"], topics: [ev]}
sink: {url: $work/sink-bad}
YAML
wait_for 20 "bad.yaml in invalid_files" ok "$HTTP" "any(e['file'] == '$pipes/bad.yaml' and e['line'] == 2 and e['column'] == 11 for e in pipelines()['invalid_files'])"
ok "$HTTP" "metric('sluice_jobs_invalid_pipeline_files') == 2" || die "/metrics does not count 2 invalid files"
"$SLUICE_BIN" jobs list --server "$HTTP" | grep -q "(invalid).*bad.yaml:2:11" || die "jobs list does not show bad.yaml"
rm "$pipes/bad.yaml"
p1 "@every 3s"
wait_for 20 "errors cleared" ok "$HTTP" "not pipelines()['invalid_files'] and not pipeline('p1')['errors'] and metric('sluice_jobs_invalid_pipeline_files') == 0"
log "3. passed: version $hash1 -> $hash3 (3 s apart); the broken edit reported at line 3 column 14 while $hash3 kept running"

# ---- 4. SIGKILL mid-run ------------------------------------------------------
"$SLUICE_BIN" --brokers "$KAFKA" topic create big -p 4 >/dev/null
timeout 120 "$work/gen" -brokers "$KAFKA" -topic big -n "$N" 2>>"$work/gen.out"
sinkbig=$work/sink-big
put "$pipes/big.yaml" <<YAML
name: big
schedule: "@every 2s"
source:
  brokers: ["$KAFKA"]
  topics: [big]
format:
  type: json
sink:
  url: $sinkbig
  roll: {records: 20000}
YAML
wait_for 30 "a run of big" ok "$HTTP" "any(r['status'] == 'running' for r in runs('big'))"
killed=$(q "$HTTP" "next((r['id'] for r in runs('big') if r['status'] == 'running'), '')")
[[ -n $killed ]] || die "the first run of big ended before it could be killed; raise N"
kill_at=$((N / 20000 / 3 + 1)) # a third of the files
deadline=$((SECONDS + 60))
until (($(published "$sinkbig") >= kill_at)); do
  ((SECONDS < deadline)) || die "$killed published nothing in 60s"
  sleep 0.05
done
ok "$HTTP" "run('$killed')['status'] == 'running'" || die "$killed ended before it could be killed; raise N"
signal_bg srv-2 KILL
wait_bg srv-2 || true
files_at_kill=$(published "$sinkbig")
log "4. srv-2 SIGKILLed during $killed, $files_at_kill of about $((N / 20000)) files published"
start_server srv-3
t_restart=$(now)
wait_for 40 "$killed abandoned" ok "$HTTP" "run('$killed')['status'] == 'abandoned'"
reason=$(q "$HTTP" "run('$killed')['reason']")
[[ $reason == *srv-2* && $reason == *srv-3* ]] || die "the abandoned run's reason does not name srv-2 and srv-3: $reason"
wait_for 120 "every event of big landed" "$PY" "$verify" "$sinkbig" "$N" 4 --check-only --quiet
wait_for 30 "a succeeded run of big with lag 0" ok "$HTTP" "any(r['status'] == 'succeeded' and r['lag'] == 0 and r['records'] > 0 and t(r['started']) > $t_restart for r in runs('big'))"
vbig=$("$PY" "$verify" "$sinkbig" "$N" 4) || die "the sink of big is wrong: $vbig"
ok "$HTTP" "metric('sluice_jobs_runs_total{pipeline=\"big\",status=\"abandoned\"}') == 1" || die "/metrics does not count the abandoned run"
check_raw "$KAFKA"
log "4. passed: $killed abandoned ($reason); later runs landed the rest: $vbig; history topic: $RAW"

# ---- 6. fuzzing the admin API from its OpenAPI document --------------------
log "6. schemathesis against http://$HTTP for ${FUZZ_SECONDS}s"
# (From $work: Hypothesis and schemathesis keep folders in the current one.)
(cd "$work" && timeout $((FUZZ_SECONDS + 120)) "$ST" run "http://$HTTP/api/v1/openapi.json" --url "http://$HTTP" \
  --max-time "$FUZZ_SECONDS" --request-timeout 10 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --report json,har --report-json-path "$work/fuzz.json" --report-har-path "$work/fuzz.har" >"$work/fuzz.out" 2>&1) ||
  { cat "$work/fuzz.out"; die "schemathesis found problems (above)"; }
kill -0 "$(bg_pid srv-3)" 2>/dev/null || die "srv-3 died under fuzzing"
"$PY" -c 'import sys, urllib.request; assert urllib.request.urlopen(sys.argv[1], timeout=5).read() == b"ok\n"' "http://$HTTP/healthz" ||
  die "srv-3 does not answer /healthz after fuzzing"
! grep -qiE 'panic|fatal error' "$work/srv-3.log" || die "srv-3 logged a panic"
# What was sent and answered: the run report, and every response in the HAR
# (about 100 MB: the history lists are long by now, so it is removed).
summary=$("$PY" - "$work/fuzz.json" "$work/fuzz.har" <<'PY'
import collections, json, sys
rep = json.load(open(sys.argv[1]))
tc = rep["test_cases"]
es = json.load(open(sys.argv[2]))["log"]["entries"]
c = collections.Counter(e["response"]["status"] for e in es)
phases = ", ".join(f"{k} {v['status']}" for k, v in rep["phases"].items())
print(f"{tc['generated']} test cases, {tc['with_failures']} failing ({phases}; {rep['running_time']:.0f}s, seed {rep['seed']}); "
      f"{len(es)} requests answered " + ", ".join(f"{k}: {v}" for k, v in sorted(c.items())))
sys.exit(1 if any(k >= 500 for k in c) or tc["with_failures"] or rep["exit_code"] else 0)
PY
) || die "schemathesis: $summary"
rm -f "$work/fuzz.har"
# Still scheduling: whatever the fuzzer paused is resumed, a manual run succeeds.
"$SLUICE_BIN" jobs resume p1 --server "$HTTP" >/dev/null
"$SLUICE_BIN" jobs resume big --server "$HTTP" >/dev/null
deadline=$((SECONDS + 30))
until timeout 30 "$SLUICE_BIN" jobs run p1 --wait --server "$HTTP" >"$work/manual.out" 2>&1; do
  ((SECONDS < deadline)) || { cat "$work/manual.out"; die "no manual run of p1 succeeded after fuzzing"; }
  sleep 0.5
done
stop srv-3
log "6. passed: $summary; srv-3 still healthy and running pipelines"

# ---- 5. two schedulers share the pipelines ----------------------------------
pipes5=$work/pipelines5
mkdir -p "$pipes5"
start_sluice_server broker5 --data-dir "$work/data5" --http 127.0.0.1:0 >/dev/null
K5=$B
"$SLUICE_BIN" --brokers "$K5" topic create t5 -p 2 >/dev/null
"$SLUICE_BIN" --brokers "$K5" topic create bulk -p 4 >/dev/null
M=$N
timeout 120 "$work/gen" -brokers "$K5" -topic bulk -n "$M" 2>>"$work/gen.out"
put "$pipes5/tick.yaml" <<YAML
name: tick
schedule: "@every 1s"
source: {brokers: ["$K5"], topics: [t5]}
format: {type: json}
sink: {url: $work/sink-tick, roll: {age: 1s}}
YAML
put "$pipes5/bulk.yaml" <<YAML
name: bulk
source: {brokers: ["$K5"], topics: [bulk]}
format: {type: json}
sink: {url: $work/sink-bulk, roll: {records: 20000}}
YAML
declare -A api
for s in sched-a sched-b; do
  start_sluice_jobs "$s" --pipelines "$pipes5" --brokers "$K5" --session-timeout 6s --server-name "$s"
  api[$s]=$H
done
# Stable: both in the group, one leads, the other says it does not.
leaders() { for s in sched-a sched-b; do ok "${api[$s]}" "pipelines()['leader']" && echo "$s"; done; return 0; }
stable() {
  "$SLUICE_BIN" --brokers "$K5" group describe _sluice_scheduler 2>/dev/null | grep -q 'STATE Stable .*MEMBERS 2' &&
    [[ $(leaders | wc -l) == 1 ]]
}
wait_for 40 "one leader of two schedulers" stable
t_stable=$(now)
leader=$(leaders)
other=sched-a
[[ $leader == sched-a ]] && other=sched-b
log "5. $leader leads, $other follows"
timeout 120 "$work/gen" -brokers "$K5" -topic t5 -n 500 2>>"$work/gen.out"
wait_for 40 "10 ticks run by $leader" ok "${api[$leader]}" "len([r for r in sched('tick') if t(r['scheduled']) > $t_stable]) >= 10"
# A manual run asked of the follower; the leader runs it; kill the leader
# during it: as soon as its first file is published (one of about M/20000),
# with no slower check in between, so the kill lands early in the run
# however fast the machine is. Whether it did is checked after the kill:
# the run must then be abandoned, not succeeded.
manual=$("$SLUICE_BIN" jobs run bulk --server "${api[$other]}" -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
deadline=$((SECONDS + 60))
until (($(published "$work/sink-bulk") >= 1)); do
  ((SECONDS < deadline)) || die "$manual published nothing in 60s"
  sleep 0.02
done
signal_bg "$leader" KILL
wait_bg "$leader" || true
wait_for 30 "$manual in $other's history" ok "${api[$other]}" "run('$manual') is not None"
ok "${api[$other]}" "run('$manual')['server'] == '$leader'" || die "$manual was not started by the leader $leader: $(q "${api[$other]}" "run('$manual')")"
ok "${api[$other]}" "run('$manual')['status'] != 'succeeded'" || die "$manual ended before the kill ($(published "$work/sink-bulk") files published); raise N"
t_kill=$(now)
log "5. $leader SIGKILLed during $manual"
wait_for 30 "a tick run by $other" ok "${api[$other]}" "any(r['server'] == '$other' for r in sched('tick'))"
wait_for 30 "$manual abandoned" ok "${api[$other]}" "run('$manual')['status'] == 'abandoned'"
ok "${api[$other]}" "(lambda r: '$leader' in r and '$other' in r)(run('$manual')['reason'])" || die "the reason of $manual does not name $leader and $other"
wait_for 30 "5 ticks run by $other" ok "${api[$other]}" "len([r for r in sched('tick') if r['server'] == '$other']) >= 5"
ok "${api[$other]}" "pipelines()['leader']" || die "$other does not say it leads"
ticks=$("$PY" "$check" ticks "${api[$other]}" tick "$leader" "$other" "$t_stable" "$t_kill" 1) || die "ticks were lost or run twice (above)"
check_raw "$K5"
# The rerun on the new leader resumes the killed run's work: exactly once.
timeout 120 "$SLUICE_BIN" jobs run bulk --wait --server "${api[$other]}" >"$work/bulk-rerun.out" || { cat "$work/bulk-rerun.out"; die "the rerun of bulk failed"; }
vbulk=$("$PY" "$verify" "$work/sink-bulk" "$M" 4) || die "the sink of bulk is wrong: $vbulk"
"$PY" "$verify" "$work/sink-tick" 500 2 --quiet || die "the sink of tick is wrong"
log "5. passed: ticks $ticks; history topic: $RAW; rerun of $manual's work: $vbulk"

# ---- 5b. a scheduler joining leaves the leader alone; a paused leader ------
# cannot run what its successor owns. sched-c joins while $other runs a long
# manual run: the run succeeds and $other still leads (an eager assignor
# would revoke the partition and cancel it). Then $other is SIGSTOPped past
# its session, sched-c takes over, $other is resumed: it must fence itself
# (its generation is gone) instead of running the ticks it slept through.
timeout 120 "$work/gen" -brokers "$K5" -topic bulk -n "$M" 2>>"$work/gen.out"
manual2=$("$SLUICE_BIN" jobs run bulk --server "${api[$other]}" -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
wait_for 30 "$manual2 running" ok "${api[$other]}" "(run('$manual2') or {}).get('status') == 'running'"
start_sluice_jobs sched-c --pipelines "$pipes5" --brokers "$K5" --session-timeout 6s --server-name sched-c
api[sched-c]=$H
wait_for 40 "sched-c in the group" bash -c "'$SLUICE_BIN' --brokers '$K5' group describe _sluice_scheduler 2>/dev/null | grep -q 'STATE Stable .*MEMBERS 2'"
wait_for 120 "$manual2 ended" ok "${api[$other]}" "run('$manual2')['status'] not in ('running', 'pending')"
ok "${api[$other]}" "run('$manual2')['status'] == 'succeeded'" || die "$manual2 did not succeed while sched-c joined: $(q "${api[$other]}" "run('$manual2')")"
ok "${api[$other]}" "pipelines()['leader']" || die "$other lost leadership when sched-c joined"
ok "${api[sched-c]}" "not pipelines()['leader']" || die "sched-c leads as well as $other"
log "5b. sched-c joined during $manual2: it succeeded, $other still leads"
signal_bg "$other" STOP
wait_for 40 "sched-c leading after $other was stopped" ok "${api[sched-c]}" "pipelines()['leader']"
wait_for 20 "3 ticks run by sched-c" ok "${api[sched-c]}" "len([r for r in sched('tick') if r['server'] == 'sched-c']) >= 3"
signal_bg "$other" CONT
wait_for 30 "$other to step down after it resumed" bash -c "! '$PY' '$check' ok '${api[$other]}' \"pipelines()['leader']\""
sleep 2 # let anything the resumed scheduler would wrongly do reach the topic
ok "${api[sched-c]}" "pipelines()['leader']" || die "sched-c lost leadership when $other resumed"
grep -q "could not confirm this scheduler still leads\|partition lost" "$work/$other.log" || die "$other did not notice it had lost leadership"
check_raw "$K5"
"$PY" - "$work/raw.tsv" <<'PY' || die "a tick was run by two schedulers (above)"
import json, sys
ticks = {}
for line in open(sys.argv[1]):
    key, _, value = line.rstrip("\n").partition("\t")
    if key.startswith("run/") and value:
        r = json.loads(value)
        if r.get("trigger") == "schedule" and r.get("status") == "running":
            ticks.setdefault(r["scheduled"], set()).add(r["server"])
twice = {t: s for t, s in ticks.items() if len(s) > 1}
if twice:
    print("ticks started by several schedulers:", twice, file=sys.stderr)
    sys.exit(1)
PY
log "5b. $other resumed, stepped down without acting; history topic: $RAW"
stop sched-c
stop "$other"
log "all passed in $((SECONDS - t0))s"
