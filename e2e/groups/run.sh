#!/usr/bin/env bash
# e2e/groups: consumer groups against a real `sluice server` with librdkafka
# (kcat -G, the balanced consumer) and the `sluice group` CLI.
#
# Two kcat -G members split a 6-partition topic: every record is read exactly
# once; after they stop, `sluice group describe` shows the committed offsets
# at the log end (lag 0); reset-offsets is refused while a member is active,
# then rewinds the empty group; a new kcat -G member re-reads everything;
# delete removes the group. Two Apache Kafka Java consumers on the KIP-848
# protocol (group.protocol=consumer) split the topic too.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/e2e/lib/broker.sh"
command -v kcat >/dev/null || { echo "kcat not installed (make deps)" >&2; exit 1; }
sluice=$SLUICE_BIN

e2e_init groups
start_sluice_server broker --set group.initial.rebalance.delay.ms=0 --set offsets.topic.num.partitions=3
brokers=$B

# On failure the exit trap prints the end of $work/broker.log.
fail() { echo "FAIL: $*" >&2; echo "--- kcat log" >&2; tail -30 "$work/kcat.log" >&2 || true; exit 1; }
export SLUICE_BROKERS=$brokers
topic=orders
n=600
"$sluice" topic create "$topic" -p 6 >/dev/null

