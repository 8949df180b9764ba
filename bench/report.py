#!/usr/bin/env python3
"""The measurements of bench/run.sh: recording them and writing RESULTS.md.

    report.py emit OUT GROUP SCENARIO SYSTEM ROUND KEY=VALUE...
        appends one JSON line to OUT (values are numbers)
    report.py perf FILE
        prints "records/s MB/s p99-ms" from Kafka ProducerPerformance's output
    report.py cperf FILE
        prints "MB fetch-MB/s fetch-records/s" from ConsumerPerformance's CSV
    report.py get JSONL GROUP SCENARIO SYSTEM ROUND METRIC
        prints one measurement (nothing if there is none)
    report.py check JSONL
        fails unless every scenario ran on every system with every measure
    report.py render JSONL RESULTS.md --started ... --commit ... [...]
        writes the tables: per scenario and metric, each system's median,
        min and max over the rounds, and the first system's (Sluice's)
        ratio to each other system's median

Standard library only: it runs before any virtualenv exists.
"""

import argparse
import json
import os
import re
import statistics
import sys

# metric -> (label, better): better is "higher" or "lower".
METRICS = {
    "records_per_s": ("records/s", "higher"),
    "mb_per_s": ("MB/s (2^20 bytes)", "higher"),
    "cpu_s_per_gb": ("broker CPU seconds per GB moved", "lower"),
    "peak_rss_mb": ("peak RSS, MB", "lower"),
    "p50_ms": ("p50 latency, ms", "lower"),
    "p99_ms": ("p99 latency, ms", "lower"),
    "p999_ms": ("p99.9 latency, ms", "lower"),
    "max_ms": ("max latency, ms", "lower"),
    "seconds": ("seconds", "lower"),
    "cpu_s": ("CPU seconds", "lower"),
    "cpu_s_per_million": ("CPU seconds per million records", "lower"),
    "records_per_cpu_s": ("records per CPU-second", "higher"),
    "rows": ("rows landed", "equal"),
    "disk_write_mb_per_s": ("sequential write with fdatasync (dd), MB/s", "higher"),
    "cache_read_mb_per_s": ("page-cache read (dd), MB/s", "higher"),
    "tcp_mb_per_s": ("loopback TCP (iperf3), MB/s", "higher"),
    "vs_single": ("records/s over the single broker's in the same round", "higher"),
    "failover_ms": ("SIGKILL of the leader to the first record the new leader appended, ms", "lower"),
    "records_lost": ("records acknowledged but not in the log", "lower"),
    "records_duplicated": ("records in the log more than once", "lower"),
}

# Said under a group's tables.
NOTES = {
    "cluster": "Three brokers of each system on this machine, each node a broker and a metadata quorum voter"
    " (Kafka: KRaft combined mode); topic RF=3, min.insync.replicas=2, acks=all through `sluice bench produce`."
    " CPU per GB and peak RSS are summed over the three brokers (each byte is written three times);"
    " vs_single divides the records/s by the same scenario's single-broker figure (the produce group) of the"
    " same round of this run.",
    "failover": "`sluice produce` (franz-go, acks=all, idempotent) sends to one partition of a 3-partition RF=3 topic"
    " with message.timestamp.type=LogAppendTime; its leader is SIGKILLed and the time runs to the LogAppendTime of"
    " the first record appended after the kill (only the new leader can have), read back from the log; acks=all"
    " answers it once the remaining follower has fetched it. The scenario says whether the killed leader was"
    " also the active controller (BENCH_FAILOVER_KILL; by default not, so that on both systems the new leader waits"
    " for the dead broker's fencing after broker.session.timeout.ms); the max is the worst round. The killed node is restarted"
    " and rejoins every ISR before the next run.",
}


def emit(args):
    out, group, scenario, system, rnd, *pairs = args
    m = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            sys.exit(f"report.py emit: {p!r}: want KEY=VALUE")
        try:
            m[k] = float(v)
        except ValueError:
            sys.exit(f"report.py emit: {k}={v!r}: not a number ({scenario}, {system}, round {rnd})")
    line = {"group": group, "scenario": scenario, "system": system, "round": int(rnd), "m": m}
    with open(out, "a") as f:
        f.write(json.dumps(line) + "\n")


