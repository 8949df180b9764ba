"""Run the activity example's queries over a landed lake and print each result.

    query.py [--lake DIR] [--engine duckdb|spark] [--json FILE] [NAME ...]

The queries are the .sql files in queries/duckdb/ or queries/spark/ beside
this file, run in name order (NAME picks some: "late" runs 3-late-events.sql).

duckdb: each query reads the Parquet files itself, read_parquet over
  <lake>/pageviews/dt=*/hr=*/*.parquet (and searches); ${LAKE} in the SQL is
  replaced with the lake folder.
spark:  Spark in local mode; the queries read the tables `pageviews` and
  `searches`. With --spark-tables hive (the default) they are Hive tables
  in a throwaway metastore (Derby, in a temporary working folder): the
  CREATE EXTERNAL TABLE the loader generated in <lake>/pageviews/_hive/
  table.sql (and searches), then MSCK REPAIR TABLE, which adds every
  dt=/hr= folder as a partition at once (table.sql's ADD IF NOT EXISTS
  PARTITION lines do the same one by one, slower). With --spark-tables
  views they are temporary views over the folders (Spark's own partition
  discovery, which skips _errors/, _tmp/ and _hive/): no metastore, a faster
  start.

--json FILE also writes the results as {name: {"columns": [...], "rows":
[[...]]}} (dates as YYYY-MM-DD, decimals as floats), which e2e/activity
checks. Times are shown in UTC.
"""
import argparse
import datetime
import decimal
import json
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TABLES = ("pageviews", "searches")


def queries(engine, names):
    folder = os.path.join(HERE, "queries", engine)
    out = []
    for f in sorted(os.listdir(folder)):
        if f.endswith(".sql") and (not names or any(n in f for n in names)):
            with open(os.path.join(folder, f)) as fh:
                out.append((f[: -len(".sql")], os.path.join(folder, f), fh.read()))
    if not out:
        sys.exit(f"query.py: no query in {folder} matches {' '.join(names)}")
    return out


def title(sql):
    """The first comment line up to its colon or full stop: "Top pages per hour"."""
    for line in sql.splitlines():
        if line.startswith("--"):
            return re.split(r"[:.]", line[2:].strip(), maxsplit=1)[0]
    return ""


def plain(v):
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def statements(text):
    return [s.strip().rstrip(";").strip() for s in text.split(";\n") if s.strip().rstrip(";").strip()]


def run_duckdb(lake, qs):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    results = []
    for name, path, sql in qs:
        cur = con.execute(sql.replace("${LAKE}", lake))
        results.append((name, path, [d[0] for d in cur.description], cur.fetchall()))
    return results


def run_spark(lake, qs, tables):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("TZ", "UTC")
    ddl = {}
    for t in TABLES if tables == "hive" else ():
        p = os.path.join(lake, t, "_hive", "table.sql")
        if not os.path.exists(p):
            sys.exit(f"query.py: {p} missing: land the {t} pipeline first (sluice load)")
        with open(p) as fh:
            ddl[t] = [s for s in statements(fh.read()) if s.upper().startswith("CREATE ")]
    from pyspark.sql import SparkSession

    # Derby's metastore_db, derby.log and spark-warehouse go to the working
    # folder: a temporary one, removed afterwards.
    work = tempfile.mkdtemp(prefix="sluice-activity-spark.")
    cwd = os.getcwd()
    os.chdir(work)
    spark = None
    try:
        builder = (
            SparkSession.builder.master("local[2]")
            .appName("sluice-activity-queries")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.sql.session.timeZone", "UTC")
            # dt and hr stay strings, as in the Hive DDL (and in DuckDB with
            # hive_types_autocast = false)
            .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
            .config("spark.sql.warehouse.dir", os.path.join(work, "spark-warehouse"))
            .config("spark.driver.host", "127.0.0.1")
        )
        if tables == "hive":
            builder = builder.enableHiveSupport()
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        for t in TABLES:
            if tables == "hive":
                for s in ddl[t]:
                    spark.sql(s)
                spark.sql(f"MSCK REPAIR TABLE {t}")
            else:
                spark.read.parquet(os.path.join(lake, t)).createOrReplaceTempView(t)
        results = []
        for name, path, sql in qs:
            df = spark.sql(sql.strip().rstrip(";"))
            results.append((name, path, df.columns, [tuple(r) for r in df.collect()]))
        return results
    finally:
        if spark is not None:
            spark.stop()
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def fmt(v):
    if v is None:
        return "NULL"
    if isinstance(v, (float, decimal.Decimal)):
        return f"{v:,}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(plain(v))


def table(columns, rows):
    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[i], (int, float, decimal.Decimal)) or r[i] is None for r in rows) for i in range(len(columns))]

    def line(vals):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(vals, widths, numeric)).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lake", default="./data/lake", help="the folder holding pageviews/ and searches/ (default ./data/lake, SLUICE_LAKE's default)")
    ap.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    ap.add_argument("--spark-tables", choices=("hive", "views"), default="hive", help="with --engine spark: Hive tables from the generated DDL (default) or temporary views")
    ap.add_argument("--json", metavar="FILE", help="also write the results to FILE as JSON")
    ap.add_argument("names", nargs="*", metavar="NAME", help="run only the queries whose file name contains NAME")
    a = ap.parse_args()
    lake = os.path.abspath(a.lake)
    for t in TABLES:
        if not os.path.isdir(os.path.join(lake, t)):
            sys.exit(f"query.py: {os.path.join(lake, t)} missing: land the pipelines in examples/activity/pipelines first")
    qs = queries(a.engine, a.names)
    if a.engine == "duckdb":
        results = run_duckdb(lake, qs)
    else:
        results = run_spark(lake, qs, a.spark_tables)
    out = {}
    for name, path, columns, rows in results:
        print(f"== {title(qs[[q[0] for q in qs].index(name)][2])} ({os.path.relpath(path)}, {a.engine})")
        print(table(columns, rows))
        print()
        out[name] = {"columns": list(columns), "rows": [[plain(v) for v in r] for r in rows]}
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
