#!/usr/bin/env bash
# kafka-python against a real `bin/sluice server` (see check.py).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PY:-$root/.venv/bin/python}
source "$root/e2e/lib/broker.sh"
e2e_init pyclient
start_sluice_server broker
timeout 120 "$PY" "$root/e2e/pyclient/check.py" "$B"
