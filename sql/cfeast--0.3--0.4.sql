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

-- Router mode (src/router.c).  A router database holds the registry (every
-- apply runs there and on every node) and no feature rows; feast_push and
-- feast_get_online_features there split rows by logical shard
-- (feast_shard_of(first join key, logical_shards)) and send the parts
-- through PL/Proxy functions that feast_router_setup creates for one
-- cluster, whose partition i is logical shard i.
CREATE TABLE feast.router (
    only_one       boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    cluster        text NOT NULL,
    logical_shards integer NOT NULL CHECK (logical_shards > 0)
);
SELECT pg_catalog.pg_extension_config_dump('feast.router', '');
REVOKE ALL ON feast.router FROM PUBLIC;
GRANT SELECT ON feast.router TO PUBLIC;

-- on a node: the push ids whose part for a logical shard committed here, with
-- that part's counts (a retry of the push skips these shards)
CREATE TABLE feast.push_ids (
    push_id      text NOT NULL,
    shard        integer NOT NULL,
    accepted     bigint NOT NULL DEFAULT 0,
    written      bigint NOT NULL DEFAULT 0,
    stale        bigint NOT NULL DEFAULT 0,
    committed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (push_id, shard)
);
SELECT pg_catalog.pg_extension_config_dump('feast.push_ids', '');
REVOKE ALL ON feast.push_ids FROM PUBLIC;
GRANT SELECT ON feast.push_ids TO PUBLIC;

-- the registry's definitions (not its timestamps), as one md5: equal on the
-- router and every node while they agree
CREATE FUNCTION feast._registry_fingerprint() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
RETURN pg_catalog.md5(pg_catalog.concat_ws(E'\n',
  (SELECT pg_catalog.string_agg(pg_catalog.format('%L %L %L %L %L', name, join_key, value_type, description, tags),
                                E'\n' ORDER BY name COLLATE "C") FROM feast.entities),
  (SELECT pg_catalog.string_agg(pg_catalog.format('%L %L %L %L %L %L %L %L %L', name, kind, relation::text,
                                                  timestamp_field, created_timestamp_column, field_mapping,
                                                  batch_source, description, tags),
                                E'\n' ORDER BY name COLLATE "C") FROM feast.data_sources),
  (SELECT pg_catalog.string_agg(pg_catalog.format('%L %L %L %L %L %L %L', name, entities, source, ttl, online,
                                                  description, tags),
                                E'\n' ORDER BY name COLLATE "C") FROM feast.feature_views),
  (SELECT pg_catalog.string_agg(pg_catalog.format('%L %L %L %L %L', feature_view, name, dtype, online_type, position),
                                E'\n' ORDER BY feature_view COLLATE "C", name COLLATE "C") FROM feast.features),
  (SELECT pg_catalog.string_agg(pg_catalog.format('%L %L %L %L', name, features, description, tags),
                                E'\n' ORDER BY name COLLATE "C") FROM feast.feature_services)));
END $$;

-- node side of a routed push: each element of parts is one logical shard's
-- rows, pushed in this one transaction unless push_id already committed there
CREATE FUNCTION feast._shard_push(shards integer[], push_source text, parts jsonb[], "to" text,
                                  push_id text, fingerprint text)
RETURNS TABLE(shard integer, accepted bigint, written bigint, stale bigint, skipped boolean)
    AS 'MODULE_PATHNAME', 'cfeast_shard_push' LANGUAGE C
    SET search_path = pg_catalog, pg_temp SET cfeast.unknown_fields = 'ignore';
