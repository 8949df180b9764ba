#!/usr/bin/env bash
# The loader crash test into a real HDFS (Hadoop's MiniDFSCluster from
# e2e/hdfs, two datanodes): N_HDFS (default 400,000) JSON events, `sluice
# load` SIGKILLed at 5 random moments; then N_HDFS/2 more events and reruns
# until done, with datanode 0 restarted while the first rerun writes. The sink is then copied out through the
# loader's own HDFS client and checked by pyarrow + DuckDB (exactly N rows,
# N distinct (_partition, _offset)), and Spark 4 (local mode, Hive support,
# reading hdfs:// directly) runs the generated _hive/table.sql and counts.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N=${N_HDFS:-400000}
SEED=${SEED:-$RANDOM}
RANDOM=$SEED
export SLUICE_HDFS_DIR=$WORK/hdfs HADOOP_USER_NAME=${HADOOP_USER_NAME:-sluice}
on_exit "$ROOT/e2e/hdfs/stop.sh"
build_tools
nn=$("$ROOT/e2e/hdfs/start.sh" 0 2)
log "HDFS namenode at $nn"
start_broker
"$SLUICE_BIN" --brokers "$BROKER" topic create events -p 6 >/dev/null
"$WORK/gen" -brokers "$BROKER" -topic events -n "$N"
sink=hdfs://$nn/warehouse/events
pipeline hdfs events "$sink" "{records: 10000}"
log "HDFS crash test: $N events, 5 SIGKILLs (seed $SEED)"
crash_loop "$WORK/hdfs.yaml" 5 # of about 42 files: run 5 is killed by file 30, leaving over a quarter of the work
((KILLS == 5)) || die "only $KILLS runs were killed mid-load"
"$WORK/gen" -brokers "$BROKER" -topic events -start "$N" -n $((N / 2))
N=$((N + N / 2))
# A datanode restart while the next run writes (after its first file).
restart_datanode() {
  local deadline=$((SECONDS + 120))
  until (($(published "$WORK/final.1.err") >= 1)) || ((SECONDS > deadline)); do sleep 0.05; done
  "$ROOT/e2e/hdfs/ctl.sh" restart-datanode 0
}
start_bg restarter restart_datanode >"$WORK/restart.log" 2>&1
finish "$WORK/hdfs.yaml"
wait_bg restarter || { cat "$WORK/restart.log"; die "datanode restart failed"; }
log "datanode 0 restarted during the load: $(cat "$WORK/restart.log"); $(cat "$WORK"/final.*.err | grep -c 'attempt failed' || true) partition attempts retried"
"$WORK/sinkcopy" "$sink" "$WORK/copy"
"$PY" "$ROOT/e2e/loader/verify.py" "$WORK/copy" "$N" 6
(cd "$WORK" && SPARK_LOCAL_IP=127.0.0.1 "$PY" "$ROOT/e2e/loader/spark_check.py" "$WORK/copy/_hive/table.sql" "$N")
log "HDFS crash test passed ($KILLS kills)"
