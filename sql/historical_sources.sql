-- historical: batch sources read in place (file_fdw, postgres_fdw, partitioned table, view)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS hist_part, hist_entities CASCADE;
DROP SERVER IF EXISTS hist_files CASCADE;
DROP SERVER IF EXISTS hist_remote CASCADE;
DROP DATABASE IF EXISTS cfeast_hist_remote;
CREATE EXTENSION IF NOT EXISTS file_fdw;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
RESET client_min_messages;
SET timezone = 'UTC';
SELECT feast_apply_entity('driver', 'driver_id');

-- file_fdw over test/fixtures/historical_driver_stats.csv (driver 1: 01-01 .1, 01-02 .21 and .2
-- with created 00:10 / 00:05; driver 2: 01-01 12:00 .6 with no created)
\getenv abs_srcdir PG_ABS_SRCDIR
\set csvfile :abs_srcdir '/test/fixtures/historical_driver_stats.csv'
CREATE SERVER hist_files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE hist_csv (driver_id bigint, event_timestamp timestamptz, created timestamptz, conv_rate real)
    SERVER hist_files OPTIONS (filename :'csvfile', format 'csv', header 'true');
SELECT feast_apply_batch_source('hist_csv_src', 'hist_csv', 'event_timestamp', 'created');
SELECT feast_apply_feature_view('csv_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}]',
                                'hist_csv_src', online => false);

-- postgres_fdw to a second database of the same cluster (event time: timestamp, read as UTC)
SELECT current_database() AS regress_db \gset
CREATE DATABASE cfeast_hist_remote;
\c cfeast_hist_remote
CREATE TABLE remote_stats (driver_id bigint, ts timestamp, trips int);
INSERT INTO remote_stats VALUES (1, '2024-01-01 06:00', 7), (2, '2024-01-01 00:00', 8);
\c :regress_db
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
DO $$
DECLARE
    sock text := (SELECT split_part(setting, ',', 1) FROM pg_settings WHERE name = 'unix_socket_directories');
    port text := (SELECT setting FROM pg_settings WHERE name = 'port');
BEGIN
    EXECUTE format('CREATE SERVER hist_remote FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
                   sock, port, 'cfeast_hist_remote');
    EXECUTE format('CREATE USER MAPPING FOR %I SERVER hist_remote OPTIONS (user %L)', current_user, current_user);
END $$;
CREATE FOREIGN TABLE hist_remote_stats (driver_id bigint, ts timestamp, trips int)
    SERVER hist_remote OPTIONS (table_name 'remote_stats');
SELECT feast_apply_batch_source('hist_remote_src', 'hist_remote_stats', 'ts');
SELECT feast_apply_feature_view('remote_stats', '{driver}', '[{"name": "trips", "dtype": "int32"}]',
                                'hist_remote_src', interval '12 hours', online => false);

-- a partitioned table, and a view over it that renames columns (field_mapping drv -> driver_id)
CREATE TABLE hist_part (driver_id bigint, ts timestamptz, rating float8) PARTITION BY RANGE (ts);
CREATE TABLE hist_part_2023 PARTITION OF hist_part FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE hist_part_2024 PARTITION OF hist_part FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO hist_part VALUES (1, '2023-12-31 23:00', 4.0), (1, '2024-01-01 01:00', 4.5), (2, '2023-12-31 00:00', 3.0);
CREATE VIEW hist_part_v AS SELECT driver_id AS drv, ts AS t, rating * 2 AS rating2 FROM hist_part;
SELECT feast_apply_batch_source('hist_part_src', 'hist_part', 'ts');
SELECT feast_apply_feature_view('part_stats', '{driver}', '[{"name": "rating", "dtype": "float64"}]',
                                'hist_part_src', online => false);
SELECT feast_apply_batch_source('hist_view_src', 'hist_part_v', 't', field_mapping => '{"drv": "driver_id"}');
SELECT feast_apply_feature_view('view_stats', '{driver}', '[{"name": "rating2", "dtype": "float64"}]',
                                'hist_view_src', interval '1 day', online => false);

CREATE TABLE hist_entities (driver_id bigint, event_timestamp timestamptz);
INSERT INTO hist_entities VALUES (1, '2024-01-02 00:00'), (1, '2024-01-01 12:00'), (2, '2024-01-02 00:00'),
                                 (3, '2024-01-02 00:00');
-- expected:
--   (1, 01-02 00:00): conv_rate .21 (tie, later created), trips null (01-01 06:00 is 18 h before),
--                     rating 4.5, rating2 9
--   (1, 01-01 12:00): .1, 7 (6 h before), 4.5, 9
--   (2, 01-02 00:00): .6 (NULL created), null (24 h before), 3 (2023-12-31), null (2 days before)
--   (3, 01-02 00:00): nothing
SELECT feast_create_training_set('hist_all_sources', 'hist_entities',
    '{csv_stats:conv_rate, remote_stats:trips, part_stats:rating, view_stats:rating2}', replace => true);
SELECT * FROM hist_all_sources;
DROP TABLE hist_all_sources;

-- long after the last row: outside the view's ttl (null), but no ttl on the partitioned table (4.5)
SELECT feast_historical_features_sql(
    $$SELECT 1::bigint AS driver_id, timestamptz '2024-06-01' AS event_timestamp$$,
    '{view_stats:rating2, part_stats:rating}') AS q \gset
:q;

-- materialize reads the foreign tables in place too
--   from the CSV over [01-01, 01-02]: driver 1: .21 (01-02, created 00:10 beats 00:05), driver 2: .6
--   from the remote table: driver 1: 7 (01-01 06:00 UTC), driver 2: 8 (01-01 00:00 UTC)
SELECT feast_apply_feature_view('csv_online', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}]',
                                'hist_csv_src');
SELECT feast_apply_feature_view('remote_online', '{driver}', '[{"name": "trips", "dtype": "int32"}]',
                                'hist_remote_src');
SET client_min_messages = warning;
SELECT feast_materialize('2024-01-01', '2024-01-02', ARRAY['csv_online', 'remote_online']);
RESET client_min_messages;
SELECT * FROM feast_online.csv_online ORDER BY driver_id;
SELECT * FROM feast_online.remote_online ORDER BY driver_id;
SELECT feast_delete('feature_view', 'remote_online');

-- clean up the second database
DROP SERVER hist_remote CASCADE;
SELECT feast_delete('feature_view', 'remote_stats');
DROP DATABASE cfeast_hist_remote WITH (FORCE);
