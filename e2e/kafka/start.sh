#!/usr/bin/env bash
# Starts a single-node Apache Kafka 4.x (KRaft, broker+controller in one
# process) on 127.0.0.1:PORT with its data in DATADIR, in the background.
#   e2e/kafka/start.sh PORT DATADIR
# It formats the storage, waits until the log says "Kafka Server started"
# (60 s at most), and writes the pid to DATADIR/kafka.pid and the log to
# DATADIR/kafka.log. The controller listens on a free port chosen here.
# Stop it with e2e/kafka/stop.sh DATADIR. KAFKA_HEAP_OPTS overrides the heap
# (default -Xms1g -Xmx1g, as kafka-server-start.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $# -ne 2 ]]; then
  echo "usage: $0 PORT DATADIR" >&2
  exit 2
fi
port=$1
datadir=$(mkdir -p "$2" && cd "$2" && pwd)
kafka_jars

if [[ -f "$datadir/kafka.pid" ]] && kill -0 "$(cat "$datadir/kafka.pid")" 2>/dev/null; then
  echo "e2e/kafka: already running with pid $(cat "$datadir/kafka.pid") in $datadir" >&2
  exit 1
fi

source "$(dirname "${BASH_SOURCE[0]}")/../lib/procs.sh" # free_port
ctrl_port=$(free_port)
mkdir -p "$datadir/logs"
cat >"$datadir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$ctrl_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$datadir/logs
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS

if [[ ! -f "$datadir/logs/meta.properties" ]]; then
  cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid)
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$datadir/server.properties" --standalone >"$datadir/format.log" 2>&1 || {
      cat "$datadir/format.log" >&2; exit 1; }
fi

heap=${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g}
# The JVM flags of Kafka's own kafka-run-class.sh.
nohup java $heap -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
  -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
  -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$KAFKA_HOME_DIR/log4j2.properties" \
  -cp "$KAFKA_LIB/*" kafka.Kafka "$datadir/server.properties" \
  >"$datadir/kafka.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$datadir/kafka.pid"

deadline=$((SECONDS + 60))
until grep -q "Kafka Server started" "$datadir/kafka.log" 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "e2e/kafka: broker exited during start; log:" >&2
    tail -50 "$datadir/kafka.log" >&2
    rm -f "$datadir/kafka.pid"
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "e2e/kafka: not ready after 60 s; log:" >&2
    tail -50 "$datadir/kafka.log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$datadir/kafka.pid"
    exit 1
  fi
  sleep 0.2
done
echo "e2e/kafka: Apache Kafka ready on 127.0.0.1:$port (pid $pid, data $datadir)" >&2
