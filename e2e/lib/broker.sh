# shellcheck shell=bash
# Sourced by every e2e script: the sluice binary, and real `sluice server`
# and `sluice jobs serve` processes started on port 0 (the address they bound
# is read from the line they log when ready, so no port is chosen before
# start and none can be taken meanwhile). Sources e2e/lib/procs.sh (the work
# folder, background processes, cleanup on every exit path).
#
#   source "$root/e2e/lib/broker.sh"
#   e2e_init NAME
#   start_sluice_server broker [FLAGS...]   # sets B (Kafka) and H (HTTP)
#   start_sluice_jobs sched [FLAGS...]      # sets H (admin API)
#
# SLUICE_BIN is the sluice binary (default bin/sluice of this tree: `make
# build`). Each process is a start_bg TAG, logging (stdout and stderr) to
# $work/TAG.log; stop it with stop_bg TAG, or leave it to the exit trap.

_e2e_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$_e2e_lib/procs.sh"
SLUICE_BIN=${SLUICE_BIN:-$(dirname "$(dirname "$_e2e_lib")")/bin/sluice}
[[ -x $SLUICE_BIN ]] || { echo "e2e: $SLUICE_BIN missing; run make build (or set SLUICE_BIN)" >&2; exit 1; }

# _e2e_has FLAG ARGS...: is --FLAG among ARGS (as --FLAG V or --FLAG=V)?
_e2e_has() {
  local f=$1 a
  shift
  for a; do [[ $a == "$f" || $a == "$f="* ]] && return 0; done
  return 1
}

# _e2e_field KEY LINE: the value of KEY=value in a slog text line ("" for
# a quoted empty value).
_e2e_field() {
  [[ " $2 " =~ \ $1=([^ ]*)\  ]] || return 1
  [[ ${BASH_REMATCH[1]} == '""' ]] && echo "" || echo "${BASH_REMATCH[1]}"
}

# start_sluice_server TAG [FLAGS...]: `sluice server FLAGS...`, with
# --data-dir $work/TAG, --listen 127.0.0.1:0 and --http "" unless FLAGS set
# them; waits (60 s) for its ready line, then sets B to the Kafka address it
# listens on and H to its HTTP address ("" if none). A restart under the
# same TAG appends to its log and keeps its data dir.
start_sluice_server() {
  local tag=$1 line skip=0 args=()
  shift
  _e2e_has --data-dir "$@" || args+=(--data-dir "$work/$tag")
  _e2e_has --listen "$@" || args+=(--listen 127.0.0.1:0)
  _e2e_has --http "$@" || args+=(--http "")
  [[ -f $work/$tag.log ]] && skip=$(wc -l <"$work/$tag.log")
  start_bg "$tag" "$SLUICE_BIN" server "${args[@]}" "$@" >>"$work/$tag.log" 2>&1
  line=$(wait_log "$tag" "$work/$tag.log" 'msg="sluice broker ready"' 60 "$skip") || return 1
  B=$(_e2e_field listen "$line")
  H=$(_e2e_field http "$line")
  echo "e2e/$E2E_NAME: sluice server $tag on $B${H:+, HTTP on $H}"
}

# start_sluice_jobs TAG [FLAGS...]: `sluice jobs serve FLAGS...`, with --http
# 127.0.0.1:0 unless FLAGS set it; waits (60 s) until its admin API listens,
# then sets H to that address.
start_sluice_jobs() {
  local tag=$1 line skip=0 args=()
  shift
  _e2e_has --http "$@" || args+=(--http 127.0.0.1:0)
  [[ -f $work/$tag.log ]] && skip=$(wc -l <"$work/$tag.log")
  start_bg "$tag" "$SLUICE_BIN" jobs serve "${args[@]}" "$@" >>"$work/$tag.log" 2>&1
  line=$(wait_log "$tag" "$work/$tag.log" 'msg="admin API listening"' 60 "$skip") || return 1
  H=$(_e2e_field http "$line")
}