def perf(path):
    # "3000000 records sent, 912408.8 records/sec (87.01 MB/sec), 20.1 ms avg
    # latency, 312.0 ms max latency, 15 ms 50th, 45 ms 95th, 70 ms 99th, 300 ms 99.9th."
    text = open(path).read()
    lines = [l for l in text.splitlines() if " records sent, " in l and "99th" in l]
    if not lines:
        sys.exit(f"report.py perf: no ProducerPerformance summary in {path}:\n{text[-2000:]}")
    l = lines[-1]
    rps = re.search(r"([0-9.]+) records/sec", l).group(1)
    mbs = re.search(r"\(([0-9.]+) MB/sec\)", l).group(1)
    p99 = re.search(r"([0-9.]+) ms 99th", l).group(1)
    print(rps, mbs, p99)


def cperf(path):
    # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
    # nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
    text = open(path).read()
    rows = [l.split(",") for l in text.splitlines() if re.match(r"^\d{4}-\d\d-\d\d", l)]
    rows = [[c.strip() for c in r] for r in rows if len(r) >= 10]
    if not rows:
        sys.exit(f"report.py cperf: no ConsumerPerformance result in {path}:\n{text[-2000:]}")
    r = rows[-1]
    print(r[2], r[8], r[9])


def fmt(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def load(path):
    lines = []
    with open(path) as f:
        for n, l in enumerate(f, 1):
            if l.strip():
                try:
                    lines.append(json.loads(l))
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{n}: {e}")
    return lines


def ordered(items):
    seen = []
    for i in items:
        if i not in seen:
            seen.append(i)
    return seen


class Table:
    """One scenario: system -> metric -> values over the rounds."""

    def __init__(self, group, scenario):
        self.group, self.scenario = group, scenario
        self.systems, self.metrics, self.values = [], [], {}

    def add(self, system, m):
        if system not in self.systems:
            self.systems.append(system)
        for k, v in m.items():
            if k not in self.metrics:
                self.metrics.append(k)
            self.values.setdefault((system, k), []).append(v)

    def median(self, system, metric):
        v = self.values.get((system, metric))
        return statistics.median(v) if v else None

    def ratio(self, metric, peer):
        a, b = self.median(self.systems[0], metric), self.median(peer, metric)
        if a is None or not b:
            return None
        return a / b


def tables(lines):
    ts = {}
    for l in lines:
        key = (l["group"], l["scenario"])
        if key not in ts:
            ts[key] = Table(*key)
        ts[key].add(l["system"], l["m"])
    return list(ts.values())


def limit_of(t, limits):
    """The machine limit a broker scenario's MB/s is compared with."""
    if not limits:
        return None, ""
    tcp = limits.median("machine", "tcp_mb_per_s")
    if t.group in ("produce", "perf", "o1"):
        disk = limits.median("machine", "disk_write_mb_per_s")
        vals = [v for v in (tcp, disk) if v]
        return (min(vals), "the lower of loopback TCP and fdatasync'd disk write") if vals else (None, "")
    if t.group == "consume":
        cache = limits.median("machine", "cache_read_mb_per_s")
        vals = [v for v in (tcp, cache) if v]
        return (min(vals), "the lower of loopback TCP and page-cache read") if vals else (None, "")
    return None, ""


def render_table(t, limits):
    out = [f"### {t.scenario}", ""]
    peers = t.systems[1:]
    head = ["measure"] + [f"{s}: median (min-max)" for s in t.systems] + [f"{t.systems[0]} / {p}" for p in peers]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for k in t.metrics:
        label, better = METRICS.get(k, (k, ""))
        if better in ("higher", "lower"):
            label += f" ({better} is better)"
        row = [label]
        for s in t.systems:
            v = t.values.get((s, k))
            row.append(f"{fmt(statistics.median(v))} ({fmt(min(v))}-{fmt(max(v))})" if v else "")
        for p in peers:
            r = t.ratio(k, p)
            row.append(f"{r:.2f}x" if r is not None else "")
        out.append("| " + " | ".join(row) + " |")
    lim, what = limit_of(t, limits)
    if lim and "mb_per_s" in t.metrics:
        row = [f"% of limit ({what}: {fmt(lim)} MB/s)"]
        for s in t.systems:
            m = t.median(s, "mb_per_s")
            row.append(f"{100 * m / lim:.0f}%" if m is not None else "")
        row += [""] * len(peers)
        out.append("| " + " | ".join(row) + " |")
    rounds = max(len(v) for v in t.values.values())
    out += ["", f"{rounds} round(s)." + (" " + NOTES[t.group] if t.group in NOTES else ""), ""]
    return out


def goals(ts):
    """The issue's goals, against what was measured (never faked)."""
    out = ["## Goals", "", "| goal | measured | met |", "|---|---|---|"]

    def summary(rs):
        rs = sorted(rs)
        return f"median {statistics.median(rs):.2f}x, range {rs[0]:.2f}x-{rs[-1]:.2f}x over {len(rs)} scenario(s)"

    def ratios(groups, metric):
        rs = []
        for t in ts:
            if t.group in groups and len(t.systems) > 1 and t.systems[1] == "kafka":
                r = t.ratio(metric, "kafka")
                if r is not None:
                    rs.append(r)
        return rs

    def row(goal, rs, ok):
        if not rs:
            out.append(f"| {goal} | not measured | |")
            return
        met = sum(1 for r in rs if ok(r))
        out.append(f"| {goal} | {summary(rs)} | {met} of {len(rs)} |")

    row("producer throughput at least 2x Kafka's (records/s, same tool and settings)",
        ratios({"produce", "perf"}, "records_per_s"), lambda r: r >= 2)
    row("p99 end-to-end latency at most a third of Kafka's", ratios({"latency"}, "p99_ms"), lambda r: r <= 1 / 3)
    row("broker CPU seconds per GB at most half of Kafka's",
        ratios({"produce", "perf", "consume"}, "cpu_s_per_gb"), lambda r: r <= 0.5)
    row("broker peak RSS at most a quarter of Kafka's",
        ratios({"produce", "perf", "consume", "latency", "startup"}, "peak_rss_mb"), lambda r: r <= 0.25)
    rs = []
    for t in ts:
        if t.group == "loader" and t.systems and "records_per_cpu_s" in t.metrics:
            rs += [t.ratio("records_per_cpu_s", p) for p in t.systems[1:] if t.ratio("records_per_cpu_s", p)]
    row("loader at least 5x Spark's records per CPU-second", rs, lambda r: r >= 5)
    out.append("")
    return out


def render(a):
    lines = load(a.jsonl)
    # records per CPU-second, where the loader reported CPU per million
    for l in lines:
        c = l["m"].get("cpu_s_per_million")
        if c:
            l["m"]["records_per_cpu_s"] = 1e6 / c
    ts = tables(lines)
    limits = next((t for t in ts if t.group == "limits"), None)
    mem = ""
    with open("/proc/meminfo") as f:
        for l in f:
            if l.startswith("MemTotal:"):
                mem = f"{int(l.split()[1]) / 2**20:.1f} GiB"
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    out = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.sh, bench/report.py); do not edit by hand:"
        " the analysis at the end comes from bench/ANALYSIS.md.",
        "",
        f"- date: {a.started}" + (" (SMOKE RUN: tiny sizes, one round; not a measurement)" if a.smoke == "1" else ""),
        f"- git commit: {a.commit}",
        f"- machine: {os.cpu_count()} cores ({cpu}), {mem} memory, disk {a.disk}",
        f"- peers: Apache Kafka {a.kafka} (KRaft, one node, default settings, 1 GiB heap, same disk);"
        " Spark as bench/loader.sh says",
        f"- rounds: {a.rounds}, alternating: every round runs each scenario against each system in turn",
        f"- load average (1, 5, 15 min) before: {a.loadavg_before}; after: {a.loadavg_after}",
        "",
        "Each cell is the median over the rounds, with the lowest and highest in brackets;"
        " the ratio column divides Sluice's median by the peer's. Broker CPU is the broker"
        " process's user+system time during the run (from /proc/PID/stat), per GiB of record"
        " values moved; peak RSS is the broker's VmHWM during the run (reset before it).",
        "",
    ]
    out += goals(ts)
    for t in ts:
        out += render_table(t, limits)
    if a.analysis and os.path.exists(a.analysis):
        out += ["## What the profiles show", "", open(a.analysis).read().strip(), ""]
    with open(a.results, "w") as f:
        f.write("\n".join(out))


