"""Run the loader's generated Hive DDL in Spark 4 and count the table.

    spark_check.py TABLE_SQL EXPECTED_ROWS

Runs in the current folder (Derby metastore and warehouse go there),
executes every statement of TABLE_SQL (CREATE EXTERNAL TABLE ... LOCATION
'hdfs://...', then ALTER TABLE ... ADD IF NOT EXISTS PARTITION ...), and
checks that the table has EXPECTED_ROWS rows and as many distinct
(_partition, _offset) pairs. Exit 0 on success.
"""
import os
import re
import sys

from pyspark.sql import SparkSession


def main() -> int:
    ddl_path, expected = sys.argv[1], int(sys.argv[2])
    with open(ddl_path) as f:
        statements = [s.strip() for s in f.read().split(";\n") if s.strip()]
    create = statements[0]
    m = re.search(r"CREATE EXTERNAL TABLE IF NOT EXISTS (\S+)", create)
    if not m:
        print(f"FAIL: first statement is not a CREATE EXTERNAL TABLE: {create[:200]}")
        return 1
    table = m.group(1)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("sluice-loader-e2e")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.warehouse.dir", os.path.abspath("spark-warehouse"))
        .config("spark.driver.host", "127.0.0.1")
        .enableHiveSupport()
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    for s in statements:
        spark.sql(s)
    parts = spark.sql(f"SHOW PARTITIONS {table}").count()
    total, distinct = spark.sql(
        f"SELECT count(*), count(DISTINCT _partition, _offset) FROM {table}"
    ).first()
    spark.stop()
    if total != expected or distinct != expected:
        print(f"FAIL: Spark counts {total} rows, {distinct} distinct (_partition, _offset); want {expected}")
        return 1
    print(f"OK: Spark ran {len(statements)} statements; {table} has {parts} partitions, {total} rows, {distinct} distinct (_partition, _offset)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
