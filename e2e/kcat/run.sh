#!/usr/bin/env bash
# kcat (librdkafka) and the sluice CLI (franz-go) against a real broker:
# metadata (-L), topic admin, produce and consume with keys and every
# compression codec, in both directions between the two clients.
#
# By default the broker is `bin/sluice server` on 127.0.0.1 port 0 with a
# temporary data dir (e2e/lib/broker.sh). SLUICE_E2E_PEER=kafka runs the same checks against
# Apache Kafka 4.x from e2e/kafka (so the CLI is proven on any Kafka cluster).
# Needs bin/sluice (make build) and kcat (make deps). Prints one line per
# check and "kcat: N passed, N failed" at the end; exits non-zero on any
# failure. SLUICE_BIN overrides the sluice binary.
set -eEuo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
peer=${SLUICE_E2E_PEER:-sluice}
source "$root/e2e/lib/broker.sh"
command -v kcat >/dev/null || { echo "e2e/kcat: kcat missing; run make deps" >&2; exit 1; }

e2e_init kcat
case $peer in
  sluice)
    start_sluice_server broker --http 127.0.0.1:0 # sets B
    port=${B##*:}
    ;;
  kafka)
    port=$(free_port) # Kafka's listener takes a fixed port
    B=127.0.0.1:$port
    on_exit "$root/e2e/kafka/stop.sh" "$work/kafka"
    "$root/e2e/kafka/start.sh" "$port" "$work/kafka" # returns once Kafka says it started
    ;;
  *)
    echo "e2e/kcat: SLUICE_E2E_PEER=$peer: want sluice or kafka" >&2
    exit 2
    ;;
