-- Top pages per hour: the 3 most viewed paths of every hour of event time
-- (the dt=/hr= folders), with distinct sessions and median time on page.
-- Run by examples/activity/query.py, which replaces ${LAKE} with the lake
-- folder. The glob names the partition folders: **/*.parquet would also read
-- the dead letters in pageviews/_errors/. hive_types_autocast = false keeps
-- dt and hr strings ('2025-06-01', '08'), as in the Hive DDL; DuckDB would
-- otherwise guess their types from the values it finds.
SELECT dt, hr, path, count(*) AS views, count(DISTINCT session_id) AS sessions,
       round(median(duration_ms) / 1000, 1) AS median_seconds
FROM read_parquet('${LAKE}/pageviews/dt=*/hr=*/*.parquet', hive_partitioning = true, hive_types_autocast = false)
GROUP BY dt, hr, path
QUALIFY row_number() OVER (PARTITION BY dt, hr ORDER BY count(*) DESC, path) <= 3
ORDER BY dt, hr, views DESC, path;
