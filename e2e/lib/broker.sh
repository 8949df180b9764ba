# Sourced by e2e scripts: start a real `bin/sluice server` on a free
# 127.0.0.1 port with a data dir under a temporary folder, and stop it (and
# remove the folder) when the script exits. After `start_sluice_broker`,
# $B is the broker's host:port and $work the temporary folder.
#   source "$root/e2e/lib/broker.sh"; start_sluice_broker NAME

start_sluice_broker() {
  local name=$1
  SLUICE=${SLUICE_BIN:-$root/bin/sluice}
  [[ -x "$SLUICE" ]] || { echo "e2e/$name: $SLUICE missing; run make build" >&2; exit 1; }
  work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-$name.XXXXXX")
  broker_pid=
  trap _stop_sluice_broker EXIT
  "$SLUICE" server --data-dir "$work/data" --listen 127.0.0.1:0 --http "" 2>"$work/broker.log" &
  broker_pid=$!
  B=
  for _ in $(seq 200); do
    B=$(sed -nE 's/.*sluice broker ready.* listen=([0-9.:]+).*/\1/p' "$work/broker.log")
    [[ -n $B ]] && break
    sleep 0.05
  done
  [[ -n $B ]] || { echo "e2e/$name: broker not ready" >&2; exit 1; }
  echo "e2e/$name: sluice broker on $B"
}

_stop_sluice_broker() {
  local rc=$?
  if [[ -n ${broker_pid:-} ]]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  ((rc == 0)) || { echo "--- broker log" >&2; tail -20 "$work/broker.log" >&2 || true; }
  rm -rf "$work"
  exit "$rc"
}
