-- historical: point-in-time joins (SPEC 7), each expected value checked by hand
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS hist_driver_stats, hist_orders, hist_pairs, hist_customer, hist_daily, hist_small,
    hist_ts_a, hist_ts_b, hist_ts_c, hist_range, hist_range_b CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- driver rows (source column "id" is mapped to the join key, "conv" to conv_rate)
--   a: 01-01 00:00 created 01-01 00:00    b/c: 01-02 00:00, created 00:05 / 00:10 (tie: c wins)
--   d/e: 01-03 00:00, created NULL / 00:01 (tie: e wins, NULL is oldest)
--   f: 01-05 00:00 created 01-06 (a backfill)          g: driver 2, 01-02 12:00, created NULL
CREATE TABLE hist_driver_stats (id bigint, ts timestamptz, created timestamptz, conv real, trips int);
INSERT INTO hist_driver_stats VALUES
    (1, '2024-01-01 00:00', '2024-01-01 00:00', 0.10, 10),
    (1, '2024-01-02 00:00', '2024-01-02 00:10', 0.21, 21),
    (1, '2024-01-02 00:00', '2024-01-02 00:05', 0.20, 20),
    (1, '2024-01-03 00:00', '2024-01-03 00:01', 0.31, 31),
    (1, '2024-01-03 00:00', NULL, 0.30, 30),
    (1, '2024-01-05 00:00', '2024-01-06 00:00', 0.50, 50),
    (2, '2024-01-02 12:00', NULL, 0.60, 60);

SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('hist_driver_src', 'hist_driver_stats', 'ts', 'created',
                                '{"id": "driver_id", "conv": "conv_rate"}');
SELECT feast_apply_feature_view('driver_hourly', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int32"}]',
    'hist_driver_src', interval '1 day');
-- the same rows without a ttl
SELECT feast_apply_feature_view('driver_forever', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int64"}]',
    'hist_driver_src', NULL, online => false);
-- the same rows without a created column
SELECT feast_apply_batch_source('hist_driver_nocreated_src', 'hist_driver_stats', 'ts', NULL,
                                '{"id": "driver_id", "conv": "conv_rate"}');
SELECT feast_apply_feature_view('driver_nocreated', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}]', 'hist_driver_nocreated_src', online => false);

-- entity rows: extra columns before and after the key, a duplicate (rows 1 and 10)
CREATE TABLE hist_orders (order_id int, driver_id bigint, event_timestamp timestamptz, note text);
INSERT INTO hist_orders VALUES
    (1, 1, '2024-01-02 00:00', 'tie on event time'),
    (2, 1, '2024-01-01 23:59:59', 'only a'),
    (3, 1, '2024-01-04 00:00', 'lower ttl edge'),
    (4, 1, '2024-01-04 00:00:00.000001', 'just outside ttl'),
    (5, 1, '2024-01-03 00:00', 'upper edge'),
    (6, 1, '2024-01-02 23:59:59.999999', 'inside'),
    (7, 2, '2024-01-03 12:00', 'NULL created only'),
    (8, 3, '2024-01-03 00:00', 'unknown driver'),
    (9, 1, '2024-01-05 12:00', 'backfill'),
    (10, 1, '2024-01-02 00:00', 'duplicate of 1'),
    (11, 1, '2024-01-06 00:00', 'backfill seen');

-- expected conv_rate/trips: 1: .21/21  2: .10/10  3: .31/31  4: null  5: .31/31  6: .21/21
--   7: .60/60  8: null  9: .50/50  10: .21/21  11: .50/50
SELECT * FROM hist_orders LIMIT 0;
SELECT feast_create_training_set('hist_ts_a', 'hist_orders',
                                 ARRAY['driver_hourly:conv_rate', 'driver_hourly:trips']);
SELECT * FROM hist_ts_a;

