"""Independent check of a loader sink: exactly-once and well-formed.

    verify.py ROOT EXPECTED_ROWS PARTITIONS [--quiet] [--check-only]

Reads the Hive-partitioned Parquet tree at ROOT (local path or hdfs://...)
with pyarrow (skipping _tmp, _errors, _hive, _SUCCESS) and checks, with
DuckDB over the same rows, that there are exactly EXPECTED_ROWS rows, as
many distinct (_partition, _offset) pairs, and that each partition's
offsets are contiguous from 0. Exit 0 when all hold, 1 otherwise (with
the reason), 2 when the sink is still incomplete and --check-only is set
(used to poll).
"""
import os
import sys

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quiet = "--quiet" in sys.argv
    check_only = "--check-only" in sys.argv
    root, expected, partitions = args[0], int(args[1]), int(args[2])
    filesystem, path = pafs.FileSystem.from_uri(root) if "://" in root else (pafs.LocalFileSystem(), os.path.abspath(root))
    # Leftovers of a crash must have been cleaned up by the final run.
    if not check_only:
        leftovers = []
        for info in filesystem.get_file_info(pafs.FileSelector(path + "/_tmp", allow_not_found=True, recursive=True)):
            if info.type == pafs.FileType.File and not info.path.endswith((".done", ".owner")):
                leftovers.append(info.path)
        if leftovers:
            print(f"FAIL: temporary files or unfinished intents left: {leftovers[:5]}")
            return 1
    try:
        dataset = ds.dataset(path, filesystem=filesystem, format="parquet", partitioning="hive", ignore_prefixes=["_", "."])
        table = dataset.to_table(columns=["_topic", "_partition", "_offset"])
    except FileNotFoundError:
        table = None
    rows = 0 if table is None else table.num_rows
    if rows < expected and check_only:
        if not quiet:
            print(f"incomplete: {rows} of {expected} rows")
        return 2
    if table is None:
        print("FAIL: no data files")
        return 1
    con = duckdb.connect()
    con.register("t", table)
    total, distinct = con.execute("SELECT count(*), count(DISTINCT (_partition, _offset)) FROM t").fetchone()
    per = con.execute(
        "SELECT _partition, count(*), min(_offset), max(_offset) FROM t GROUP BY 1 ORDER BY 1"
    ).fetchall()
    problems = []
    if total != expected:
        problems.append(f"{total} rows, want {expected}")
    if distinct != total:
        problems.append(f"{total - distinct} duplicate (_partition, _offset) pairs")
    if len(per) != partitions:
        problems.append(f"{len(per)} partitions landed, want {partitions}")
    for p, n, lo, hi in per:
        if lo != 0 or hi != n - 1:
            problems.append(f"partition {p}: {n} rows over offsets {lo}..{hi}: not contiguous from 0")
    if problems:
        if check_only and total < expected:
            return 2
        print("FAIL: " + "; ".join(problems))
        return 1
    if not quiet:
        print(f"OK: {total} rows, {distinct} distinct (_partition, _offset), {len(per)} partitions contiguous from offset 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
