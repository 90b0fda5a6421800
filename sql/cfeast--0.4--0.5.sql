/* cfeast 0.4 -> 0.5 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.5'" to load this file. \quit

-- Each topic of 0.5 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).

-- == expire grants ==
-- feast_grant(role, 'expire', view or service): SELECT and DELETE on the online tables, what
-- CALL feast_expire checks (src/expire.c).  The list of actions lives here now: _grant_plan
-- (0.4) plans the other five and checks the role and the object for expire as for read.
CREATE OR REPLACE FUNCTION feast._do_grant(p_role name, p_action text, p_object text) RETURNS SETOF text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    g     record;
    rel   regclass;
    stmt  text;
    vname text;
BEGIN
    IF p_role IS NOT NULL AND (p_action IS NULL OR p_action NOT IN ('push', 'read', 'train', 'materialize', 'apply', 'expire')) THEN
        RAISE EXCEPTION 'unknown action "%"', p_action
            USING ERRCODE = '22023',
                  HINT = 'action is one of push (a push source), read, train, expire (a feature view or service), materialize (a feature view), apply (*).';
    END IF;
    IF p_action = 'expire' THEN
        -- the role, the object's name and its online tables, checked as a read grant checks them
        PERFORM pg_catalog.count(*) FROM feast._grant_plan(p_role, 'read', p_object);
        FOREACH vname IN ARRAY feast._grant_views(p_object) LOOP
            stmt := pg_catalog.format('GRANT SELECT, DELETE ON TABLE %s TO %s', feast._grant_online_table(vname),
                                      CASE WHEN p_role OPERATOR(pg_catalog.=) 'public' THEN 'PUBLIC'
                                           ELSE pg_catalog.quote_ident(p_role) END);
            EXECUTE stmt;
            RETURN NEXT stmt;
        END LOOP;
        RETURN;
    END IF;
    -- each statement once (a service's views may share a batch relation), in order
    FOR g IN SELECT p.stmt, p.as_caller FROM feast._grant_plan(p_role, p_action, p_object) WITH ORDINALITY AS p(stmt, as_caller, o)
              GROUP BY p.stmt, p.as_caller ORDER BY pg_catalog.min(p.o) LOOP
        IF g.as_caller THEN
            PERFORM feast._exec_as_caller(g.stmt);
        ELSE
            EXECUTE g.stmt;
        END IF;
        RETURN NEXT g.stmt;
    END LOOP;
    -- the plan checked the role and the object's name
    IF p_action = 'read' THEN
        rel := pg_catalog.to_regclass('feast_serving.' || pg_catalog.quote_ident(p_object));
        IF rel IS NOT NULL THEN
            stmt := pg_catalog.format('GRANT SELECT ON TABLE %s TO %s', rel,
                                      CASE WHEN p_role OPERATOR(pg_catalog.=) 'public' THEN 'PUBLIC'
                                           ELSE pg_catalog.quote_ident(p_role) END);
            EXECUTE stmt;
            RETURN NEXT stmt;
        END IF;
    END IF;
END $$;
REVOKE ALL ON FUNCTION feast._do_grant(name, text, text) FROM PUBLIC;

-- == routing ==
-- Router mode, faster and stricter (src/router.c).  A routed push sends one
-- part per node (the rows of every logical shard the node holds, as JSON
-- text) and the node pushes it in one transaction; reads check each node's
-- registry fingerprint too.  Fingerprints, the router's configuration and
-- the node map are cached per backend and dropped with the registry cache.
-- A router updated to 0.5 runs feast_router_setup again to create the new
-- routing functions.

-- registry changes already reach every backend; feast.router's too now, so
-- backends may cache whether this database is a router
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON feast.router FOR EACH STATEMENT EXECUTE FUNCTION feast._registry_changed();

-- a node part's written and stale rows are counted once, on its lowest
-- logical shard; its other shards' rows hold NULL there
ALTER TABLE feast.push_ids ALTER COLUMN written DROP NOT NULL, ALTER COLUMN written DROP DEFAULT,
                           ALTER COLUMN stale DROP NOT NULL, ALTER COLUMN stale DROP DEFAULT;
CREATE INDEX push_ids_committed_at ON feast.push_ids (committed_at);

-- node side: which node this is, and its (cached) registry fingerprint
CREATE OR REPLACE FUNCTION feast._node_fingerprint(OUT node text, OUT fingerprint text)
    AS 'MODULE_PATHNAME', 'cfeast_node_fingerprint' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;

-- node side of a routed push: parts[i] is one node part (JSON text, the
-- push's form) holding the rows of the logical shards listed in shards[i]
-- as 'shard:rows,...'; each such shard is recorded under push_id, and a
-- retry skips the shards recorded already.  reps (the part's lowest shard)
-- only steers PL/Proxy.
CREATE FUNCTION feast._node_push(reps integer[], push_source text, parts text[], shards text[],
                                 "to" text, push_id text, fingerprint text, modulus integer)
RETURNS TABLE(shard integer, accepted bigint, written bigint, stale bigint, skipped boolean)
    AS 'MODULE_PATHNAME', 'cfeast_node_push' LANGUAGE C
    SET search_path = pg_catalog, pg_temp SET cfeast.unknown_fields = 'ignore' SET jit = off;

-- node side of a routed read: one feast_get_online_features per element,
-- after checking the router's fingerprint
CREATE FUNCTION feast._node_read(reps integer[], features text[], rows jsonb[],
                                 full_feature_names boolean, feature_service text, fingerprint text)
RETURNS TABLE(shard integer, response jsonb)
    AS 'MODULE_PATHNAME', 'cfeast_node_read' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;

-- push ids are kept for retries; this drops those committed before
-- now() - older_than (on a router: on every node) and returns how many rows
-- went.  A retry of a pruned push id pushes its rows again.
CREATE FUNCTION @extschema@.feast_prune_push_ids(older_than interval) RETURNS bigint
    AS 'MODULE_PATHNAME', 'cfeast_prune_push_ids' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.feast_prune_push_ids(interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.feast_router_setup(cluster text, logical_shards integer DEFAULT 64)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c text := pg_catalog.quote_literal(cluster);
BEGIN
    DROP FUNCTION IF EXISTS feast._route_push(integer[], text, jsonb[], text, text, text);
    DROP FUNCTION IF EXISTS feast._route_push_status(integer, text);
    DROP FUNCTION IF EXISTS feast._route_call(text, text[], text[]);
    DROP FUNCTION IF EXISTS feast._route_fingerprint();
    DROP FUNCTION IF EXISTS feast._route_read(integer[], text[], jsonb[], boolean, text);
    DROP FUNCTION IF EXISTS feast._route_node_push(integer[], text, text[], text[], text, text, text, integer);
    DROP FUNCTION IF EXISTS feast._route_node_read(integer[], text[], jsonb[], boolean, text, text);
    DROP FUNCTION IF EXISTS feast._route_prune(interval);
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
        CREATE FUNCTION feast._route_node_push(reps integer[], push_source text, parts text[], shards text[],
                                               "to" text, push_id text, fingerprint text, modulus integer)
        RETURNS TABLE(shard integer, accepted bigint, written bigint, stale bigint, skipped boolean)
        LANGUAGE plproxy SET jit = off AS $p$
            CLUSTER %s; SPLIT reps, parts, shards; RUN ON reps;
            SELECT * FROM feast._node_push($1, $2, $3, $4, $5, $6, $7, $8);
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
        CREATE FUNCTION feast._route_node_read(reps integer[], features text[], rows jsonb[],
                                               full_feature_names boolean, feature_service text, fingerprint text)
        RETURNS TABLE(shard integer, response jsonb)
        LANGUAGE plproxy SET jit = off AS $p$
            CLUSTER %s; SPLIT reps, rows; RUN ON reps;
            SELECT * FROM feast._node_read($1, $2, $3, $4, $5, $6);
        $p$ $f$, c);
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION feast._route_prune(older_than interval) RETURNS SETOF bigint
        LANGUAGE plproxy SET jit = off AS $p$
            CLUSTER %s; RUN ON ALL;
            SELECT * FROM @extschema@.feast_prune_push_ids($1);
        $p$ $f$, c);
    REVOKE ALL ON FUNCTION feast._route_call(text, text[], text[]) FROM PUBLIC;
    REVOKE ALL ON FUNCTION feast._route_prune(interval) FROM PUBLIC;
    INSERT INTO feast.router (cluster, logical_shards) VALUES (cluster, logical_shards);
END $$;

-- the 0.4 node functions, replaced by feast._node_push and feast._node_read
DROP FUNCTION feast._shard_push(integer[], text, jsonb[], text, text, text);
DROP FUNCTION feast._shard_read(integer[], text[], jsonb[], boolean, text);