-- filter_by_created_timestamp: also created <= T; NULL created never qualifies
-- 1: a (b, c created later) .10  2: .10  3: e .31  4: null  5: c .21 (e created 00:01 > T)
-- 6: .21  7: null (g has NULL created)  8: null  9: null (f created 01-06)  10: .10  11: .50
SELECT feast_create_training_set('hist_ts_b', 'hist_orders',
                                 ARRAY['driver_hourly:conv_rate', 'driver_hourly:trips'],
                                 filter_by_created_timestamp => true);
SELECT * FROM hist_ts_b;

-- no ttl: 1: 21  2: 10  3: 31  4: 31  5: 31  6: 21  7: 60  8: null  9: 50  10: 21  11: 50
-- full names, and features in the order asked (trips before conv_rate)
SELECT feast_create_training_set('hist_ts_c', 'hist_orders',
                                 ARRAY['driver_forever:trips', 'driver_hourly:conv_rate'],
                                 full_feature_names => true);
SELECT * FROM hist_ts_c;
-- the column types follow the dtypes (int64 -> bigint)
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'hist_ts_c'::regclass AND attnum > 0 ORDER BY attnum;

-- a tie on event time without a created column: one row per entity row, either value
-- (1: b or c; 5: d or e; 8: null)
SELECT feast_historical_features_sql(
    'SELECT order_id, driver_id, event_timestamp FROM hist_orders WHERE order_id IN (1, 5, 8);',
    '{driver_nocreated:conv_rate}') AS q \gset
SELECT order_id, conv_rate IN (0.20::real, 0.21::real) AS b_or_c, conv_rate IN (0.30::real, 0.31::real) AS d_or_e
  FROM (:q) t;

-- composite keys whose text forms collide: (1, 23) and (12, 3)
CREATE TABLE hist_pairs (a int, b int, ts timestamptz, val text);
INSERT INTO hist_pairs VALUES (1, 23, '2024-01-01', 'one-twentythree'), (12, 3, '2024-01-01', 'twelve-three');
SELECT feast_apply_entity('ent_a', 'a', 'int32');
SELECT feast_apply_entity('ent_b', 'b', 'int32');
SELECT feast_apply_batch_source('hist_pairs_src', 'hist_pairs', 'ts');
SELECT feast_apply_feature_view('pairs', '{ent_a, ent_b}', '[{"name": "val", "dtype": "string"}]',
                                'hist_pairs_src', online => false);
-- expected: one-twentythree, twelve-three, null, null (before the rows)
SELECT feast_historical_features_sql($$
    SELECT * FROM (VALUES (1, 23, timestamptz '2024-01-01 00:00'), (12, 3, '2024-01-02'),
                          (1, 3, '2024-01-02'), (12, 3, '2023-12-31')) AS v(a, b, event_timestamp)$$,
    '{pairs:val}') AS q \gset
:q;

-- several views at once, with different keys; a timestamp (UTC) source and a date source;
-- entity time in a timestamp column that is the only one (not named event_timestamp)
CREATE TABLE hist_customer (customer_id text, ts timestamp, spend float8);
INSERT INTO hist_customer VALUES ('c1', '2024-01-01 10:00', 5.5), ('c1', '2024-01-02 10:00', 7.5),
                                 ('c2', '2024-01-01 00:00', 1.0);
CREATE TABLE hist_daily (driver_id bigint, day date, rating float8);
INSERT INTO hist_daily VALUES (1, '2024-01-01', 4.1), (1, '2024-01-02', 4.2), (2, '2024-01-02', 3.9);
SELECT feast_apply_entity('customer', 'customer_id', 'string');
SELECT feast_apply_batch_source('hist_customer_src', 'hist_customer', 'ts');
SELECT feast_apply_feature_view('customer_spend', '{customer}', '[{"name": "spend", "dtype": "float64"}]',
                                'hist_customer_src', interval '12 hours', online => false);
SELECT feast_apply_batch_source('hist_daily_src', 'hist_daily', 'day');
SELECT feast_apply_feature_view('daily_rating', '{driver}', '[{"name": "rating", "dtype": "float64"}]',
                                'hist_daily_src', online => false);
