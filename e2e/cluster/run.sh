#!/usr/bin/env bash
# A three-node Sluice cluster (every node a broker and a metadata quorum
# voter: e2e/lib/cluster.sh, docs/cluster.md) checked with Apache Kafka's
# own tools (4.4, from Maven Central via e2e/kafka), as a Kafka operator
# would check a cluster: a replicated topic, the quorum, acks=all produce
# and a consumer group, SIGKILL of a partition leader (fenced after
# broker.session.timeout.ms, leaders move, acks=all goes on with two in
# sync), the killed node's return into every ISR, and a data dir of
# another cluster refused. Each check prints "ok" or "FAIL"; the script
# exits non-zero on any failure. Nothing waits a fixed time: every wait
# polls up to a deadline that bounds a hang only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/e2e/kafka/lib.sh"
kafka_jars
source "$root/e2e/lib/broker.sh"
source "$root/e2e/lib/cluster.sh"
e2e_init cluster

session_ms=3000
node_flags=(--set min.insync.replicas=2 --set broker.session.timeout.ms=$session_ms --set group.initial.rebalance.delay.ms=0)
sluice_cluster c 3 "${node_flags[@]}"
start_sluice_cluster c
BS=$B # every node's address, the dead one too once one is killed, as an operator's config would list them

failed=0
ok() { echo "ok   $*"; }
# known_bug NAME: a check that finds a known, open bug fails loudly in the
# output but not the script (issue 12's note names it); set
# E2E_CLUSTER_STRICT=1 to make it fail the script.
known=0
known_bug() {
  echo "KNOWN-BUG FAIL $1 (committed group offsets can be missing after SIGKILL of the group's coordinator; see issue 12)" | tee /dev/stderr
  known=$((known + 1))
  if [[ ${E2E_CLUSTER_STRICT:-0} == 1 ]]; then failed=$((failed + 1)); fi
}
fail() {
  echo "FAIL $1"
  shift
  for f; do [[ -s $f ]] && head -20 "$f"; done
  failed=$((failed + 1))
}
check() { # NAME FILE REGEX
  if grep -Eq -- "$3" "$2"; then ok "$1"; else fail "$1: no /$3/ in:" "$2"; fi
}
tool() { timeout 120 "$root/e2e/kafka/run-class.sh" "$@"; } # the JVM itself, bounded
topics() { tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" "$@"; }
status() { "$SLUICE_BIN" --brokers "$BS" --timeout 10s cluster status; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# parts FILE [TOPIC]: "topic partition leader replicas isr" for each
# partition line of a kafka-topics --describe output (of TOPIC only).
parts() {
  awk -v t="${2:-}" '$1 == "Topic:" && $3 == "Partition:" && (t == "" || $2 == t) {
    for (i = 3; i < NF; i++) {
      if ($i == "Partition:") p = $(i + 1)
      if ($i == "Leader:") l = $(i + 1)
      if ($i == "Replicas:") r = $(i + 1)
      if ($i == "Isr:") s = $(i + 1)
    }
    print $2, p, l, r, s
  }' "$1"
}

# ---- a replicated topic ----------------------------------------------------
topics --create --topic ct --replication-factor 3 --partitions 3 --config min.insync.replicas=2 >"$work/out" 2>&1 || true
check "kafka-topics --create --replication-factor 3 --partitions 3" "$work/out" "Created topic ct"
topics --describe --topic ct >"$work/describe" 2>&1 || true
parts "$work/describe" ct >"$work/parts"
if awk '{ n++; if (split($4, r, ",") != 3 || split($5, s, ",") != 3) bad = 1; leaders[$3] = 1 }
  END { for (l in leaders) k++; exit !(n == 3 && !bad && k == 3) }' "$work/parts"; then
  ok "kafka-topics --describe: 3 partitions, 3 replicas and 3 in sync each, leaders $(awk '{ printf "%s%s", sep, $3; sep = "," }' "$work/parts")"
else
  fail "kafka-topics --describe: want 3 partitions with 3 replicas, an ISR of 3 and leaders on 3 brokers:" "$work/describe"
fi

# ---- the metadata quorum (DescribeQuorum, KIP-595) -------------------------
tool org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$BS" describe --status >"$work/quorum" 2>&1 || true
if grep -Eq '^LeaderId: +[1-3]$' "$work/quorum" &&
  [[ $(sed -nE 's/^CurrentVoters: +//p' "$work/quorum" | grep -oE '"id": *[0-9]+' | sort -u | wc -l) == 3 ]]; then
  ok "kafka-metadata-quorum describe --status: $(grep -E '^LeaderId' "$work/quorum" | tr -s ' '), 3 CurrentVoters"
else
  fail "kafka-metadata-quorum describe --status: want a LeaderId and 3 CurrentVoters in:" "$work/quorum"
fi

# ---- acks=all produce, a group consumes ------------------------------------
# produce FILE: the console producer, acks=all; it exits 0 even when a send
# fails (it logs the error), so a failure is an ERROR line.
produce() {
  tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$BS" --topic ct \
    --producer-property acks=all <"$1" >"$work/produce.out" 2>&1 && ! grep -q ERROR "$work/produce.out"
}
# consume WANT NAME [FLAGS]: the console consumer in group cg reads as many
# records as WANT has lines; they must be WANT's.
consume() {
  local want=$1 name=$2
  shift 2
  tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BS" --topic ct --group cg \
    --max-messages "$(wc -l <"$want")" --timeout-ms 30000 "$@" >"$work/got" 2>"$work/consume.err" || true
  if cmp -s <(sort "$want") <(sort "$work/got"); then ok "$name"; else
    fail "$name: got $(wc -l <"$work/got") records, $(sort "$work/got" | comm -12 - <(sort "$want") | wc -l) of the $(wc -l <"$want") wanted:" "$work/consume.err"
  fi
}
seq 1 1000 | sed 's/^/before-/' >"$work/in1"
if produce "$work/in1"; then ok "console producer, acks=all: 1000 records"; else fail "console producer, acks=all:" "$work/produce.out"; fi
consume "$work/in1" "console consumer in group cg reads all 1000" --from-beginning

# ---- SIGKILL the leader of partition 0 -------------------------------------
dead=$(awk '$2 == 0 { print $3 }' "$work/parts")
[[ $dead =~ ^[1-3]$ ]] || { fail "no leader of partition 0 in --describe" "$work/describe"; exit 1; }
signal_bg "c$dead" KILL
wait_bg "c$dead" || true
killed=$EPOCHREALTIME
echo "e2e/cluster: killed node $dead (kill -9), the leader of ct-0"
# Fencing takes broker.session.timeout.ms; leaders and ISRs move at once
# then. The deadline is well short of replica.lag.time.max.ms (30 s), so
# an ISR that shrank by lag alone, not fencing, would not pass.
deadline=$((SECONDS + session_ms / 1000 + 15))
moved=0
while ((SECONDS < deadline)); do
  topics --describe --topic ct >"$work/describe" 2>&1 || true
  parts "$work/describe" ct >"$work/parts2"
  if awk -v d="$dead" '{ n++; if ($2 == 0 && ($3 == d || $3 !~ /^[0-9]+$/)) bad = 1
      k = split($5, s, ","); for (i = 1; i <= k; i++) if (s[i] == d) bad = 1 }
    END { exit !(n == 3 && !bad) }' "$work/parts2"; then
    moved=1
    break
  fi