# wait_lines FILE... COUNT: poll until the files hold COUNT lines in total.
wait_lines() {
  local want=${!#} got=0
  for _ in $(seq 100); do
    got=$(cat "${@:1:$#-1}" 2>/dev/null | wc -l)
    [ "$got" -ge "$want" ] && return 0
    sleep 0.1
  done
  fail "read $got of $want records"
}

kcat_member() { # kcat_member TAG: a balanced consumer in group g1, printing to $work/TAG.txt
  start_bg "$1" kcat -u -b "$brokers" -G g1 -o beginning -f '%p %o %k\n' -X session.timeout.ms=6000 \
    -X auto.commit.interval.ms=200 "$topic" >"$work/$1.txt" 2>>"$work/kcat.log"
}
kcat_member m1
kcat_member m2
# Steady state first: both members in a stable group, then the records.
for _ in $(seq 200); do
  "$sluice" group describe g1 >"$work/describe.txt" 2>/dev/null || true
  grep -q "STATE Stable .*MEMBERS 2" "$work/describe.txt" && \
    [ "$(awk '$1=="'"$topic"'" && $6!="-"' "$work/describe.txt" | wc -l)" -eq 6 ] && break
  sleep 0.1
done
grep -q "STATE Stable .*MEMBERS 2" "$work/describe.txt" || fail "group never stable with 2 members: $(cat "$work/describe.txt")"
seq 1 $n | awk '{print "k" $1 ":v" $1}' | kcat -b "$brokers" -P -t "$topic" -K : -z snappy
wait_lines "$work/m1.txt" "$work/m2.txt" $n

# Exactly once, and each member owned whole partitions.
dups=$(cat "$work/m1.txt" "$work/m2.txt" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups records read twice"
[ "$(cat "$work/m1.txt" "$work/m2.txt" | sort -u | wc -l)" -eq $n ] || fail "not every record read"
echo "kcat -G: $n records read once by 2 members ($(wc -l <"$work/m1.txt") + $(wc -l <"$work/m2.txt"))"

"$sluice" group list | grep -q '^g1 .*Stable' || fail "group g1 not listed as Stable: $("$sluice" group list)"
if "$sluice" group reset-offsets g1 --topic "$topic" --to earliest 2>"$work/reset.err"; then
  fail "reset-offsets accepted while the group is active"
fi
grep -q "stop its consumers" "$work/reset.err" || fail "unexpected reset error: $(cat "$work/reset.err")"

stop_bg m1 m2 || true
for _ in $(seq 100); do
  "$sluice" group describe g1 >"$work/describe.txt"
  awk '$1=="'"$topic"'" && $5!="0"{bad=1} END{exit bad}' "$work/describe.txt" && \
    [ "$(grep -c "^$topic " "$work/describe.txt")" -eq 6 ] && break
  sleep 0.1
done
grep -q "STATE Empty" "$work/describe.txt" || fail "group not Empty after members left: $(cat "$work/describe.txt")"
awk '$1=="'"$topic"'" && $5!="0"{bad=1} END{exit bad}' "$work/describe.txt" || fail "lag not 0: $(cat "$work/describe.txt")"
echo "describe after stop: 6 partitions committed at the log end"

"$sluice" group reset-offsets g1 --topic "$topic" --to earliest >/dev/null
"$sluice" group describe g1 >"$work/describe.txt"
lag=$(awk '$1=="'"$topic"'"{s+=$5} END{print s}' "$work/describe.txt")
[ "$lag" -eq $n ] || fail "lag after reset to earliest is $lag, want $n"

kcat_member m3
wait_lines "$work/m3.txt" $n
[ "$(sort -u "$work/m3.txt" | wc -l)" -eq $n ] || fail "re-read after reset is not all $n records"
stop_bg m3 || true
echo "reset-offsets --to earliest: a new member re-read all $n records"

# KIP-848: Apache Kafka's Java consumer with group.protocol=consumer (the
# server assigns partitions). Needs Java and Kafka's jars (e2e/kafka fetches
# them with Maven); without them this part is skipped, loudly.
if command -v java >/dev/null && (source "$root/e2e/kafka/lib.sh" && kafka_jars) >"$work/jars.log" 2>&1; then
  "$sluice" topic create orders848 -p 6 >/dev/null
  java_member() { # java_member TAG: printing to $work/TAG.txt
    KAFKA_TOOL_OPTS=-Xmx256m start_bg "$1" "$root/e2e/kafka/run-class.sh" org.apache.kafka.tools.consumer.ConsoleConsumer \
      --bootstrap-server "$brokers" --topic orders848 --group g848 --from-beginning \
      --consumer-property group.protocol=consumer \
      --property print.partition=true --property print.offset=true >"$work/$1.txt" 2>>"$work/java.log"
  }
  java_member j1
  java_member j2
  for _ in $(seq 300); do
    "$sluice" group describe g848 >"$work/describe.txt" 2>/dev/null || true
    grep -q "STATE Stable .*MEMBERS 2" "$work/describe.txt" && break
    sleep 0.1
  done
  grep -q "STATE Stable .*MEMBERS 2" "$work/describe.txt" || fail "g848 never stable with 2 members: $(cat "$work/describe.txt"; tail -20 "$work/java.log")"
  seq 1 $n | awk '{print "k" $1 ":v" $1}' | kcat -b "$brokers" -P -t orders848 -K :
  # The console consumer prints "Partition:P<TAB>Offset:O<TAB>value" (and
  # option warnings, which are not records).
  for _ in $(seq 300); do
    [ "$(cat "$work/j1.txt" "$work/j2.txt" | grep -c '^Partition:')" -ge $n ] && break
    sleep 0.1
  done
  got=$(cat "$work/j1.txt" "$work/j2.txt" | grep '^Partition:' | awk '{print $1, $2}' | sort -u | wc -l)
  [ "$got" -eq $n ] || fail "Java consumers read $got distinct records of $n"
  [ "$(cat "$work/j1.txt" "$work/j2.txt" | grep -c '^Partition:')" -eq $n ] || fail "Java consumers read records twice"
  "$sluice" group list | grep -q '^g848 ' || fail "consumer-protocol group g848 not listed"
  stop_bg j1 j2 || true
  echo "KIP-848: 2 Java consumers (group.protocol=consumer) read $n records once"
else
  echo "SKIP: KIP-848 Java consumer check: no java, or Kafka's jars could not be fetched: $(tail -3 "$work/jars.log" 2>/dev/null)" >&2
fi

for _ in $(seq 100); do
  "$sluice" group list | grep -q '^g1 .*Empty' && break
  sleep 0.1
done
"$sluice" group delete g1
if "$sluice" group list | grep -q '^g1 '; then fail "g1 still listed after delete"; fi
if "$sluice" group delete g1 2>"$work/delete.err"; then fail "deleting a missing group succeeded"; fi
grep -q GROUP_ID_NOT_FOUND "$work/delete.err" || fail "unexpected delete error: $(cat "$work/delete.err")"
echo "e2e/groups: OK"
