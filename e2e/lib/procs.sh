# shellcheck shell=bash
# Sourced by every e2e script (through e2e/lib/broker.sh): its work folder,
# its background processes, and ending all of them on every exit path.
# Sourcing defines functions only; e2e_init sets the markers and traps (a
# helper such as e2e/kafka/start.sh sources it for free_port alone, so the
# daemon it leaves running keeps its caller's marker).
#
#   e2e_init NAME [PARENT]  $work: a new folder under PARENT (default
#                           $TMPDIR or /tmp); traps EXIT, INT, TERM, HUP and
#                           ERR (which prints the failing line and command)
#   start_bg TAG CMD...     runs CMD in the background in a process group of
#                           its own (redirect the call: start_bg t cmd >f);
#                           $BG_PID is its pid
#   stop_bg TAG...          SIGTERM to the TAGs' groups, SIGKILL to those
#                           left after $E2E_STOP_SECS (10); returns the
#                           first non-zero exit status (137: killed)
#   signal_bg TAG SIG       sends SIG (KILL, STOP, CONT...) to TAG's group;
#                           after a KILL, wait_bg at once (else bash may
#                           report the job "Killed" when it next reaps)
#   wait_bg TAG             waits for CMD to exit by itself; its exit status
#   bg_pid TAG              prints CMD's pid
#   on_exit CMD...          runs CMD when the script exits, after the groups
#                           are stopped, last registered first
#   wait_log TAG FILE ERE [SECS [SKIP]]
#                           prints the first line of FILE past its first
#                           SKIP lines to match ERE, waiting SECS (60) for
#                           it; fails if TAG's process exits first
#   free_port               a free 127.0.0.1 TCP port, only for a peer that
#                           cannot be started on port 0 and report it
#                           (Apache Kafka, a restart on the same address)
#
# On exit, whatever the status, every group still running gets SIGTERM, then
# SIGKILL after E2E_STOP_SECS (10) and is waited for; then the on_exit
# commands run; then any process still carrying this script's
# SLUICE_E2E_OWNER in its environment (one that left its group, or a daemon
# a helper started) E2E_LEFTOVER_SECS (10) later is listed and killed, and
# the script fails. On failure
# the last lines of each $work/*.log are printed. KEEP=1 keeps $work.
#
# SLUICE_E2E_RUN marks every process of a run: set by `make test` (which
# runs e2e/lib/leftovers.sh at the end to list and fail on any still
# running), else by e2e_init. Both markers are exported, so every child
# inherits them.

declare -gA _E2E_PID=()  # TAG -> pid (= pgid) of a running group
declare -ga _E2E_TAGS=() # tags in start order
declare -ga _E2E_HOOKS=()

e2e_init() {
  E2E_NAME=$1
  # The marker of this script's processes: its pid and start time, so a
  # recycled pid cannot match.
  SLUICE_E2E_OWNER=$$-${EPOCHREALTIME/[.,]/}
  : "${SLUICE_E2E_RUN:=$SLUICE_E2E_OWNER}"
  export SLUICE_E2E_OWNER SLUICE_E2E_RUN
  work=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/sluice-$E2E_NAME.XXXXXX")
  trap _e2e_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  trap 'echo "e2e/$E2E_NAME: FAIL at line $LINENO: \"$BASH_COMMAND\" exited $? (124: timed out)" >&2' ERR
}

start_bg() {
  local tag=$1
  shift
  [[ -z ${_E2E_PID[$tag]:-} ]] || { echo "e2e/$E2E_NAME: start_bg $tag: already running" >&2; return 1; }
  # Monitor mode gives the job a process group of its own (pgid = pid, set
  # by both this shell and the child, so it exists once $! is known), and
  # signalling the group reaches every process CMD starts. Only for the
  # fork: it is off again before anything else runs.
  set -m
  if [[ -t 0 ]]; then "$@" </dev/null & else "$@" & fi
  BG_PID=$!
  set +m
  _E2E_PID[$tag]=$BG_PID
  _E2E_TAGS+=("$tag")
}

bg_pid() { echo "${_E2E_PID[$1]:?no process $1}"; }

signal_bg() { kill -s "$2" -- "-$(bg_pid "$1")" 2>/dev/null; }

wait_bg() {
  local pid rc=0
  pid=$(bg_pid "$1") || return
  wait "$pid" 2>/dev/null || rc=$? # (no "Killed" report: the status says it)
  unset '_E2E_PID[$1]'
  return "$rc"
}

stop_bg() {
  local tag pids=() rc=0 r i=0
  for tag; do pids+=("$(bg_pid "$tag")") || return; done
  _e2e_end_groups "${E2E_STOP_SECS:-10}" "${pids[@]}"
  for tag; do
    r=0
    wait "${pids[i++]}" 2>/dev/null || r=$?
    ((rc != 0)) || rc=$r
    unset '_E2E_PID[$tag]'
  done
  return "$rc"
}

on_exit() { _E2E_HOOKS+=("$(printf '%q ' "$@")"); }