done
if ((moved)); then
  ok "kafka-topics --describe $(since "$killed") s after the kill (session timeout ${session_ms} ms): ct-0 led by $(awk '$2 == 0 { print $3 }' "$work/parts2"), node $dead in no ISR"
else
  fail "kafka-topics --describe: ct-0 still led by $dead or $dead still in an ISR $(since "$killed") s after the kill:" "$work/describe"
fi

seq 1 1000 | sed 's/^/after-/' >"$work/in2"
if produce "$work/in2"; then ok "console producer, acks=all, node $dead dead: 1000 records"; else fail "console producer, acks=all, node $dead dead:" "$work/produce.out"; fi

status >"$work/status" 2>&1 || true
if grep -q ', 2 brokers,' "$work/status" && grep -Eq '^under-replicated: [1-9]' "$work/status" &&
  [[ $(sed -n '/^under-replicated:/,$p' "$work/status" | grep -cE '^ +ct +[0-2] ') == 3 ]]; then
  ok "sluice cluster status: 2 brokers, $(grep '^under-replicated' "$work/status"), ct-0..2 among them"
else
  fail "sluice cluster status: want 2 brokers and ct-0..2 under-replicated:" "$work/status"
fi

tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BS" --describe --group cg >"$work/groups" 2>&1 || true
read -r rows lag <<<"$(awk '$1 == "cg" && $2 == "ct" { n++; lag += $6 } END { print n + 0, lag + 0 }' "$work/groups")"
if [[ $rows == 3 && $lag == 1000 ]]; then
  ok "kafka-consumer-groups --describe, node $dead dead: 3 partitions, lag 1000"
  consume "$work/in2" "console consumer in group cg, node $dead dead, reads the 1000 new records (and none before)"
else
  known_bug "kafka-consumer-groups --describe, node $dead dead: want 3 rows of cg with a lag of 1000 in all, got $rows rows, lag $lag"
  cat "$work/groups"
fi

