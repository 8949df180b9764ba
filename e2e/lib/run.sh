#!/usr/bin/env bash
# The e2e library's own checks (e2e/lib/procs.sh, broker.sh, leftovers.sh,
# cluster.sh):
# whatever way a script ends (success, a failed command under set -e, exit
# 1, SIGTERM, SIGINT), nothing it started is left running: not the child
# of a wrapper that does not exec (as e2e/kafka/run-class.sh once did, which
# left KIP-848 console consumers running an hour after make test), not a
# process that ignores SIGTERM or is stopped, and a daemon that left its
# process group is reported and killed, failing the script. leftovers.sh
# finds and ends what a run left. start_sluice_server and start_sluice_jobs
# read the addresses they bound on port 0 from their ready lines, also on a
# restart under the same tag.
set -eEuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/e2e/lib/broker.sh"
e2e_init lib

passed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
die() { echo "e2e/lib: FAIL: $*" >&2; exit 1; }

# scenario NAME WANT_RC BODY [SIGNAL]: runs BODY in a script that sources the
# library and starts a wrapper (bash, not exec) with a sleeping child and a
# stopped process, prints "started" and runs BODY (which may start "deaf": a
# process ignoring SIGTERM, to be SIGKILLed after E2E_STOP_SECS=1; a process
# outside the groups is reported at once, E2E_LEFTOVER_SECS=0).
# With SIGNAL, the script gets it once it has printed "started". The script
# must exit WANT_RC, and no process of it may be running afterwards.
scenario() {
  local name=$1 want=$2 body=$3 sig=${4:-} run rc=0 left
  run="lib-$name-$$-$RANDOM"
  cat >"$work/$name.sh" <<EOF
set -eEuo pipefail
source "$root/e2e/lib/procs.sh"
e2e_init lib-$name
E2E_STOP_SECS=1 E2E_LEFTOVER_SECS=0
start_bg wrapper bash -c 'sleep 600; echo not exec'
start_bg stopped sleep 600
signal_bg stopped STOP
echo started
$body
EOF
  # SIGINT as default: this script may have been started with it ignored
  # (a background job of a shell without job control), and a shell cannot
  # trap a signal ignored when it started.
  start_bg "$name" env --default-signal=INT SLUICE_E2E_RUN="$run" bash "$work/$name.sh" >"$work/$name.out" 2>"$work/$name.err"
  if [[ -n $sig ]]; then
    for _ in $(seq 200); do grep -q started "$work/$name.out" && break; sleep 0.05; done
    kill -s "$sig" "$BG_PID"
  fi
  for _ in $(seq 300); do kill -0 "$BG_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$BG_PID" 2>/dev/null && die "$name: still running 30 s on"
  wait_bg "$name" || rc=$?
  ((rc == want)) || { cat "$work/$name.err" >&2; die "$name: exit status $rc, want $want"; }
  left=$(e2e_marked "SLUICE_E2E_RUN=$run")
  [[ -z $left ]] || die "$name: left running: $(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done)"
  ok "$name: exit $rc, nothing left running"
}
# The body's loop lets the script's traps run at once (bash runs a trap only
# after the foreground command it is waiting for).
deaf='start_bg deaf bash -c "trap \"\" TERM; : >$work/deaf; sleep 600 & wait"; until [[ -e $work/deaf ]]; do sleep 0.01; done'
scenario success 0 "$deaf"
scenario set-e 1 'false'
scenario exit-1 1 'exit 1'
scenario sigterm 143 'while :; do sleep 0.05; done' TERM
scenario sigint 130 'while :; do sleep 0.05; done' INT
scenario stop_bg 0 "$deaf"'; rc=0; stop_bg deaf || rc=$?; [[ $rc == 137 ]] || exit 9; stop_bg wrapper stopped || true'
# A daemon out of every group the script started: found by its marker,
# killed, and the script fails though its body succeeded.
scenario daemon 1 'setsid sleep 600 </dev/null >/dev/null 2>&1 &'
grep -q 'processes left running, now killed' "$work/daemon.err" || die "the daemon was not reported: $(cat "$work/daemon.err")"
ok "daemon: reported as left running"

# leftovers.sh RUN: finds, ends and fails on a process carrying the marker.
run="lib-leftover-$$-$RANDOM"
SLUICE_E2E_RUN=$run setsid sleep 600 </dev/null >/dev/null 2>&1 &
if E2E_LEFTOVER_SECS=0 bash "$root/e2e/lib/leftovers.sh" "$run" 2>"$work/leftovers.err"; then die "leftovers.sh passed with a process left"; fi
grep -q 'sleep 600' "$work/leftovers.err" || die "leftovers.sh did not list the process: $(cat "$work/leftovers.err")"
E2E_LEFTOVER_SECS=0 bash "$root/e2e/lib/leftovers.sh" "$run" || die "leftovers.sh did not end the process it listed"
ok "leftovers.sh lists and ends what a run left, then passes"

# The ready lines: Kafka and HTTP addresses bound on port 0, a restart
# under the same tag on the same address, the scheduler's admin API.
start_sluice_server broker --http 127.0.0.1:0 >/dev/null
first=$B pid=$(bg_pid broker)
[[ $B =~ ^127\.0\.0\.1:[1-9][0-9]*$ && $H =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]] || die "ready line gave B=$B H=$H"
"$SLUICE_BIN" --brokers "$B" topic create t -p 1 >/dev/null
: <>"/dev/tcp/${H%:*}/${H##*:}" || die "nothing listens on the HTTP address $H"
ok "start_sluice_server: Kafka on $B and HTTP on $H, read from the ready line"
stop_bg broker || die "sluice server exited $? on SIGTERM"
start_sluice_server broker --listen "$first" >/dev/null
[[ $B == "$first" && $H == "" && $(bg_pid broker) != "$pid" ]] || die "restart: B=$B H=$H"
"$SLUICE_BIN" --brokers "$B" topic describe t >/dev/null || die "the restarted broker lost topic t"
ok "restart under the same tag: the new process's ready line, same data dir"
mkdir "$work/pipes"
start_sluice_jobs sched --brokers "$B" --pipelines "$work/pipes"
curl -sf "http://$H/healthz" >/dev/null || die "jobs serve: no /healthz on $H"
ok "start_sluice_jobs: admin API on $H"

# e2e/lib/cluster.sh: three clustered nodes on ports chosen before start,
# a restart of one on its address, and all three stopped on SIGTERM.
source "$root/e2e/lib/cluster.sh"
sluice_cluster lc 3
start_sluice_cluster lc 2>/dev/null
[[ $B == "$(sluice_brokers lc)" && $B =~ ^(127\.0\.0\.1:[1-9][0-9]*,){2}127\.0\.0\.1:[1-9][0-9]*$ ]] || die "start_sluice_cluster: B=$B"
"$SLUICE_BIN" --brokers "$B" topic create lt -p 1 -r 3 >/dev/null || die "no RF=3 topic on the cluster $B"
stop_bg lc2 || die "cluster node lc2 exited $? on SIGTERM"
start_sluice_node lc 2 2>/dev/null
[[ $B == "$(sluice_node_addr lc 2)" ]] || die "start_sluice_node: B=$B, want $(sluice_node_addr lc 2)"
stop_bg lc1 lc2 lc3 || die "the cluster nodes exited $? on SIGTERM"
ok "sluice_cluster: 3 voters on $(sluice_brokers lc), an RF=3 topic, node 2 restarted on its address"

echo "e2e/lib: $passed passed"
