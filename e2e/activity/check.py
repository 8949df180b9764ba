"""Check the activity example's landed lake and query results.

    check.py SUMMARY LAKE HIVE_SQL DUCKDB_JSON [SPARK_JSON]

SUMMARY is the generator's one-line JSON, LAKE the folder holding
pageviews/ and searches/, HIVE_SQL examples/activity/hive.sql, and the JSON
files what examples/activity/query.py --json wrote for each engine. Prints
one line per check and "activity: N passed, N failed"; exits 1 on any
failure.
"""
import json
import math
import os
import re
import sys

import duckdb

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}")
    else:
        failed += 1
        print(f"FAIL  {name}: {detail}")


def rows_by(result):
    cols = result["columns"]
    return [dict(zip(cols, r)) for r in result["rows"]]


QUERIES = ("1-top-pages-per-hour", "2-searches-per-country", "3-late-events")


def check_results(engine, res, s):
    missing = [q for q in QUERIES if q not in res]
    check(f"{engine}: every query ran", not missing, f"no result for {missing}")
    if missing:
        return
    late = {r["topic"]: r for r in rows_by(res["3-late-events"])}
    for topic, n, n_late in (("pageviews", s["pageviews"], s["late_pageviews"]),
                             ("searches", s["searches"], s["late_searches"])):
        r = late.get(topic, {})
        check(f"{engine}: {topic} rows = generated", r.get("events") == n, f"{r.get('events')} rows, generator acknowledged {n}")
        check(f"{engine}: {topic} late (> 1 h behind _timestamp) = generated late", r.get("late") == n_late,
              f"query counts {r.get('late')}, generator made {n_late}")
        check(f"{engine}: {topic} lateness at most 6 h", r.get("max_hours_behind") is not None and 1 < r["max_hours_behind"] <= 6.0,
              f"max_hours_behind {r.get('max_hours_behind')}")

    by_country = {r["country"]: r["searches"] for r in rows_by(res["2-searches-per-country"])}
    check(f"{engine}: searches per country = generated", by_country == s["searches_by_country"],
          f"query {by_country}, generator {s['searches_by_country']}")
    bad = [r for r in rows_by(res["2-searches-per-country"])
           if not (0 < r["sessions"] <= r["searches"] and 0 <= r["zero_results_pct"] <= 100 and 0 <= r["clicked_pct"] <= 100)]
    check(f"{engine}: searches per country values in range", not bad, bad[:3])

    top = rows_by(res["1-top-pages-per-hour"])
    hours = {}
    for r in top:
        hours.setdefault((r["dt"], r["hr"]), []).append(r)
    check(f"{engine}: top pages cover every hour with page views", len(hours) == s["pageview_hours"],
          f"{len(hours)} hours in the result, page views fall in {s['pageview_hours']}")
    problems = []
    for h, rs in sorted(hours.items()):
        views = [r["views"] for r in rs]
        if not 1 <= len(rs) <= 3 or views != sorted(views, reverse=True) or min(views) < 1:
            problems.append(f"{h}: {len(rs)} rows, views {views}")
        for r in rs:
            if not r["path"].startswith("/") or not 0 < r["sessions"] <= r["views"] or r["median_seconds"] is None:
                problems.append(f"{h}: {r}")
    busiest = [rs for rs in hours.values() if rs[0]["views"] >= 100]
    check(f"{engine}: top pages non-empty, 1-3 per hour, by views", not problems, problems[:3])
    check(f"{engine}: busy hours have 3 top pages", busiest and all(len(rs) == 3 for rs in busiest), f"{len(busiest)} busy hours")


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def check_engines_agree(d, sp):
    for name in sorted(d):
        a, b = d[name], sp.get(name)
        diff = ""
        if b is None:
            diff = "missing in Spark's results"
        elif a["columns"] != b["columns"]:
            diff = f"columns {a['columns']} vs {b['columns']}"
        elif len(a["rows"]) != len(b["rows"]):
            diff = f"{len(a['rows'])} rows vs {len(b['rows'])}"
        else:
            for ra, rb in zip(a["rows"], b["rows"]):
                if len(ra) != len(rb) or not all(same(x, y) for x, y in zip(ra, rb)):
                    diff = f"DuckDB {ra} vs Spark {rb}"
                    break
        check(f"DuckDB and Spark agree on {name}", not diff, diff)


