# Shared helpers of the loader e2e scripts (sourced, not run).
# Sets ROOT, SLUICE, PY, WORK; starts and stops a real `sluice server`.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLUICE=${SLUICE:-$ROOT/bin/sluice}
PY=${PY:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-loader-e2e.XXXXXX")
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

log() { echo "[$(date -u +%H:%M:%S)] $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# build_tools builds bin/sluice if missing and the event generator.
build_tools() {
  [[ -x $SLUICE ]] || (cd "$ROOT" && go build -o bin/sluice ./cmd/sluice)
  (cd "$ROOT" && go build -o "$WORK/gen" ./e2e/loader/gen)
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

# pipeline NAME TOPIC SINK [extra sink yaml lines] writes $WORK/NAME.yaml.
pipeline() {
  local name=$1 topic=$2 sink=$3 roll=$4
  cat >"$WORK/$name.yaml" <<YAML
name: $name
source:
  brokers: ["$BROKER"]
  topics: [$topic]
format:
  type: json
  json:
    schema:
      - {name: user_id, type: int64, required: true}
      - {name: session_id, type: string}
      - {name: event, type: string}
      - {name: page, type: string}
      - {name: referrer, type: string}
      - {name: country, type: string}
      - {name: duration_ms, type: int64}
      - {name: amount, type: double}
      - {name: mobile, type: boolean}
      - {name: event_time, type: timestamp, format: epoch_ms}
  on_error: fail
partition_by:
  time: event_time
  layout: "dt=YYYY-MM-DD/hr=HH"
sink:
  url: $sink
  roll: $roll
  success_grace: 0s
YAML
}