wait_log() {
  local tag=$1 file=$2 ere=$3 secs=${4:-60} skip=${5:-0} line pid deadline
  pid=$(bg_pid "$tag") || return
  deadline=$((SECONDS + secs))
  while :; do
    line=$(ere=$ere awk -v skip="$skip" 'NR > skip && $0 ~ ENVIRON["ere"] { print; exit }' "$file" 2>/dev/null)
    [[ -n $line ]] && { echo "$line"; return 0; }
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "e2e/$E2E_NAME: $tag exited before logging /$ere/; end of $file:" >&2
      tail -n 20 "$file" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "e2e/$E2E_NAME: $tag did not log /$ere/ within ${secs}s; end of $file:" >&2
      tail -n 20 "$file" >&2
      return 1
    fi
    sleep 0.05
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# e2e_marked VAR=VALUE: the pids of running processes whose environment holds
# VAR=VALUE (grep runs without VAR, so it does not find itself).
e2e_marked() {
  local f
  while read -r f; do
    f=${f#/proc/}
    f=${f%/environ}
    if [[ $f != "$$" ]]; then echo "$f"; fi
  done < <(env -u "${1%%=*}" grep -lzxF -- "$1" /proc/[0-9]*/environ 2>/dev/null || true) # (some exit meanwhile)
}

# e2e_lingering VAR=VALUE SECS: the pids e2e_marked VAR=VALUE still finds
# after up to SECS for them to exit by themselves (a JVM whose Python parent
# has just ended takes a moment).
e2e_lingering() {
  local left tenths=$(($2 * 10))
  while :; do
    left=$(e2e_marked "$1")
    [[ -n $left ]] && ((tenths-- > 0)) || break
    sleep 0.1
  done
  if [[ -n $left ]]; then echo "$left"; fi
}

# e2e_end_pids SECS PID...: SIGTERM (and SIGCONT, as a stopped process
# holds SIGTERM until continued), then SIGKILL to those left after SECS. A
# PID of -PGID means the whole group.
e2e_end_pids() {
  local secs=$1
  shift
  kill -TERM -- "$@" 2>/dev/null || true # some may be gone already
  kill -CONT -- "$@" 2>/dev/null || true
  _e2e_reap "$secs" "$@"
}

# _e2e_reap SECS PID...: waits up to SECS for the PIDs to exit, then SIGKILLs
# those left.
_e2e_reap() {
  local tenths=$(($1 * 10)) p left
  shift
  while :; do
    left=()
    for p; do _e2e_alive "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    ((tenths-- > 0)) || break
    sleep 0.1
  done
  kill -KILL -- "${left[@]}" 2>/dev/null || true
}

# _e2e_alive PID|-PGID: is the process, or a process of the group, running?
# Zombies do not count: a group member whose parent died first is a zombie
# until init reaps it, which some inits never do.
_e2e_alive() {
  local p s pids
  if [[ $1 == -* ]]; then pids=$(pgrep -g "${1#-}") || return 1; else pids=$1; fi
  for p in $pids; do
    # (Not s=$(<file): when the file is gone, that exits a set -e shell
    # even under ||, as the process can be, between pgrep and here.)
    read -r s 2>/dev/null <"/proc/$p/stat" || continue # (2> first: it covers the <)
    s=${s##*) }
    [[ ${s:0:1} != Z ]] && return 0
  done
  return 1
}

# _e2e_end_groups SECS PGID...: e2e_end_pids for the groups.
_e2e_end_groups() {
  local secs=$1 g groups=()
  shift
  for g; do groups+=("-$g"); done
  e2e_end_pids "$secs" "${groups[@]}"
}

_e2e_exit() {
  local rc=$? i f tag pgids=() left
  set +eE
  trap - ERR
  for ((i = ${#_E2E_TAGS[@]} - 1; i >= 0; i--)); do
    tag=${_E2E_TAGS[i]}
    [[ -n ${_E2E_PID[$tag]:-} ]] && pgids+=("${_E2E_PID[$tag]}")
  done
  if ((${#pgids[@]})); then
    _e2e_end_groups "${E2E_STOP_SECS:-10}" "${pgids[@]}"
    for i in "${pgids[@]}"; do wait "$i" 2>/dev/null; done
  fi
  for ((i = ${#_E2E_HOOKS[@]} - 1; i >= 0; i--)); do eval "${_E2E_HOOKS[i]}"; done
  mapfile -t left < <(e2e_lingering "SLUICE_E2E_OWNER=$SLUICE_E2E_OWNER" "${E2E_LEFTOVER_SECS:-10}")
  if ((${#left[@]})); then
    echo "e2e/$E2E_NAME: FAIL: processes left running, now killed:" >&2
    for i in "${left[@]}"; do echo "  $i $(tr '\0' ' ' <"/proc/$i/cmdline" 2>/dev/null | cut -c1-300)" >&2; done
    e2e_end_pids 5 "${left[@]}"
    ((rc != 0)) || rc=1
  fi
  if ((rc != 0)) && [[ -n ${work:-} ]]; then
    for f in "$work"/*.log; do
      [[ -s $f ]] && { echo "--- end of $f" >&2; tail -n "${E2E_LOG_LINES:-15}" "$f" | cut -c1-400 >&2; }
    done
  fi
  if [[ -n ${work:-} ]]; then
    if [[ ${KEEP:-0} == 1 ]]; then echo "e2e/$E2E_NAME: kept $work" >&2; else rm -rf "$work"; fi
  fi
  exit "$rc"
}

# wait_for SECS WHAT CMD...: run CMD every 0.2 s until it succeeds; after
# SECS, show CMD's last stderr and die (the calling script's die).
wait_for() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>"$work/wait.err"; do
    ((SECONDS < deadline)) || { cat "$work/wait.err" >&2; die "no $what within ${secs}s"; }
    sleep 0.2
  done
}
