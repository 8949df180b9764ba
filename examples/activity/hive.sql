-- Hive DDL for the activity example's two tables, as the loader generates
-- it: copied from <lake>/pageviews/_hive/table.sql and
-- <lake>/searches/_hive/table.sql after `sluice load` (e2e/activity checks
-- that they still match). Run it in Hive, or in Spark with Hive support.
--
-- LOCATION is a placeholder: the loader writes the sink's absolute URL there
-- (file:///.../lake/pageviews for a local folder, hdfs://namenode:8020/...
-- for HDFS). Partition columns dt and hr are the dt=YYYY-MM-DD/hr=HH
-- folders; table.sql goes on with one line per hour folder the loader
-- created, e.g.
--   ALTER TABLE `default`.`pageviews` ADD IF NOT EXISTS PARTITION (`dt`='2025-06-01', `hr`='08') LOCATION '.../lake/pageviews/dt=2025-06-01/hr=08';
-- MSCK REPAIR TABLE (below) adds every hour folder at once instead.

CREATE EXTERNAL TABLE IF NOT EXISTS `default`.`pageviews` (
  `event_id` STRING,
  `event_time` TIMESTAMP,
  `session_id` STRING,
  `user_id` BIGINT,
  `url` STRING,
  `path` STRING,
  `referrer` STRING,
  `country` STRING,
  `device` STRING,
  `duration_ms` INT,
  `_topic` STRING,
  `_partition` INT,
  `_offset` BIGINT,
  `_timestamp` TIMESTAMP
)
PARTITIONED BY (`dt` STRING, `hr` STRING)
STORED AS PARQUET
LOCATION 'file:///path/to/lake/pageviews';

MSCK REPAIR TABLE `default`.`pageviews`;

CREATE EXTERNAL TABLE IF NOT EXISTS `default`.`searches` (
  `event_time` TIMESTAMP,
  `search_id` STRING,
  `session_id` STRING,
  `user_id` BIGINT,
  `country` STRING,
  `device` STRING,
  `query` STRING,
  `results` INT,
  `clicked_position` INT,
  `_topic` STRING,
  `_partition` INT,
  `_offset` BIGINT,
  `_timestamp` TIMESTAMP
)
PARTITIONED BY (`dt` STRING, `hr` STRING)
STORED AS PARQUET
LOCATION 'file:///path/to/lake/searches';

MSCK REPAIR TABLE `default`.`searches`;
