"""What a loader benchmark run landed (bench/loader.sh): rows and layout.

    landed.py DIR PARTS_FILE

Reads the footer of every Parquet file under DIR, skipping paths with a
component that starts with "_" or "." (sluice's _tmp/, Spark's
_spark_metadata/ and _SUCCESS, hidden checksum files). Prints the total row
count on stdout and writes the sorted set of partition folders that hold
data ("dt=2025-11-25/hr=10", one a line) to PARTS_FILE. Exits 1, naming the
file, if a column chunk is not snappy-compressed or a file sits outside a
dt=/hr= folder.
"""
import os
import sys

import pyarrow.parquet as pq


def main() -> int:
    root, parts_file = sys.argv[1], sys.argv[2]
    rows, parts, files = 0, set(), 0
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(("_", "."))]
        for name in names:
            if name.startswith(("_", ".")) or not name.endswith(".parquet"):
                continue
            path = os.path.join(d, name)
            rel = os.path.relpath(d, root)
            comps = rel.split(os.sep)
            if len(comps) != 2 or not comps[0].startswith("dt=") or not comps[1].startswith("hr="):
                print(f"landed: {path}: not in a dt=/hr= folder", file=sys.stderr)
                return 1
            md = pq.ParquetFile(path).metadata
            for g in range(md.num_row_groups):
                rg = md.row_group(g)
                for c in range(rg.num_columns):
                    codec = rg.column(c).compression
                    if codec != "SNAPPY":
                        print(f"landed: {path}: column {rg.column(c).path_in_schema} is {codec}, want SNAPPY", file=sys.stderr)
                        return 1
            files += 1
            if md.num_rows:
                rows += md.num_rows
                parts.add("/".join(comps))
    with open(parts_file, "w") as f:
        f.writelines(p + "\n" for p in sorted(parts))
    print(rows, files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
