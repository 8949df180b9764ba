"""Check the Parquet files e2e/formats/gen wrote with independent readers.

    check.py DIR readers   # pyarrow and DuckDB: every value of every table
    check.py DIR spark     # Spark 4 + Hive: run DIR/events.sql, query the table

Expected values are DIR/expected.json (canonical forms: binary base64,
decimals as text, dates YYYY-MM-DD, timestamps as microseconds since the
epoch, maps as {"__map__": [[k, v], ...]}). Exit 0 when every value matches.
"""
import base64
import datetime as dt
import decimal
import json
import os
import sys

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def canon(v, want):
    """Render a reader's value in the canonical form of want's shape."""
    if v is None:
        return None
    if isinstance(want, dict) and "__map__" in want:
        if isinstance(v, dict):
            if set(v.keys()) == {"key", "value"} and isinstance(v["key"], list):
                pairs = list(zip(v["key"], v["value"]))
            else:
                pairs = list(v.items())
        else:
            pairs = [tuple(p) if not isinstance(p, dict) else (p["key"], p["value"]) for p in v]
        wp = dict((k, x) for k, x in want["__map__"])
        return {"__map__": sorted([[k, canon(x, wp.get(k))] for k, x in pairs], key=lambda p: p[0])}
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return (v - EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        w = want if isinstance(want, list) else []
        return [canon(x, w[i] if i < len(w) else None) for i, x in enumerate(v)]
    if hasattr(v, "asDict"):  # a Spark Row
        v = v.asDict()
    if isinstance(v, dict):
        w = want if isinstance(want, dict) else {}
        return {k: canon(x, w.get(k)) for k, x in v.items()}
    if isinstance(v, float) and isinstance(want, int) and not isinstance(want, bool):
        return v
    return v


def norm_want(want):
    if isinstance(want, dict) and "__map__" in want:
        return {"__map__": sorted([[k, norm_want(x)] for k, x in want["__map__"]], key=lambda p: p[0])}
    if isinstance(want, dict):
        return {k: norm_want(x) for k, x in want.items()}
    if isinstance(want, list):
        return [norm_want(x) for x in want]
    return want


def compare(reader, table, got_rows, want_rows, columns=None):
    """got_rows: list of dicts of reader values, any order."""
    errors = 0
    def off(r):
        return r["_offset"] if "_offset" in r else r["offset"]

    got_rows = sorted(got_rows, key=off)
    if len(got_rows) != len(want_rows):
        print(f"FAIL {reader} {table}: {len(got_rows)} rows, want {len(want_rows)}")
        return 1
    checked = 0
    for got, want in zip(got_rows, want_rows):
        for col, wv in want.items():
            if columns is not None and col not in columns:
                continue
            if col not in got:
                print(f"FAIL {reader} {table}: no column {col}")
                return 1
            g = canon(got[col], wv)
            w = norm_want(wv)
            if g != w:
                errors += 1
                if errors <= 10:
                    print(f"FAIL {reader} {table} offset={off(want)} {col}: got {g!r}, want {w!r}")
            checked += 1
    if errors:
        print(f"FAIL {reader} {table}: {errors} of {checked} values differ")
        return 1
    print(f"OK {reader} {table}: {len(want_rows)} rows, {checked} values match")
    return 0


def readers(root, expected):
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    bad = 0
    for table, want in expected.items():
        path = os.path.join(root, table)
        # Partition values are strings (as in the Hive DDL), not inferred ints.
        part = ds.partitioning(pa.schema([("dt", pa.string()), ("hr", pa.string())]), flavor="hive") if table == "events" else None
        t = ds.dataset(path, format="parquet", partitioning=part, ignore_prefixes=["_", "."]).to_table()
        bad += compare("pyarrow", table, t.to_pylist(), want)
        hive = "true, hive_types_autocast=false" if part else "false"
        rel = duckdb.sql(f"SELECT * FROM read_parquet('{path}/**/*.parquet', hive_partitioning={hive})")
        cols = rel.columns
        rows = [dict(zip(cols, r)) for r in rel.fetchall()]
        bad += compare("duckdb", table, rows, want)
    # Statistics the engines trust: null counts per column chunk must be right.
    nulls_checked = 0
    for dirpath, _, files in os.walk(os.path.join(root, "events")):
        for name in files:
            md = pq.ParquetFile(os.path.join(dirpath, name)).metadata
            t = pq.read_table(os.path.join(dirpath, name))
            for i in range(md.num_columns):
                col = md.row_group(0).column(i)
                if "." in col.path_in_schema or not col.is_stats_set:
                    continue
                want_nulls = t.column(col.path_in_schema).null_count
                if col.statistics.null_count != want_nulls:
                    print(f"FAIL statistics {name} {col.path_in_schema}: null_count {col.statistics.null_count}, want {want_nulls}")
                    bad += 1
                nulls_checked += 1
    print(f"OK statistics: {nulls_checked} column-chunk null counts match" if not bad else "FAIL readers")
    return bad


def spark(root, expected):
    from pyspark.sql import SparkSession

    with open(os.path.join(root, "events.sql")) as f:
        statements = [s.strip() for s in f.read().split(";\n") if s.strip()]
    s = (
        SparkSession.builder.master("local[2]")
        .appName("sluice-formats-e2e")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", os.path.abspath("spark-warehouse"))
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .enableHiveSupport()
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    for st in statements:
        s.sql(st)
    want = expected["events"]
    parts = s.sql("SHOW PARTITIONS sluice_e2e.events").count()
    n_parts = len({(r["dt"], r["hr"]) for r in want})
    bad = 0
    if parts != n_parts:
        print(f"FAIL spark: {parts} partitions, want {n_parts}")
        bad += 1
    rows = [r.asDict(recursive=True) for r in s.sql("SELECT * FROM sluice_e2e.events ORDER BY _offset").collect()]
    bad += compare("spark", "events", rows, want)
    # A query over the table: per-day counts and sums, against Python's.
    got = {r["dt"]: (r["n"], r["s"], r["k"]) for r in s.sql(
        "SELECT dt, count(*) AS n, sum(i64) AS s, count(_key) AS k FROM sluice_e2e.events "
        "WHERE dt >= '2024-05-01' GROUP BY dt").collect()}
    exp = {}
    for r in want:
        n, sm, k = exp.get(r["dt"], (0, 0, 0))
        exp[r["dt"]] = (n + 1, sm + r["i64"], k + (r["_key"] is not None))
    if got != exp:
        print(f"FAIL spark query: got {got}, want {exp}")
        bad += 1
    else:
        print(f"OK spark query: per-day counts and sums match over {parts} partitions")
    s.stop()
    return bad


def main():
    root, mode = sys.argv[1], sys.argv[2]
    with open(os.path.join(root, "expected.json")) as f:
        expected = json.load(f)
    bad = readers(root, expected) if mode == "readers" else spark(root, expected)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
