#!/usr/bin/env bash
# Stops the Apache Kafka started by start.sh in DATADIR: SIGTERM, then
# SIGKILL after 30 s. Does nothing when it is not running.
#   e2e/kafka/stop.sh DATADIR
set -euo pipefail
if [[ $# -ne 1 ]]; then
  echo "usage: $0 DATADIR" >&2
  exit 2
fi
pidfile="$1/kafka.pid"
[[ -f "$pidfile" ]] || exit 0
pid=$(cat "$pidfile")
if kill "$pid" 2>/dev/null; then
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "e2e/kafka: pid $pid still running after 30 s, killing" >&2
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
fi
rm -f "$pidfile"
