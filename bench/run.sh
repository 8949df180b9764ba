#!/usr/bin/env bash
# Sluice against Apache Kafka (and, for the loader, Spark) on this machine,
# in one run, in alternating rounds: every round runs every scenario once
# against each system, Sluice first, so a change in the machine's load
# falls on both alike. `make bench` runs it and writes bench/RESULTS.md
# (bench/report.py: per scenario each system's median, min and max, and
# Sluice's ratio to the peer).
#
# Groups of scenarios, in the order run (BENCH_ONLY="produce latency" runs
# some of them):
#   limits   what this machine can do: dd write with fdatasync, page-cache
#            read, loopback TCP (iperf3)
#   produce  `sluice bench produce` (franz-go): 100 B and 1 KiB records,
#            acks=1 and all, 1 and 8 partitions, 1 and 4 producers
#   perf     Kafka's ProducerPerformance, client defaults but acks
#   consume  `sluice bench consume` and Kafka's ConsumerPerformance
#   latency  `sluice bench latency`: end to end at a fixed rate, one clock
#   o1       Sluice's produce throughput with 100 MB stored against
#            BENCH_LARGE_GB stored, alternately
#   startup  start to serving, with no topics and with 10,000 partitions
#   cluster  three Sluice and three Kafka KRaft brokers (bench/cluster.sh):
#            acks=all produce into RF=3, min.insync.replicas=2 topics (the
#            produce group's load generator, beside its single-broker
#            figure of the same round), and the failover time after SIGKILL
#            of a partition leader under a running acks=all producer
#   loader   bench/loader.sh: sluice load, a Spark batch job and Spark
#            Structured Streaming (availableNow) over the same events
# For every broker run the broker's CPU seconds per GB moved (utime+stime
# from /proc/PID/stat) and its peak RSS in the run (VmHWM, reset first).
#
# Knobs: BENCH_ROUNDS (5), BENCH_DURATION (4s per produce run),
# BENCH_LAT_RATE (20000 records/s), BENCH_LAT_DURATION (10s),
# BENCH_LAT_WARMUP (3s, unmeasured, at the same rate, before each run),
# BENCH_CONSUME_MB (1024), BENCH_PERF_RECORDS (3000000 of 100 B; a third
# of it for 1 KiB), BENCH_LARGE_GB (20; 0 skips o1),
# BENCH_STARTUP_PARTITIONS (10000), BENCH_SESSION_MS (9000, both systems'
# default broker.session.timeout.ms, for the cluster group),
# BENCH_FAILOVER_RATE (1000 records/s), BENCH_FAILOVER_KILL (leader: a
# partition leader that is not the active controller; controller: the one
# that is), BENCH_RESULTS (bench/RESULTS.md),
# BENCH_DIR (the parent of the data dirs: one disk for all systems),
# BENCH_ONLY. BENCH_SMOKE=1: one short round of every scenario with tiny
# sizes, results to the work dir unless BENCH_RESULTS is set; `make test`
# runs it (e2e/bench/run.sh) so the scripts keep working. Nothing here
# asserts a speed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/e2e/lib/broker.sh"
source "$root/bench/lib.sh"
source "$root/e2e/kafka/lib.sh"
source "$root/bench/cluster.sh"

die() { echo "bench: FAIL: $*" >&2; exit 1; }
log() { echo "[$(date -u +%H:%M:%S)] bench: $*" >&2; }

smoke=${BENCH_SMOKE:-0}
if ((smoke)); then
  rounds=${BENCH_ROUNDS:-1} duration=${BENCH_DURATION:-1s}
  lat_rate=${BENCH_LAT_RATE:-2000} lat_duration=${BENCH_LAT_DURATION:-2s} lat_warmup=${BENCH_LAT_WARMUP:-1s}
  consume_mb=${BENCH_CONSUME_MB:-16} perf_records=${BENCH_PERF_RECORDS:-100000}
  large_gb=${BENCH_LARGE_GB:-0.2} startup_parts=${BENCH_STARTUP_PARTITIONS:-100}
  small_mb=20 dd_mb=64 iperf_s=1
  session_ms=${BENCH_SESSION_MS:-3000} failover_rate=${BENCH_FAILOVER_RATE:-1000} failover_kill=${BENCH_FAILOVER_KILL:-leader}
