# Shared helpers of the loader e2e scripts (sourced, not run).
# Sets ROOT, PY, WORK (e2e/lib/broker.sh's $work: removed on exit, KEEP=1
# keeps it, once every process started here is stopped); starts a real
# `sluice server`.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
source "$ROOT/e2e/lib/broker.sh"
e2e_init "loader-$(basename "$0" .sh)"
WORK=$work

log() { echo "[$(date -u +%H:%M:%S)] $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

# build_tools builds the event generator and the sink copier.
build_tools() {
  (cd "$ROOT" && go build -o "$WORK/gen" ./e2e/loader/gen && go build -o "$WORK/sinkcopy" ./e2e/loader/sinkcopy)
  [[ -x $PY ]] || die "$PY missing: run make deps"
}

# start_broker starts a single-node broker; sets BROKER.
start_broker() {
  start_sluice_server broker --http 127.0.0.1:0 >/dev/null
  BROKER=$B
  log "broker ready on $BROKER"
}

# published FILE: how many files the run logging to FILE published.
published() {
  local n
  n=$(grep -c 'msg=published' "$1" 2>/dev/null) || true
  echo "${n:-0}"
}

# crash_loop YAML STEP: runs `sluice load YAML` 5 times, SIGKILLing run i
# once the runs together have published about i*STEP files (plus a random
# 0-5) and then a random 0-0.1 s more, so kills land before, between and
# inside commits whatever the machine's speed. A run that finishes first
# ends the loop. Sets KILLS.
crash_loop() {
  local yaml=$1 step=$2 i pid want ms deadline
  KILLS=0
  for i in 1 2 3 4 5; do
    start_bg "crash.$i" "$SLUICE_BIN" load --progress log "$yaml" >"$WORK/crash.$i.out" 2>"$WORK/crash.$i.err"
    pid=$BG_PID
    want=$((i * step + RANDOM % 6))
    deadline=$((SECONDS + 120))
    while (($(all_published) < want)) && kill -0 "$pid" 2>/dev/null; do
      ((SECONDS < deadline)) || die "run $i published nothing in 120s"
      sleep 0.02
    done
    ms=$((RANDOM % 100))
    sleep "$(printf '0.%03d' "$ms")"
    if signal_bg "crash.$i" KILL; then
      KILLS=$((KILLS + 1))
      wait_bg "crash.$i" || true
      log "run $i killed ${ms}ms after file #$want overall ($(published "$WORK/crash.$i.err") files published by it)"
    else
      wait_bg "crash.$i" || { cat "$WORK/crash.$i.err"; die "run $i failed"; }
      log "run $i finished before its kill"
      break
    fi
  done
  ((KILLS >= 1)) || die "no run was killed"
}

# all_published: files published by all crash runs so far.
all_published() {
  local f n=0
  for f in "$WORK"/crash.*.err; do
    [[ -e $f ]] && n=$((n + $(published "$f")))
  done
  echo "$n"
}

# finish YAML: reruns until a run exits 0 (at most 5), then checks that one
# more run publishes nothing.
finish() {
  local yaml=$1 i
  for i in 1 2 3 4 5; do
    if "$SLUICE_BIN" load --progress log "$yaml" >"$WORK/final.$i.out" 2>"$WORK/final.$i.err"; then
      log "rerun $i completed"
      cat "$WORK/final.$i.out"
      break
    fi
    tail -5 "$WORK/final.$i.err"
    ((i < 5)) || die "reruns did not complete"
  done
  "$SLUICE_BIN" load --progress log "$yaml" >"$WORK/noop.out" 2>"$WORK/noop.err" || { cat "$WORK/noop.err"; die "the run after completion failed"; }
  if grep -q 'msg=published' "$WORK/noop.err"; then die "a run after completion published files"; fi
}

# pipeline NAME TOPIC SINK ROLL writes $WORK/NAME.yaml.
source "$(dirname "${BASH_SOURCE[0]}")/pipeline.sh"
pipeline() { event_pipeline "$@" >"$WORK/$1.yaml"; }
