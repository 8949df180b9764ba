#!/usr/bin/env bash
# Sluice and Apache Kafka side by side on this machine, one broker at a time,
# each driven by the same load generators:
#   - e2e/bench/loadgen (franz-go): 100 B records at acks=all (records/s),
#     1 KiB records at acks=all (MB/s), then a consumer reading the 1 KiB
#     topic back from the page cache (MB/s);
#   - `sluice produce` (the CLI) loading 100 B lines from a file;
#   - Kafka's own ProducerPerformance and ConsumerPerformance (Java);
#   - broker RSS when idle, fresh and after the load.
# Prints a markdown table (MB = 2^20 bytes, as Kafka's perf tools count).
# Run by `make bench`; takes a few minutes.
#
# Knobs: BENCH_DURATION (franz-go produce time per run, default 10s),
# BENCH_JAVA_RECORDS (ProducerPerformance records, default 2000000),
# BENCH_CLI_LINES (lines for sluice produce, default 2000000),
# BENCH_PARTITIONS (default 1), BENCH_PEERS ("sluice kafka"),
# SLUICE_BIN (default bin/sluice), BENCH_DIR (data dirs; default a temp
# dir under /tmp, i.e. the same disk for both brokers).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/e2e/lib/broker.sh"
duration=${BENCH_DURATION:-10s}
java_records=${BENCH_JAVA_RECORDS:-2000000}
cli_lines=${BENCH_CLI_LINES:-2000000}
partitions=${BENCH_PARTITIONS:-1}
peers=${BENCH_PEERS:-sluice kafka}

e2e_init bench "${BENCH_DIR:-}" # $work, removed on exit once everything started here is stopped
on_exit "$root/e2e/kafka/stop.sh" "$work/kafka"

source "$root/e2e/kafka/lib.sh"
have_java=1
kafka_jars || have_java=0

echo "e2e/bench: building the load generator" >&2
(cd "$root" && go build -o "$work/loadgen" ./e2e/bench/loadgen)
# 100-byte lines (99 characters and the newline) for the CLI run.
python3 -c "import sys; sys.stdout.write(('x' * 99 + '\n') * $cli_lines)" >"$work/lines100"

# rss_mb PID: resident set size in MB.
rss_mb() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# field KEY LINE: the value of KEY=value in a loadgen result line.
field() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# idle_rss PID: wait until the process has stayed idle (no CPU time used)
# for one second, at most 15 s, then print its RSS.
idle_rss() {
  local pid=$1 deadline=$((SECONDS + 15)) last now
  last=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  while ((SECONDS < deadline)); do
    sleep 1
    now=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    ((now - last <= 2)) && break
    last=$now
  done
  rss_mb "$pid"
}

declare -A result