else
  rounds=${BENCH_ROUNDS:-5} duration=${BENCH_DURATION:-4s}
  lat_rate=${BENCH_LAT_RATE:-20000} lat_duration=${BENCH_LAT_DURATION:-10s} lat_warmup=${BENCH_LAT_WARMUP:-3s}
  consume_mb=${BENCH_CONSUME_MB:-1024} perf_records=${BENCH_PERF_RECORDS:-3000000}
  large_gb=${BENCH_LARGE_GB:-20} startup_parts=${BENCH_STARTUP_PARTITIONS:-10000}
  small_mb=100 dd_mb=1024 iperf_s=3
  session_ms=${BENCH_SESSION_MS:-9000} failover_rate=${BENCH_FAILOVER_RATE:-1000} failover_kill=${BENCH_FAILOVER_KILL:-leader}
fi
only=${BENCH_ONLY:-limits produce perf consume latency o1 startup cluster loader}
want() { [[ " $only " == *" $1 "* ]]; }
((rounds >= 1)) || die "BENCH_ROUNDS=$rounds: want at least 1"
[[ $failover_kill == leader || $failover_kill == controller ]] || die "BENCH_FAILOVER_KILL=$failover_kill: want leader or controller"

e2e_init bench "${BENCH_DIR:-}"
results=${BENCH_RESULTS:-}
[[ -n $results ]] || { ((smoke)) && results=$work/RESULTS.md || results=$root/bench/RESULTS.md; }
# Measurements go beside the report as they are taken, so a run that dies
# keeps what it measured (RESULTS.jsonl.partial; renamed when it ends).
export BENCH_OUT=${results%.md}.jsonl.partial BENCH_SMOKE=$smoke
: >"$BENCH_OUT"
if want limits; then command -v iperf3 >/dev/null || die "iperf3 missing: apt-get install -y iperf3 (make deps)"; fi
kafka_jars || die "Apache Kafka's jars could not be fetched (e2e/kafka/lib.sh)"
kafka_version=$(sed -nE 's|.*<kafka.version>(.*)</kafka.version>.*|\1|p' "$root/e2e/kafka/pom.xml")
loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "$rounds round(s) of: $only; data under $work; results to $results"

# ---- the brokers -------------------------------------------------------------
# Both run for the whole suite, each idle while the other is measured.
# Kafka keeps its defaults (KRaft, one node, 1 GiB heap as
# kafka-server-start.sh gives it); Sluice its embedded defaults.
declare -A addr pid
start_brokers() {
  start_sluice_server sluice >&2
  addr[sluice]=$B pid[sluice]=$(bg_pid sluice)
  local port
  port=$(free_port)
  "$root/e2e/kafka/start.sh" "$port" "$work/kafka" >&2
  addr[kafka]=127.0.0.1:$port pid[kafka]=$(cat "$work/kafka/kafka.pid")
}
stop_brokers() {
  stop_bg sluice || true
  "$root/e2e/kafka/stop.sh" "$work/kafka"
}
for d in kafka k-empty k-full; do on_exit "$root/e2e/kafka/stop.sh" "$work/$d"; done

sl() { "$SLUICE_BIN" --brokers "${addr[$1]}" "${@:2}"; }