-- node side: the shards of a push id that committed here
CREATE FUNCTION feast._shard_push_status(push_id text) RETURNS SETOF integer
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.shard FROM feast.push_ids p WHERE p.push_id OPERATOR(pg_catalog.=) $1
$$;
-- node side: which node this is, and its registry fingerprint
CREATE FUNCTION feast._node_fingerprint(OUT node text, OUT fingerprint text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.current_database() OPERATOR(pg_catalog.||) ' port '
           OPERATOR(pg_catalog.||) pg_catalog.current_setting('port'),
           feast._registry_fingerprint()
$$;
-- node side of a broadcast: one call of a registry or materialize function
-- (only those), with arguments as text of the named types
CREATE FUNCTION feast._node_call(fn text, argtypes text[], args text[],
                                 OUT node text, OUT fingerprint text, OUT result text)
    AS 'MODULE_PATHNAME', 'cfeast_node_call' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;
-- node side of a routed read: one feast_get_online_features per element
CREATE FUNCTION feast._shard_read(shards integer[], features text[], rows jsonb[],
                                  full_feature_names boolean, feature_service text)
RETURNS TABLE(shard integer, response jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.shard, @extschema@.feast_get_online_features($2, s.rows, $4, $5)
      FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($3)) AS s(shard, rows)
$$;

-- Router mode on for the PL/Proxy cluster "cluster" (its partitions p0 ..
-- p<logical_shards - 1>, one per logical shard, each naming the node that
-- holds it): creates the routing functions feast._route_* and records the
-- cluster in feast.router.  NULL turns router mode off.
CREATE FUNCTION @extschema@.feast_router_setup(cluster text, logical_shards integer DEFAULT 64)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c text := pg_catalog.quote_literal(cluster);
BEGIN
    DROP FUNCTION IF EXISTS feast._route_push(integer[], text, jsonb[], text, text, text);
    DROP FUNCTION IF EXISTS feast._route_push_status(integer, text);
    DROP FUNCTION IF EXISTS feast._route_call(text, text[], text[]);
    DROP FUNCTION IF EXISTS feast._route_fingerprint();
    DROP FUNCTION IF EXISTS feast._route_read(integer[], text[], jsonb[], boolean, text);
    DELETE FROM feast.router;
    IF cluster IS NULL THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_language WHERE lanname OPERATOR(pg_catalog.=) 'plproxy') THEN
        RAISE EXCEPTION 'router mode needs PL/Proxy' USING ERRCODE = '55000',
              HINT = 'CREATE EXTENSION plproxy, then define the cluster as a foreign server.';
    END IF;
    IF logical_shards IS NULL OR logical_shards < 1 OR logical_shards > 65536
       OR (logical_shards OPERATOR(pg_catalog.&) (logical_shards - 1)) OPERATOR(pg_catalog.<>) 0 THEN
        RAISE EXCEPTION 'logical_shards must be a power of 2 up to 65536, got %', logical_shards
              USING ERRCODE = '22023';
    END IF;
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION feast._route_push(shards integer[], push_source text, parts jsonb[], "to" text,
                                          push_id text, fingerprint text)
        RETURNS TABLE(shard integer, accepted bigint, written bigint, stale bigint, skipped boolean)
        LANGUAGE plproxy SET jit = off AS $p$
            CLUSTER %s; SPLIT shards, parts; RUN ON shards;
            SELECT * FROM feast._shard_push($1, $2, $3, $4, $5, $6);
        $p$ $f$, c);
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION feast._route_push_status(shard integer, push_id text) RETURNS SETOF integer
        LANGUAGE plproxy SET jit = off AS $p$
            CLUSTER %s; RUN ON shard;
            SELECT * FROM feast._shard_push_status($2);
        $p$ $f$, c);
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION feast._route_call(fn text, argtypes text[], args text[])
        RETURNS TABLE(node text, fingerprint text, result text)
        LANGUAGE plproxy SET jit = off AS $p$
            CLUSTER %s; RUN ON ALL;
            SELECT * FROM feast._node_call($1, $2, $3);
        $p$ $f$, c);
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION feast._route_fingerprint() RETURNS TABLE(node text, fingerprint text)
        LANGUAGE plproxy SET jit = off AS $p$
            CLUSTER %s; RUN ON ALL;
            SELECT * FROM feast._node_fingerprint();
        $p$ $f$, c);
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION feast._route_read(shards integer[], features text[], rows jsonb[],
                                          full_feature_names boolean, feature_service text)
        RETURNS TABLE(shard integer, response jsonb)
        LANGUAGE plproxy SET jit = off AS $p$
            CLUSTER %s; SPLIT shards, rows; RUN ON shards;
            SELECT * FROM feast._shard_read($1, $2, $3, $4, $5);
        $p$ $f$, c);
    REVOKE ALL ON FUNCTION feast._route_call(text, text[], text[]) FROM PUBLIC;
    INSERT INTO feast.router (cluster, logical_shards) VALUES (cluster, logical_shards);
END $$;
REVOKE ALL ON FUNCTION @extschema@.feast_router_setup(text, integer) FROM PUBLIC;

-- every node's registry fingerprint beside the router's
CREATE FUNCTION @extschema@.feast_router_check(OUT node text, OUT fingerprint text, OUT same boolean)
RETURNS SETOF record LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM feast.router) THEN
        RAISE EXCEPTION 'this database is not a router' USING ERRCODE = '55000';
    END IF;
    RETURN QUERY EXECUTE 'SELECT f.node, f.fingerprint, f.fingerprint OPERATOR(pg_catalog.=) feast._registry_fingerprint()
                            FROM feast._route_fingerprint() f ORDER BY 1';
END $$;

-- a push with a push id: a retry with the same id skips the shards where it committed
CREATE FUNCTION @extschema@.feast_push(push_source text, rows jsonb, "to" text, push_id text)
RETURNS TABLE(shard integer, accepted bigint, written bigint, stale bigint, skipped boolean)
    AS 'MODULE_PATHNAME', 'cfeast_push_with_id' LANGUAGE C;
