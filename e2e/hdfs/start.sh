#!/usr/bin/env bash
# Start Hadoop's MiniDFSCluster on 127.0.0.1 in the background.
#
#   e2e/hdfs/start.sh [PORT] [DATANODES]
#
# PORT 0 (the default) picks a free namenode port. The HDFS block size is
# $SLUICE_HDFS_BLOCK_SIZE bytes (default 4 MiB, so tests cross blocks).
# Builds the launcher on first use (Maven classpath + javac, cached in
# e2e/hdfs/target); installs a JDK and Maven from Debian if missing. State
# goes to $SLUICE_HDFS_DIR (default e2e/hdfs/target/run): files `port`,
# `pid`, `out.log` (READY line and command answers), `err.log` and the
# control FIFO `ctl` used by ctl.sh. Prints the namenode address.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${1:-0}
datanodes=${2:-1}
run=${SLUICE_HDFS_DIR:-$here/target/run}
target=$here/target

if [[ -f $run/pid ]] && kill -0 "$(cat "$run/pid")" 2>/dev/null; then
  echo "start.sh: a cluster is already running (pid $(cat "$run/pid")); run stop.sh" >&2
  exit 1
fi

# Java 17 and Maven come from Debian when missing (a fresh machine).
if ! command -v javac >/dev/null || ! command -v mvn >/dev/null; then
  echo "start.sh: installing a JDK and Maven from Debian" >&2
  (apt-get update -qq || true) >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
fi

# Build, cached: classpath from Maven, classes from javac.
mkdir -p "$target/classes"
if [[ ! -s $target/classpath.txt || $here/pom.xml -nt $target/classpath.txt ]]; then
  echo "start.sh: resolving the Hadoop minicluster classpath with Maven" >&2
  (cd "$here" && mvn -q -B dependency:build-classpath -Dmdep.outputFile="$target/classpath.txt") >&2
fi
src=$here/src/main/java/sluice/MiniHDFS.java
if [[ ! -f $target/classes/sluice/MiniHDFS.class || $src -nt $target/classes/sluice/MiniHDFS.class ]]; then
  javac -d "$target/classes" -cp "$(cat "$target/classpath.txt")" "$src"
fi

rm -rf "$run"
mkdir -p "$run"
mkfifo "$run/ctl"
started=$(date +%s%N)
# The FIFO is opened read-write so the cluster never sees end of input
# while no one is writing a command.
nohup java -Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  -cp "$target/classes:$(cat "$target/classpath.txt")" \
  sluice.MiniHDFS "$port" "$datanodes" "$run/data" "${SLUICE_HDFS_BLOCK_SIZE:-4194304}" \
  0<>"$run/ctl" >"$run/out.log" 2>"$run/err.log" &
pid=$!
echo "$pid" >"$run/pid"

deadline=$((SECONDS + 180))
until grep -q '^READY ' "$run/out.log" 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start.sh: MiniDFSCluster exited during startup; last lines of $run/err.log:" >&2
    tail -n 30 "$run/err.log" >&2
    rm -f "$run/pid"
    exit 1
  fi
  if ((SECONDS > deadline)); then
    echo "start.sh: MiniDFSCluster not ready after 180s; see $run/err.log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
  fi
  sleep 0.2
done
ready=$(grep '^READY ' "$run/out.log")
port=$(sed -E 's/.*port=([0-9]+).*/\1/' <<<"$ready")
echo "$port" >"$run/port"
echo "start.sh: HDFS ready at 127.0.0.1:$port in $((($(date +%s%N) - started) / 1000000)) ms ($ready)" >&2
echo "127.0.0.1:$port"
