#!/usr/bin/env bash
# Scheduler benchmark (make bench): the jobs scheduler's three speed targets,
# measured with the real sluice binary, every process on 127.0.0.1 (random
# free ports), a work dir under mktemp:
#
#  load  "A scheduled run loads as fast as sluice load": N JSON events
#        (10 fields, e2e/loader/gen) in PARTS partitions, landed ROUNDS times
#        each way, alternating A B A B with fresh sinks: A is `sluice load`
#        (records/s from its summary line "N records in D (R records/s)"),
#        B a manual run `sluice jobs run NAME --wait` of a `sluice jobs serve`
#        (records / (ended - started) of its run record); the pipelines differ
#        only in name, sink folder and group. Also records per CPU-second of
#        the process that loads (A: user+sys of `sluice load`; B: the growth
#        of the scheduler's utime+stime over the run).
#  tick  "The first fetch comes within a second of the tick": a pipeline
#        `schedule: "@every EVERY"` in `sluice server --pipelines` (broker and
#        scheduler in one process), BATCH new events before each tick, TICKS
#        ticks. From the run records: tick (scheduled) -> started, -> ended.
#        From /metrics, scraped every 5 ms from 0.3 s before each tick until
#        the run is recorded: tick -> first fetch answered (the first growth
#        of the broker's sluice_topic_records_out_total for the topic, counted
#        as the fetch response is sent; only the run reads the topic), and
#        tick -> first file published (sluice_loader_files_published_total).
#        Each is the end of the scrape that first saw the growth: an upper
#        bound, within one scrape. (The loader's own records_read_total is
#        no use here: it counts a fetch's records after they are processed,
#        and a batch run's last fetch only after its final publish.)
#  idle  "100 pipelines scheduled every minute cost the idle scheduler under
#        1% of a core": `sluice jobs serve` (its own process, against a
#        `sluice server` broker) with PIPES pipeline files, each
#        `schedule: "* * * * *"` on its own empty 1-partition topic, twice
#        (IDLE_HISTORY): with an empty history topic, and with one holding
#        KEEP_RUNS (200, history.keep's default) runs of each pipeline, as
#        after KEEP_RUNS minutes of running (each run's end then also prunes
#        one). After the scheduler's first tick's runs have ended, from the
#        next half minute, for IDLE_SECONDS: its utime+stime from
#        /proc/PID/stat, sampled every second. Reported: CPU % of one core
#        over the whole window (the ticks' runs, which find nothing to load,
#        included), between ticks (the 1 s samples that overlap no tick's
#        runs: from each tick to 1 s after its last run ended), the CPU per
#        tick and per run, its RSS; and the broker's CPU over the same window.
#
# Prints a markdown table at the end. Env: N (2000000), PARTS (4), ROUNDS (5),
# TICKS (20), EVERY (5s), BATCH (10), PIPES (100), IDLE_SECONDS (120),
# IDLE_HISTORY ("empty full"), KEEP_RUNS (200), BENCH ("load tick idle": the
# parts to run), SLUICE_BIN (the binary to measure; default bin/sluice,
# which make bench builds), PERF=1 (perf record the idle scheduler at PERF_HZ, 999,
# and print where its CPU goes, by function, between and during ticks; this
# inflates the CPU measured: at 4999 Hz about twice), KEEP=1 keeps the work
# dir. About 10 minutes with the
# defaults on a 2-core machine.
set -eEuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${N:-2000000}
PARTS=${PARTS:-4}
ROUNDS=${ROUNDS:-5}
TICKS=${TICKS:-20}
EVERY=${EVERY:-5s}
BATCH=${BATCH:-10}
PIPES=${PIPES:-100}
IDLE_SECONDS=${IDLE_SECONDS:-120}
IDLE_HISTORY=${IDLE_HISTORY:-empty full}
KEEP_RUNS=${KEEP_RUNS:-200} # history.keep's default
PERF_HZ=${PERF_HZ:-999}
BENCH=${BENCH:-load tick idle}
HZ=$(getconf CLK_TCK)
for c in curl jq python3 /usr/bin/time; do command -v "$c" >/dev/null || { echo "e2e/jobs/bench: needs $c" >&2; exit 1; }; done
[[ ${PERF:-0} != 1 ]] || command -v perf >/dev/null || { echo "e2e/jobs/bench: PERF=1 needs perf" >&2; exit 1; }

