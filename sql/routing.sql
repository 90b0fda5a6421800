-- routing: router-mode rules that need no node.  An apply that would give a
-- push source views of different distribution keys is refused on the router
-- before anything is sent; push ids kept for retries are pruned by age.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
CREATE EXTENSION IF NOT EXISTS plproxy;
DROP ROLE IF EXISTS regress_routing_user;
CREATE ROLE regress_routing_user;
RESET client_min_messages;

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_entity('customer', 'customer_id', 'string');
SELECT feast_apply_entity('driver_s', 'driver_id', 'string');
SELECT feast_apply_push_source('rides_push', NULL);
SELECT feast_apply_feature_view('rides', '{driver}', '[{"name": "n", "dtype": "int32"}]', 'rides_push');
SELECT feast_apply_push_source('other_push', NULL);

-- a router whose one node cannot be reached: what is refused on the router never leaves it
CREATE SERVER routing_nowhere FOREIGN DATA WRAPPER plproxy
    OPTIONS (p0 'host=/nonexistent-cfeast dbname=none connect_timeout=1');
CREATE USER MAPPING FOR PUBLIC SERVER routing_nowhere;
SET client_min_messages = warning;
SELECT feast_router_setup('routing_nowhere', 1);
RESET client_min_messages;
-- another first join key on the same push source
SELECT feast_apply_feature_view('by_customer', '{customer}', '[{"name": "m", "dtype": "int32"}]', 'rides_push');
\echo :LAST_ERROR_SQLSTATE
-- the same join key name with another type
SELECT feast_apply_feature_view('by_driver_s', '{driver_s}', '[{"name": "m", "dtype": "int32"}]', 'rides_push');
\echo :LAST_ERROR_SQLSTATE
-- the first entity decides, not the others
SELECT feast_apply_feature_view('pair', '{customer, driver}', '[{"name": "m", "dtype": "int32"}]', 'rides_push');
\echo :LAST_ERROR_SQLSTATE
-- nothing was applied here
SELECT name FROM feast.feature_views ORDER BY name;
-- feast._push_many is not routed: cfeast-server pushes text by text on a router
SELECT feast._push_many('rides_push', ARRAY['[{"driver_id": 1, "n": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]']);
\echo :LAST_ERROR_SQLSTATE
-- a router set up by 0.4 (no feast._route_node_push): told to run the set-up again
SET client_min_messages = warning;
SELECT feast_router_setup('routing_nowhere', 1);
RESET client_min_messages;
DROP FUNCTION feast._route_node_push(integer[], text, text[], text[], text, text, text, integer);
SELECT feast_push('rides_push', '[]');
\echo :LAST_ERROR_SQLSTATE
SET client_min_messages = warning;
SELECT feast_router_setup(NULL);
RESET client_min_messages;
-- off again: a node may hold such views (it never routes)
SELECT feast_apply_feature_view('by_customer', '{customer}', '[{"name": "m", "dtype": "int32"}]', 'rides_push');
SELECT feast_delete('feature_view', 'by_customer');
DROP SERVER routing_nowhere CASCADE;

-- push ids: kept for retries until pruned by age
SELECT shard, accepted, skipped FROM feast_push('rides_push', '[{"driver_id": 1, "n": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]', 'online', 'p-old');
SELECT shard, accepted, skipped FROM feast_push('rides_push', '[{"driver_id": 2, "n": 2, "event_timestamp": "2026-01-01T00:00:00Z"}]', 'online', 'p-new');
SELECT shard, accepted, skipped FROM feast_push('rides_push', '[{"driver_id": 2, "n": 2, "event_timestamp": "2026-01-01T00:00:00Z"}]', 'online', 'p-new');
UPDATE feast.push_ids SET committed_at = committed_at - interval '8 days' WHERE push_id = 'p-old';
SELECT feast_prune_push_ids('7 days') AS pruned;
SELECT push_id, shard, accepted, written, stale FROM feast.push_ids ORDER BY push_id;
-- a pruned id is new again: its retry pushes its rows again
SELECT shard, accepted, skipped FROM feast_push('rides_push', '[{"driver_id": 1, "n": 3, "event_timestamp": "2026-01-02T00:00:00Z"}]', 'online', 'p-old');
SELECT driver_id, n FROM feast_online.rides ORDER BY driver_id;
SELECT feast_prune_push_ids(NULL);
SELECT feast_prune_push_ids('-1 day');
-- 0: every id committed before this transaction
SELECT feast_prune_push_ids('0') AS pruned_all;
-- not for PUBLIC
SET ROLE regress_routing_user;
SELECT feast_prune_push_ids('1 day');
RESET ROLE;
SELECT pg_catalog.count(*) AS kept FROM feast.push_ids;
DROP ROLE regress_routing_user;