-- row 1 (c1, driver 1, 01-02 10:00): spend 7.5 (exactly T), rating 4.2 (day 01-02 = 01-02 00:00 UTC),
--        conv_rate: c (.21)
-- row 2 (c1, driver 2, 01-02 09:59:59): spend null (01-01 10:00 is 12h + 1s before), rating 3.9,
--        conv_rate null (g at 01-02 12:00 is later)
-- row 3 (c2, driver 1, 01-01 12:00): spend 1.0 (exactly 12 h), rating 4.1, conv_rate .10
-- row 4 (c3, driver 9, 01-01 12:00): nothing
SELECT feast_historical_features_sql($$
    SELECT * FROM (VALUES ('c1', 1::bigint, timestamp '2024-01-02 10:00', 'x'),
                          ('c1', 2, '2024-01-02 09:59:59', 'y'),
                          ('c2', 1, '2024-01-01 12:00', 'z'),
                          ('c3', 9, '2024-01-01 12:00', 'w')) AS v(customer_id, driver_id, ts_local, tag)$$,
    '{customer_spend:spend, daily_rating:rating, driver_hourly:conv_rate}') AS q \gset
:q;

-- integer keys of another width in the source (smallint for an int64 entity) join by value
CREATE TABLE hist_small (driver_id smallint, ts timestamptz, v int);
INSERT INTO hist_small VALUES (1, '2024-01-01', 11), (-2, '2024-01-01', 22), (300, '2024-01-01', 33);
SELECT feast_apply_batch_source('hist_small_src', 'hist_small', 'ts');
SELECT feast_apply_feature_view('small_keys', '{driver}', '[{"name": "v", "dtype": "int32"}]',
                                'hist_small_src', online => false);
-- expected: 1 -> 11, -2 -> 22, 300 -> 33, 2 -> null
SELECT feast_historical_features_sql(
    $$SELECT * FROM (VALUES (1::bigint, timestamptz '2024-01-02'), (-2, '2024-01-02'), (300, '2024-01-02'),
                            (2, '2024-01-02')) AS v(driver_id, event_timestamp)$$, '{small_keys:v}') AS q \gset
:q;

-- a feature service, and an entity query with a trailing semicolon and its own order
SELECT feast_apply_feature_service('driver_svc', '{driver_hourly, daily_rating:rating}');
SELECT feast_historical_features_sql(
    'SELECT driver_id, event_timestamp FROM hist_orders WHERE order_id IN (3, 7, 2) ORDER BY order_id DESC;',
    feature_service => 'driver_svc') AS q \gset
-- expected: 7 (driver 2, 01-03 12:00): .60/60/3.9; 3 (01-04): .31/31/4.2; 2 (01-01 23:59:59): .10/10/4.1
:q;

-- the generated SQL is readable and runs under EXPLAIN
SELECT feast_historical_features_sql('hist_orders', '{driver_hourly:conv_rate}');
SELECT feast_historical_features_sql('hist_orders', '{driver_hourly:trips}') AS q \gset
EXPLAIN (COSTS OFF) :q;

-- entity-less mode: each distinct (driver, event time) of the rows in [start, end], answered as
-- of that time, in time order: in [01-02, 01-03 12:00]: driver 1 at 01-02 (c: .21/21, the tie's
-- winner), driver 2 at 01-02 12:00 (g: .60/60), driver 1 at 01-03 (e: .31/31)
SELECT feast_range_features_sql('2024-01-02', '2024-01-03 12:00', '{driver_forever:trips, driver_hourly:conv_rate}') AS q \gset
:q;
-- latest_only: every driver with rows in [start, end], and per view its latest row in
-- [start, end] (the ttl only sets the default start); event_timestamp is end_ts
-- driver 1 in [01-02, 01-03 12:00]: e (.31 / 31); driver 2: g (.60 / 60)
SELECT feast_range_features_sql('2024-01-02', '2024-01-03 12:00', '{driver_forever:trips, driver_hourly:conv_rate}',
                                latest_only => true) AS q \gset
