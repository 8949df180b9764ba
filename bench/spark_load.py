"""Spark's side of the loader benchmark (bench/loader.sh): land a Kafka topic
of e2e/loader/gen's JSON activity events as snappy Parquet in dt=/hr=
folders, the way the `sluice load` pipeline of bench/loader.sh does.

    spark_load.py prefetch --jars-file FILE --ivy DIR
    spark_load.py batch  --jars-file FILE --bootstrap HOST:PORT --topic T
                         --starting JSON --ending JSON --out DIR --work DIR --cores N
    spark_load.py stream (the same, without --ending)

prefetch resolves org.apache.spark:spark-sql-kafka-0-10 of this pyspark's
version from Maven Central (Ivy, into --ivy) and writes the resolved jar
paths, one a line, to --jars-file; batch and stream put exactly those jars
on the classpath (spark.jars), so a measured run resolves nothing.

batch reads the explicit per-partition offset range (Kafka's offset JSON,
{"topic":{"0":0,...}}) as one DataFrame; stream reads from --starting with
trigger(availableNow=True) and a checkpoint in --work. Both parse the value
with from_json and an explicit schema, derive dt (yyyy-MM-dd) and hr (HH)
from event_time (epoch ms) in UTC, keep the Kafka coordinates as _topic,
_partition, _offset and _timestamp (the sluice pipeline's meta columns), and
write partitionBy("dt", "hr") Parquet with snappy.

At the end the JVM is stopped and waited for, so the CPU time and peak RSS
that /usr/bin/time reports for this process include the JVM's.
"""
import argparse
import os
import sys

import pyspark
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

SCHEMA = StructType(
    [
        StructField("user_id", LongType()),
        StructField("session_id", StringType()),
        StructField("event", StringType()),
        StructField("page", StringType()),
        StructField("referrer", StringType()),
        StructField("country", StringType()),
        StructField("duration_ms", LongType()),
        StructField("amount", DoubleType()),
        StructField("mobile", BooleanType()),
        StructField("event_time", LongType()),
    ]
)

KAFKA_PACKAGE = f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"


def session(cores: int, work: str, extra: dict) -> SparkSession:
    """A local[cores] session whose scratch files all stay under work."""
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp, exist_ok=True)
    b = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("sluice-bench-loader")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={tmp}")
        .config("spark.local.dir", tmp)
        .config("spark.sql.warehouse.dir", os.path.join(work, "warehouse"))
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.compression.codec", "snappy")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    )
    for k, v in extra.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stop(spark: SparkSession) -> None:
    """Stops Spark and waits for its JVM (a child of this process) to exit."""
    gw = spark.sparkContext._gateway
    spark.stop()
    proc = getattr(gw, "proc", None)
    gw.shutdown()
    if proc is not None:
        if proc.stdin:
            proc.stdin.close()  # the JVM exits when its stdin closes
        proc.wait(timeout=120)


def transform(df):
    """Kafka rows -> the event columns, meta columns, dt and hr."""
    ev = F.from_json(F.col("value").cast("string"), SCHEMA)
    ts = F.timestamp_millis(F.col("e.event_time"))
    return (
        df.select(
            ev.alias("e"),
            F.col("topic").alias("_topic"),
            F.col("partition").alias("_partition"),
            F.col("offset").alias("_offset"),
            F.col("timestamp").alias("_timestamp"),
        )
        .select(
            *[F.col("e." + f.name).alias(f.name) for f in SCHEMA.fields if f.name != "event_time"],
            ts.alias("event_time"),
            "_topic",
            "_partition",
            "_offset",
            "_timestamp",
        )
        .withColumn("dt", F.date_format("event_time", "yyyy-MM-dd"))
        .withColumn("hr", F.date_format("event_time", "HH"))
    )


def prefetch(args) -> int:
    os.makedirs(args.ivy, exist_ok=True)
    work = os.path.join(args.ivy, "prefetch-work")
    spark = session(1, work, {"spark.jars.packages": KAFKA_PACKAGE, "spark.jars.ivy": args.ivy})
    jars = [j for j in spark.sparkContext.getConf().get("spark.jars", "").split(",") if j]
    stop(spark)
    paths = [j[len("file://"):] if j.startswith("file://") else j for j in jars]
    if not any("spark-sql-kafka" in p for p in paths):
        print(f"spark_load: resolving {KAFKA_PACKAGE} gave no Kafka jar: {paths}", file=sys.stderr)
        return 1
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        print(f"spark_load: resolved jars missing on disk: {missing}", file=sys.stderr)
        return 1
    with open(args.jars_file + ".tmp", "w") as f:
        f.write("\n".join(paths) + "\n")
    os.replace(args.jars_file + ".tmp", args.jars_file)
    print(f"spark_load: {KAFKA_PACKAGE} resolved, {len(paths)} jars listed in {args.jars_file}")
    return 0


def load(args) -> int:
    with open(args.jars_file) as f:
        jars = [line.strip() for line in f if line.strip()]
    spark = session(args.cores, args.work, {"spark.jars": ",".join(jars)})
    opts = {
        "kafka.bootstrap.servers": args.bootstrap,
        "subscribe": args.topic,
        "startingOffsets": args.starting,
        "failOnDataLoss": "true",
    }
    try:
        if args.mode == "batch":
            df = spark.read.format("kafka").options(**opts).option("endingOffsets", args.ending).load()
            transform(df).write.partitionBy("dt", "hr").mode("errorifexists").parquet(args.out)
        else:
            df = spark.readStream.format("kafka").options(**opts).load()
            q = (
                transform(df)
                .writeStream.format("parquet")
                .partitionBy("dt", "hr")
                .option("path", args.out)
                .option("checkpointLocation", os.path.join(args.work, "checkpoint"))
                .trigger(availableNow=True)
                .start()
            )
            q.awaitTermination()
            if q.exception() is not None:
                print(f"spark_load: {args.mode} failed: {q.exception()}", file=sys.stderr)
                return 1
    except Exception as e:  # (its text needs the JVM: print it before stopping)
        print(f"spark_load: {args.mode} failed: {e}", file=sys.stderr)
        return 1
    finally:
        stop(spark)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["prefetch", "batch", "stream"])
    p.add_argument("--jars-file", required=True, help="file listing the Kafka source's jars (written by prefetch)")
    p.add_argument("--ivy", help="prefetch: Ivy home to resolve into")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers")
    p.add_argument("--topic")
    p.add_argument("--starting", help='per-partition start offsets, {"topic":{"0":0,...}}')
    p.add_argument("--ending", help="batch: per-partition end offsets (exclusive)")
    p.add_argument("--out", help="output folder (must not exist)")
    p.add_argument("--work", help="scratch folder: temp files, warehouse, checkpoint")
    p.add_argument("--cores", type=int, default=1, help="local[N] and shuffle partitions")
    args = p.parse_args()
    if args.mode == "prefetch":
        if not args.ivy:
            p.error("prefetch needs --ivy")
        return prefetch(args)
    need = ["bootstrap", "topic", "starting", "out", "work"] + (["ending"] if args.mode == "batch" else [])
    missing = ["--" + n for n in need if not getattr(args, n)]
    if missing:
        p.error(f"{args.mode} needs {' '.join(missing)}")
    if args.cores < 1:
        p.error(f"--cores must be at least 1, got {args.cores}")
    return load(args)


if __name__ == "__main__":
    sys.exit(main())