esac
export SLUICE_BROKERS=$B
echo "e2e/kcat: $peer broker ready on $B"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() {
  failed=$((failed + 1))
  echo "FAIL $1" >&2
  shift
  [[ $# -gt 0 ]] && printf '     %s\n' "$@" >&2
  return 0
}

# same NAME WANT_FILE GOT_FILE: exact byte comparison.
same() {
  if cmp -s "$2" "$3"; then
    ok "$1"
  else
    bad "$1" "want $(wc -l <"$2") lines, got $(wc -l <"$3"); first difference:"
    diff "$2" "$3" | head -5 >&2 || true
  fi
}

# contains NAME FILE REGEX
contains() {
  if grep -Eq -- "$3" "$2"; then ok "$1"; else bad "$1" "no match for /$3/ in:" "$(head -20 "$2")"; fi
}

# lacks NAME FILE REGEX
lacks() {
  if grep -Eq -- "$3" "$2"; then bad "$1" "unexpected /$3/ in:" "$(head -20 "$2")"; else ok "$1"; fi
}

# fails NAME REGEX CMD...: CMD must exit non-zero and say REGEX on stderr.
fails() {
  local name=$1 want=$2
  shift 2
  if "$@" >"$work/out" 2>"$work/err"; then
    bad "$name" "exited 0, want an error matching /$want/"
  elif grep -Eq -- "$want" "$work/err"; then
    ok "$name"
  else
    bad "$name" "stderr does not match /$want/:" "$(head -5 "$work/err")"
  fi
}

# Every client call is bounded, so a broker that never answers (or never
# signals the end of a partition) fails a check instead of hanging make test.
limit=${SLUICE_E2E_CALL_TIMEOUT:-60}
kcat() { timeout "$limit" kcat "$@"; } # timeout runs the binary, not this function
sluice() { timeout "$limit" "$SLUICE_BIN" "$@"; }

# kc_consume TOPIC FORMAT: every record from the beginning, then exit.
kc_consume() {
  kcat -C -b "$B" -t "$1" -o beginning -e -q -f "$2"
}

# Input lines "key<TAB>value": mixed lengths, UTF-8, '=' and ':' inside
# values, one 60 KB value, and an empty value.
gen_keyed() {
  python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
with open(sys.stdout.fileno(), "w", encoding="utf-8", newline="\n") as out:
    for i in range(n):
        if i == n // 2:
            v = "big-" + "x" * 60000
        elif i == n // 3:
            v = ""
        else:
            v = f"value {i} ünïcødé a=b c:d " + "y" * (i % 97)
        out.write(f"key-{i % 17}\t{v}\n")
PY
}

# --- metadata ---------------------------------------------------------------
kcat -L -b "$B" >"$work/meta" 2>&1
contains "kcat -L lists the broker" "$work/meta" "broker [0-9-]+ at 127\.0\.0\.1:$port"

# --- topic admin with the sluice CLI -----------------------------------------
sluice topic create e2e-admin -p 3 -c retention.ms=3600000 >"$work/out"
contains "topic create" "$work/out" "created topic e2e-admin"
sluice topic list >"$work/out"
contains "topic list shows partitions and replicas" "$work/out" "^e2e-admin +3 +1 *$"
kcat -L -b "$B" -t e2e-admin >"$work/meta"
contains "kcat -L sees the new topic" "$work/meta" 'topic "e2e-admin" with 3 partitions'
sluice topic describe e2e-admin >"$work/out"
contains "topic describe shows the topic config" "$work/out" "^  retention\.ms=3600000 \(topic\)"
contains "topic describe shows partition 2" "$work/out" "^2 +[0-9]+ +[0-9]+ +\[[0-9]+\] +\[[0-9]+\] +0 +0"
sluice topic alter-config e2e-admin --set retention.ms=7200000 --set cleanup.policy=compact >/dev/null
sluice topic describe e2e-admin >"$work/out"
contains "alter-config --set changes a key" "$work/out" "^  retention\.ms=7200000 \(topic\)"
contains "alter-config --set adds a key" "$work/out" "^  cleanup\.policy=compact \(topic\)"
sluice topic alter-config e2e-admin --delete cleanup.policy >/dev/null
sluice topic describe e2e-admin >"$work/out"
lacks "alter-config --delete restores the default" "$work/out" "cleanup\.policy"
contains "alter-config --delete keeps other keys" "$work/out" "^  retention\.ms=7200000 \(topic\)"
fails "alter-config rejects an unknown key" "INVALID_CONFIG|invalid|unknown" \
  sluice topic alter-config e2e-admin --set no.such.config=1
fails "topic create of an existing topic" 'topic "e2e-admin": TOPIC_ALREADY_EXISTS' \
  sluice topic create e2e-admin
sluice topic delete e2e-admin >"$work/out"
contains "topic delete" "$work/out" "deleted topic e2e-admin"
deadline=$((SECONDS + 20))
while sluice topic list | grep -q "^e2e-admin "; do
  ((SECONDS < deadline)) || break
  sleep 0.2
done
sluice topic list >"$work/out"
lacks "deleted topic leaves the list" "$work/out" "^e2e-admin "
fails "describe of a missing topic names it" 'topic "e2e-admin": UNKNOWN_TOPIC_OR_PARTITION' \
  sluice topic describe e2e-admin
fails "consume of a missing topic names it" 'topic "no-such-topic": UNKNOWN_TOPIC_OR_PARTITION' \
  sluice consume no-such-topic -n 1

# --- kcat -P -> kcat -C and sluice consume, every codec -----------------------
gen_keyed 300 >"$work/keyed.txt"
for codec in none gzip snappy lz4 zstd; do
  t=e2e-kcat-$codec
  sluice topic create "$t" -p 1 >/dev/null
  kcat -P -b "$B" -t "$t" -K $'\t' -z "$codec" -X linger.ms=5 <"$work/keyed.txt"
  kc_consume "$t" '%k\t%s\n' >"$work/got"
  same "kcat -P -z $codec -> kcat -C" "$work/keyed.txt" "$work/got"
  sluice consume "$t" -e --format '%k\t%v' >"$work/got"
  same "kcat -P -z $codec -> sluice consume" "$work/keyed.txt" "$work/got"
done

# --- sluice produce -> kcat -C, every codec ----------------------------------
for codec in none gzip snappy lz4 zstd; do
  t=e2e-sluice-$codec
  sluice topic create "$t" -p 1 >/dev/null
  sluice produce "$t" --key-sep $'\t' --compression "$codec" <"$work/keyed.txt" >"$work/out"
  [[ -s "$work/out" ]] && bad "sluice produce prints nothing" "$(head -3 "$work/out")"
  kc_consume "$t" '%k\t%s\n' >"$work/got"
  same "sluice produce --compression $codec -> kcat -C" "$work/keyed.txt" "$work/got"
done

# --- keyless values, offsets, partitions, formats -----------------------------
seq 1 1000 | sed 's/^/line /' >"$work/plain.txt"
sluice topic create e2e-plain -p 1 >/dev/null
sluice produce e2e-plain <"$work/plain.txt"
kc_consume e2e-plain '%s\n' >"$work/got"
same "sluice produce (no key) -> kcat -C" "$work/plain.txt" "$work/got"
kc_consume e2e-plain '%K\n' | sort -u >"$work/got"
echo -1 >"$work/want"
same "records without --key-sep have a null key" "$work/want" "$work/got"
sluice consume e2e-plain -n 1000 >"$work/got"
same "sluice consume -n (default format is the value)" "$work/plain.txt" "$work/got"
sluice consume e2e-plain --from 10 -n 3 --format '%t %p %o %v' >"$work/got"
printf 'e2e-plain 0 10 line 11\ne2e-plain 0 11 line 12\ne2e-plain 0 12 line 13\n' >"$work/want"
same "sluice consume --from OFFSET -n 3 --format" "$work/want" "$work/got"
sluice consume e2e-plain --from -2 -e --format '%o' >"$work/got"
printf '998\n999\n' >"$work/want"
same "sluice consume --from -2 -e" "$work/want" "$work/got"
sluice consume e2e-plain --from latest -e >"$work/got"
: >"$work/want"
same "sluice consume --from latest -e prints nothing" "$work/want" "$work/got"
kcat -C -b "$B" -t e2e-plain -o 5 -c 1 -q -f '%T\n' >"$work/kts"
sluice consume e2e-plain --from 5 -n 1 --format '%T' >"$work/sts"
same "sluice %T equals kcat %T" "$work/kts" "$work/sts"

# Keyed records over 4 partitions: per key, one partition and produce order.
sluice topic create e2e-multi -p 4 >/dev/null
python3 -c '
for i in range(4000):
    print(f"k{i % 13}\t{i}")' >"$work/multi.txt"
sluice produce e2e-multi --key-sep $'\t' --compression zstd <"$work/multi.txt"
kc_consume e2e-multi '%p %k %s\n' >"$work/got"
if python3 - "$work/got" <<'PY'
import sys
part, last, n = {}, {}, 0
for line in open(sys.argv[1]):
    p, k, v = line.split()
    n += 1
    assert part.setdefault(k, p) == p, f"key {k} in partitions {part[k]} and {p}"
    assert int(v) > last.get(k, -1), f"key {k}: {v} after {last[k]}"
    last[k] = int(v)
assert n == 4000, f"{n} records, want 4000"
assert len(set(part.values())) > 1, "all keys in one partition"
PY
then ok "keyed records keep one partition and order per key (4 partitions)"
else bad "keyed records keep one partition and order per key (4 partitions)"; fi
sluice consume e2e-multi -e --format '%k\t%v' | sort >"$work/got"
sort "$work/multi.txt" >"$work/want"
same "sluice consume -e reads every partition" "$work/want" "$work/got"
kcat -P -b "$B" -t e2e-multi -p 3 <<<"to-partition-3"
sluice consume e2e-multi --partition 3 --from -1 -n 1 --format '%p %v' >"$work/got"
echo "3 to-partition-3" >"$work/want"
same "kcat -P -p 3 -> sluice consume --partition 3" "$work/want" "$work/got"
printf 'a\nb\n' | sluice produce e2e-multi --partition 1
sluice consume e2e-multi --partition 1 --from -2 -e --format '%v' >"$work/got"
printf 'a\nb\n' >"$work/want"
same "sluice produce --partition 1" "$work/want" "$work/got"

# Bad input: clear errors naming the line, the flag or the partition.
fails "produce to a missing partition names the line" 'line 1: topic "e2e-multi" partition 9' \
  sluice produce e2e-multi --partition 9 <<<"x"
fails "produce without the key separator names the line" 'line 2: no key separator' \
  sluice produce e2e-multi --key-sep '|' <<<$'a|1\nb2'
fails "consume of a missing partition" '--partition 7 does not exist' \
  sluice consume e2e-multi --partition 7 -n 1
fails "consume --format with an unknown verb" 'unknown verb %x' \
  sluice consume e2e-multi --format '%x' -n 1

echo "e2e/kcat against $peer"
echo "kcat: $passed passed, $failed failed"
((failed == 0))