t0=$SECONDS
log() { printf '[%s +%3ds] e2e/jobs/bench: %s\n' "$(date -u +%H:%M:%S)" $((SECONDS - t0)) "$*" >&2; }
die() { echo "e2e/jobs/bench: FAIL: $*" >&2; exit 1; }

source "$ROOT/e2e/lib/broker.sh"
# $WORK, removed on exit (KEEP=1 keeps it) once every process started here
# is stopped; on failure the exit trap prints the end of each $WORK/*.log.
e2e_init jobs-bench
WORK=$work
# cpu PID: utime+stime of PID in clock ticks.
cpu() { local f; read -ra f <"/proc/$1/stat"; echo $((f[13] + f[14])); }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# api HOST PATH: GET the admin API.
api() { curl -sf --max-time 10 "http://$1$2"; }
leading() { api "$1" /api/v1/pipelines | jq -e --argjson n "$2" '.leader and (.pipelines | length) == $n' >/dev/null; }
# stop TAG: SIGTERM, SIGKILL after 40 s.
stop() { E2E_STOP_SECS=40 stop_bg "$1" || true; }

# pipeline NAME TOPIC SINK GROUP [EXTRA]: the e2e/loader pipeline (JSON with
# a declared schema, hourly folders by event_time), on stdout.
source "$ROOT/e2e/loader/pipeline.sh"
pipeline() { event_pipeline "$1" "$2" "$3" "{records: 1000000}" "$4" "${5:-}"; }

# The Python side: statistics, the tick watcher, the idle analysis.
cat >"$WORK/bench.py" <<'PY'
import json, re, statistics, subprocess, sys, time, urllib.request
from datetime import datetime, timezone

def ts(s):
    return datetime.fromisoformat(s).timestamp() if s else None

def get(host, path, timeout=10):
    with urllib.request.urlopen(f"http://{host}{path}", timeout=timeout) as r:
        return r.read()

def dist(xs, scale=1.0, fmt="{:.0f}"):
    """median (min-max) of xs."""
    xs = sorted(x * scale for x in xs)
    if not xs:
        return "-"
    p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    return f"{fmt.format(statistics.median(xs))} (p90 {fmt.format(p90)}; {fmt.format(xs[0])}-{fmt.format(xs[-1])})"

