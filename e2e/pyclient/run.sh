#!/usr/bin/env bash
# kafka-python against a real `bin/sluice server` (see check.py).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLUICE=${SLUICE_BIN:-$root/bin/sluice}
PY=${PY:-$root/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-pyclient.XXXXXX")
broker=
cleanup() {
  local rc=$?
  [[ -n $broker ]] && { kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; }
  ((rc == 0)) || { echo "--- broker log" >&2; tail -20 "$work/broker.log" >&2 || true; }
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
"$SLUICE" server --data-dir "$work/data" --listen 127.0.0.1:0 --http "" 2>"$work/broker.log" &
broker=$!
B=
for _ in $(seq 200); do
  B=$(sed -nE 's/.*sluice broker ready.* listen=([0-9.:]+).*/\1/p' "$work/broker.log")
  [[ -n $B ]] && break
  sleep 0.05
done
[[ -n $B ]] || { echo "e2e/pyclient: broker not ready" >&2; exit 1; }
timeout 120 "$PY" "$root/e2e/pyclient/check.py" "$B"
