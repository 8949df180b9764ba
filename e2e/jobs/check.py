"""Helpers of e2e/jobs/run.sh: ask a scheduler's admin API, check histories.

    check.py q  HOST:PORT EXPR   print EXPR, a Python expression over the API
    check.py ok HOST:PORT EXPR   exit 0 if EXPR is true, 1 if not
    check.py ticks HOST:PORT PIPELINE LEADER OTHER T_STABLE T_KILL PERIOD
    check.py raw < KEY<TAB>VALUE lines of the history topic

q and ok exit 3 (printing nothing) while the API does not answer 200, so
run.sh polls them through restarts. In EXPR:

    runs(name)       the pipeline's runs, newest first (GET .../runs)
    pipeline(name)   GET /api/v1/pipelines/{name}
    pipelines()      GET /api/v1/pipelines
    run(id)          GET /api/v1/runs/{id}, None if 404
    metric(name)     the value of a /metrics sample ("name" or 'name{l="v"}'), None if absent
    t(s)             an RFC 3339 time (Go's, nanoseconds) as Unix seconds, None for None/""
    load(path)       a JSON file
    sched(name)      the runs triggered by the schedule

ticks checks what several schedulers sharing a pipeline did with its
ticks (part 5): no scheduled time is run twice; from T_STABLE to T_KILL
every schedule run is LEADER's, after T_KILL every one is OTHER's; within
each of those stretches the ticks are contiguous (consecutive scheduled
times PERIOD seconds apart, times the later run's covers: a tick handled
late stands for the ones before it). Prints a summary as JSON.

raw checks every run record ever written to the history topic (before
compaction): each run id is written by one server only (its own, or in
an abandoned record, the record of the server that ran it), and
"running" is the first status of an id and written once: a tick run
twice would show up as two running records or two servers.
"""
import json
import re
import sys
import urllib.error
import urllib.request


class Unreachable(Exception):
    pass


def make_env(host):
    def get(path, allow404=False):
        try:
            with urllib.request.urlopen(f"http://{host}{path}", timeout=5) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            if allow404 and e.code == 404:
                return None
            raise Unreachable(f"{path}: HTTP {e.code}")
        except (urllib.error.URLError, OSError) as e:
            raise Unreachable(f"{path}: {e}")
        return body

    def getj(path, allow404=False):
        b = get(path, allow404)
        return None if b is None else json.loads(b)

    def runs(name):
        return getj(f"/api/v1/pipelines/{name}/runs?limit=10000")["runs"]

    def metric(name):
        for line in get("/metrics").decode().splitlines():
            if line.startswith("#"):
                continue
            k, _, v = line.rpartition(" ")
            if k == name:
                return float(v)
        return None

    return {
        "runs": runs,
        "sched": lambda name: [r for r in runs(name) if r["trigger"] == "schedule"],
        "pipeline": lambda name: getj(f"/api/v1/pipelines/{name}"),
        "pipelines": lambda: getj("/api/v1/pipelines"),
        "run": lambda rid: getj(f"/api/v1/runs/{rid}", allow404=True),
        "metric": metric,
        "t": t,
        "load": lambda path: json.load(open(path)),
    }


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def t(s):
    """Go's RFC 3339 (up to nanoseconds) as Unix seconds."""
    import datetime

    if not s:
        return None
    m = _TIME.match(s)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {s!r}")
    base, frac, zone = m.groups()
    dt = datetime.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return dt.timestamp() + (float(frac) if frac else 0.0)


def ticks(host, pipeline, leader, other, t_stable, t_kill, period):
    env = make_env(host)
    rs = env["sched"](pipeline)
    problems = []
    seen = {}
    for r in rs:
        if r["scheduled"] in seen:
            problems.append(f"tick {r['scheduled']} appears twice: {seen[r['scheduled']]} and {r['id']} ({r['server']})")
        seen[r["scheduled"]] = f"{r['id']} ({r['server']})"
    rs = sorted(rs, key=lambda r: t(r["scheduled"]))
    before = [r for r in rs if t_stable < t(r["scheduled"]) <= t_kill]
    after = [r for r in rs if t(r["scheduled"]) > t_kill]
    for name, stretch, want in (("before the kill", before, leader), ("after the kill", after, other)):
        for r in stretch:
            if r["server"] != want:
                problems.append(f"{name}: run {r['id']} by {r['server']}, want {want}")
        for a, b in zip(stretch, stretch[1:]):
            gap = round(t(b["scheduled"]) - t(a["scheduled"]), 3)
            want_gap = period * max(b.get("covers") or 1, 1)
            if gap != want_gap:
                problems.append(f"{name}: ticks {a['scheduled']} -> {b['scheduled']} are {gap}s apart but {b['id']} covers {b.get('covers')} (a tick lost or run twice)")
    takeover = None
    if after:
        takeover = round(t(after[0].get("started") or after[0].get("ended")) - t_kill, 2)
    statuses = {}
    for r in rs:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    print(json.dumps({"schedule_runs": len(rs), "before_kill": len(before), "after_kill": len(after),
                      "takeover_seconds": takeover, "statuses": statuses,
                      "covers_gt_1": [r["id"] for r in rs if (r.get("covers") or 1) > 1]}))
    if problems:
        for p in problems:
            print("FAIL: " + p, file=sys.stderr)
        return 1
    return 0


def raw(lines):
    seqs = {}
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        key, _, value = line.partition("\t")
        if not key.startswith("run/") or not value:
            continue
        r = json.loads(value)
        seqs.setdefault(key[4:], []).append((r.get("status"), r.get("server")))
    problems = []
    for rid, seq in seqs.items():
        servers = {s for _, s in seq}
        if len(servers) > 1:
            problems.append(f"run {rid} written by several servers: {seq}")
        running = [i for i, (st, _) in enumerate(seq) if st == "running"]
        if len(running) > 1 or (running and running[0] != 0):
            problems.append(f"run {rid} started more than once: {seq}")
    print(json.dumps({"run_ids": len(seqs), "records": sum(len(s) for s in seqs.values())}))
    for p in problems:
        print("FAIL: " + p, file=sys.stderr)
    return 1 if problems else 0


def main():
    cmd = sys.argv[1]
    if cmd in ("q", "ok"):
        host, expr = sys.argv[2], sys.argv[3]
        try:
            v = eval(expr, make_env(host))
        except Unreachable:
            return 3
        if cmd == "ok":
            return 0 if v else 1
        print(v if isinstance(v, str) else json.dumps(v))
        return 0
    if cmd == "ticks":
        host, pipeline, leader, other = sys.argv[2:6]
        t_stable, t_kill, period = (float(a) for a in sys.argv[6:9])
        return ticks(host, pipeline, leader, other, t_stable, t_kill, period)
    if cmd == "raw":
        return raw(sys.stdin)
    print(f"unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
