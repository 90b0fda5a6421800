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