# group -> (scenarios, systems per scenario, metrics every line of the group has)
EXPECTED = {
    "limits": (1, 1, set()),
    "produce": (16, 2, {"records_per_s", "mb_per_s", "cpu_s_per_gb", "peak_rss_mb"}),
    "perf": (2, 2, {"records_per_s", "mb_per_s", "p99_ms", "cpu_s_per_gb", "peak_rss_mb"}),
    "consume": (2, 2, {"records_per_s", "mb_per_s", "cpu_s_per_gb", "peak_rss_mb"}),
    "latency": (1, 2, {"p50_ms", "p99_ms", "p999_ms", "max_ms"}),
    "o1": (1, 2, {"records_per_s", "cpu_s_per_gb"}),
    "startup": (2, 2, {"seconds", "peak_rss_mb"}),
    "loader": (2, 3, {"records_per_s", "cpu_s_per_million", "rows"}),
    "cluster": (3, 2, {"records_per_s", "mb_per_s", "cpu_s_per_gb", "peak_rss_mb", "vs_single"}),
    "failover": (1, 2, {"failover_ms", "records_lost", "records_duplicated"}),
}


def get(path, group, scenario, system, rnd, metric):
    for l in load(path):
        if (l["group"], l["scenario"], l["system"], l["round"]) == (group, scenario, system, int(rnd)):
            v = l["m"].get(metric)
            if v is not None:
                print(v)
                return