# ---- the killed node comes back --------------------------------------------
start_sluice_node c "$dead" >/dev/null
restarted=$EPOCHREALTIME
deadline=$((SECONDS + 60))
whole=0
while ((SECONDS < deadline)); do
  topics --describe >"$work/describe" 2>&1 || true
  parts "$work/describe" >"$work/parts3"
  if awk '{ n++; if (split($4, r, ",") != split($5, s, ",")) bad = 1 } END { exit !(n > 3 && !bad) }' "$work/parts3"; then
    whole=1
    break
  fi
done
if ((whole)); then
  ok "kafka-topics --describe: node $dead back in every ISR ($(wc -l <"$work/parts3") partitions, $(since "$restarted") s after its restart)"
else
  fail "kafka-topics --describe: node $dead not back in every ISR 60 s after its restart:" "$work/describe"
fi
# status_whole NAME: sluice cluster status shows 3 brokers and nothing
# under-replicated (polled: any node answers, from its own metadata).
status_whole() {
  local deadline=$((SECONDS + 20))
  until status >"$work/status" 2>&1 && grep -q ', 3 brokers,' "$work/status" && grep -qx 'under-replicated: 0' "$work/status"; do
    ((SECONDS < deadline)) || { fail "$1: want 3 brokers and none under-replicated:" "$work/status"; return; }
    sleep 0.2
  done
  ok "$1: $(head -1 "$work/status"), none under-replicated"
}
status_whole "sluice cluster status after the restart"

# ---- a data dir of another cluster is refused ------------------------------
# A one-node cluster of its own (its node 1), stopped once its quorum
# picked its cluster id, then started on its data dir as node 1 of this
# cluster (this cluster's node 1 stopped to free its address). The same
# node id, so that the cluster id is what differs.
sluice_cluster o 1
start_sluice_cluster o >/dev/null
deadline=$((SECONDS + 30))
until [[ -s $work/o1/cluster.id ]]; do
  ((SECONDS < deadline)) || { fail "the one-node cluster recorded no cluster id in 30 s" "$work/o1.log"; exit 1; }
  sleep 0.05
done
other_id=$(tr -d '[:space:]' <"$work/o1/cluster.id")
stop_bg o1 || true
our_id=$(sed -nE '1s/^cluster ([^,]+),.*/\1/p' "$work/status")
stop_bg c1 || true
mapfile -t c1args < <(sluice_node_args c 1)
start_bg foreign "$SLUICE_BIN" server --data-dir "$work/o1" --http "" "${c1args[@]}" "${node_flags[@]}" >"$work/foreign.log" 2>&1
pid=$(bg_pid foreign)
gone() { local s; read -r s 2>/dev/null <"/proc/$1/stat" || return 0; s=${s##*) }; [[ ${s:0:1} == Z ]]; }
deadline=$((SECONDS + 30))
while ! gone "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
if gone "$pid"; then
  rc=0
  wait_bg foreign || rc=$?
  line=$(grep -m1 'refusing to join' "$work/foreign.log" || true)
  if ((rc != 0)) && [[ -n $other_id && $line == *"$other_id"* && $line == *"controller.quorum.voters"* ]]; then
    ok "a data dir of cluster $other_id started as node 1 of cluster $our_id: exit $rc, $(grep -oE 'err="[^"]*"' <<<"$line" || echo "$line")"
  else
    fail "a data dir of cluster $other_id started as node 1 of cluster $our_id: exit $rc, want non-zero and a line naming its cluster and controller.quorum.voters:" "$work/foreign.log"
  fi
else
  grep -E 'level=(WARN|ERROR)|registered|ready' "$work/foreign.log" | cut -c1-300 >"$work/foreign.short" || true
  fail "a data dir of cluster $other_id started as node 1 of cluster $our_id: still running 30 s on; its log:" "$work/foreign.short"
  stop_bg foreign || true
fi
# The refusal is the newcomer's: the nodes of this cluster keep running.
for n in 2 3; do
  if gone "$(bg_pid "c$n")"; then
    rc=0
    wait_bg "c$n" || rc=$?
    fail "node $n of cluster $our_id exited ($rc) when the foreign node came: $(grep -m1 'refusing to join' "$work/c$n.log" | grep -oE 'err="[^"]*"' || tail -1 "$work/c$n.log")"
  fi
done
# Nor did it harm the cluster: node 1 comes back on its own data dir.
if [[ -n ${_E2E_PID[c2]:-} && -n ${_E2E_PID[c3]:-} ]]; then
  start_sluice_node c 1 >/dev/null
  status_whole "node 1 back on its own data dir: sluice cluster status"
fi

echo "e2e/cluster: $failed failed, $known known-bug checks failed"
((failed == 0))
