#!/usr/bin/env bash
# Formats e2e: write Parquet files of every column type through package
# formats (JSON, CSV, Avro, raw decoders; every codec; nulls everywhere),
# then check every value with pyarrow and DuckDB, and run the generated
# Hive DDL + ADD PARTITION statements and a query in Spark 4 (local mode,
# Hive support, embedded Derby in a temp working folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PY=${PY:-$repo/.venv/bin/python}
source "$repo/e2e/lib/procs.sh"
e2e_init formats # $work

cd "$repo"
go run ./e2e/formats/gen -out "$work/data"
"$PY" "$here/check.py" "$work/data" readers

mkdir "$work/spark"
t0=$(date +%s)
(cd "$work/spark" && TZ=UTC SPARK_LOCAL_IP=127.0.0.1 "$PY" "$here/check.py" "$work/data" spark)
echo "formats e2e: pyarrow, DuckDB and Spark agree with every value ($(( $(date +%s) - t0 )) s in Spark)"