# ---- page cache --------------------------------------------------------------
# This machine is a VM whose guest memory is backed by the host on first
# touch: writing 3 GB into the page cache cost 6.8 s of system time the first
# time and 0.6 s the second. Whichever broker first wrote into never-touched
# memory would pay several times the CPU per GB of the other, and a broker
# that found the page cache full would pay for reclaim. So the memory is
# touched once before the run (warm_memory), and before every measured write
# the clean page cache is dropped (fresh_pages), so both brokers write into
# the same kind of free, already backed pages. Neither changes what a broker
# does; both take a VM artefact out of the comparison.
warm_memory() {
  ((smoke)) && return 0
  log "touching $(awk '/^MemAvailable:/ { printf "%.1f", $2 / 2^20 }' /proc/meminfo) GiB less 2 GiB once (first-touch cost of VM memory)"
  python3 -c '
import mmap
n = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemAvailable:"))) * 1024 - 2**31
chunk = b"\1" * 2**26
m = mmap.mmap(-1, n)
for off in range(0, n - len(chunk), len(chunk)):
    m[off:off + len(chunk)] = chunk
m.close()'
}
fresh_pages() {
  sync
  [[ -w /proc/sys/vm/drop_caches ]] && echo 1 >/proc/sys/vm/drop_caches || true
}
# cache_topic TOPIC: reads TOPIC's files on both brokers into the page cache.
cache_topic() {
  find "$work/sluice" "$work/kafka" -type f -path "*/$1-[0-9]*/*" -exec cat {} + >/dev/null
}

# measure SYSTEM CMD...: runs CMD (output to $work/out) while counting the
# broker's CPU and peak RSS; sets CPU_S and RSS_MB.
measure() {
  local sys=$1 p=${pid[$1]} t0 t1
  shift
  hwm_reset "$p"
  t0=$(cpu_ticks "$p")
  "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; die "$sys: $* failed"; }
  t1=$(cpu_ticks "$p")
  CPU_S=$(ticks_s $((t1 - t0)))
  RSS_MB=$(hwm_mb "$p")
}

# per_gb CPU_S BYTES: CPU seconds per GiB moved.
per_gb() { awk -v c="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? c / (b / 2^30) : 0) }'; }

# emit_bench GROUP SCENARIO SYSTEM ROUND [KEY=VALUE...]: one line from the
# `sluice bench -o json` result in $work/out and the broker's CPU and RSS.
emit_bench() {
  local j=$work/out
  emit "$1" "$2" "$3" "$4" records_per_s="$(jget "$j" records_per_s)" mb_per_s="$(jget "$j" mb_per_s)" \
    cpu_s_per_gb="$(per_gb "$CPU_S" "$(jget "$j" bytes)")" peak_rss_mb="$RSS_MB" "${@:5}"
}

# ---- limits ------------------------------------------------------------------
limits_round() {
  local r=$1 f=$work/dd.bin t0 t1 mbs
  t0=$EPOCHREALTIME
  dd if=/dev/zero of="$f" bs=1M count="$dd_mb" conv=fdatasync status=none
  t1=$EPOCHREALTIME
  emit limits "what this machine can do" machine "$r" \
    disk_write_mb_per_s="$(awk -v n="$dd_mb" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
  cat "$f" >/dev/null # into the page cache, if fdatasync let it go
  t0=$EPOCHREALTIME
  dd if="$f" of=/dev/null bs=1M status=none
  t1=$EPOCHREALTIME
  emit limits "what this machine can do" machine "$r" \
    cache_read_mb_per_s="$(awk -v n="$dd_mb" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
  rm -f "$f"
  local port
  port=$(free_port)
  start_bg iperf iperf3 -s -1 -p "$port" -B 127.0.0.1 >"$work/iperf-server.log" 2>&1
  # iperf3 3.12 with -J exits 0 even when it could not connect (the error is
  # in the JSON), so success is a JSON answer that has a received sum.
  local deadline=$((SECONDS + 60))
  until timeout $((iperf_s + 20)) iperf3 -c 127.0.0.1 -p "$port" -t "$iperf_s" -J >"$work/iperf.json" 2>"$work/iperf.err" &&
    mbs=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 8 / 2**20))' "$work/iperf.json" 2>>"$work/iperf.err"); do
    ((SECONDS < deadline)) || die "iperf3 on 127.0.0.1:$port did not answer: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error", "no error given"))' "$work/iperf.json" 2>&1 | head -c 300)"
    sleep 0.2
  done
  stop_bg iperf || true # (-1 ends it after one test, but not always at once)
  emit limits "what this machine can do" machine "$r" tcp_mb_per_s="$mbs"
}

# ---- produce -----------------------------------------------------------------
produce_matrix=()
for size in 100 1024; do for acks in all 1; do for parts in 1 8; do for prods in 1 4; do
  produce_matrix+=("$size $acks $parts $prods")
