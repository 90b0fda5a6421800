-- registry: entities, sources, views, services, feast_apply, feast_delete
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;

SELECT feast_apply_entity('driver', 'driver_id', 'Int64', 'a driver');
SELECT name, join_key, value_type, description FROM feast.entities;
-- bad names are refused, not folded
SELECT feast_apply_entity('Driver');
\echo :SQLSTATE
SELECT feast_apply_entity('driver; drop table x');
\echo :SQLSTATE
