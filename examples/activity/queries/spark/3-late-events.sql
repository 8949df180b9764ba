-- Late events: how many events arrived more than an hour after they
-- happened, i.e. event_time (the client's clock) is more than 1 hour behind
-- _timestamp (the Kafka record time, when the producer sent it). The loader
-- folders rows by event_time, so these landed in hours that had already
-- passed.
SELECT topic, count(*) AS events,
       count(*) FILTER (WHERE event_time < _timestamp - INTERVAL 1 HOUR) AS late,
       round(100 * count(*) FILTER (WHERE event_time < _timestamp - INTERVAL 1 HOUR) / count(*), 2) AS late_pct,
       round(max(unix_micros(_timestamp) - unix_micros(event_time)) / 3600e6, 1) AS max_hours_behind
FROM (
  SELECT 'pageviews' AS topic, event_time, _timestamp FROM pageviews
  UNION ALL
  SELECT 'searches', event_time, _timestamp FROM searches
)
GROUP BY topic
ORDER BY topic;