:q ORDER BY driver_id;
-- start defaults to end - the longest ttl (1 day): [01-02 12:00, 01-03 12:00]: driver 2 at 01-02 12:00
-- (inclusive): g; driver 1 at 01-03: e; latest_only: the same rows at end_ts
SELECT feast_range_features_sql(end_ts => '2024-01-03 12:00', features => '{driver_hourly:trips}') AS q \gset
:q;
SELECT feast_range_features_sql(end_ts => '2024-01-03 12:00', features => '{driver_hourly:trips}',
                                latest_only => true) AS q \gset
:q ORDER BY driver_id;
-- a window longer than the ttl: [01-01, 01-04 12:00]: every row, each at its time (a; c; g; e);
-- latest_only: driver 1: e (31, 01-03); driver 2: g (60), although g (01-02 12:00) is two days
-- before end_ts, more than the ttl
SELECT feast_range_features_sql('2024-01-01', '2024-01-04 12:00', '{driver_hourly:trips}') AS q \gset
:q;
SELECT feast_range_features_sql('2024-01-01', '2024-01-04 12:00', '{driver_hourly:trips}', latest_only => true) AS q \gset
:q ORDER BY driver_id;
SELECT feast_range_features_sql('2024-01-03', '2024-01-02', '{driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_range_features_sql('2024-01-01', '2024-01-02', '{driver_hourly:trips, pairs:val}');
\echo :SQLSTATE

-- Feast's own example: three rows of driver 9001 at 21:53, 22:53, 23:53, window 21:52-23:54,
-- ttl 2 hours: three rows (0.1, 0.2, 0.3), each with its time; latest_only: one (23:54, 0.3)
CREATE TABLE hist_range (driver_id bigint, event_timestamp timestamptz, conv_rate real);
INSERT INTO hist_range VALUES (9001, '2021-04-12 21:53', 0.1), (9001, '2021-04-12 22:53', 0.2),
                              (9001, '2021-04-12 23:53', 0.3), (9003, '2021-04-12 21:30', 0.9);
SELECT feast_apply_batch_source('hist_range_src', 'hist_range', 'event_timestamp');
SELECT feast_apply_feature_view('range_conv', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}]',
                                'hist_range_src', interval '2 hours', online => false);
SELECT feast_range_features_sql('2021-04-12 21:52', '2021-04-12 23:54', '{range_conv:conv_rate}') AS q \gset
:q;
SELECT feast_range_features_sql('2021-04-12 21:52', '2021-04-12 23:54', '{range_conv:conv_rate}',
                                latest_only => true) AS q \gset
:q;
-- both ends of the window are inclusive: [21:53, 23:53] holds all three; a microsecond later
-- at the start, two
SELECT feast_range_features_sql('2021-04-12 21:53', '2021-04-12 23:53', '{range_conv:conv_rate}') AS q \gset
:q;
SELECT feast_range_features_sql('2021-04-12 21:53:00.000001', '2021-04-12 23:53', '{range_conv:conv_rate}') AS q \gset
:q;
-- two views: the distinct (driver, time) pairs of both views' rows in the window, in time order,
-- each answered as of its time with each view's ttl (range_acc: 30 minutes):
--   9001 21:53: conv .1, acc null (its 21:00 row is 53 minutes old)   9001 22:00: conv .1 (21:53), acc .5
--   9003 22:10: conv .9 (21:30, before the window but within the ttl), acc .8
--   9001 22:53: conv .2, acc null (22:00 is 53 minutes old)    9002 23:00: conv null, acc .7
--   9001 23:53 (a row in each view: one pair): conv .3, acc .6
CREATE TABLE hist_range_b (driver_id bigint, ts timestamptz, acc_rate real);
INSERT INTO hist_range_b VALUES (9001, '2021-04-12 22:00', 0.5), (9002, '2021-04-12 23:00', 0.7),
                                (9003, '2021-04-12 22:10', 0.8), (9001, '2021-04-12 21:00', 0.4),
                                (9001, '2021-04-12 23:53', 0.6);
