#!/usr/bin/env bash
# HDFS write throughput of loader/fs against a MiniDFSCluster on loopback
# (create, write, durable close, rename), next to the local FS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$repo/e2e/lib/procs.sh"
e2e_init hdfs-bench
export SLUICE_HDFS_DIR=${SLUICE_HDFS_DIR:-$work/hdfs}
on_exit "$here/stop.sh" # stops the cluster and removes $SLUICE_HDFS_DIR
# Hadoop's default 128 MiB blocks, as on a real cluster.
export SLUICE_HDFS=$(SLUICE_HDFS_BLOCK_SIZE=134217728 "$here/start.sh" 0 1)
cd "$repo"
go test -count=1 -tags hdfs -run '^$' -bench 'Write' -benchtime 20x ./loader/fs/