def check_lake(lake, s):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = lambda t: f"read_parquet('{lake}/{t}/dt=*/hr=*/*.parquet', hive_partitioning = true, hive_types_autocast = false)"
    for t, n, ident in (("pageviews", s["pageviews"], "event_id"), ("searches", s["searches"], "search_id")):
        total, offsets, ids, topics = con.execute(
            f"SELECT count(*), count(DISTINCT (_partition, _offset)), count(DISTINCT {ident}), count(DISTINCT _topic) FROM {glob(t)}").fetchone()
        check(f"lake: {t} exactly once", total == n and offsets == n and ids == n and topics == 1,
              f"{total} rows, {offsets} distinct offsets, {ids} distinct {ident}, {topics} topics; want {n}")
        check(f"lake: {t} has no dead letters", not os.path.exists(os.path.join(lake, t, "_errors")),
              os.listdir(os.path.join(lake, t)))
        split = con.execute(f"SELECT count(*) FROM (SELECT session_id FROM {glob(t)} GROUP BY session_id HAVING count(DISTINCT _partition) > 1)").fetchone()[0]
        check(f"lake: {t} keyed by session (one Kafka partition per session)", split == 0, f"{split} sessions span partitions")
        wrong = con.execute(f"SELECT count(*) FROM {glob(t)} WHERE strftime(event_time, '%Y-%m-%d') <> CAST(dt AS VARCHAR) OR strftime(event_time, '%H') <> hr").fetchone()[0]
        check(f"lake: {t} rows in their event time's dt=/hr= folder", wrong == 0, f"{wrong} rows elsewhere")
        anon = con.execute(f"SELECT count(*) FILTER (WHERE user_id IS NULL), count(*) FILTER (WHERE user_id IS NOT NULL) FROM {glob(t)}").fetchone()
        check(f"lake: {t} has anonymous (null user_id) and known users", anon[0] > 0 and anon[1] > 0, anon)
    quoted, no_click = con.execute(
        f"SELECT count(*) FILTER (WHERE query LIKE '%,%' OR query LIKE '%\"%'), count(*) FILTER (WHERE clicked_position IS NULL) FROM {glob('searches')}").fetchone()
    check("lake: CSV searches kept quoted commas and quotes, and nulls", quoted > 0 and no_click > 0, (quoted, no_click))
    direct = con.execute(f"SELECT count(*) FILTER (WHERE referrer IS NULL), count(DISTINCT country), count(DISTINCT device) FROM {glob('pageviews')}").fetchone()
    check("lake: page views have direct traffic, countries and devices", direct[0] > 0 and direct[1] >= 8 and direct[2] == 3, direct)
    success = [d for d, _, fs in os.walk(os.path.join(lake, "pageviews")) if "_SUCCESS" in fs]
    check("lake: some hours are marked _SUCCESS", len(success) > 0, "none")


def creates(text):
    """CREATE statements of a DDL text, comments dropped, LOCATION blanked."""
    text = "\n".join(l for l in text.splitlines() if not l.startswith("--"))
    out = [s.strip() for s in text.split(";") if s.strip().upper().startswith("CREATE ")]
    return [re.sub(r"LOCATION '[^']*'", "LOCATION ''", s) for s in out]


def check_ddl(lake, hive_sql):
    with open(hive_sql) as f:
        checked_in = creates(f.read())
    generated = []
    for t in ("pageviews", "searches"):
        with open(os.path.join(lake, t, "_hive", "table.sql")) as f:
            generated += creates(f.read())
    check("examples/activity/hive.sql = the DDL the loader generated", checked_in == generated,
          "regenerate it: the loader's _hive/table.sql differs:\n" + "\n".join(generated))


def main():
    summary, lake, hive_sql, duck = sys.argv[1:5]
    spark = sys.argv[5] if len(sys.argv) > 5 else None
    with open(summary) as f:
        s = json.load(f)
    check("generator: every record acknowledged", s["failed"] == 0 and s["pageviews"] + s["searches"] > 0, s)
    check_lake(lake, s)
    check_ddl(lake, hive_sql)
    with open(duck) as f:
        d = json.load(f)
    check_results("DuckDB", d, s)
    if spark:
        with open(spark) as f:
            sp = json.load(f)
        check_results("Spark", sp, s)
        check_engines_agree(d, sp)
    print(f"activity: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
