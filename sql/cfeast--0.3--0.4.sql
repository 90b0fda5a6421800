/* cfeast 0.3 -> 0.4 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.4'" to load this file. \quit

-- Each topic of 0.4 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).

-- == serving views ==
-------------------------------------------------------------------------------
-- Serving views: what BI tools (Metabase, Superset, Grafana, Tableau, Power
-- BI, Excel through ODBC/JDBC/libpq) are pointed at.  Schema feast_serving
-- holds one view per online feature view and one per feature service:
--   feast_serving.<view>     its join keys, event_timestamp, age
--                            (now() - event_timestamp), then its features;
--   feast_serving.<service>  the join keys of its views, age (now() - the
--                            oldest event time in the row), then for each
--                            view <view>__event_timestamp and its features
--                            named <view>__<feature> (full feature names).
-- A feature value whose row is older than its view's ttl reads as NULL,
-- exactly when feast_get_online_features says OUTSIDE_MAX_AGE: both compare
-- event_timestamp < feast._ttl_cutoff(ttl) (src/serving.c: now() minus the
-- ttl as a fixed length).  A service's rows are the keys found in any of its
-- views' online tables (a UNION of their keys, key columns that a view lacks
-- NULL), each view LEFT JOINed on its own keys, so a key predicate reaches
-- every online table's primary key.  Entityless views join every row.
--
-- Names: views and services share the schema.  A new feature view may not
-- take a service's name, nor a new service a view's (42710); where an older
-- registry has both, the view gets the name and the service no view (a
-- WARNING says so).  A service gets no view either (WARNING) when a column
-- name would pass 63 bytes, or two of its views give one join key different
-- types; a service over an offline view gets none (silently).
--
-- Privileges: the views belong to the extension's owner and are
-- security_invoker: reading one needs SELECT on it and on the online table
-- columns it reads, so a view never shows more than the online tables allow.
-- feast_grant(role, 'read', obj) grants both (the object's online table
-- grants, and SELECT on feast_serving.<obj>).
--
-- Lifecycle: the registry functions keep the views current in the same
-- transaction (feast_apply_feature_view, _feature_service, _entity,
-- feast_apply, feast_delete).  Before an apply can change an online table,
-- the views over it are detached (replaced by a constant stub with the same
-- columns), so ALTER/DROP TABLE can run; afterwards each view is rebuilt
-- with CREATE OR REPLACE VIEW when its old columns are a prefix of the new
-- (grants, comments and the user's own views on it stay), else dropped and
-- created again with its table and column grants replayed (grantor: the
-- owner).  A user's view over a serving view whose columns must go makes the
-- apply fail (2BP01) rather than drop it.  Column comments repeat the online
-- table's (feature descriptions reach ODBC/JDBC as column remarks).
-- The views are not extension members: pg_dump dumps them (with grants and
-- comments) like the online tables they read.
-------------------------------------------------------------------------------
CREATE SCHEMA feast_serving;
COMMENT ON SCHEMA feast_serving IS 'cfeast serving views: one per feature view and per feature service, ttl applied';
GRANT USAGE ON SCHEMA feast_serving TO PUBLIC;

-- now() - ttl, the ttl as a fixed length, as online reads compute OUTSIDE_MAX_AGE
CREATE FUNCTION feast._ttl_cutoff(ttl interval) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'cfeast_ttl_cutoff' LANGUAGE C STRICT STABLE PARALLEL SAFE;

-- the first of age, event_age, feast_age that no other column takes
CREATE FUNCTION feast._serving_age_name(taken text[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT n FROM unnest('{age,event_age,feast_age}'::text[]) WITH ORDINALITY AS u(n, o)
     WHERE NOT n = ANY (taken) ORDER BY o LIMIT 1
$$;

-- the definition of serving view p_name: its SELECT, and each column's comment, or NULL when it
-- has none (warn: say why, where a user would expect one)
CREATE FUNCTION feast._serving_definition(p_name text, warn boolean,
                                          OUT body text, OUT cols text[], OUT comments text[],
                                          OUT view_comment text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v      feast.feature_views;
    s      feast.feature_services;
    r      record;
    tbl    regclass;
    sel    text[] := '{}';
    keys   text[] := '{}';     -- the service's join keys, in order of appearance
    ktypes text[] := '{}';
    kcomm  text[] := '{}';
    arms   text[] := '{}';
    joins  text[] := '{}';
    tss    text[] := '{}';
    fsel   text[] := '{}';
    fcols  text[] := '{}';
    fcomm  text[] := '{}';
    vkeys  text[];
    cond   text[];
    vname  text;
    i      int := 0;
    a      text;
    age    text;
    val    text;
BEGIN
    SELECT * INTO v FROM feast.feature_views fv WHERE fv.name = p_name;
    IF FOUND THEN
        IF NOT v.online OR v.online_table IS NULL THEN
            RETURN;
        END IF;
        tbl := v.online_table;
        FOR r IN SELECT e.join_key FROM unnest(v.entities) WITH ORDINALITY AS u(ent, ord)
                   JOIN feast.entities e ON e.name = u.ent ORDER BY u.ord LOOP
            sel := sel || format('t.%I', r.join_key);
            cols := cols || r.join_key;
        END LOOP;
        age := feast._serving_age_name(cols || ARRAY(SELECT f.name FROM feast.features f WHERE f.feature_view = p_name));
        sel := sel || 't.event_timestamp'::text
                   || format('pg_catalog.now() OPERATOR(pg_catalog.-) t.event_timestamp AS %I', age);
        cols := cols || 'event_timestamp'::text || age;
        FOR r IN SELECT f.name FROM feast.features f WHERE f.feature_view = p_name ORDER BY f.position LOOP
            sel := sel || CASE WHEN v.ttl IS NULL THEN format('t.%I', r.name)
                               ELSE format('CASE WHEN t.event_timestamp OPERATOR(pg_catalog.>=) feast._ttl_cutoff(%L::interval) THEN t.%I END AS %I',
                                           v.ttl, r.name, r.name) END;
            cols := cols || r.name;
        END LOOP;
        body := format('SELECT %s FROM %s t', array_to_string(sel, ', '), tbl);
        SELECT array_agg(CASE WHEN c = age
                              THEN '[now() - event_timestamp: how old the row''s values are]'
                              ELSE col_description(tbl, (SELECT at.attnum FROM pg_attribute at
                                                           WHERE at.attrelid = tbl AND at.attname = c)) END
                         ORDER BY o) INTO comments
          FROM unnest(cols) WITH ORDINALITY AS u(c, o);
        view_comment := obj_description(tbl, 'pg_class');
        RETURN;
    END IF;

    SELECT * INTO s FROM feast.feature_services fs WHERE fs.name = p_name;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- each view once, in the order the service first names it, with the features it takes
    FOR r IN SELECT split_part(x.ref, ':', 1) AS view,
                    bool_or(split_part(x.ref, ':', 2) = '') AS whole,
                    array_agg(split_part(x.ref, ':', 2) ORDER BY x.o) AS feats, min(x.o) AS first
               FROM unnest(s.features) WITH ORDINALITY AS x(ref, o)
              GROUP BY 1 ORDER BY 4 LOOP
        SELECT * INTO v FROM feast.feature_views fv WHERE fv.name = r.view;
        IF NOT FOUND OR NOT v.online OR v.online_table IS NULL THEN
            body := NULL;
            RETURN;
        END IF;
        i := i + 1;
        a := 't' || i;
        tbl := v.online_table;
        vkeys := '{}';
        cond := '{}';
        FOR vname IN SELECT e.join_key FROM unnest(v.entities) WITH ORDINALITY AS u(ent, ord)
                       JOIN feast.entities e ON e.name = u.ent ORDER BY u.ord LOOP
            vkeys := vkeys || vname;
            val := format_type((SELECT at.atttypid FROM pg_attribute at WHERE at.attrelid = tbl AND at.attname = vname), NULL);
            IF NOT vname = ANY (keys) THEN
                keys := keys || vname;
                ktypes := ktypes || val;
                kcomm := kcomm || col_description(tbl, (SELECT at.attnum FROM pg_attribute at
                                                         WHERE at.attrelid = tbl AND at.attname = vname));
            ELSIF ktypes[array_position(keys, vname)] <> val THEN
                IF warn THEN
                    RAISE WARNING 'feature service "%" gets no serving view: join key "%" is % in one of its views and % in "%"',
                                  p_name, vname, ktypes[array_position(keys, vname)], val, r.view;
                END IF;
                body := NULL;
                RETURN;
            END IF;
            cond := cond || format('%s.%I OPERATOR(pg_catalog.=) k.%I', a, vname, vname);
        END LOOP;
        joins := joins || format('LEFT JOIN %s %s ON %s', tbl, a,
                                 CASE WHEN cardinality(cond) = 0 THEN 'true' ELSE array_to_string(cond, ' AND ') END);
        -- the arm of the key set this view gives (key columns filled in below, once all are known)
        IF cardinality(vkeys) > 0 THEN
            arms := arms || (tbl::text || '|' || array_to_string(vkeys, ','));
        END IF;
        tss := tss || format('%s.event_timestamp', a);
        fsel := fsel || format('%s.event_timestamp AS %I', a, r.view || '__event_timestamp');
        fcols := fcols || (r.view || '__event_timestamp');
        fcomm := fcomm || ('[event time of the values of feature view ' || r.view || ']');
        FOR vname IN SELECT f.name FROM feast.features f
                      WHERE f.feature_view = r.view AND (r.whole OR f.name = ANY (r.feats))
                      ORDER BY CASE WHEN r.whole THEN f.position ELSE array_position(r.feats, f.name) END LOOP
            fsel := fsel || CASE WHEN v.ttl IS NULL THEN format('%s.%I AS %I', a, vname, r.view || '__' || vname)
                                 ELSE format('CASE WHEN %s.event_timestamp OPERATOR(pg_catalog.>=) feast._ttl_cutoff(%L::interval) THEN %s.%I END AS %I',
                                             a, v.ttl, a, vname, r.view || '__' || vname) END;
            fcols := fcols || (r.view || '__' || vname);
            fcomm := fcomm || col_description(tbl, (SELECT at.attnum FROM pg_attribute at
                                                     WHERE at.attrelid = tbl AND at.attname = vname));
        END LOOP;
    END LOOP;

    cols := keys || fcols;
    FOR val IN SELECT c FROM unnest(cols) c WHERE octet_length(c) > 63 LIMIT 1 LOOP
        IF warn THEN
            RAISE WARNING 'feature service "%" gets no serving view: column name "%" is longer than 63 bytes', p_name, val;
        END IF;
        body := NULL;
        cols := NULL;
        RETURN;
    END LOOP;
    IF (SELECT count(DISTINCT c) <> count(*) FROM unnest(cols) c) THEN
        IF warn THEN
            RAISE WARNING 'feature service "%" gets no serving view: two of its columns would have one name', p_name;
        END IF;
        body := NULL;
        cols := NULL;
        RETURN;
    END IF;
    age := feast._serving_age_name(cols);
    cols := keys || age || fcols;

    -- the key set: the keys of every view with entities, each arm giving NULL for keys it lacks
    IF cardinality(keys) = 0 THEN
        body := 'FROM (SELECT) k ';
    ELSE
        SELECT array_agg(format('SELECT %s FROM %s', (
                   SELECT string_agg(CASE WHEN kk = ANY (string_to_array(split_part(arm, '|', 2), ','))
                                          THEN quote_ident(kk)
                                          ELSE format('NULL::%s AS %I', ktypes[ko], kk) END, ', ' ORDER BY ko)
                     FROM unnest(keys) WITH ORDINALITY AS q(kk, ko)),
                   split_part(arm, '|', 1)) ORDER BY ao) INTO arms
          FROM unnest(arms) WITH ORDINALITY AS x(arm, ao);
        body := format('FROM (%s) k ', array_to_string(arms, ' UNION '));
    END IF;
    body := format('SELECT %s FROM %s',
                   array_to_string(ARRAY(SELECT format('k.%I', kk) FROM unnest(keys) kk)
                                   || format('pg_catalog.now() OPERATOR(pg_catalog.-) LEAST(%s) AS %I',
                                             array_to_string(tss, ', '), age)
                                   || fsel, ', '),
                   substr(body, 6) || array_to_string(joins, ' '));
    comments := kcomm || '[now() minus the oldest event time in the row: how old its stalest values are]'::text || fcomm;
    view_comment := CASE WHEN s.description <> '' THEN s.description || ' ' ELSE '' END
                    || '[cfeast feature service ' || s.name || '; feature views: '
                    || (SELECT string_agg(DISTINCT split_part(x, ':', 1), ', ') FROM unnest(s.features) x) || ']';
END $$;

-- the columns of an existing serving view: name and type, in order
CREATE FUNCTION feast._serving_columns(rel regclass, OUT names text[], OUT types text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT array_agg(a.attname::text ORDER BY a.attnum), array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- lock serving views (all when p_names is NULL), in name order, before reading what they are:
-- a concurrent apply may be rebuilding one, and its new columns are seen once it commits
CREATE FUNCTION feast._serving_lock(p_names text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n text;
BEGIN
    FOR n IN SELECT cl.relname FROM pg_class cl
              WHERE cl.relnamespace = 'feast_serving'::regnamespace AND cl.relkind = 'v'
                AND (p_names IS NULL OR cl.relname = ANY (p_names))
              ORDER BY cl.relname LOOP
        BEGIN
            EXECUTE format('LOCK TABLE feast_serving.%I IN ACCESS EXCLUSIVE MODE', n);
        EXCEPTION WHEN undefined_table THEN
            NULL;   -- dropped meanwhile
        END;
    END LOOP;
END $$;

-- detach serving views (all when p_names is NULL) from the online tables: each becomes a stub
-- with the same columns and no rows, so an apply may alter or drop the tables; _serving_build
-- puts the real definition back in the same transaction
CREATE FUNCTION feast._serving_detach(p_names text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    c record;
BEGIN
    PERFORM feast._serving_lock(p_names);
    FOR r IN SELECT cl.oid::regclass AS rel FROM pg_class cl
              WHERE cl.relnamespace = 'feast_serving'::regnamespace AND cl.relkind = 'v'
                AND (p_names IS NULL OR cl.relname = ANY (p_names))
              ORDER BY cl.relname LOOP
        SELECT * INTO c FROM feast._serving_columns(r.rel);
        EXECUTE format('CREATE OR REPLACE VIEW %s WITH (security_invoker = true) AS SELECT %s WHERE false', r.rel,
                       (SELECT string_agg(format('NULL::%s AS %I', t, n), ', ' ORDER BY o)
                          FROM unnest(c.names, c.types) WITH ORDINALITY AS u(n, t, o)));
    END LOOP;
END $$;

-- (re)build serving view p_name from the registry, or drop it when nothing of that name has one
CREATE FUNCTION feast._serving_build(p_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    d      record;
    rel    regclass := to_regclass('feast_serving.' || quote_ident(p_name));
    replaced boolean;
    acl    aclitem[];
    ext_owner oid := (SELECT x.extowner FROM pg_extension x WHERE x.extname = 'cfeast');
    g      record;
    saved  jsonb := '[]';
    i      int;
BEGIN
    IF rel IS NOT NULL THEN
        PERFORM feast._serving_lock(ARRAY[p_name]);
        rel := to_regclass('feast_serving.' || quote_ident(p_name));
    END IF;
    IF EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name = p_name)
       AND EXISTS (SELECT 1 FROM feast.feature_services s WHERE s.name = p_name) THEN
        RAISE WARNING 'feature service "%" gets no serving view: feature view "%" has that name', p_name, p_name
            USING HINT = 'Apply the service under another name and delete this one.';
    END IF;
    SELECT * INTO d FROM feast._serving_definition(p_name, true);
    IF d.body IS NULL THEN
        IF rel IS NOT NULL THEN
            EXECUTE format('DROP VIEW %s', rel);
        END IF;
        RETURN;
    END IF;
    IF rel IS NOT NULL THEN
        -- columns only added at the end: replace it in place (grants, comments, dependents stay)
        BEGIN
            EXECUTE format('CREATE OR REPLACE VIEW %s WITH (security_invoker = true) AS %s', rel, d.body);
            replaced := true;
        EXCEPTION WHEN invalid_table_definition THEN
            -- columns go, move or change type: drop and create, replaying the grants
            replaced := false;
        END;
        IF NOT replaced THEN
            SELECT c.relacl INTO acl FROM pg_class c WHERE c.oid = rel;
            FOR g IN SELECT NULL::text AS col, x.grantee, x.privilege_type, x.is_grantable FROM aclexplode(acl) x
                     UNION ALL
                     SELECT a.attname::text, x.grantee, x.privilege_type, x.is_grantable
                       FROM pg_attribute a, aclexplode(a.attacl) x
                      WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped LOOP
                IF g.grantee <> ext_owner THEN
                    saved := saved || jsonb_build_object('col', g.col, 'grantee', g.grantee, 'priv', g.privilege_type,
                                                         'grantable', g.is_grantable);
                END IF;
            END LOOP;
            EXECUTE format('DROP VIEW %s', rel);
            rel := NULL;
        END IF;
    END IF;
    IF rel IS NULL THEN
        BEGIN
            EXECUTE format('CREATE VIEW feast_serving.%I WITH (security_invoker = true) AS %s', p_name, d.body);
        EXCEPTION WHEN undefined_column OR undefined_table THEN
            -- an online table changed behind the registry's back: the apply goes on without the view
            RAISE WARNING 'feature view or service "%" gets no serving view: %', p_name, SQLERRM
                USING HINT = 'Its online table does not match the registry; re-apply the feature view with its columns restored.';
            RETURN;
        END;
    END IF;
    rel := to_regclass('feast_serving.' || quote_ident(p_name));
    IF (SELECT c.relowner FROM pg_class c WHERE c.oid = rel) <> ext_owner THEN
        EXECUTE format('ALTER VIEW %s OWNER TO %I', rel, pg_get_userbyid(ext_owner));
    END IF;
    -- made during CREATE/ALTER EXTENSION: not a member (pg_dump dumps it like the online tables)
    IF EXISTS (SELECT 1 FROM pg_depend dp WHERE dp.classid = 'pg_class'::regclass AND dp.objid = rel
                  AND dp.refclassid = 'pg_extension'::regclass AND dp.deptype = 'e') THEN
        EXECUTE format('ALTER EXTENSION cfeast DROP VIEW %s', rel);
    END IF;
    FOR g IN SELECT x FROM jsonb_array_elements(saved) x LOOP
        IF g.x ->> 'col' IS NULL OR (g.x ->> 'col') = ANY (d.cols) THEN
            EXECUTE format('GRANT %s%s ON TABLE %s TO %s%s', g.x ->> 'priv',
                           CASE WHEN g.x ->> 'col' IS NULL THEN '' ELSE format(' (%I)', g.x ->> 'col') END, rel,
                           CASE WHEN (g.x ->> 'grantee')::oid = 0 THEN 'PUBLIC'
                                ELSE quote_ident(pg_get_userbyid((g.x ->> 'grantee')::oid)) END,
                           CASE WHEN (g.x ->> 'grantable')::boolean THEN ' WITH GRANT OPTION' ELSE '' END);
        END IF;
    END LOOP;
    EXECUTE format('COMMENT ON VIEW %s IS %L', rel, d.view_comment);
    FOR i IN 1 .. cardinality(d.cols) LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', rel, d.cols[i], d.comments[i]);
    END LOOP;
END $$;

-- the serving views that show feature view p_view: its own and its services'
CREATE FUNCTION feast._serving_of_view(p_view text) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY[p_view] || COALESCE(array_agg(s.name ORDER BY s.name), '{}')
      FROM feast.feature_services s
     WHERE EXISTS (SELECT 1 FROM unnest(s.features) r WHERE split_part(r, ':', 1) = p_view)
$$;

-- build each of p_names (all serving views, views and services when NULL)
CREATE FUNCTION feast._serving_build_all(p_names text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n text;
BEGIN
    FOR n IN SELECT DISTINCT x FROM unnest(COALESCE(p_names,
                 ARRAY(SELECT c.relname::text FROM pg_class c
                        WHERE c.relnamespace = 'feast_serving'::regnamespace AND c.relkind = 'v'
                       UNION SELECT v.name FROM feast.feature_views v
                       UNION SELECT s.name FROM feast.feature_services s))) x ORDER BY 1 LOOP
        PERFORM feast._serving_build(n);
    END LOOP;
END $$;

-- a new feature view may not take a service's name, nor a new service a view's
CREATE FUNCTION feast._serving_check_new_name(p_kind text, p_name text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_kind = 'feature_view' AND NOT EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name = p_name)
       AND EXISTS (SELECT 1 FROM feast.feature_services s WHERE s.name = p_name) THEN
        RAISE EXCEPTION 'feature view "%" would share its name with feature service "%"', p_name, p_name
            USING ERRCODE = '42710',
                  DETAIL = 'Feature views and services share one namespace: each has a serving view feast_serving.<name>.';
    ELSIF p_kind = 'feature_service' AND NOT EXISTS (SELECT 1 FROM feast.feature_services s WHERE s.name = p_name)
          AND EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name = p_name) THEN
        RAISE EXCEPTION 'feature service "%" would share its name with feature view "%"', p_name, p_name
            USING ERRCODE = '42710',
                  DETAIL = 'Feature views and services share one namespace: each has a serving view feast_serving.<name>.';
    END IF;
END $$;

-- the registry functions keep the serving views current
CREATE OR REPLACE FUNCTION feast._do_apply_feature_view(p_name text, p_entities text[], p_schema jsonb, p_source text,
                                             p_ttl interval, p_online boolean,
                                             p_description text, p_tags jsonb) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r     record;
    names text[];
BEGIN
    PERFORM feast._check_name('feature view', p_name);
    PERFORM feast._serving_check_new_name('feature_view', p_name);
    names := feast._serving_of_view(p_name);
    PERFORM feast._serving_detach(names);
    SELECT * INTO r FROM feast._apply_feature_view(p_name, p_entities, p_schema, p_source, p_ttl,
                                                   p_online, p_description, p_tags);
    PERFORM feast._check_service_refs(p_name);
    PERFORM feast._serving_build_all(names);
    RETURN r.online_table;
END $$;

CREATE OR REPLACE FUNCTION feast._do_apply_feature_service(p_name text, p_features text[],
                                                p_description text, p_tags jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._check_name('feature service', p_name);
    PERFORM feast._serving_check_new_name('feature_service', p_name);
    PERFORM feast._apply_feature_service(p_name, p_features, p_description, p_tags);
    PERFORM feast._serving_build(p_name);
END $$;

CREATE OR REPLACE FUNCTION feast._do_apply_entity(p_name text, p_join_key text, p_value_type text,
                                       p_description text, p_tags jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF feast._apply_entity(p_name, p_join_key, p_value_type, p_description, p_tags) = 'updated' THEN
        -- the join key comments follow
        PERFORM feast._serving_build_all(ARRAY(
            SELECT DISTINCT unnest(feast._serving_of_view(v.name)) FROM feast.feature_views v
             WHERE p_name = ANY (v.entities)));
    END IF;
END $$;

CREATE OR REPLACE FUNCTION feast._apply_repo_checked(repo jsonb, prune boolean, caller_path text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result jsonb;
    o      jsonb;
BEGIN
    -- names the repository creates may not clash (checked before anything is written)
    FOR o IN SELECT x FROM feast._list(repo, 'feature_views') x WHERE jsonb_typeof(x -> 'name') = 'string' LOOP
        PERFORM feast._serving_check_new_name('feature_view', o ->> 'name');
        IF EXISTS (SELECT 1 FROM feast._list(repo, 'feature_services') y WHERE y ->> 'name' = o ->> 'name') THEN
            RAISE EXCEPTION 'feature view "%" would share its name with feature service "%"', o ->> 'name', o ->> 'name'
                USING ERRCODE = '42710',
                      DETAIL = 'Feature views and services share one namespace: each has a serving view feast_serving.<name>.';
        END IF;
    END LOOP;
    FOR o IN SELECT x FROM feast._list(repo, 'feature_services') x WHERE jsonb_typeof(x -> 'name') = 'string' LOOP
        PERFORM feast._serving_check_new_name('feature_service', o ->> 'name');
    END LOOP;
    PERFORM feast._serving_detach(NULL);
    result := feast._apply_repo(repo, prune, caller_path);
    -- services come after views in a repository: check their references at the end
    PERFORM feast._check_service_refs(NULL);
    PERFORM feast._serving_build_all(NULL);
    RETURN result;
END $$;

CREATE OR REPLACE FUNCTION feast._do_delete(p_kind text, p_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_kind = 'feature_view' AND EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name = p_name) THEN
        -- its online table goes: so does its serving view (a service naming it refuses the delete)
        PERFORM feast._serving_detach(ARRAY[p_name]);
    END IF;
    PERFORM feast._delete(p_kind, p_name);
    IF p_kind IN ('feature_view', 'feature_service') THEN
        PERFORM feast._serving_build(p_name);
    END IF;
END $$;

-- feast_grant(role, 'read', obj) also grants SELECT on feast_serving.<obj>
CREATE OR REPLACE FUNCTION feast._do_grant(p_role name, p_action text, p_object text) RETURNS SETOF text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    g   record;
    rel regclass;
    stmt text;
BEGIN
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
        rel := to_regclass('feast_serving.' || quote_ident(p_object));
        IF rel IS NOT NULL THEN
            stmt := format('GRANT SELECT ON TABLE %s TO %s', rel,
                           CASE WHEN p_role = 'public' THEN 'PUBLIC' ELSE quote_ident(p_role) END);
            EXECUTE stmt;
            RETURN NEXT stmt;
        END IF;
    END IF;
END $$;
REVOKE ALL ON FUNCTION feast._do_grant(name, text, text) FROM PUBLIC;

-- existing stores get their serving views; a role that may read every online column a serving
-- view reads (what feast_grant's read gave it) may read the view
DO $$
DECLARE
    r record;
BEGIN
    PERFORM feast._serving_build_all(NULL);
    FOR r IN
        WITH used AS (
            -- the online columns each serving view reads
            SELECT v.oid AS view, d.refobjid AS tbl, d.refobjsubid AS col
              FROM pg_catalog.pg_class v
              JOIN pg_catalog.pg_rewrite w ON w.ev_class OPERATOR(pg_catalog.=) v.oid
              JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                                         AND d.objid OPERATOR(pg_catalog.=) w.oid
                                         AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                                         AND d.refobjsubid OPERATOR(pg_catalog.>) 0
             WHERE v.relnamespace OPERATOR(pg_catalog.=) 'feast_serving'::pg_catalog.regnamespace
               AND d.refobjid OPERATOR(pg_catalog.<>) v.oid),
        grantees AS (
            -- the roles holding any grant on those tables or columns
            SELECT DISTINCT u.view, x.grantee
              FROM used u JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) u.tbl,
                   pg_catalog.aclexplode(c.relacl) x
             WHERE x.grantee OPERATOR(pg_catalog.<>) c.relowner
            UNION
            SELECT DISTINCT u.view, x.grantee
              FROM used u JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) u.tbl
                                                       AND a.attnum OPERATOR(pg_catalog.=) u.col,
                   pg_catalog.aclexplode(a.attacl) x)
        SELECT g.view::pg_catalog.regclass AS view,
               CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'public'
                    ELSE pg_catalog.pg_get_userbyid(g.grantee) END AS who
          FROM grantees g
         WHERE NOT EXISTS (SELECT 1 FROM used u
                            WHERE u.view OPERATOR(pg_catalog.=) g.view
                              AND NOT pg_catalog.has_column_privilege(
                                      CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'public'
                                           ELSE pg_catalog.pg_get_userbyid(g.grantee) END::text,
                                      u.tbl, u.col::int2, 'SELECT'::text))
         ORDER BY 1, 2 LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON TABLE %s TO %s', r.view,
                                  CASE WHEN r.who OPERATOR(pg_catalog.=) 'public' THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(r.who) END);
    END LOOP;
END $$;