done; done; done; done
size_name() { (($1 == 1024)) && echo "1 KiB" || echo "$1 B"; }
plural() { (($1 == 1)) && echo "$1 $2" || echo "$1 ${2}s"; }

produce_round() {
  local r=$1 i=0 cfg size acks parts prods scenario sys topic
  for cfg in "${produce_matrix[@]}"; do
    read -r size acks parts prods <<<"$cfg"
    scenario="produce $(size_name "$size"), acks=$acks, $(plural "$parts" partition), $(plural "$prods" producer)"
    for sys in sluice kafka; do
      topic=p$i-r$r
      sl "$sys" topic create "$topic" -p "$parts" >/dev/null
      fresh_pages
      measure "$sys" sl "$sys" bench produce --topic "$topic" --record-size "$size" --acks "$acks" \
        --producers "$prods" --duration "$duration" -o json
      emit_bench produce "$scenario" "$sys" "$r"
      sl "$sys" topic delete "$topic" >/dev/null
    done
    i=$((i + 1))
  done
}

# ---- Kafka's ProducerPerformance ------------------------------------------------
perf_round() {
  local r=$1 size n sys topic scenario rps mbs p99
  for size in 100 1024; do
    n=$perf_records
    ((size == 100)) || n=$((perf_records / 3))
    scenario="Kafka ProducerPerformance, $(size_name "$size"), acks=all, 1 partition (client defaults)"
    for sys in sluice kafka; do
      topic=perf$size-r$r
      sl "$sys" topic create "$topic" -p 1 >/dev/null
      fresh_pages
      measure "$sys" env KAFKA_TOOL_OPTS=-Xmx1g bash -c 'source "$1/e2e/kafka/lib.sh"; shift
        kafka_java org.apache.kafka.tools.ProducerPerformance "$@"' _ "$root" \
        --topic "$topic" --num-records "$n" --record-size "$size" --throughput -1 \
        --producer-props bootstrap.servers="${addr[$sys]}" acks=all
      read -r rps mbs p99 <<<"$(python3 "$root/bench/report.py" perf "$work/out")"
      emit perf "$scenario" "$sys" "$r" records_per_s="$rps" mb_per_s="$mbs" p99_ms="$p99" \
        cpu_s_per_gb="$(per_gb "$CPU_S" $((n * size)))" peak_rss_mb="$RSS_MB"
      sl "$sys" topic delete "$topic" >/dev/null
    done
  done
}

# ---- consume -----------------------------------------------------------------
consume_ready=()
consume_round() {
  local r=$1 sys n=$((consume_mb * 1024)) mb mbs rps bytes
  for sys in sluice kafka; do
    if [[ " ${consume_ready[*]} " != *" $sys "* ]]; then
      sl "$sys" topic create consume-1k -p 8 >/dev/null
      sl "$sys" bench produce --topic consume-1k --record-size 1024 --acks 1 --producers 4 --records "$n" -o json >/dev/null
      consume_ready+=("$sys")
    fi
  done
  cache_topic consume-1k
  for sys in sluice kafka; do
    measure "$sys" sl "$sys" bench consume --topic consume-1k -o json
    emit_bench consume "consume 1 KiB records, 8 partitions, from the page cache ($consume_mb MB), franz-go" "$sys" "$r"
  done
  for sys in sluice kafka; do
    # CSV: start, end, MB, MB/s, records, records/s, rebalance ms, fetch ms,
    # fetch MB/s, fetch records/s (fetch leaves out the group join).
    measure "$sys" env KAFKA_TOOL_OPTS=-Xmx1g bash -c 'source "$1/e2e/kafka/lib.sh"; shift
      kafka_java org.apache.kafka.tools.ConsumerPerformance "$@"' _ "$root" \
      --bootstrap-server "${addr[$sys]}" --topic consume-1k --num-records "$n" --timeout 60000 --hide-header
    read -r mb mbs rps <<<"$(python3 "$root/bench/report.py" cperf "$work/out")"
    bytes=$(awk -v mb="$mb" 'BEGIN { printf "%.0f", mb * 2^20 }')
    emit consume "Kafka ConsumerPerformance, 1 KiB records, 8 partitions ($consume_mb MB), fetch rate without the group join" \
      "$sys" "$r" mb_per_s="$mbs" records_per_s="$rps" cpu_s_per_gb="$(per_gb "$CPU_S" "$bytes")" peak_rss_mb="$RSS_MB"
  done
}

