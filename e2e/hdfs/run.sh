#!/usr/bin/env bash
# Real-HDFS tests: start a MiniDFSCluster on 127.0.0.1, run the loader/fs
# contract tests against it (build tag hdfs), stop the cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$repo/e2e/lib/procs.sh"
e2e_init hdfs
export SLUICE_HDFS_DIR=${SLUICE_HDFS_DIR:-$work/hdfs}
on_exit "$here/stop.sh" # stops the cluster and removes $SLUICE_HDFS_DIR

t0=$(date +%s%N)
addr=$("$here/start.sh" 0 1)
echo "run.sh: MiniDFSCluster at $addr, up in $((($(date +%s%N) - t0) / 1000000)) ms"

export SLUICE_HDFS=$addr SLUICE_HDFS_CTL=$here/ctl.sh HADOOP_USER_NAME=${HADOOP_USER_NAME:-sluice}
cd "$repo"
go test -count=1 -tags hdfs -run HDFS -v ./loader/fs/
