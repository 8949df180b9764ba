-- Top pages per hour: the 3 most viewed paths of every hour of event time
-- (the dt=/hr= partitions), with distinct sessions and median time on page.
-- `pageviews` is the Hive table of <lake>/pageviews/_hive/table.sql, which
-- examples/activity/query.py --engine spark creates.
SELECT dt, hr, path, views, sessions, median_seconds
FROM (
  SELECT dt, hr, path, count(*) AS views, count(DISTINCT session_id) AS sessions,
         round(median(duration_ms) / 1000, 1) AS median_seconds,
         row_number() OVER (PARTITION BY dt, hr ORDER BY count(*) DESC, path) AS n
  FROM pageviews
  GROUP BY dt, hr, path
)
WHERE n <= 3
ORDER BY dt, hr, views DESC, path;
