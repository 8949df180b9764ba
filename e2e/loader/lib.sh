# Shared helpers of the loader e2e scripts (sourced, not run).
# Sets ROOT, SLUICE, PY, WORK; starts and stops a real `sluice server`.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLUICE=${SLUICE:-$ROOT/bin/sluice}
PY=${PY:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-loader-e2e.XXXXXX")
PIDS=()

cleanup() {
  local p
  ${CLEANUP_HOOK:-true}
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

log() { echo "[$(date -u +%H:%M:%S)] $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# build_tools builds bin/sluice if missing, the event generator and the
# sink copier.
build_tools() {
  [[ -x $SLUICE ]] || (cd "$ROOT" && go build -o bin/sluice ./cmd/sluice)
  (cd "$ROOT" && go build -o "$WORK/gen" ./e2e/loader/gen && go build -o "$WORK/sinkcopy" ./e2e/loader/sinkcopy)
  [[ -x $PY ]] || die "$PY missing: run make deps"
}

# start_broker starts a single-node broker; sets BROKER.
start_broker() {
  local port
  port=$(free_port)
  "$SLUICE" server --data-dir "$WORK/broker" --listen "127.0.0.1:$port" --http 127.0.0.1:0 >"$WORK/broker.log" 2>&1 &
  PIDS+=($!)
  BROKER=127.0.0.1:$port
  local deadline=$((SECONDS + 60))
  until "$SLUICE" --brokers "$BROKER" --timeout 2s topic list >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { cat "$WORK/broker.log"; die "broker not ready in 60s"; }
    sleep 0.2
  done
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
    "$SLUICE" load --progress log "$yaml" >"$WORK/crash.$i.out" 2>"$WORK/crash.$i.err" &
    pid=$!
    PIDS+=($pid)
    want=$((i * step + RANDOM % 6))
    deadline=$((SECONDS + 120))
    while (($(all_published) < want)) && kill -0 "$pid" 2>/dev/null; do
      ((SECONDS < deadline)) || die "run $i published nothing in 120s"
      sleep 0.02
    done
    ms=$((RANDOM % 100))
    sleep "$(printf '0.%03d' "$ms")"
    if kill -9 "$pid" 2>/dev/null; then
      KILLS=$((KILLS + 1))
      wait "$pid" 2>/dev/null || true
      log "run $i killed ${ms}ms after file #$want overall ($(published "$WORK/crash.$i.err") files published by it)"
    else
      wait "$pid" || { cat "$WORK/crash.$i.err"; die "run $i failed"; }
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
    if "$SLUICE" load --progress log "$yaml" >"$WORK/final.$i.out" 2>"$WORK/final.$i.err"; then
      log "rerun $i completed"
      cat "$WORK/final.$i.out"
      break
    fi
    tail -5 "$WORK/final.$i.err"
    ((i < 5)) || die "reruns did not complete"
  done
  "$SLUICE" load --progress log "$yaml" >"$WORK/noop.out" 2>"$WORK/noop.err" || { cat "$WORK/noop.err"; die "the run after completion failed"; }
  if grep -q 'msg=published' "$WORK/noop.err"; then die "a run after completion published files"; fi
}

# pipeline NAME TOPIC SINK ROLL writes $WORK/NAME.yaml.
source "$(dirname "${BASH_SOURCE[0]}")/pipeline.sh"
pipeline() { event_pipeline "$@" >"$WORK/$1.yaml"; }
