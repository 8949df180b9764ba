#!/usr/bin/env bash
# e2e/lib/leftovers.sh RUN: fails, listing them, if processes whose
# environment carries SLUICE_E2E_RUN=RUN are still running (after up to
# E2E_LEFTOVER_SECS, 10, for those about to exit), and ends them (SIGTERM,
# SIGKILL after 5 s).
# `make test` runs it after the Go tests and after the e2e scripts, which
# it starts with SLUICE_E2E_RUN=RUN (inherited by every process they start).
set -uo pipefail
run=${1:?usage: leftovers.sh RUN}
# This script must not carry the marker it looks for (nor its forks, which
# share its environment).
[[ ${SLUICE_E2E_RUN:-} != "$run" ]] || exec env -u SLUICE_E2E_RUN bash "$0" "$@"
source "$(dirname "${BASH_SOURCE[0]}")/procs.sh"

mapfile -t left < <(e2e_lingering "SLUICE_E2E_RUN=$run" "${E2E_LEFTOVER_SECS:-10}")
((${#left[@]})) || exit 0
echo "FAIL: ${#left[@]} processes of this run (SLUICE_E2E_RUN=$run) still running; ending them:" >&2
for p in "${left[@]}"; do
  echo "  $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-300)" >&2
done
e2e_end_pids 5 "${left[@]}"
exit 1
