# shellcheck shell=bash
# Sourced by bench/run.sh: the RF=3 scenarios ("cluster" in BENCH_ONLY).
# Three Sluice nodes (e2e/lib/cluster.sh) and three Apache Kafka KRaft
# nodes in combined mode (broker and controller in one process, as
# e2e/kafka/start.sh runs one), all on 127.0.0.1 with data dirs of their
# own on the one disk, the same broker.session.timeout.ms and
# min.insync.replicas=2 on both. Both clusters run for the cluster phase,
# each idle while the other is measured; the single brokers of the other
# groups are stopped by then.
#
#   cluster_start       starts both clusters (sets caddr[sluice|kafka], the
#                       bootstrap lists)
#   cluster_round R     round R: every cluster_matrix throughput scenario,
#                       then one failover, on each system in turn
#   cluster_stop        stops both
#
# Throughput: `sluice bench produce` (the load generator of the produce
# group) with acks=all into a topic of RF=3 and min.insync.replicas=2;
# records/s, MB/s, CPU per GB and peak RSS summed over the three brokers,
# and vs_single: records/s over the same scenario's single-broker figure
# in the same round of this run (when the produce group ran).
#
# Failover: a `sluice produce` (franz-go, acks=all, idempotent: its
# defaults) sends one record every 1/BENCH_FAILOVER_RATE s to one
# partition of a 3-partition topic of RF=3 that stamps LogAppendTime, the
# leader of that partition is SIGKILLed, and failover_ms is the time from
# the kill to the first record the new leader appended (its LogAppendTime,
# read back from the log: the first record stamped after the kill
# returned, which only the new leader can have appended). The acks=all
# answer for it follows once the remaining follower has fetched it. Every
# record sent must be in the log once (records_lost, records_duplicated);
# the killed node is restarted on its data dir and the round ends once
# nothing is under-replicated. The partition is one whose leader is not
# the active controller (the quorum's leader, kafka-metadata-quorum's
# LeaderId), so that both systems fail over the same thing: the fencing
# of a broker after broker.session.timeout.ms. BENCH_FAILOVER_KILL=
# controller kills the leader that is also the controller instead (a
# quorum election first, and a new controller that may judge the old one
# by other means than its session).

source "$root/e2e/lib/cluster.sh"

# size acks partitions producers, each the twin of a produce_matrix row
cluster_matrix=("100 all 8 4" "1024 all 8 4" "1024 all 1 1")
declare -A caddr
cluster_tag() { [[ $1 == sluice ]] && echo "sc$2" || echo "kc$2"; }