def metric(text, name, labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and want in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0

def cmd_run_rate(path):
    """records, seconds and records/s of a `jobs run -o json` run."""
    r = json.load(open(path))
    if r["status"] != "succeeded":
        sys.exit(f"run {r['id']} ended {r['status']}: {r.get('errors')}")
    d = ts(r["ended"]) - ts(r["started"])
    print(r["records"], f"{d:.3f}", f"{r['records'] / d:.0f}")

def cmd_load(results, N, PARTS, LOADAVG):
    """the load part's table rows from results lines: A|B rate cpu_s records."""
    rows = [l.split() for l in open(results)]
    out = {}
    for way in "AB":
        rates = [float(r[1]) for r in rows if r[0] == way]
        per_cpu = [float(r[3]) / float(r[2]) for r in rows if r[0] == way]
        out[way] = (rates, per_cpu)
    ra, rb = statistics.median(out["A"][0]), statistics.median(out["B"][0])
    fmt = lambda xs: f"{statistics.median(xs):,.0f} ({min(xs):,.0f}-{max(xs):,.0f})"
    print(f"| a run loads as fast as `sluice load` ({len(out['A'][0])} rounds A B alternating, {N} events in {PARTS} partitions; "
          f"median (min-max); load average {LOADAVG}) | B/A >= 0.95 "
          f"| `sluice load`: {fmt(out['A'][0])} records/s, {fmt(out['A'][1])} records/CPU-s; "
          f"`jobs run --wait`: {fmt(out['B'][0])} records/s, {fmt(out['B'][1])} records/CPU-s; "
          f"B/A of the medians {rb / ra:.3f}; per round (paired) {dist([b / a for a, b in zip(out['A'][0], out['B'][0])], fmt='{:.2f}')} |")

POLL = 0.005

def cmd_tick(host, gen, broker, topic, pipeline, every, ticks, batch, out_tsv):
    """drive and time TICKS ticks of PIPELINE (see bench.sh, part tick)."""
    ticks, batch = int(ticks), int(batch)
    lab = {"pipeline": pipeline, "topic": topic}
    def scrape():
        t_start = time.time()
        m = get(host, "/metrics").decode()
        return t_start, time.time(), m
    produced = batch  # bench.sh produced the first batch
    seen = []  # per observed run: dict
    _, _, m = scrape()
    ok0 = metric(m, "sluice_jobs_runs_total", {"pipeline": pipeline, "status": "succeeded"})
    deadline = time.time() + ticks * 60 + 120
    scrapes = []
    while len(seen) < ticks:
        if time.time() > deadline:
            sys.exit(f"only {len(seen)} of {ticks} ticks seen")
        p = json.loads(get(host, f"/api/v1/pipelines/{pipeline}"))
        nxt = ts(p.get("next_run"))
        if nxt is None:
            time.sleep(0.05)
            continue
        time.sleep(max(0.0, nxt - time.time() - 0.3))
        # Scrape until the tick's run is recorded.
        _, _, m = scrape()
        out0 = metric(m, "sluice_topic_records_out_total", {"topic": topic})
        read0 = metric(m, "sluice_loader_records_read_total", lab)
        pub0 = metric(m, "sluice_loader_files_published_total", lab)
        t_out = t_read = t_pub = None
        last = time.time()
        while True:
            time.sleep(max(0.0, last + POLL - time.time()))
            a, b, m = scrape()
            scrapes.append(b - last)
            last = b
            if t_out is None and metric(m, "sluice_topic_records_out_total", {"topic": topic}) > out0:
                t_out = b
            if t_read is None and metric(m, "sluice_loader_records_read_total", lab) > read0:
                t_read = b
            if t_pub is None and metric(m, "sluice_loader_files_published_total", lab) > pub0:
                t_pub = b
            ok = metric(m, "sluice_jobs_runs_total", {"pipeline": pipeline, "status": "succeeded"})
            if ok > ok0:
                ok0 = ok
                break
            if time.time() - nxt > 30:
                sys.exit(f"the run of the tick at {nxt} did not succeed within 30 s")
        seen.append({"tick_guess": nxt, "out": t_out, "read": t_read, "pub": t_pub})
        # New events for the next tick.
        subprocess.run([gen, "-brokers", broker, "-topic", topic, "-start", str(produced), "-n", str(batch)],
                       check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        produced += batch
    runs = json.loads(get(host, f"/api/v1/pipelines/{pipeline}/runs?limit=1000"))["runs"]
    runs = [r for r in runs if r["trigger"] == "schedule" and r["status"] == "succeeded"]
    by_tick = {round(ts(r["scheduled"]), 3): r for r in runs}
    rows = []
    with open(out_tsv, "w") as f:
        f.write("scheduled\tstarted_ms\tfetched_ms\tloader_read_ms\tfirst_file_ms\tended_ms\trecords\n")
        for s in seen:
            r = by_tick.get(round(s["tick_guess"], 3))
            if r is None:
                sys.exit(f"no succeeded run for the tick at {s['tick_guess']}")
            if r["records"] < batch:
                sys.exit(f"run {r['id']} landed {r['records']} records, want {batch}")
            tk = ts(r["scheduled"])
            rel = lambda k: s[k] - tk if s[k] else None
            row = dict(start=ts(r["started"]) - tk, out=rel("out"), read=rel("read"), pub=rel("pub"),
                       end=ts(r["ended"]) - tk, records=r["records"])
            rows.append(row)
            f.write(r["scheduled"] + "".join(f"\t{(row[k] or 0) * 1e3:.1f}" for k in ("start", "out", "read", "pub", "end"))
                    + f"\t{row['records']}\n")
    ms = lambda k: dist([r[k] for r in rows if r[k] is not None], 1e3)
    missing = sum(1 for r in rows if r["out"] is None)
    if missing:
        sys.exit(f"{missing} runs without a fetch seen on /metrics")
    worst = max(r["out"] for r in rows)
    la = open("/proc/loadavg").read().split()[0]
    print(f"| first fetch within 1 s of the tick ({len(rows)} ticks of `@every {every}`, {batch} new events each; ms after the tick, "
          f"median (p90; min-max); /metrics scraped every {statistics.median(scrapes) * 1e3:.1f} ms; load average {la}) | < 1,000 ms "
          f"| run started {ms('start')}; first fetch answered (broker records out) {ms('out')}, worst {worst * 1e3:.0f} ms; "
          f"first file published {ms('pub')}; run ended {ms('end')} |")

def cmd_prefill(pipes, keep, out):
    """history records (key TAB value) of KEEP finished runs of each pipeline, one a minute up to now."""
    pipes, keep = int(pipes), int(keep)
    now = int(time.time()) // 60 * 60
    iso = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    with open(out, "w") as f:
        for k in range(keep, 0, -1):
            tick = now - 60 * k
            for i in range(1, pipes + 1):
                name = f"idle-{i:03d}"
                rid = f"{name}-{datetime.fromtimestamp(tick, timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
                r = {"id": rid, "pipeline": name, "spec_hash": "prefilled", "trigger": "schedule", "scheduled": iso(tick),
                     "attempt": 1, "status": "succeeded", "started": iso(tick + 0.001), "ended": iso(tick + 0.4),
                     "server": "bench-prefill", "records": 0, "bytes": 0, "files": 0, "dead_letters": 0, "decode_errors": 0,
                     "lag": 0, "partitions": [{"topic": name, "partition": 0, "records": 0, "bytes": 0, "files": 0,
                                               "dead_letters": 0, "decode_errors": 0, "first_offset": -1, "last_offset": -1, "lag": 0}]}
                f.write(f"run/{rid}\t{json.dumps(r, separators=(',', ':'))}\n")

def cmd_perf(script, busy_file, hz, top):
    """where the scheduler's CPU went (perf script -F time,ip,sym), between ticks and during them."""
    import collections
    busy = [tuple(map(float, l.split())) for l in open(busy_file)]
    off = time.time() - time.monotonic()  # perf record -k CLOCK_MONOTONIC
    samples, cur = [], None
    for line in open(script, errors="replace"):
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = None
            continue
        m = re.match(r"\s*([0-9.]+):\s*$", line)
        if m:
            cur = (float(m.group(1)) + off, [])
        elif cur is not None:
            p = line.split(None, 1)
            cur[1].append(p[1].strip() if len(p) > 1 else "?")
    if cur:
        samples.append(cur)
    sel = {"between ticks": [s for s in samples if not any(lo <= s[0] < hi for lo, hi in busy)],
           "during ticks": [s for s in samples if any(lo <= s[0] < hi for lo, hi in busy)]}
    keep = re.compile(r"sluice|franz-go|prometheus|yaml|^main\.|^os\.|^runtime\.(gcBgMarkWorker|mcall|sysmon|findRunnable|mallocgc)$")
    for what, ss in sel.items():
        inc = collections.Counter()
        for s in ss:
            for fn in set(s[1]):
                inc[fn] += 1
        print(f"--- perf, {what}: {len(ss)} samples at {hz} Hz = {len(ss) / float(hz) * 1e3:.0f} ms CPU; inclusive ms by function", file=sys.stderr)
        n = 0
        for fn, c in inc.most_common():
            if keep.search(fn) and n < int(top):
                print(f"{c / float(hz) * 1e3:8.1f} ms {c / max(1, len(ss)) * 100:5.1f}%  {fn}", file=sys.stderr)
                n += 1

def launched(logfile, t_from, t_to):
    """ms from each tick in [t_from, t_to) to its runs' "run started" log lines (written once the run is recorded, as
    the loader starts; the run record's started is when the core decided, the same for every run of a tick)."""
    out = []
    for line in open(logfile, errors="replace"):
        if 'msg="run started"' not in line or "trigger=schedule" not in line:
            continue
        t = ts(line.split()[0][len("time="):])
        m = re.search(r"run=\S+-(\d{8}T\d{6}Z) ", line)
        tick = datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        if t_from <= tick < t_to:
            out.append(t - tick)
    return out

def cmd_idle(label, host, samples, broker_samples, t_from, t_to, hz, pipes, rss_file, busy_out, logfile):
    """CPU of the idle scheduler (see bench.sh, part idle)."""
    hz, t_from, t_to, pipes = float(hz), float(t_from), float(t_to), int(pipes)
    S = [tuple(map(float, l.split())) for l in open(samples)]
    Bk = [tuple(map(float, l.split())) for l in open(broker_samples)]
    names = [p["name"] for p in json.loads(get(host, "/api/v1/pipelines"))["pipelines"]]
    if len(names) != pipes:
        sys.exit(f"{len(names)} pipelines, want {pipes}")
    ticks = {}
    statuses = {}
    durs = []
    for n in names:
        for r in json.loads(get(host, f"/api/v1/pipelines/{n}/runs?limit=1000"))["runs"]:
            sch = ts(r.get("scheduled"))
            if sch is None or not (t_from - 60 <= sch <= t_to):
                continue
            end = ts(r.get("ended")) or t_to
            lo, hi = ticks.get(sch, (sch, sch))
            ticks[sch] = (min(lo, sch), max(hi, end))
            if sch < t_from:
                continue
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            if r["status"] == "succeeded":
                durs.append(end - ts(r["started"]))
    busy = sorted((lo - 0.2, hi + 1.0) for lo, hi in ticks.values())
    with open(busy_out, "w") as f:
        f.writelines(f"{lo} {hi}\n" for lo, hi in busy)
    in_window = [t for t in ticks if t_from <= t < t_to]
    whole = (S[-1][1] - S[0][1]) / hz / (S[-1][0] - S[0][0])
    bwhole = (Bk[-1][1] - Bk[0][1]) / hz / (Bk[-1][0] - Bk[0][0])
    idle_cpu = idle_t = busy_cpu = busy_t = 0.0
    for (ta, ca), (tb, cb) in zip(S, S[1:]):
        overl = any(lo < tb and ta < hi for lo, hi in busy)
        if overl:
            busy_cpu += (cb - ca) / hz
            busy_t += tb - ta
        else:
            idle_cpu += (cb - ca) / hz
            idle_t += tb - ta
    spans = [ticks[t][1] - t for t in in_window]
    rss = [float(x) for x in open(rss_file).read().split()]
    window = S[-1][0] - S[0][0]
    per_tick = busy_cpu / max(1, len(in_window))
    la = open("/proc/loadavg").read().split()[1]
    print(f"| {pipes} pipelines `* * * * *` on empty topics, {label}: idle scheduler CPU ({window:.0f} s window, {len(in_window)} ticks; "
          f"5-minute load average {la}; "
          f"runs {', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}) | < 1% of a core "
          f"| whole window {whole * 100:.2f}%; between ticks {idle_cpu / idle_t * 100 if idle_t else float('nan'):.2f}% "
          f"({idle_t:.0f} s); during ticks {busy_cpu / busy_t * 100 if busy_t else float('nan'):.1f}% ({busy_t:.0f} s), "
          f"{busy_cpu * 1e3 / max(1, len(in_window)):.0f} ms CPU per tick = {per_tick * 1e3 / pipes:.1f} ms per run; "
          f"a tick's runs launched (log) {dist(launched(logfile, t_from, t_to), 1e3)} ms after it, all recorded ended "
          f"{dist(spans, 1e3)} ms after it; run took (record) {dist(durs, 1e3)} ms; "
          f"RSS {rss[0]:.0f} MiB at start, {max(rss):.0f} max, {rss[-1]:.0f} at end; broker {bwhole * 100:.2f}% |")

if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
PY
bench() { python3 "$WORK/bench.py" "$@"; }

# ---- build, broker ----------------------------------------------------------
(cd "$ROOT" && go build -o "$WORK/gen" ./e2e/loader/gen)
start_sluice_server broker >/dev/null
BROKER=$B
BROKER_PID=$(bg_pid broker)
log "broker on $BROKER; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
ROWS=$WORK/rows.md
: >"$ROWS"

# ---- load: sluice load vs a manual run of the scheduler ---------------------
if [[ " $BENCH " == *" load "* ]]; then
  "$SLUICE_BIN" --brokers "$BROKER" topic create bench -p "$PARTS" >/dev/null
  log "load: producing $N events into $PARTS partitions"
  "$WORK/gen" -brokers "$BROKER" -topic bench -n "$N" 2>"$WORK/gen.log"
  mkdir -p "$WORK/pipes-load"
  for i in $(seq "$ROUNDS"); do
    pipeline "load-$i" bench "$WORK/sink-a$i" "bench-a-$i" >"$WORK/load-$i.yaml"
    pipeline "sched-$i" bench "$WORK/sink-b$i" "bench-b-$i" >"$WORK/pipes-load/sched-$i.yaml"
  done
  start_sluice_jobs serve-load --pipelines "$WORK/pipes-load" --brokers "$BROKER" --server-name bench-load \
    --history-topic _bench_load_runs
  API1=$H
  SPID=$(bg_pid serve-load)
  wait_for 60 "scheduler leading on $API1" leading "$API1" "$ROUNDS"
  : >"$WORK/load.tsv"
  for i in $(seq "$ROUNDS"); do
    # A: sluice load
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/a$i.time" \
      "$SLUICE_BIN" load --progress none "$WORK/load-$i.yaml" >"$WORK/a$i.out" 2>"$WORK/a$i.log" || die "sluice load failed"
    line=$(tail -1 "$WORK/a$i.out")
    [[ $line =~ ^([0-9]+)\ records\ in\ ([^ ]+)\ \(([0-9]+)\ records/s\)$ ]] || die "no summary line in $WORK/a$i.out: $line"
    ((BASH_REMATCH[1] == N)) || die "sluice load landed ${BASH_REMATCH[1]} records, want $N"
    rate_a=${BASH_REMATCH[3]} took_a=${BASH_REMATCH[2]}
    read -r _ u s rss <"$WORK/a$i.time"
    RSS_LOAD_MAX=$(( ${RSS_LOAD_MAX:-0} > rss / 1024 ? ${RSS_LOAD_MAX:-0} : rss / 1024 ))
    cpu_a=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
    echo "A $rate_a $cpu_a $N" >>"$WORK/load.tsv"
    rm -rf "$WORK/sink-a$i"
    # B: a manual run of the scheduler
    c0=$(cpu "$SPID")
    "$SLUICE_BIN" jobs run "sched-$i" --wait --server "$API1" -o json >"$WORK/b$i.json" 2>"$WORK/b$i.err" ||
      { cat "$WORK/b$i.err" "$WORK/b$i.json" >&2; die "jobs run sched-$i failed"; }
    c1=$(cpu "$SPID")
    read -r recs took_b rate_b < <(bench run_rate "$WORK/b$i.json")
    ((recs == N)) || die "run of sched-$i landed $recs records, want $N"
    cpu_b=$(awk -v c=$((c1 - c0)) -v hz="$HZ" 'BEGIN { print c / hz }')
    echo "B $rate_b $cpu_b $N" >>"$WORK/load.tsv"
    rm -rf "$WORK/sink-b$i"
    log "load round $i: sluice load $rate_a records/s ($took_a, ${cpu_a} CPU-s, $((rss / 1024)) MiB); jobs run $rate_b records/s (${took_b}s, ${cpu_b} CPU-s); load average $(cut -d' ' -f1 /proc/loadavg)"
  done
  RSS_AFTER_LOAD=$(rss_mib "$SPID")
  T_AFTER_LOAD=$SECONDS
  log "load: scheduler RSS after $ROUNDS runs: $RSS_AFTER_LOAD MiB"
  bench load "$WORK/load.tsv" "$N" "$PARTS" "$(loadavg)" >>"$ROWS"
  "$SLUICE_BIN" --brokers "$BROKER" topic delete bench >/dev/null 2>&1 || true
fi

# ---- tick: from the tick to the first fetch ----------------------------------
if [[ " $BENCH " == *" tick "* ]]; then
  mkdir -p "$WORK/pipes-tick"
  start_sluice_server server-tick --data-dir "$WORK/tickdata" --http 127.0.0.1:0 --pipelines "$WORK/pipes-tick" \
    --server-name bench-tick >/dev/null
  TK=$B TH=$H
  wait_for 60 "scheduler leading on $TH" leading "$TH" 0
  BROKER_SAVE=$BROKER BROKER=$TK
  "$SLUICE_BIN" --brokers "$TK" topic create tick -p 1 >/dev/null
  "$WORK/gen" -brokers "$TK" -topic tick -n "$BATCH" 2>/dev/null
  pipeline tick tick "$WORK/sink-tick" bench-tick "schedule: \"@every $EVERY\"" >"$WORK/pipes-tick/tick.yaml.tmp~"
  mv "$WORK/pipes-tick/tick.yaml.tmp~" "$WORK/pipes-tick/tick.yaml"
  BROKER=$BROKER_SAVE
  wait_for 30 "the tick pipeline loaded" leading "$TH" 1
  log "tick: $TICKS ticks of @every $EVERY on $TH"
  bench tick "$TH" "$WORK/gen" "$TK" tick tick "$EVERY" "$TICKS" "$BATCH" "$WORK/tick.tsv" >>"$ROWS"
  column -t "$WORK/tick.tsv" >&2
  stop server-tick
fi
if [[ -n ${SPID:-} ]]; then
  # The load part's scheduler, idle since its last run: does it give the
  # memory of its runs back?
  sleep $((T_AFTER_LOAD + 60 > SECONDS ? T_AFTER_LOAD + 60 - SECONDS : 0))
  log "load: scheduler RSS $RSS_AFTER_LOAD MiB after its last run, $(rss_mib "$SPID") MiB $((SECONDS - T_AFTER_LOAD)) s later"
  echo "| RSS of the scheduler of the load part (\`jobs serve\`, idle after $ROUNDS runs of $N events) | | $RSS_AFTER_LOAD MiB after its last run, $(rss_mib "$SPID") MiB $((SECONDS - T_AFTER_LOAD)) s later; \`sluice load\` peaked at ${RSS_LOAD_MAX:-?} MiB |" >>"$ROWS"
  stop serve-load
fi

# ---- idle: 100 pipelines every minute on empty topics ------------------------
# idle_phase HISTORY: a `jobs serve` of the idle pipelines with its own
# history topic, empty or (full) holding KEEP runs of each pipeline as after
# KEEP minutes, measured from the half minute after its first tick.
# tick_ended API TS: every pipeline's last run is the tick TS's, ended.
tick_ended() {
  [[ $(api "$1" /api/v1/pipelines | jq --arg ts "$2" '[.pipelines[] | select(.last_run.id // "" | endswith($ts))
    | select(.last_run.status != "running")] | length') == "$PIPES" ]]
}
idle_phase() {
  local hist=$1 topic=_bench_idle_${1}_runs api pid first ts now from end t perf_pid=
  if [[ $hist == full ]]; then
    "$SLUICE_BIN" --brokers "$BROKER" topic create "$topic" -p 1 -c cleanup.policy=compact >/dev/null
    bench prefill "$PIPES" "$KEEP_RUNS" "$WORK/prefill.tsv"
    "$SLUICE_BIN" --brokers "$BROKER" produce "$topic" --key-sep $'\t' <"$WORK/prefill.tsv"
  fi
  start_sluice_jobs "serve-idle-$hist" --pipelines "$WORK/pipes-idle" --brokers "$BROKER" --server-name "bench-idle-$hist" \
    --history-topic "$topic"
  api=$H
  pid=$(bg_pid "serve-idle-$hist")
  wait_for 60 "scheduler leading on $api" leading "$api" "$PIPES"
  first=$(( ($(date +%s) / 60 + 1) * 60 ))
  ts=$(date -u -d "@$first" +%Y%m%dT%H%M%SZ)
  log "idle ($hist history): scheduler leading ($(rss_mib "$pid") MiB); waiting for its first tick ($ts) to end"
  wait_for 90 "the runs of tick $ts ended" tick_ended "$api" "$ts"
  now=$(date +%s)
  from=$(( (now / 60) * 60 + 30 ))
  ((from > now)) || from=$((from + 60))
  log "idle ($hist history): measuring from $(date -u -d "@$from" +%H:%M:%S) for ${IDLE_SECONDS}s"
  sleep $((from - now))
  : >"$WORK/idle-$hist.cpu"; : >"$WORK/broker-$hist.cpu"; : >"$WORK/idle-$hist.rss"
  end=$((from + IDLE_SECONDS))
  if [[ ${PERF:-0} == 1 ]]; then
    start_bg "perf-$hist" perf record -q -k CLOCK_MONOTONIC -F "$PERF_HZ" -g -p "$pid" -o "$WORK/idle-$hist.perf" -- sleep $((IDLE_SECONDS - 2)) >"$WORK/perf.log" 2>&1
    perf_pid=$BG_PID
  fi
  while :; do
    t=$EPOCHREALTIME
    echo "$t $(cpu "$pid")" >>"$WORK/idle-$hist.cpu"
    echo "$t $(cpu "$BROKER_PID")" >>"$WORK/broker-$hist.cpu"
    rss_mib "$pid" >>"$WORK/idle-$hist.rss"
    echo >>"$WORK/idle-$hist.rss"
    (($(date +%s) < end)) || break
    sleep 1
  done
  local label="empty history"
  [[ $hist == full ]] && label="history full ($KEEP_RUNS runs of each pipeline kept, as after $KEEP_RUNS minutes)"
  bench idle "$label" "$api" "$WORK/idle-$hist.cpu" "$WORK/broker-$hist.cpu" "$from" "$end" "$HZ" "$PIPES" "$WORK/idle-$hist.rss" \
    "$WORK/busy-$hist.txt" "$WORK/serve-idle-$hist.log" >>"$ROWS"
  if [[ -n $perf_pid ]]; then
    wait_bg "perf-$hist" || true
    perf script -i "$WORK/idle-$hist.perf" -F time,ip,sym >"$WORK/idle-$hist.perf.txt" 2>/dev/null
    echo "--- idle ($hist history)" >&2
    bench perf "$WORK/idle-$hist.perf.txt" "$WORK/busy-$hist.txt" "$PERF_HZ" 40
  fi
  stop "serve-idle-$hist"
}

if [[ " $BENCH " == *" idle "* ]]; then
  mkdir -p "$WORK/pipes-idle"
  log "idle: $PIPES topics and pipelines"
  for i in $(seq -f '%03g' "$PIPES"); do
    "$SLUICE_BIN" --brokers "$BROKER" topic create "idle-$i" -p 1 >/dev/null
    pipeline "idle-$i" "idle-$i" "$WORK/sink-idle/idle-$i" "bench-idle-$i" 'schedule: "* * * * *"' >"$WORK/pipes-idle/idle-$i.yaml"
  done
  for h in $IDLE_HISTORY; do idle_phase "$h"; done
fi

echo
echo "## e2e/jobs/bench.sh ($(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| what | target | measured |"
echo "| --- | --- | --- |"
cat "$ROWS"
log "done in $((SECONDS - t0))s"
