-- online retrieval: the caller's privileges and row security apply
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP ROLE IF EXISTS regress_online_reader;
RESET client_min_messages;
CREATE ROLE regress_online_reader;

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_push_source('driver_push', NULL);
SELECT feast_apply_feature_view('driver_hourly', ARRAY['driver'],
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int64"}]', 'driver_push');
SELECT feast_push('driver_push', '[
  {"driver_id": 1001, "conv_rate": 0.5, "trips": 10, "event_timestamp": "2100-01-01T00:00:00Z"},
  {"driver_id": 1002, "conv_rate": 0.25, "trips": 20, "event_timestamp": "2100-01-01T00:00:00Z"}]');

-- without SELECT on the online table: PostgreSQL's own error, for one entity and for a batch
SET ROLE regress_online_reader;
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1001]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1001, 1002]}');
\echo :SQLSTATE
RESET ROLE;

-- SELECT on the columns read (join keys, the features asked for, event_timestamp) is enough,
-- for one entity and for a batch; a feature whose column is not granted is refused
GRANT SELECT (driver_id, trips, event_timestamp) ON feast_online.driver_hourly TO regress_online_reader;
SET ROLE regress_online_reader;
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1001]}');
SELECT jsonb_path_query_array(feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1002, 1001, 7]}'),
                              '$.results[1].values') AS batch;
SELECT feast_get_online_features(ARRAY['driver_hourly:trips', 'driver_hourly:conv_rate'], '{"driver_id": [1001]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:conv_rate'], '{"driver_id": [1001, 1002]}');
\echo :SQLSTATE
-- column grants do not let a plain SELECT read the rest
SELECT conv_rate FROM feast_online.driver_hourly;
\echo :SQLSTATE
RESET ROLE;
-- on a table with row security, column grants do not read (an owner's read would skip the policy)
ALTER TABLE feast_online.driver_hourly ENABLE ROW LEVEL SECURITY;
SET ROLE regress_online_reader;
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1001]}');
\echo :SQLSTATE
RESET ROLE;
ALTER TABLE feast_online.driver_hourly DISABLE ROW LEVEL SECURITY;

-- with SELECT: the same answers as the owner's
GRANT SELECT ON feast_online.driver_hourly TO regress_online_reader;
SET ROLE regress_online_reader;
SELECT jsonb_path_query_array(feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1001]}'),
                              '$.results[*].values') AS one,
       jsonb_path_query_array(feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1001, 1002, 3]}'),
                              '$.results[*].values') AS batch;
RESET ROLE;

-- row security: a policy hides driver 1002 from the reader, for one entity and for a batch
ALTER TABLE feast_online.driver_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_1001 ON feast_online.driver_hourly USING (driver_id = 1001);
SET ROLE regress_online_reader;
SELECT jsonb_path_query_array(r, '$.results[1].statuses') AS statuses
  FROM feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1002]}') r;
SELECT jsonb_path_query_array(r, '$.results[1].statuses') AS statuses
  FROM feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1001, 1002]}') r;
RESET ROLE;
-- the owner is not subject to the policy
SELECT jsonb_path_query_array(r, '$.results[1].statuses') AS statuses
  FROM feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1002]}') r;

-- a column dropped behind the registry's back: a clear error, not a wrong answer (the serving
-- view reading the column must go with it: CASCADE)
ALTER TABLE feast_online.driver_hourly DISABLE ROW LEVEL SECURITY;
SET client_min_messages = warning;
ALTER TABLE feast_online.driver_hourly DROP COLUMN conv_rate CASCADE;
RESET client_min_messages;
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1001]}');
\echo :SQLSTATE

-- freshness leaves out what the caller may not read
SET ROLE regress_online_reader;
SELECT feature_view, rows_written FROM feast.freshness;
RESET ROLE;
REVOKE SELECT ON feast_online.driver_hourly FROM regress_online_reader;
REVOKE SELECT (driver_id, trips, event_timestamp) ON feast_online.driver_hourly FROM regress_online_reader;
SET ROLE regress_online_reader;
SELECT feature_view, rows_written FROM feast.freshness;
RESET ROLE;

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
RESET client_min_messages;
DROP ROLE regress_online_reader;
