/* cfeast 0.1 -> 0.2: feast_grant, the common grants of the privilege model */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.2'" to load this file. \quit

-------------------------------------------------------------------------------
-- Privilege model.  cfeast runs with the caller's rights: nothing is SECURITY
-- DEFINER, so every read and write is checked by PostgreSQL against the role
-- that calls feast_*.  feast_grant(role, action, object) issues the grants
-- that one action needs, and returns the statements it ran:
--   push        push source      INSERT, UPDATE and SELECT on the online table
--                                 of every view of the source (PostgreSQL
--                                 makes INSERT ... ON CONFLICT DO UPDATE read
--                                 every column it sets, EXCLUDED included);
--                                 INSERT on the batch relation (offline push)
--   read        view | service   SELECT on the online table(s)
--   train       view | service   SELECT on the batch relation(s)
--   materialize view             SELECT on the batch relation; INSERT, UPDATE,
--                                 SELECT on the online table; INSERT on
--                                 feast.materialization_intervals
--   apply       *                INSERT, UPDATE, DELETE on the registry tables
--                                 (feast.push_activity: INSERT, DELETE),
--                                 CREATE on schema feast_online
-- plus USAGE on the schema of each relation outside feast_online.
-------------------------------------------------------------------------------

-- "schema.table", quoted, for a relation; schema USAGE goes with it
CREATE FUNCTION feast._grant_relation(p_rel regclass, p_privs text, p_grantee text) RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %s', n.nspname, p_grantee)
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) p_rel
       AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['feast_online', 'feast']::pg_catalog.name[])
    UNION ALL
    SELECT pg_catalog.format('GRANT %s ON TABLE %I.%I TO %s', p_privs, n.nspname, c.relname, p_grantee)
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) p_rel
$$;

-- the feature views an object stands for: a view, or the views of a service
CREATE FUNCTION feast._grant_views(p_object text) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    views text[];
BEGIN
    IF EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name OPERATOR(pg_catalog.=) p_object) THEN
        RETURN ARRAY[p_object];
    END IF;
    SELECT pg_catalog.array_agg(DISTINCT pg_catalog.split_part(r, ':', 1)) INTO views
      FROM feast.feature_services s, pg_catalog.unnest(s.features) AS r
     WHERE s.name OPERATOR(pg_catalog.=) p_object;
    IF views IS NULL THEN
        RAISE EXCEPTION 'feature view or feature service "%" does not exist', p_object
            USING ERRCODE = '42704';
    END IF;
    RETURN views;
END $$;

-- the online table of a view, or an error if it has none
CREATE FUNCTION feast._grant_online_table(p_view text) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    tbl regclass;
BEGIN
    SELECT v.online_table INTO tbl FROM feast.feature_views v WHERE v.name OPERATOR(pg_catalog.=) p_view;
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'feature view "%" has no online table', p_view
            USING ERRCODE = '55000',
                  HINT = 'Apply it with online => true, or grant train instead of read.';
    END IF;
    RETURN tbl;
END $$;

-- the statements feast_grant runs, in order
CREATE FUNCTION feast._grant_statements(p_role name, p_action text, p_object text) RETURNS SETOF text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    grantee text;
    src     feast.data_sources;
    b       feast.data_sources;
    vname   text;
    tbl     regclass;
    t       text;