# run_suite PEER ADDR PID
run_suite() {
  local peer=$1 addr=$2 pid=$3 out
  echo "e2e/bench: $peer on $addr (pid $pid)" >&2
  result[$peer,rss_fresh]=$(idle_rss "$pid")

  out=$("$work/loadgen" -brokers "$addr" -topic lg-100 -partitions "$partitions" -record-size 100 -duration "$duration")
  echo "  loadgen 100 B: $out" >&2
  result[$peer,lg100]=$(field records_per_s "$out")
  result[$peer,lg100mb]=$(field mb_per_s "$out")

  out=$("$work/loadgen" -brokers "$addr" -topic lg-1k -partitions "$partitions" -record-size 1024 -duration "$duration")
  echo "  loadgen 1 KiB: $out" >&2
  result[$peer,lg1k]=$(field mb_per_s "$out")

  out=$("$work/loadgen" -brokers "$addr" -topic lg-1k -mode consume)
  echo "  loadgen consume: $out" >&2
  result[$peer,lgc]=$(field mb_per_s "$out")
  result[$peer,lg1k_records]=$(field records "$out")

  "$SLUICE_BIN" topic create cli-100 -p "$partitions" --brokers "$addr" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  "$SLUICE_BIN" produce cli-100 --brokers "$addr" <"$work/lines100"
  t1=$(date +%s.%N)
  result[$peer,cli]=$(awk -v n="$cli_lines" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
  echo "  sluice produce: $cli_lines lines, ${result[$peer,cli]} records/s" >&2

  result[$peer,jp]=n/a
  result[$peer,jc]=n/a
  if ((have_java)); then
    "$SLUICE_BIN" topic create jp-100 -p "$partitions" --brokers "$addr" >/dev/null
    if out=$(KAFKA_TOOL_OPTS=-Xmx1g kafka_java org.apache.kafka.tools.ProducerPerformance \
        --topic jp-100 --num-records "$java_records" --record-size 100 --throughput -1 \
        --producer-props bootstrap.servers="$addr" acks=all linger.ms=5 batch.size=1000000 \
        compression.type=none 2>&1 | tail -1); then
      echo "  ProducerPerformance: $out" >&2
      result[$peer,jp]=$(sed -nE 's/.* records sent, ([0-9.]+) records\/sec.*/\1/p' <<<"$out" | awk '{ printf "%.0f", $1 }')
    fi
    # CSV: start, end, MB, MB/s, records, records/s, rebalance ms, fetch ms,
    # fetch MB/s, fetch records/s; fetch MB/s leaves out the group join.
    if out=$(KAFKA_TOOL_OPTS=-Xmx1g kafka_java org.apache.kafka.tools.ConsumerPerformance \
        --bootstrap-server "$addr" --topic lg-1k --num-records "${result[$peer,lg1k_records]}" \
        --timeout 60000 --hide-header 2>&1 | tail -1); then
      echo "  ConsumerPerformance: $out" >&2
      result[$peer,jc]=$(awk -F', *' 'NF >= 10 { printf "%.1f", $9 }' <<<"$out")
    fi
  fi
  result[$peer,rss_after]=$(idle_rss "$pid")
}

for peer in $peers; do
  case $peer in
    sluice)
      start_sluice_server sluice --http 127.0.0.1:0 >&2
      run_suite sluice "$B" "$(bg_pid sluice)"
      stop_bg sluice || true
      rm -rf "$work/sluice"
      ;;
    kafka)
      if ((!have_java)); then
        echo "e2e/bench: Apache Kafka jars unavailable; Kafka column left empty" >&2
        continue
      fi
      port=$(free_port) # Kafka's listener takes a fixed port
      "$root/e2e/kafka/start.sh" "$port" "$work/kafka"
      run_suite kafka "127.0.0.1:$port" "$(cat "$work/kafka/kafka.pid")"
      "$root/e2e/kafka/stop.sh" "$work/kafka"
      rm -rf "$work/kafka"
      ;;
    *) echo "e2e/bench: unknown peer $peer" >&2; exit 2 ;;
  esac
done

v() { echo "${result[$1,$2]:-}"; }
kafka_version=$(sed -nE 's|.*<kafka.version>(.*)</kafka.version>.*|\1|p' "$root/e2e/kafka/pom.xml")
cat <<TABLE

Sluice vs Apache Kafka $kafka_version, $(nproc) cores, broker and load generator on the same machine,
$partitions partition(s), no compression, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end.

| measure | Sluice | Apache Kafka $kafka_version |
| --- | ---: | ---: |
| franz-go producer, 100 B records, acks=all (records/s) | $(v sluice lg100) | $(v kafka lg100) |
| franz-go producer, 1 KiB records, acks=all (MB/s) | $(v sluice lg1k) | $(v kafka lg1k) |
| franz-go consumer from page cache, 1 KiB records (MB/s) | $(v sluice lgc) | $(v kafka lgc) |
| \`sluice produce\` CLI, 100 B lines, acks=all (records/s) | $(v sluice cli) | $(v kafka cli) |
| Kafka ProducerPerformance, 100 B, acks=all (records/s) | $(v sluice jp) | $(v kafka jp) |
| Kafka ConsumerPerformance, 1 KiB records, fetch MB/s (group join excluded) | $(v sluice jc) | $(v kafka jc) |
| broker RSS, idle after start (MB) | $(v sluice rss_fresh) | $(v kafka rss_fresh) |
| broker RSS, idle after the load (MB) | $(v sluice rss_after) | $(v kafka rss_after) |
TABLE
