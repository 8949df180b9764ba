#!/usr/bin/env bash
# `make run`: start a single-node broker (data in ./data, Kafka on
# 127.0.0.1:9092, metrics on 127.0.0.1:9644) and the demo pipeline
# examples/demo.yaml, which lands the `pageviews` topic as Parquet
# in ./out/demo continuously (sluice load --follow). A first batch of
# generated page views is produced so there is something to see; produce
# more with
#   examples/gen-pageviews.sh 10000 | bin/sluice produce pageviews
# Ctrl-C stops both. DEMO=0 starts the broker alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/sluice
data=${SLUICE_DATA:-./data}

if [[ ${DEMO:-1} == 0 ]]; then
  exec "$bin" server --data-dir "$data"
fi

"$bin" server --data-dir "$data" &
broker=$!
loader=
stop() {
  [[ -n $loader ]] && kill "$loader" 2>/dev/null || true
  kill "$broker" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

for _ in $(seq 100); do
  "$bin" topic list >/dev/null 2>&1 && break
  kill -0 "$broker" 2>/dev/null || { echo "demo: the broker did not start (is port 9092 or 9644 in use?)" >&2; exit 1; }
  sleep 0.1
done
"$bin" topic list | grep -q '^pageviews ' || "$bin" topic create pageviews -p 4
examples/gen-pageviews.sh 10000 | "$bin" produce pageviews
echo "demo: produced 10000 page views to topic pageviews; landing them in ./out/demo (Ctrl-C stops)" >&2
"$bin" load --follow examples/demo.yaml &
loader=$!
wait "$loader"
