-- Searches per country: how many, from how many sessions, how often nothing
-- was found, and how often a result was clicked (clicked_position is null
-- when none was).
SELECT country, count(*) AS searches, count(DISTINCT session_id) AS sessions,
       round(100 * count(*) FILTER (WHERE results = 0) / count(*), 1) AS zero_results_pct,
       round(100 * count(clicked_position) / count(*), 1) AS clicked_pct
FROM read_parquet('${LAKE}/searches/dt=*/hr=*/*.parquet', hive_partitioning = true, hive_types_autocast = false)
GROUP BY country
ORDER BY searches DESC, country;