def check(path):
    """Fails unless every group ran every scenario on every system with every measure."""
    lines = load(path)
    bad = []
    limits = {k for l in lines if l["group"] == "limits" for k in l["m"]}
    if limits != {"disk_write_mb_per_s", "cache_read_mb_per_s", "tcp_mb_per_s"}:
        bad.append(f"limits: measured {sorted(limits)}")
    for g, (n, nsys, metrics) in EXPECTED.items():
        ts = [t for t in tables(lines) if t.group == g]
        if len(ts) != n:
            bad.append(f"{g}: {len(ts)} scenario(s), want {n}")
        for t in ts:
            if len(t.systems) != nsys:
                bad.append(f"{t.scenario}: systems {t.systems}, want {nsys}")
        for l in lines:
            if l["group"] == g and not metrics <= set(l["m"]):
                bad.append(f"{l['scenario']}, {l['system']}: missing {sorted(metrics - set(l['m']))}")
    if bad:
        sys.exit("report.py check: " + path + ":\n  " + "\n  ".join(bad))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "emit":
        if len(rest) < 5:
            sys.exit("usage: report.py emit OUT GROUP SCENARIO SYSTEM ROUND KEY=VALUE...")
        emit(rest)
    elif cmd == "perf" and len(rest) == 1:
        perf(rest[0])
    elif cmd == "get" and len(rest) == 6:
        get(*rest)
    elif cmd == "check" and len(rest) == 1:
        check(rest[0])
    elif cmd == "cperf" and len(rest) == 1:
        cperf(rest[0])
    elif cmd == "render":
        p = argparse.ArgumentParser(prog="report.py render")
        p.add_argument("jsonl")
        p.add_argument("results")
        for o in ("started", "commit", "rounds", "smoke", "kafka", "loadavg-before", "loadavg-after", "disk"):
            p.add_argument("--" + o, default="")
        p.add_argument("--analysis")
        render(p.parse_args(rest))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
