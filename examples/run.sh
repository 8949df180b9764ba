#!/usr/bin/env bash
# `make run`: build sluice and the activity generator, then start
#   sluice server --data-dir ./data --pipelines examples/activity/pipelines
# (a broker on 127.0.0.1:9092, the admin API and /metrics on 127.0.0.1:9644,
# the two example pipelines scheduled @every 1m) and the generator producing
# page views and searches continuously (RATE events/s, default 200).
# Landed Parquet appears under ./data/lake (SLUICE_LAKE), one dt=/hr= folder
# per event hour. Ctrl-C stops everything. DEMO=0 starts the server alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/sluice
gen=bin/activity-gen
data=${SLUICE_DATA:-./data}
export SLUICE_LAKE=${SLUICE_LAKE:-$data/lake}
export SLUICE_BROKER=${SLUICE_BROKER:-127.0.0.1:9092}
http=${SLUICE_HTTP:-127.0.0.1:9644}
pipes=examples/activity/pipelines

if [[ ${DEMO:-1} == 0 ]]; then
  exec "$bin" server --data-dir "$data" --http "$http"
fi
go build -o "$gen" ./examples/activity/gen

"$bin" server --data-dir "$data" --listen "$SLUICE_BROKER" --http "$http" --pipelines "$pipes" &
server=$!
producer=
stop() {
  [[ -n $producer ]] && kill "$producer" 2>/dev/null || true
  kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

for _ in $(seq 100); do
  "$bin" --brokers "$SLUICE_BROKER" topic list >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "run: the server did not start (is port ${SLUICE_BROKER##*:} or ${http##*:} in use?)" >&2; exit 1; }
  sleep 0.1
done
"$gen" -brokers "$SLUICE_BROKER" -rate "${RATE:-200}" -n 0 -seed "$RANDOM$RANDOM" >/dev/null &
producer=$!
cat >&2 <<MSG

  Sluice is running: broker $SLUICE_BROKER, admin API and metrics http://$http
  The generator produces ${RATE:-200} events/s to topics pageviews and searches;
  the pipelines in $pipes land them every minute into:
      $SLUICE_LAKE/pageviews   $SLUICE_LAKE/searches
  Run history:    bin/sluice jobs list      bin/sluice jobs history activity-pageviews
  Run one now:    bin/sluice jobs run activity-pageviews --wait
  Query the lake: make query               (DuckDB: top pages, searches per country, late events)
  Ctrl-C stops everything.

MSG
wait "$server"