-- the node side of a routed push, called as a router calls it
SELECT fingerprint AS fp FROM feast._node_fingerprint() \gset
SELECT string_agg(s || ':' || n, ',' ORDER BY s) AS shards
  FROM (SELECT feast_shard_of(k::bigint, 2) AS s, count(*) AS n
          FROM unnest('{11, 12, 13, 14, 15, 16}'::int[]) k GROUP BY 1) x \gset
\echo :shards
-- a part whose logical shard 0 committed before (moved here since): only shard 1's rows are pushed
INSERT INTO feast.push_ids (push_id, shard, accepted) VALUES ('mv-1', 0, 7);
SELECT * FROM feast._node_push('{0}', 'rides_push',
    ARRAY['[' || (SELECT string_agg(format('{"driver_id": %s, "n": %s, "event_timestamp": "2026-03-01T00:00:00Z"}', k, k), ',')
                  FROM unnest('{11, 12, 13, 14, 15, 16}'::int[]) k) || ']'],
    ARRAY[:'shards'], 'online', 'mv-1', :'fp', 2) ORDER BY shard;
SELECT driver_id, n, feast_shard_of(driver_id, 2) AS shard FROM feast_online.rides WHERE driver_id > 10 ORDER BY driver_id;
-- the same call again: every shard skipped, nothing written twice
SELECT * FROM feast._node_push('{0}', 'rides_push', ARRAY['[]'], ARRAY[:'shards'], 'online', 'mv-1', :'fp', 2) ORDER BY shard;
-- another router's registry: refused, nothing recorded (terse: the detail shows fingerprints)
\set VERBOSITY terse
SELECT * FROM feast._node_push('{0}', 'rides_push', ARRAY['[{"driver_id": 20, "n": 1, "event_timestamp": "2026-03-01T00:00:00Z"}]'],
    ARRAY['0:1'], 'online', 'fp-1', 'not-this-registry', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM feast._node_read('{0}', '{rides:n}', ARRAY['{"driver_id": [11]}'::jsonb], false, NULL, 'not-this-registry');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT shard, response -> 'results' -> 1 -> 'values' AS n FROM feast._node_read('{0}', '{rides:n}', ARRAY['{"driver_id": [11, 12]}'::jsonb], false, NULL, :'fp');
-- a part that does not hold what the router counted, a malformed shard list: refused, nothing recorded
SELECT * FROM feast._node_push('{0}', 'rides_push', ARRAY['[{"driver_id": 20, "n": 1, "event_timestamp": "2026-03-01T00:00:00Z"}]'],
    ARRAY['0:2'], 'online', 'fp-2', :'fp', 1);
SELECT * FROM feast._node_push('{0}', 'rides_push', ARRAY['[]'], ARRAY['0:1,x'], 'online', 'fp-3', :'fp', 1);
SELECT * FROM feast._node_push('{0}', 'rides_push', ARRAY['[]'], ARRAY['5:1'], 'online', 'fp-3', :'fp', 2);
SELECT push_id FROM feast.push_ids WHERE push_id LIKE 'fp-%';
SELECT count(*) AS rows_20 FROM feast_online.rides WHERE driver_id = 20;
