/* cfeast 0.3 -> 0.4 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.4'" to load this file. \quit

-- Each topic of 0.4 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).

-- == scale-out ==
-- The shard of a join key (src/shard.c): the remainder PARTITION BY HASH
-- (key) with this modulus assigns, so routed pushes, hash-partitioned batch
-- tables and postgres_fdw partitions put a key on the same node.
CREATE FUNCTION @extschema@.feast_shard_of(key anyelement, modulus integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'cfeast_shard_of' LANGUAGE C IMMUTABLE PARALLEL SAFE;