# ---- Apache Kafka, three combined nodes ------------------------------------
declare -A _kc_port _kc_ctrl
# kafka_cluster_prepare: ports, server.properties and formatted storage of
# kc1..kc3 (one cluster id, the static voters of controller.quorum.voters).
kafka_cluster_prepare() {
  local i voters=() cid hb
  for i in 1 2 3; do
    _kc_port[$i]=$(free_port)
    _kc_ctrl[$i]=$(free_port)
    voters+=("$i@127.0.0.1:${_kc_ctrl[$i]}")
  done
  # Kafka's broker heartbeat is 2 s by default against a 9 s session; a
  # shorter session gets a heartbeat of a third of it.
  hb=$((session_ms < 6000 ? session_ms / 3 : 2000))
  cid=$(kafka_java kafka.tools.StorageTool random-uuid)
  for i in 1 2 3; do
    mkdir -p "$work/kc$i/logs"
    cat >"$work/kc$i/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
listeners=PLAINTEXT://127.0.0.1:${_kc_port[$i]},CONTROLLER://127.0.0.1:${_kc_ctrl[$i]}
advertised.listeners=PLAINTEXT://127.0.0.1:${_kc_port[$i]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$work/kc$i/logs
num.partitions=1
min.insync.replicas=2
group.initial.rebalance.delay.ms=0
broker.session.timeout.ms=$session_ms
broker.heartbeat.interval.ms=$hb
PROPS
    kafka_java kafka.tools.StorageTool format -t "$cid" -c "$work/kc$i/server.properties" >"$work/kc$i/format.log" 2>&1 ||
      { cat "$work/kc$i/format.log" >&2; die "kafka node $i: storage format failed"; }
  done
  caddr[kafka]=127.0.0.1:${_kc_port[1]},127.0.0.1:${_kc_port[2]},127.0.0.1:${_kc_port[3]}
}
# _kafka_node_launch I: starts node I (the JVM flags of e2e/kafka/start.sh)
# as a process group of this script, its log appended to; sets _KC_SKIP.
_kafka_node_launch() {
  local i=$1
  _KC_SKIP=0
  [[ -f $work/kc$i.log ]] && _KC_SKIP=$(wc -l <"$work/kc$i.log")
  # shellcheck disable=SC2086 # the heap options are words
  start_bg "kc$i" java ${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g} -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_HOME_DIR/log4j2.properties" \
    -cp "$KAFKA_LIB/*" kafka.Kafka "$work/kc$i/server.properties" >>"$work/kc$i.log" 2>&1
}
_kafka_node_ready() { wait_log "kc$1" "$work/kc$1.log" "Kafka Server started" 120 "$2" >/dev/null; }
kafka_node_start() {
  _kafka_node_launch "$1"
  _kafka_node_ready "$1" "$_KC_SKIP" || die "kafka node $1 did not start"
}

# cluster_whole SYS: waits (120 s) until SYS's cluster lists 3 brokers and
# has no partition under-replicated (`sluice cluster status`).
cluster_whole() {
  local deadline=$((SECONDS + 120)) out
  until out=$("$SLUICE_BIN" --brokers "${caddr[$1]}" --timeout 5s cluster status 2>&1) &&
    [[ $out == *", 3 brokers,"* && $out == *$'\nunder-replicated: 0'* ]]; do
    ((SECONDS < deadline)) || die "$1 cluster not whole in 120 s: $out"
    sleep 0.2
  done
}

cluster_start() {
  local i skips=()
  log "cluster: starting 3 Sluice and 3 Kafka nodes (broker.session.timeout.ms=$session_ms)"
  sluice_cluster sc 3 --set min.insync.replicas=2 --set "broker.session.timeout.ms=$session_ms"
  start_sluice_cluster sc
  caddr[sluice]=$B
  kafka_cluster_prepare
  for i in 1 2 3; do
    _kafka_node_launch "$i"
    skips[i]=$_KC_SKIP
  done
  for i in 1 2 3; do _kafka_node_ready "$i" "${skips[i]}" || die "kafka node $i did not start"; done
  cluster_whole sluice
  cluster_whole kafka
}
cluster_stop() {
  stop_bg sc1 sc2 sc3 || true
  stop_bg kc1 kc2 kc3 || true
}

slc() { "$SLUICE_BIN" --brokers "${caddr[$1]}" "${@:2}"; }

# cmeasure SYSTEM CMD...: measure over the three brokers of SYSTEM's
# cluster: CPU_S their CPU seconds, RSS_MB the sum of their peak RSS.
cmeasure() {
  local sys=$1 i p t0=0 t1=0 rss=0 pids=()
  shift
  for i in 1 2 3; do pids+=("$(bg_pid "$(cluster_tag "$sys" "$i")")"); done
  for p in "${pids[@]}"; do
    hwm_reset "$p"
    t0=$((t0 + $(cpu_ticks "$p")))
  done
  "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; die "$sys cluster: $* failed"; }
  for p in "${pids[@]}"; do
    t1=$((t1 + $(cpu_ticks "$p")))
    rss=$((rss + $(hwm_mb "$p")))
  done
  CPU_S=$(ticks_s $((t1 - t0)))
  RSS_MB=$rss
}

# partition_rows SYS TOPIC: "partition leader replicas isr high-watermark"
# of each partition, from `sluice topic describe` (brackets dropped).
partition_rows() {
  slc "$1" --timeout 5s topic describe "$2" 2>/dev/null | tr -d '[]' |
    awk '/^PARTITION/ { rows = 1; next } rows && NF >= 7 { print $1, $2, $4, $5, $7 }'
}
# partition_row SYS TOPIC PART: "leader replicas isr high-watermark" of one.
partition_row() { partition_rows "$1" "$2" | awk -v p="$3" '$1 == p { print $2, $3, $4, $5; exit }'; }

cluster_throughput() {
  local r=$1 i=0 cfg size acks parts prods scenario sys topic single single_rps vs
  for cfg in "${cluster_matrix[@]}"; do
    read -r size acks parts prods <<<"$cfg"
    single="produce $(size_name "$size"), acks=$acks, $(plural "$parts" partition), $(plural "$prods" producer)"
    scenario="RF=3, 3 brokers, min.insync.replicas=2: $single"
    for sys in sluice kafka; do
      topic=c$i-r$r
      slc "$sys" topic create "$topic" -p "$parts" -r 3 -c min.insync.replicas=2 >/dev/null
      fresh_pages
      cmeasure "$sys" slc "$sys" bench produce --topic "$topic" --record-size "$size" --acks "$acks" \
        --producers "$prods" --duration "$duration" -o json
      vs=()
      single_rps=$(python3 "$root/bench/report.py" get "$BENCH_OUT" produce "$single" "$sys" "$r" records_per_s)
      if [[ -n $single_rps ]]; then
        vs=(vs_single="$(awk -v a="$(jget "$work/out" records_per_s)" -v b="$single_rps" 'BEGIN { printf "%.4f", (b > 0 ? a / b : 0) }')")
      fi
      emit_bench cluster "$scenario" "$sys" "$r" "${vs[@]}"
      slc "$sys" topic delete "$topic" >/dev/null
    done
    i=$((i + 1))
  done
}

# The producer of a failover run: one line every 1/rate s (its number)
# until the stop file appears, then its count into the count file.
pacer_py='
import os, sys, time
rate, stop, count = float(sys.argv[1]), sys.argv[2], sys.argv[3]
n, t0 = 0, time.monotonic()
try:
    while not os.path.exists(stop):
        n += 1
        sys.stdout.write(f"{n}\n")
        sys.stdout.flush()
        d = t0 + n / rate - time.monotonic()
        if d > 0:
            time.sleep(d)
except BrokenPipeError:
    pass
open(count, "w").write(f"{n}\n")
'

# quorum_leader SYS: the active controller of SYS's cluster (DescribeQuorum).
quorum_leader() {
  timeout 120 "$root/e2e/kafka/run-class.sh" org.apache.kafka.tools.MetadataQuorumCommand \
    --bootstrap-server "${caddr[$1]}" describe --status 2>/dev/null | sed -nE 's/^LeaderId: +([0-9]+)$/\1/p'
}

cluster_failover() {
  local r=$1 sys topic row leader isr hw0 l hw ctrl p deadline t_kill t_dead rc n tag ms lost dup what
  what="a partition leader that is not the active controller"
  [[ $failover_kill == controller ]] && what="the partition leader that is also the active controller"
  for sys in sluice kafka; do
    topic=fo-r$r
    # Three partitions, so that each broker leads one: the one killed is
    # chosen by what BENCH_FAILOVER_KILL says of the controller.
    slc "$sys" topic create "$topic" -p 3 -r 3 -c min.insync.replicas=2 -c message.timestamp.type=LogAppendTime >/dev/null
    deadline=$((SECONDS + 60))
    until [[ $(partition_rows "$sys" "$topic" | awk '$2 ~ /^[1-3]$/ && $4 ~ /^[1-3],[1-3],[1-3]$/' | wc -l) == 3 ]]; do
      ((SECONDS < deadline)) || die "$sys: failover topic $topic: not 3 partitions led with 3 in sync in 60 s"
      sleep 0.1
    done
    ctrl=$(quorum_leader "$sys")
    [[ $ctrl =~ ^[1-3]$ ]] || die "$sys: no quorum leader from kafka-metadata-quorum"
    p=$(partition_rows "$sys" "$topic" | awk -v c="$ctrl" -v m="$failover_kill" '(m == "controller") == ($2 == c) { print $1; exit }')
    [[ -n $p ]] || die "$sys: no partition of $topic led by $what (controller $ctrl): $(partition_rows "$sys" "$topic" | tr '\n' ';')"
    rm -f "$work/fo.stop" "$work/fo.count"
    start_bg fo-produce bash -c 'python3 -c "$1" "$2" "$3" "$4" | exec "$5" --brokers "$6" --timeout 120s produce "$7" --partition "$8" --linger 0' \
      _ "$pacer_py" "$failover_rate" "$work/fo.stop" "$work/fo.count" "$SLUICE_BIN" "${caddr[$sys]}" "$topic" "$p" >"$work/fo-produce.log" 2>&1
    # Records flowing, acknowledged by all three: the high watermark moves
    # and the ISR is whole; its leader and high watermark just before the
    # kill.
    deadline=$((SECONDS + 60))
    until row=$(partition_row "$sys" "$topic" "$p") && read -r leader _ isr hw0 <<<"$row" &&
      [[ $leader =~ ^[1-3]$ && $hw0 =~ ^[0-9]+$ ]] && ((hw0 >= failover_rate / 4)) && [[ $isr =~ ^[1-3],[1-3],[1-3]$ ]]; do
      ((SECONDS < deadline)) || die "$sys: failover topic $topic not taking records: ${row:-no row}; $(tail -3 "$work/fo-produce.log")"
      sleep 0.1
    done
    if [[ $leader == "$ctrl" ]]; then l=controller; else l=leader; fi
    [[ $l == "$failover_kill" ]] || die "$sys: $topic-$p: leader $leader, controller $ctrl: not $what"
    tag=$(cluster_tag "$sys" "$leader")
    t_kill=$EPOCHREALTIME
    signal_bg "$tag" KILL
    wait_bg "$tag" || true
    t_dead=$EPOCHREALTIME
    # A new leader, and records acknowledged through it: the high
    # watermark a quarter of a second of records past where it was.
    deadline=$((SECONDS + 120))
    until row=$(partition_row "$sys" "$topic" "$p") && read -r l _ _ hw <<<"$row" &&
      [[ $l =~ ^[1-3]$ && $l != "$leader" && $hw =~ ^[0-9]+$ ]] && ((hw >= hw0 + failover_rate / 4)); do
      ((SECONDS < deadline)) || die "$sys: no new leader taking records 120 s after node $leader was killed: ${row:-no row}; $(tail -3 "$work/fo-produce.log")"
      sleep 0.05
    done
    : >"$work/fo.stop"
    rc=0
    wait_bg fo-produce || rc=$?
    ((rc == 0)) || die "$sys: the failover producer failed ($rc): $(tail -5 "$work/fo-produce.log")"
    n=$(<"$work/fo.count")
    slc "$sys" consume "$topic" --partition "$p" -e --format '%T %v' >"$work/fo.records" 2>"$work/err" ||
      { cat "$work/err" >&2; die "$sys: reading back $topic failed"; }
    read -r ms lost dup <<<"$(awk -v n="$n" -v k="$t_kill" -v d="$t_dead" '
      BEGIN { after = int(d * 1000) }
      { seen[$2]++; if (first == "" && $1 > after) first = $1 }
      END {
        for (v in seen) if (seen[v] > 1) dup += seen[v] - 1
        lost = 0; for (i = 1; i <= n; i++) if (!(i in seen)) lost++
        printf "%s %d %d\n", (first == "" ? "none" : sprintf("%.0f", first - k * 1000)), lost, dup + 0
      }' "$work/fo.records")"
    [[ $ms != none ]] || die "$sys: no record appended after the kill in $topic-$p"
    log "failover $sys: killed node $leader, leader of $topic-$p (controller: $ctrl) -> first append on node $l after $ms ms; $n sent, $lost lost, $dup duplicated"
    emit failover "failover: SIGKILL of $what, under an acks=all idempotent producer (franz-go, $failover_rate records/s), broker.session.timeout.ms=$session_ms" \
      "$sys" "$r" failover_ms="$ms" records_lost="$lost" records_duplicated="$dup"
    if [[ $sys == sluice ]]; then
      start_sluice_node sc "$leader" >/dev/null 2>&1 || die "sluice node $leader did not restart: $(tail -3 "$work/sc$leader.log")"
    else
      kafka_node_start "$leader"
    fi
    cluster_whole "$sys"
    slc "$sys" topic delete "$topic" >/dev/null
  done
}

cluster_round() {
  cluster_throughput "$1"
  cluster_failover "$1"
}