# ---- latency -----------------------------------------------------------------
latency_round() {
  local r=$1 sys scenario
  scenario="end-to-end latency, 100 B, acks=all, 1 partition, $lat_rate records/s for $lat_duration"
  for sys in sluice kafka; do
    sl "$sys" topic create "lat-r$r" -p 1 >/dev/null
    # Warm up at the same rate, unmeasured, instead of dropping the page
    # cache: a dropped cache evicts the Go binaries' file-backed code (the
    # broker's and the client's), so the first requests wait on page
    # faults, while Kafka's JIT-compiled code is anonymous memory and
    # stays (measured: max 9 ms warm, 12-20 ms just after a drop). The
    # measured run starts at the end offsets, after the warm-up's records.
    sl "$sys" bench latency --topic "lat-r$r" --rate "$lat_rate" --duration "$lat_warmup" --record-size 100 --acks all -o json >/dev/null ||
      die "$sys: latency warm-up failed"
    measure "$sys" sl "$sys" bench latency --topic "lat-r$r" --rate "$lat_rate" --duration "$lat_duration" --record-size 100 --acks all -o json
    emit latency "$scenario" "$sys" "$r" p50_ms="$(jget "$work/out" p50_ms)" p99_ms="$(jget "$work/out" p99_ms)" \
      p999_ms="$(jget "$work/out" p999_ms)" max_ms="$(jget "$work/out" max_ms)" peak_rss_mb="$RSS_MB"
    sl "$sys" topic delete "lat-r$r" >/dev/null
  done
}

# ---- O(1): produce with little and with much stored -----------------------------
o1_prepare() {
  local big=$(awk -v g="$large_gb" 'BEGIN { printf "%.0f", g * 2^30 / 1024 }')
  sl sluice topic create o1-small -p 1 >/dev/null
  sl sluice topic create o1-large -p 1 >/dev/null
  log "o1: filling o1-small with $small_mb MB and o1-large with $large_gb GB"
  sl sluice bench produce --topic o1-small --record-size 1024 --acks 1 --records $((small_mb * 1024)) -o json >/dev/null
  sl sluice bench produce --topic o1-large --record-size 1024 --acks 1 --producers 4 --records "$big" -o json >/dev/null
}
o1_round() {
  local r=$1 t
  for t in small large; do
    fresh_pages
    measure sluice sl sluice bench produce --topic "o1-$t" --record-size 100 --acks all --duration "$duration" -o json
    local label="sluice, $small_mb MB stored"
    [[ $t == large ]] && label="sluice, $large_gb GB stored"
    emit_bench o1 "O(1) check: produce 100 B, acks=all, 1 partition, into a partition holding $small_mb MB or $large_gb GB" "$label" "$r"
  done
}