BEGIN
    IF p_role IS NULL THEN
        RAISE EXCEPTION 'role must not be null' USING ERRCODE = '22004';
    END IF;
    IF p_role OPERATOR(pg_catalog.=) 'public' THEN
        grantee := 'PUBLIC';
    ELSIF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) p_role) THEN
        RAISE EXCEPTION 'role "%" does not exist', p_role USING ERRCODE = '42704';
    ELSE
        grantee := pg_catalog.quote_ident(p_role);
    END IF;
    IF p_action IS NULL OR p_action NOT IN ('push', 'read', 'train', 'materialize', 'apply') THEN
        RAISE EXCEPTION 'unknown action "%"', p_action
            USING ERRCODE = '22023',
                  HINT = 'action is one of push (a push source), read, train (a feature view or service), materialize (a feature view), apply (*).';
    END IF;

    IF p_action = 'apply' THEN
        IF p_object IS DISTINCT FROM '*' THEN
            RAISE EXCEPTION 'the object of action apply is ''*'' (the whole registry), got %',
                            COALESCE(pg_catalog.quote_literal(p_object), 'NULL')
                USING ERRCODE = '22023';
        END IF;
        RETURN NEXT pg_catalog.format('GRANT INSERT, UPDATE, DELETE ON TABLE feast.entities, feast.data_sources, '
                                      'feast.feature_views, feast.features, feast.feature_services TO %s', grantee);
        RETURN NEXT pg_catalog.format('GRANT DELETE ON TABLE feast.materialization_intervals TO %s', grantee);
        RETURN NEXT pg_catalog.format('GRANT INSERT, DELETE ON TABLE feast.push_activity TO %s', grantee);
        RETURN NEXT pg_catalog.format('GRANT CREATE ON SCHEMA feast_online TO %s', grantee);
        RETURN;
    END IF;

    PERFORM feast._check_name(CASE p_action WHEN 'push' THEN 'push source' ELSE 'feature view or service' END,
                              p_object);
    IF p_action = 'push' THEN
        SELECT * INTO src FROM feast.data_sources s WHERE s.name OPERATOR(pg_catalog.=) p_object;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'push source "%" does not exist', p_object USING ERRCODE = '42704';
        ELSIF src.kind OPERATOR(pg_catalog.<>) 'push' THEN
            RAISE EXCEPTION 'push source "%" does not exist', p_object
                USING ERRCODE = '42704',
                      DETAIL = '"' || p_object || '" is a batch source; grant train or materialize on its views.';
        END IF;
        FOR tbl IN SELECT v.online_table FROM feast.feature_views v
                           WHERE v.source OPERATOR(pg_catalog.=) p_object AND v.online_table IS NOT NULL
                           ORDER BY v.name LOOP
            RETURN NEXT pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON TABLE %s TO %s', tbl, grantee);
        END LOOP;
        SELECT * INTO b FROM feast.data_sources s WHERE s.name OPERATOR(pg_catalog.=) src.batch_source;
        IF b.relation IS NOT NULL THEN
            RETURN QUERY SELECT * FROM feast._grant_relation(b.relation, 'INSERT', grantee);
        END IF;
        RETURN;
    END IF;

    FOREACH vname IN ARRAY feast._grant_views(p_object) LOOP
        IF p_action = 'read' THEN
            RETURN NEXT pg_catalog.format('GRANT SELECT ON TABLE %s TO %s', feast._grant_online_table(vname), grantee);
            CONTINUE;
        END IF;
        IF p_action = 'materialize' AND NOT EXISTS (SELECT 1 FROM feast.feature_views v
                                                     WHERE v.name OPERATOR(pg_catalog.=) vname) THEN
            RAISE EXCEPTION 'feature view "%" does not exist', vname USING ERRCODE = '42704';
        END IF;
        b := feast._view_batch_source(vname);
        IF b.relation IS NULL THEN
            RAISE EXCEPTION 'feature view "%" has no batch source to read', vname
                USING ERRCODE = '55000',
                      HINT = 'Its push source has no batch source; training sets and materialization read batch sources.';
        END IF;
        FOR t IN SELECT * FROM feast._grant_relation(b.relation, 'SELECT', grantee) LOOP
            RETURN NEXT t;
        END LOOP;
        IF p_action = 'materialize' THEN
            tbl := feast._grant_online_table(vname);
            RETURN NEXT pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON TABLE %s TO %s', tbl, grantee);
            RETURN NEXT pg_catalog.format('GRANT INSERT ON TABLE feast.materialization_intervals TO %s', grantee);
            RETURN NEXT pg_catalog.format('GRANT USAGE ON SEQUENCE feast.materialization_intervals_id_seq TO %s', grantee);
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION @extschema@.feast_grant(role name, action text, object text) RETURNS SETOF text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    stmt text;
BEGIN
    -- each statement once (a service's views may share a batch relation), in order
    FOR stmt IN SELECT g.s FROM feast._grant_statements(role, action, object) WITH ORDINALITY AS g(s, o)
                 GROUP BY g.s ORDER BY pg_catalog.min(g.o) LOOP
        EXECUTE stmt;
        RETURN NEXT stmt;
    END LOOP;
END $$;
COMMENT ON FUNCTION @extschema@.feast_grant(name, text, text) IS
    'grant a role what one cfeast action needs: push (push source), read, train (view or service), materialize (view), apply (*)';
-- grants are administrative: only the extension's owner runs this unless it grants EXECUTE
REVOKE ALL ON FUNCTION @extschema@.feast_grant(name, text, text) FROM PUBLIC;