SELECT feast_apply_batch_source('hist_range_b_src', 'hist_range_b', 'ts');
SELECT feast_apply_feature_view('range_acc', '{driver}', '[{"name": "acc_rate", "dtype": "float32"}]',
                                'hist_range_b_src', interval '30 minutes', online => false);
SELECT feast_range_features_sql('2021-04-12 21:52', '2021-04-12 23:54',
                                '{range_conv:conv_rate, range_acc:acc_rate}') AS q \gset
:q;
-- each pair once
SELECT count(*) AS pairs, count(DISTINCT (driver_id, event_timestamp)) AS distinct_pairs FROM (:q) AS r;

-- an empty entity input gives no rows
SELECT feast_historical_features_sql('SELECT * FROM hist_orders WHERE false', '{driver_hourly:trips}') AS q \gset
:q;

-- a ttl of a day is 24 hours, even across a daylight-saving change: the row at 2024-03-10 00:00
-- local (05:00 UTC) answers until 2024-03-11 01:00 local (05:00 UTC), not 00:00 local:
-- 90 at 03-11 01:00, null at 03-11 01:00:01
SET timezone = 'America/New_York';
INSERT INTO hist_driver_stats VALUES (5, '2024-03-10 00:00', NULL, 0.9, 90);
SELECT feast_historical_features_sql(
    $$SELECT * FROM (VALUES (5::bigint, timestamptz '2024-03-11 01:00'), (5, '2024-03-11 01:00:01')) v(driver_id, event_timestamp)$$,
    '{driver_hourly:trips}') AS q \gset
:q;
SELECT feast_historical_features_sql(
    $$SELECT 1::bigint AS driver_id, timestamptz '2024-01-04 00:00+00' AS event_timestamp$$,
    '{driver_hourly:trips}') AS q \gset
:q;
SET timezone = 'UTC';

-- a hostile search_path changes nothing in the generated SQL (an operator and functions that
-- would hide every row): same answers as the multi-view query above
CREATE SCHEMA hist_evil;
CREATE FUNCTION hist_evil.never(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR hist_evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = hist_evil.never);
CREATE OPERATOR hist_evil.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = hist_evil.never);
CREATE FUNCTION hist_evil.timezone(text, timestamp) RETURNS timestamptz LANGUAGE sql AS 'SELECT NULL::timestamptz';
CREATE FUNCTION hist_evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS 'SELECT NULL WHERE false';
SET search_path = hist_evil, pg_catalog, public;
SELECT feast_historical_features_sql($$
    SELECT * FROM (VALUES ('c1', 1::bigint, timestamp '2024-01-02 10:00', 'x'),
                          ('c2', 1, '2024-01-01 12:00', 'z')) AS v(customer_id, driver_id, ts_local, tag)$$,
    '{customer_spend:spend, daily_rating:rating, driver_hourly:conv_rate}') AS q \gset
:q;
RESET search_path;
DROP SCHEMA hist_evil CASCADE;

-- replace
SELECT feast_create_training_set('hist_ts_a', 'hist_orders', '{driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_create_training_set('hist_ts_a', 'SELECT driver_id, event_timestamp FROM hist_orders WHERE order_id = 3',
                                 '{driver_hourly:trips}', replace => true);
SELECT * FROM hist_ts_a;
SELECT feast_create_training_set('public.hist_ts_a', 'SELECT driver_id, event_timestamp FROM hist_orders WHERE order_id = 2',
                                 '{driver_hourly:trips}', replace => true);
SELECT * FROM hist_ts_a;

