#!/usr/bin/env bash
# Real-HDFS tests: start a MiniDFSCluster on 127.0.0.1, run the loader/fs
# contract tests against it (build tag hdfs), stop the cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SLUICE_HDFS_DIR=${SLUICE_HDFS_DIR:-$(mktemp -d /tmp/sluice-hdfs.XXXXXX)}
trap '"$here/stop.sh"; rm -rf "$SLUICE_HDFS_DIR"' EXIT

t0=$(date +%s%N)
addr=$("$here/start.sh" 0 1)
echo "run.sh: MiniDFSCluster at $addr, up in $((($(date +%s%N) - t0) / 1000000)) ms"

export SLUICE_HDFS=$addr SLUICE_HDFS_CTL=$here/ctl.sh HADOOP_USER_NAME=${HADOOP_USER_NAME:-sluice}
cd "$repo"
go test -count=1 -tags hdfs -run HDFS -v ./loader/fs/
