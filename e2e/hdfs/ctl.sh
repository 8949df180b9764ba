#!/usr/bin/env bash
# Send one command to the running MiniDFSCluster and wait for its answer:
#   e2e/hdfs/ctl.sh restart-datanode 0
# Exits non-zero if the answer is ERR or none comes within 120s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${SLUICE_HDFS_DIR:-$here/target/run}
[[ -p $run/ctl ]] || { echo "ctl.sh: no running cluster in $run" >&2; exit 1; }
before=$(grep -c '^\(OK\|ERR\)' "$run/out.log" || true)
echo "$*" >"$run/ctl"
deadline=$((SECONDS + 120))
while (($(grep -c '^\(OK\|ERR\)' "$run/out.log" || true) <= before)); do
  ((SECONDS < deadline)) || { echo "ctl.sh: no answer to '$*'" >&2; exit 1; }
  sleep 0.1
done
answer=$(grep '^\(OK\|ERR\)' "$run/out.log" | sed -n "$((before + 1))p")
echo "$answer"
[[ $answer == OK* ]]