# ---- startup -----------------------------------------------------------------
# Brokers of their own, each with a data dir holding no topics or
# $startup_parts partitions (100 per topic), restarted every round. Serving
# means a one-record acks=all produce to an existing topic succeeds.
declare -A sport
startup_prepare() {
  local n=$1 kind=$2 t
  sport[sluice-$kind]=$(free_port)
  start_sluice_server "s-$kind" --listen "127.0.0.1:${sport[sluice-$kind]}" >&2
  sport[kafka-$kind]=$(free_port)
  "$root/e2e/kafka/start.sh" "${sport[kafka-$kind]}" "$work/k-$kind" >&2
  local a
  for a in "$B" "127.0.0.1:${sport[kafka-$kind]}"; do
    # The probe topic is one of the n partitions (a data dir of exactly
    # max.broker.partitions' default, 10,000, must fit under it).
    "$SLUICE_BIN" --brokers "$a" topic create probe -p 1 >/dev/null
    local left=$((n - 1))
    for ((t = 0; left > 0; t++)); do
      "$SLUICE_BIN" --brokers "$a" topic create "s$t" -p $((left < 100 ? left : 100)) >/dev/null
      left=$((left - (left < 100 ? left : 100)))
    done
  done
  stop_bg "s-$kind" || true
  "$root/e2e/kafka/stop.sh" "$work/k-$kind"
}
# probe ADDR: has the broker on ADDR taken one record (60 s at most)?
# It waits for the port first (every 20 ms): a client started before would
# sit in its reconnect backoff and add that to the time.
probe() {
  local deadline=$((SECONDS + 60))
  until (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.02
  done
  until "$SLUICE_BIN" --brokers "$1" bench produce --topic probe --records 1 --acks all -o json >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}
startup_round() {
  local r=$1 kind t0 t1 scenario
  for kind in empty full; do
    scenario="start to serving, no topics"
    [[ $kind == full ]] && scenario="start to serving, $startup_parts partitions"
    t0=$EPOCHREALTIME
    start_bg "s-$kind" "$SLUICE_BIN" server --data-dir "$work/s-$kind" --listen "127.0.0.1:${sport[sluice-$kind]}" --http "" >>"$work/s-$kind.log" 2>&1
    probe "127.0.0.1:${sport[sluice-$kind]}" || die "sluice with $kind data dir not serving in 60 s"
    t1=$EPOCHREALTIME
    emit startup "$scenario" sluice "$r" seconds="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
      peak_rss_mb="$(hwm_mb "$(bg_pid "s-$kind")")"
    stop_bg "s-$kind" || true
    t0=$EPOCHREALTIME
    "$root/e2e/kafka/start.sh" "${sport[kafka-$kind]}" "$work/k-$kind" >/dev/null 2>&1 &
    probe "127.0.0.1:${sport[kafka-$kind]}" || die "kafka with $kind data dir not serving in 60 s"
    t1=$EPOCHREALTIME
    wait $! || die "e2e/kafka/start.sh failed for the $kind data dir"
    emit startup "$scenario" kafka "$r" seconds="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
      peak_rss_mb="$(hwm_mb "$(cat "$work/k-$kind/kafka.pid")")"
    "$root/e2e/kafka/stop.sh" "$work/k-$kind"
  done
}

# ---- the run -------------------------------------------------------------------
warm_memory
if want produce || want perf || want consume || want latency || want o1; then
  start_brokers
  if want o1 && [[ $large_gb != 0 ]]; then o1_prepare; fi
fi
for ((r = 1; r <= rounds; r++)); do
  log "round $r of $rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  if want limits; then limits_round "$r"; fi
  if want produce; then produce_round "$r"; fi
  if want perf; then perf_round "$r"; fi
  if want consume; then consume_round "$r"; fi
  if want latency; then latency_round "$r"; fi
  if want o1 && [[ $large_gb != 0 ]]; then o1_round "$r"; fi
done
if want produce || want perf || want consume || want latency || want o1; then stop_brokers; fi
if want startup; then
  log "startup: preparing data dirs with no topics and with $startup_parts partitions"
  startup_prepare 0 empty
  startup_prepare "$startup_parts" full
  for ((r = 1; r <= rounds; r++)); do startup_round "$r"; done
fi
if want cluster; then
  cluster_start
  for ((r = 1; r <= rounds; r++)); do
    log "cluster: round $r of $rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    cluster_round "$r"
  done
  cluster_stop
fi
if want loader; then
  log "loader: bench/loader.sh"
  bash "$root/bench/loader.sh"
fi

python3 "$root/bench/report.py" render "$BENCH_OUT" "$results" \
  --started "$started" --commit "$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)" \
  --rounds "$rounds" --smoke "$smoke" --kafka "$kafka_version" \
  --loadavg-before "$loadavg_before" --loadavg-after "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --disk "$(df -h --output=source,fstype,size "$work" | tail -1 | tr -s ' ')" \
  --analysis "$root/bench/ANALYSIS.md"
mv "$BENCH_OUT" "${results%.md}.jsonl"
log "wrote $results"
