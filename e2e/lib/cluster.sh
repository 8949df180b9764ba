# shellcheck shell=bash
# Sourced (after e2e/lib/broker.sh) by scripts that run a Sluice cluster on
# 127.0.0.1: N clustered `sluice server` nodes, each a broker and a voter of
# the metadata quorum (docs/cluster.md). Every voter must know every other
# voter's address before it starts, so the ports are chosen before start
# (free_port), unlike start_sluice_server's port 0.
#
#   sluice_cluster NAME N [FLAGS...]
#                       chooses the Kafka and controller ports of nodes 1..N
#                       of cluster NAME; FLAGS (--set key=value...) go to
#                       every node of it
#   start_sluice_cluster NAME
#                       starts every node of NAME at once (a voter waits
#                       for the others), waits for each ready line and
#                       until every broker is registered (60 s); sets B to
#                       the bootstrap list (sluice_brokers NAME)
#   start_sluice_node NAME I [FLAGS...]
#                       (re)starts node I alone: tag NAME$I, data dir
#                       $work/NAME$I, log $work/NAME$I.log (appended on a
#                       restart); sets B to its Kafka address
#   sluice_brokers NAME every node's Kafka address, host:port,...
#   sluice_node_addr NAME I
#                       node I's Kafka address
#   sluice_node_args NAME I
#                       the cluster flags of node I, one a line (to start
#                       a node by hand, e.g. on another data dir)
#
# Each node is a start_bg process group: stop_bg NAME$I, signal_bg NAME$I
# KILL (then wait_bg NAME$I), or leave it to the exit trap.

declare -gA _SC_N=() _SC_KPORT=() _SC_CPORT=() _SC_FLAGS=()
declare -g _SC_SKIP=0

sluice_cluster() {
  local name=$1 n=$2 i
  shift 2
  _SC_N[$name]=$n
  _SC_FLAGS[$name]=""
  (($# == 0)) || _SC_FLAGS[$name]=$(printf '%q ' "$@")
  for ((i = 1; i <= n; i++)); do
    _SC_KPORT[$name-$i]=$(free_port)
    _SC_CPORT[$name-$i]=$(free_port)
  done
}

sluice_node_addr() { echo "127.0.0.1:${_SC_KPORT[$1-$2]:?no node $2 in cluster $1}"; }

sluice_brokers() {
  local name=$1 i out=()
  for ((i = 1; i <= ${_SC_N[$name]:?no cluster $name}; i++)); do out+=("$(sluice_node_addr "$name" "$i")"); done
  (
    IFS=,
    echo "${out[*]}"
  )
}

sluice_node_args() {
  local name=$1 id=$2 i voters=()
  for ((i = 1; i <= ${_SC_N[$name]:?no cluster $name}; i++)); do voters+=("$i@127.0.0.1:${_SC_CPORT[$name-$i]}"); done
  printf '%s\n' --process.roles broker,controller --node.id "$id" \
    --controller.quorum.voters "$(
      IFS=,
      echo "${voters[*]}"
    )" \
    --controller.listener.names CONTROLLER \
    --set "listeners=PLAINTEXT://127.0.0.1:${_SC_KPORT[$name-$id]},CONTROLLER://127.0.0.1:${_SC_CPORT[$name-$id]}"
}

# _sc_launch NAME I [FLAGS...]: starts node I in the background; sets
# _SC_SKIP to the number of lines its log had before (its ready line is
# looked for after them).
_sc_launch() {
  local name=$1 id=$2 tag=$1$2 skip=0 args flags
  shift 2
  mapfile -t args < <(sluice_node_args "$name" "$id")
  eval "flags=(${_SC_FLAGS[$name]})"
  [[ -f $work/$tag.log ]] && skip=$(wc -l <"$work/$tag.log")
  _SC_SKIP=$skip
  start_bg "$tag" "$SLUICE_BIN" server --data-dir "$work/$tag" --http "" "${args[@]}" "${flags[@]}" "$@" >>"$work/$tag.log" 2>&1
}

# _sc_ready NAME I SKIP: waits (60 s) for node I's ready line past SKIP
# lines of its log; sets B to its Kafka address.
_sc_ready() {
  local tag=$1$2 line
  line=$(wait_log "$tag" "$work/$tag.log" 'msg="sluice broker ready"' 60 "$3") || return 1
  B=$(_e2e_field listen "$line")
  echo "e2e/$E2E_NAME: sluice cluster node $tag on $B" >&2
}

start_sluice_node() {
  local name=$1 id=$2
  shift 2
  _sc_launch "$name" "$id" "$@" || return 1
  _sc_ready "$name" "$id" "$_SC_SKIP"
}

start_sluice_cluster() {
  local name=$1 i n=${_SC_N[$1]:?no cluster $1} skips=() deadline out
  for ((i = 1; i <= n; i++)); do
    _sc_launch "$name" "$i" || return 1
    skips[i]=$_SC_SKIP
  done
  for ((i = 1; i <= n; i++)); do _sc_ready "$name" "$i" "${skips[i]}" || return 1; done
  B=$(sluice_brokers "$name")
  # Ready is the Kafka listener; serving a cluster also needs the quorum
  # and every broker registered.
  deadline=$((SECONDS + 60))
  until out=$("$SLUICE_BIN" --brokers "$B" --timeout 5s cluster status 2>&1) && [[ $out == *", $n brokers,"* ]]; do
    if ((SECONDS >= deadline)); then
      echo "e2e/$E2E_NAME: cluster $name: not $n brokers within 60 s: $out" >&2
      return 1
    fi
    sleep 0.1
  done
}
