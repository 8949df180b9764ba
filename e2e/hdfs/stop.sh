#!/usr/bin/env bash
# Stop the MiniDFSCluster started by start.sh and delete its data.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${SLUICE_HDFS_DIR:-$here/target/run}
[[ -f $run/pid ]] || exit 0
pid=$(cat "$run/pid")
if kill -0 "$pid" 2>/dev/null; then
  echo stop >"$run/ctl" || true
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
fi
rm -rf "$run"