-- errors
SELECT feast_historical_features_sql('hist_orders', '{driver_hourly:nope}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('hist_orders', '{nope:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('hist_orders', '{driver_hourly:trips, driver_forever:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('hist_orders', '{driver_hourly:trips, driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('hist_orders', '{driver_hourly:trips}', feature_service => 'driver_svc');
\echo :SQLSTATE
SELECT feast_historical_features_sql('hist_orders');
\echo :SQLSTATE
SELECT feast_historical_features_sql('hist_no_such_table', '{driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('SELECT 1 AS driver_id', '{driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('SELECT 1 AS driver_id, now() AS t1, now() AS t2', '{driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('SELECT 1 AS driver_id, 5 AS event_timestamp', '{driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('SELECT now() AS event_timestamp', '{driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('SELECT 1 AS driver_id, now() AS event_timestamp, 2 AS trips', '{driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('  ;', '{driver_hourly:trips}');
\echo :SQLSTATE
SELECT feast_historical_features_sql('hist_orders', feature_service => 'no_svc');
\echo :SQLSTATE
-- feast._point_in_time_join checks what its source query returns against its column list
SELECT * FROM feast._point_in_time_join('SELECT 1::bigint, now(), now(), ''abc''::text', NULL, false, NULL,
                                        ARRAY[now()], ARRAY[1::bigint]) AS (x integer);
\echo :SQLSTATE
SELECT * FROM feast._point_in_time_join('SELECT ''1''::text, now(), now(), 5', NULL, false, NULL,
                                        ARRAY[now()], ARRAY[1::bigint]) AS (x integer);
\echo :SQLSTATE
SELECT * FROM feast._point_in_time_join('SELECT 1::bigint, now(), now(), 5', NULL, false, NULL,
                                        ARRAY[now()], ARRAY[1::bigint]) AS (x integer);
SELECT * FROM feast._point_in_time_join('SELECT 1::bigint, now(), now(), 5', NULL, false, NULL,
                                        ARRAY[1::bigint], ARRAY[1::bigint]) AS (x integer);
\echo :SQLSTATE
-- a feature list names features (view:feature); a bare view is for feature services
SELECT feast_historical_features_sql('hist_orders', '{driver_hourly}');
\echo :SQLSTATE
-- a view__feature name longer than a column name may be is refused, not truncated
SELECT feast_apply_batch_source('hist_long_src', 'hist_driver_stats', 'ts', 'created',
                                '{"id": "driver_id", "conv": "conversion_rate_over_the_last_hour"}');
SELECT feast_apply_feature_view('driver_hourly_stats_with_a_rather_long_view_name', '{driver}',
    '[{"name": "conversion_rate_over_the_last_hour", "dtype": "float32"}]', 'hist_long_src', online => false);
SELECT feast_historical_features_sql('hist_orders',
    '{driver_hourly_stats_with_a_rather_long_view_name:conversion_rate_over_the_last_hour}',
    full_feature_names => true);
\echo :SQLSTATE
-- ... and the same feature without full names is fine
SELECT feast_historical_features_sql('hist_orders',
    '{driver_hourly_stats_with_a_rather_long_view_name:conversion_rate_over_the_last_hour}') IS NOT NULL AS ok;
-- a ttl beyond the timestamp range means no expiry (the cutoff saturates instead of overflowing)
SELECT feast_apply_feature_view('driver_ancient', '{driver}', '[{"name": "trips", "dtype": "int32"}]',
                                'hist_driver_src', interval '300000 years', online => false);
SELECT feast_historical_features_sql('hist_orders', '{driver_ancient:trips, driver_forever:trips}',
                                     full_feature_names => true) AS q \gset
SELECT count(*) FILTER (WHERE driver_ancient__trips IS NOT DISTINCT FROM driver_forever__trips) AS same,
       count(*) AS total FROM (:q) AS j;
-- ... and entity-less retrieval's default start (end minus the longest ttl) saturates too
-- (every row up to end_ts, 01-01 included)
SELECT feast_range_features_sql(end_ts => '2024-01-03 12:00', features => '{driver_ancient:trips}') AS q \gset
SELECT driver_id, event_timestamp, trips FROM (:q) AS j ORDER BY driver_id, event_timestamp;
SELECT feast_range_features_sql(end_ts => '2024-01-03 12:00', features => '{driver_ancient:trips}',
                                latest_only => true) AS q \gset
SELECT driver_id, trips FROM (:q) AS j ORDER BY driver_id;
