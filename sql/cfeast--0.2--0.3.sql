/* cfeast 0.2 -> 0.3 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.3'" to load this file. \quit

-- == privilege model ==
-------------------------------------------------------------------------------
-- The privilege model.  Each sentence has a test (sql/security_model.sql,
-- test/tap/004_privilege_attacks.pl).
--
-- 1. The registry (feast.*) and the online tables (feast_online.*) belong to
--    the extension's owner, the role that ran CREATE EXTENSION (a superuser).
--    Nobody else may write the registry, or attach triggers, rules or
--    policies to an online table; an update to 0.3 gives existing online
--    tables to that owner (their former owner keeps SELECT, INSERT, UPDATE,
--    DELETE and TRUNCATE on them).  No role is created: roles are
--    cluster-wide, and several databases of one cluster may hold cfeast.
-- 2. The registry changes only through feast_apply*, feast_delete and
--    feast_grant.  They run as the extension's owner (switched in C:
--    src/privileges.c) after PostgreSQL checked EXECUTE on them for the
--    caller; EXECUTE is revoked from PUBLIC, and feast_grant(role, 'apply',
--    '*') grants it on feast_apply*, feast_delete.  Their code pins
--    search_path, validates every name, and checks the caller's own rights
--    where the caller's data is concerned (feast._caller()).
-- 3. Applying a batch source or a feature view needs SELECT on every column
--    of the batch relation that it uses (and USAGE on its schema), for the
--    role applying it (42501 otherwise).
-- 4. Each feature view records the role that last applied it
--    (feast.feature_views.applied_by).  Materialization needs SELECT on the
--    source columns for both its caller and that role (42501 otherwise), and
--    reads the source as that role: a privileged caller never moves rows
--    that the view's owner of record could not read, nor runs its code.
-- 5. feast.materialization_intervals is written only by feast_materialize*
--    (for the views whose online tables the caller has just written) and
--    feast_delete.
-- 6. feast_grant grants on the named object only: push (a push source):
--    SELECT, INSERT, UPDATE on its views' online tables, INSERT on its batch
--    relation; read (a view): SELECT on its online table; read (a service):
--    SELECT on the columns the service names (join keys, its features,
--    event_timestamp), or the whole table for a whole-view reference; train
--    (a view): SELECT on its batch relation; train (a service): SELECT on
--    the batch relation columns its features are read from (join keys, the
--    timestamps, its features), or the whole relation for a whole-view
--    reference; materialize (a
--    view): SELECT on the batch relation, SELECT, INSERT, UPDATE on the
--    online table; apply (*): EXECUTE on the registry functions.  Grants on
--    cfeast's own tables are made as the extension's owner; grants on the
--    user's relations (batch relations, their schemas) as the caller, who
--    must be able to grant them.
-- 7. Online reads (feast_get_online_features, cfeast-server) work with
--    column grants: a caller without SELECT on the table but with it on
--    every column read (join keys, the features asked for, event_timestamp)
--    reads as the table's owner; on a table with row security only a table
--    grant reads (an owner would bypass the policies).
-------------------------------------------------------------------------------

-- who calls: the role whose rights the registry functions check
CREATE FUNCTION feast._caller() RETURNS regrole
    AS 'MODULE_PATHNAME', 'cfeast_caller' LANGUAGE C STABLE;
-- the caller of the registry function in progress, NULL outside one
CREATE FUNCTION feast._privileged_caller() RETURNS regrole
    AS 'MODULE_PATHNAME', 'cfeast_privileged_caller' LANGUAGE C STABLE;
-- run one GRANT built by feast_grant with the caller's rights
CREATE FUNCTION feast._exec_as_caller(stmt text) RETURNS void
    AS 'MODULE_PATHNAME', 'cfeast_exec_as_caller' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION feast._exec_as_caller(text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- The owner of record of each view
-------------------------------------------------------------------------------
ALTER TABLE feast.feature_views ADD COLUMN applied_by regrole;
-- until now the online table's owner was the role that applied the view
UPDATE feast.feature_views v SET applied_by = c.relowner::regrole
  FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) v.online_table;

-- set by the registry functions; rows written otherwise (pg_restore) keep theirs
CREATE FUNCTION feast._record_applier() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.applied_by := COALESCE(feast._privileged_caller(), NEW.applied_by);
    RETURN NEW;
END $$;
CREATE TRIGGER record_applier BEFORE INSERT OR UPDATE ON feast.feature_views
    FOR EACH ROW EXECUTE FUNCTION feast._record_applier();

-------------------------------------------------------------------------------
-- Apply checks the caller's rights on the columns it uses
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION feast._check_column(rel regclass, col text, what text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    t    text;
    cols text;
    who  oid := feast._caller()::oid;
BEGIN
    SELECT c.atttype INTO t FROM feast._relation_columns(rel) c WHERE c.attname = col;
    IF NOT FOUND THEN
        SELECT string_agg(c.attname, ', ') INTO cols FROM feast._relation_columns(rel) c;
        RAISE EXCEPTION 'column "%" (%) does not exist in relation %', col, what, rel
            USING ERRCODE = '42703',
                  DETAIL = 'The relation has columns: ' || COALESCE(cols, '(none)') || '.';
    END IF;
    IF NOT has_schema_privilege(who, (SELECT c.relnamespace FROM pg_class c WHERE c.oid = rel), 'USAGE')
       OR NOT has_column_privilege(who, rel::oid, col, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied to use column "%" (%) of relation %', col, what, rel
            USING ERRCODE = '42501',
                  DETAIL = 'Role ' || quote_ident(pg_get_userbyid(who)) || ' may not SELECT it; '
                           || 'applying a source or a view needs SELECT on every column it reads.',
                  HINT = 'Grant SELECT on the relation (and USAGE on its schema) to the role applying it.';
    END IF;
    RETURN t;
END $$;

-- a feature that a service names must stay in its view
CREATE FUNCTION feast._check_service_refs(p_view text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r record;
BEGIN
    SELECT s.name AS service, split_part(ref, ':', 1) AS view, split_part(ref, ':', 2) AS feature INTO r
      FROM feast.feature_services s, unnest(s.features) AS ref
     WHERE (p_view IS NULL OR split_part(ref, ':', 1) = p_view)
       AND split_part(ref, ':', 2) <> ''
       AND NOT EXISTS (SELECT 1 FROM feast.features f
                        WHERE f.feature_view = split_part(ref, ':', 1) AND f.name = split_part(ref, ':', 2))
     ORDER BY 1, 2, 3 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot drop feature "%" of feature view "%": feature service "%" names it',
                        r.feature, r.view, r.service
            USING ERRCODE = '2BP01',
                  HINT = 'Remove "' || r.view || ':' || r.feature || '" from the service first (in feast_apply, the same repository may do it).';
    END IF;
END $$;

-------------------------------------------------------------------------------
-- The registry functions' work, run as the extension's owner
-- (feast_<x> in C calls feast._do_<x>: src/privileges.c)
-------------------------------------------------------------------------------
CREATE FUNCTION feast._do_apply_entity(p_name text, p_join_key text, p_value_type text,
                                       p_description text, p_tags jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._apply_entity(p_name, p_join_key, p_value_type, p_description, p_tags);
END $$;

CREATE FUNCTION feast._do_apply_batch_source(p_name text, p_relation regclass, p_timestamp_field text,
                                             p_created text, p_field_mapping jsonb,
                                             p_description text, p_tags jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._apply_batch_source(p_name, p_relation, p_timestamp_field, p_created,
                                      p_field_mapping, p_description, p_tags);
END $$;

CREATE FUNCTION feast._do_apply_push_source(p_name text, p_batch_source text,
                                            p_description text, p_tags jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._apply_push_source(p_name, p_batch_source, p_description, p_tags);
END $$;

CREATE FUNCTION feast._do_apply_feature_view(p_name text, p_entities text[], p_schema jsonb, p_source text,
                                             p_ttl interval, p_online boolean,
                                             p_description text, p_tags jsonb) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM feast._apply_feature_view(p_name, p_entities, p_schema, p_source, p_ttl,
                                                   p_online, p_description, p_tags);
    PERFORM feast._check_service_refs(p_name);
    RETURN r.online_table;
END $$;

CREATE FUNCTION feast._do_apply_feature_service(p_name text, p_features text[],
                                                p_description text, p_tags jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._apply_feature_service(p_name, p_features, p_description, p_tags);
END $$;

CREATE FUNCTION feast._apply_repo_checked(repo jsonb, prune boolean, caller_path text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result jsonb := feast._apply_repo(repo, prune, caller_path);
BEGIN
    -- services come after views in a repository: check their references at the end
    PERFORM feast._check_service_refs(NULL);
    RETURN result;
END $$;

-- search_path is not pinned here: relation names in the repository resolve as the caller sees them
-- (everything below is qualified)
CREATE FUNCTION feast._do_apply(repo jsonb, prune boolean) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT feast._apply_repo_checked(repo, COALESCE(prune, false), pg_catalog.current_setting('search_path'))
$$;

CREATE FUNCTION feast._do_delete(p_kind text, p_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._delete(p_kind, p_name);
END $$;

-------------------------------------------------------------------------------
-- feast_grant: each action on its object only
-------------------------------------------------------------------------------
-- the join key columns of a view's online table, quoted
CREATE FUNCTION feast._view_key_columns(p_view text) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT COALESCE(array_agg(quote_ident(e.join_key) ORDER BY u.ord), '{}')
      FROM feast.feature_views v, unnest(v.entities) WITH ORDINALITY AS u(ent, ord)
      JOIN feast.entities e ON e.name = u.ent
     WHERE v.name = p_view
$$;

-- the registry functions that the apply action grants
CREATE FUNCTION feast._apply_functions() RETURNS SETOF regprocedure
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.oid::regprocedure
      FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
      JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'cfeast'
     WHERE p.proname IN ('feast_apply', 'feast_apply_entity', 'feast_apply_batch_source',
                         'feast_apply_push_source', 'feast_apply_feature_view',
                         'feast_apply_feature_service', 'feast_delete')
     ORDER BY p.proname
$$;

-- the statements feast_grant runs, in order; as_caller: with the caller's rights
CREATE FUNCTION feast._grant_plan(p_role name, p_action text, p_object text,
                                  OUT stmt text, OUT as_caller boolean) RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    grantee text;
    src     feast.data_sources;
    b       feast.data_sources;
    vname   text;
    tbl     regclass;
    svc     text[];
    cols    text[];
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
        stmt := pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s',
                                  (SELECT string_agg(f::text, ', ') FROM feast._apply_functions() f), grantee);
        as_caller := false;
        RETURN NEXT;
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
            stmt := pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON TABLE %s TO %s', tbl, grantee);
            as_caller := false;
            RETURN NEXT;
        END LOOP;
        SELECT * INTO b FROM feast.data_sources s WHERE s.name OPERATOR(pg_catalog.=) src.batch_source;
        IF b.relation IS NOT NULL THEN
            RETURN QUERY SELECT g, true FROM feast._grant_relation(b.relation, 'INSERT', grantee) g;
        END IF;
        RETURN;
    END IF;

    -- a service's references, when the object is a service
    IF NOT EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name OPERATOR(pg_catalog.=) p_object) THEN
        SELECT s.features INTO svc FROM feast.feature_services s WHERE s.name OPERATOR(pg_catalog.=) p_object;
    END IF;
    FOREACH vname IN ARRAY feast._grant_views(p_object) LOOP
        IF p_action = 'read' THEN
            tbl := feast._grant_online_table(vname);
            as_caller := false;
            IF svc IS NULL OR vname = ANY (svc) THEN
                stmt := pg_catalog.format('GRANT SELECT ON TABLE %s TO %s', tbl, grantee);
            ELSE
                -- exactly the columns the service answers from: keys, its features, event_timestamp
                SELECT feast._view_key_columns(vname)
                       || array_agg(quote_ident(split_part(r, ':', 2)) ORDER BY o)
                       || 'event_timestamp'::text INTO cols
                  FROM unnest(svc) WITH ORDINALITY AS u(r, o)
                 WHERE split_part(r, ':', 1) = vname;
                stmt := pg_catalog.format('GRANT SELECT (%s) ON TABLE %s TO %s',
                                          array_to_string(cols, ', '), tbl, grantee);
            END IF;
            RETURN NEXT;
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
        IF p_action = 'train' AND svc IS NOT NULL AND NOT vname = ANY (svc) THEN
            -- exactly the source columns the service's features are read from
            SELECT array_agg(quote_ident(z.c) ORDER BY z.o) INTO cols FROM (
                SELECT feast._source_column(b.field_mapping, e.join_key) AS c, u.ord AS o
                  FROM feast.feature_views v, unnest(v.entities) WITH ORDINALITY AS u(ent, ord)
                  JOIN feast.entities e ON e.name = u.ent
                 WHERE v.name = vname
                UNION ALL SELECT b.timestamp_field, 1000
                UNION ALL SELECT b.created_timestamp_column, 1001 WHERE b.created_timestamp_column IS NOT NULL
                UNION ALL SELECT feast._source_column(b.field_mapping, split_part(x.r, ':', 2)), 2000 + x.o
                  FROM unnest(svc) WITH ORDINALITY AS x(r, o) WHERE split_part(x.r, ':', 1) = vname) z;
            RETURN QUERY SELECT g, true
                FROM feast._grant_relation(b.relation, 'SELECT (' || array_to_string(cols, ', ') || ')', grantee) g;
        ELSE
            RETURN QUERY SELECT g, true FROM feast._grant_relation(b.relation, 'SELECT', grantee) g;
        END IF;
        IF p_action = 'materialize' THEN
            stmt := pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON TABLE %s TO %s',
                                      feast._grant_online_table(vname), grantee);
            as_caller := false;
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION feast._do_grant(p_role name, p_action text, p_object text) RETURNS SETOF text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    g record;
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
END $$;

DROP FUNCTION feast._grant_statements(name, text, text);

-------------------------------------------------------------------------------
-- The public registry functions become the C entry point
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION @extschema@.feast_apply_entity(name text, join_key text DEFAULT NULL,
                                    value_type text DEFAULT 'int64',
                                    description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS void
    AS 'MODULE_PATHNAME', 'cfeast_as_owner' LANGUAGE C;
CREATE OR REPLACE FUNCTION @extschema@.feast_apply_batch_source(name text, relation regclass, timestamp_field text,
                                          created_timestamp_column text DEFAULT NULL,
                                          field_mapping jsonb DEFAULT '{}',
                                          description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS void
    AS 'MODULE_PATHNAME', 'cfeast_as_owner' LANGUAGE C;
CREATE OR REPLACE FUNCTION @extschema@.feast_apply_push_source(name text, batch_source text,
                                         description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS void
    AS 'MODULE_PATHNAME', 'cfeast_as_owner' LANGUAGE C;
CREATE OR REPLACE FUNCTION @extschema@.feast_apply_feature_view(name text, entities text[], schema jsonb, source text,
                                          ttl interval DEFAULT NULL, online boolean DEFAULT true,
                                          description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS regclass
    AS 'MODULE_PATHNAME', 'cfeast_as_owner' LANGUAGE C;
CREATE OR REPLACE FUNCTION @extschema@.feast_apply_feature_service(name text, features text[],
                                             description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS void
    AS 'MODULE_PATHNAME', 'cfeast_as_owner' LANGUAGE C;
CREATE OR REPLACE FUNCTION @extschema@.feast_apply(repo jsonb, prune boolean DEFAULT false) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cfeast_as_owner' LANGUAGE C;
CREATE OR REPLACE FUNCTION @extschema@.feast_delete(kind text, name text) RETURNS void
    AS 'MODULE_PATHNAME', 'cfeast_as_owner' LANGUAGE C;
CREATE OR REPLACE FUNCTION @extschema@.feast_grant(role name, action text, object text) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'cfeast_as_owner' LANGUAGE C;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT * FROM feast._apply_functions() LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'feast'::regnamespace
                AND p.proname OPERATOR(pg_catalog.~~) '\_do\_%' LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;

-------------------------------------------------------------------------------
-- Existing grants and tables move to the model
-------------------------------------------------------------------------------
DO $$
DECLARE
    r     record;
    me    oid := (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user);
    who   text;
BEGIN
    -- roles that could write the registry (0.2's apply grant) may run the registry functions
    FOR r IN SELECT DISTINCT a.grantee
               FROM pg_catalog.aclexplode((SELECT c.relacl FROM pg_catalog.pg_class c
                                            WHERE c.oid OPERATOR(pg_catalog.=) 'feast.feature_views'::regclass)) a
              WHERE a.privilege_type OPERATOR(pg_catalog.=) 'INSERT'
                AND a.grantee OPERATOR(pg_catalog.<>) (SELECT c.relowner FROM pg_catalog.pg_class c
                                                        WHERE c.oid OPERATOR(pg_catalog.=) 'feast.feature_views'::regclass) LOOP
        who := CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END;
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s',
                                  (SELECT pg_catalog.string_agg(f::text, ', ') FROM feast._apply_functions() f), who);
    END LOOP;
    -- nobody but the owner writes the registry
    FOR r IN SELECT DISTINCT c.oid::regclass AS rel, a.grantee
               FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
              WHERE c.relnamespace OPERATOR(pg_catalog.=) 'feast'::regnamespace
                AND c.relkind IN ('r', 'S', 'p')
                AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
                AND a.privilege_type NOT IN ('SELECT') LOOP
        who := CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END;
        IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) r.rel) OPERATOR(pg_catalog.=) 'S' THEN
            EXECUTE pg_catalog.format('REVOKE USAGE, UPDATE ON SEQUENCE %s FROM %s CASCADE', r.rel, who);
        ELSE
            EXECUTE pg_catalog.format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE %s FROM %s CASCADE',
                                      r.rel, who);
        END IF;
    END LOOP;
    -- nobody but the owner creates online tables
    FOR r IN SELECT DISTINCT a.grantee
               FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
              WHERE n.nspname OPERATOR(pg_catalog.=) 'feast_online' AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner LOOP
        who := CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END;
        EXECUTE pg_catalog.format('REVOKE CREATE ON SCHEMA feast_online FROM %s CASCADE', who);
    END LOOP;
    -- online tables belong to the owner; their former owner keeps the data rights it had
    FOR r IN SELECT v.online_table AS tbl, c.relowner, a.rolsuper
               FROM feast.feature_views v
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) v.online_table
               JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) c.relowner
              WHERE c.relowner OPERATOR(pg_catalog.<>) me LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %I', r.tbl, current_user);
        IF NOT r.rolsuper THEN
            EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLE %s TO %I',
                                      r.tbl, pg_catalog.pg_get_userbyid(r.relowner));
        END IF;
    END LOOP;
    -- what a former owner attached stays: name it
    FOR r IN SELECT t.tgrelid::regclass AS tbl, 'trigger ' || pg_catalog.quote_ident(t.tgname) AS what
               FROM pg_catalog.pg_trigger t JOIN feast.feature_views v ON v.online_table OPERATOR(pg_catalog.=) t.tgrelid
              WHERE NOT t.tgisinternal
             UNION ALL
             SELECT p.polrelid::regclass, 'policy ' || pg_catalog.quote_ident(p.polname)
               FROM pg_catalog.pg_policy p JOIN feast.feature_views v ON v.online_table OPERATOR(pg_catalog.=) p.polrelid
             UNION ALL
             SELECT w.ev_class::regclass, 'rule ' || pg_catalog.quote_ident(w.rulename)
               FROM pg_catalog.pg_rewrite w JOIN feast.feature_views v ON v.online_table OPERATOR(pg_catalog.=) w.ev_class LOOP
        RAISE WARNING 'online table % has a %', r.tbl, r.what
            USING DETAIL = 'cfeast does not create triggers, policies or rules on online tables; it runs with the rights of whoever pushes or materializes.',
                  HINT = 'Drop it unless you created it on purpose.';
    END LOOP;
END $$;

-- == one SQL writer for push and materialize ==
-- feast_push and feast_materialize write through one INSERT ... ON CONFLICT
-- plan that reads feast._push_batch(); feast._materialize_batch() (the same
-- function under a second name) is no longer used.
DROP FUNCTION feast._materialize_batch();

-- == range retrieval follows Feast ==
-- feast_range_features_sql returns every source row in [start_ts, end_ts]
-- with its own event time (with several views: each distinct (join keys,
-- event time) of their rows in the window, answered as of that time), as
-- Feast's retrieval without entity rows does; latest_only => true keeps the
-- former answer, each key once at end_ts.  EXECUTE stays with PUBLIC, as
-- before: the function only writes a SELECT, which runs with the caller's
-- rights.
DROP FUNCTION @extschema@.feast_range_features_sql(timestamptz, timestamptz, text[], boolean, text);
CREATE FUNCTION @extschema@.feast_range_features_sql(start_ts timestamptz DEFAULT NULL,
                                          end_ts timestamptz DEFAULT pg_catalog.now(),
                                          features text[] DEFAULT NULL,
                                          full_feature_names boolean DEFAULT false,
                                          feature_service text DEFAULT NULL,
                                          latest_only boolean DEFAULT false)
    RETURNS text
    AS 'MODULE_PATHNAME', 'cfeast_range_features_sql' LANGUAGE C;
-- == apply-time type checks ==
-- A join key or feature is refused at apply (42804) unless its source column
-- has a type that materialize and the point-in-time join convert to the dtype
-- for every value: integers only widen, strings, bytes, booleans, timestamps
-- and JSON stay in their kind, floats read any number.  (Before, text under
-- an int64 key applied and then failed in the first materialization.)
--   int32           smallint, integer
--   int64           smallint, integer, bigint
--   float32/64      smallint, integer, bigint, real, double precision, numeric
--   string          text, character varying, character
--   bytes           bytea
--   bool            boolean
--   unix_timestamp  timestamp with time zone, timestamp (UTC), date (UTC midnight)
--   json            jsonb, json
--   array(T)        an array whose element type T accepts (array(unix_timestamp): timestamptz[] only)
-- Domains count as their base type.

-- a type with its domains peeled off
CREATE FUNCTION feast._base_type(typ oid) RETURNS oid
LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t oid := typ;
    b oid;
BEGIN
    LOOP
        SELECT y.typbasetype INTO b FROM pg_catalog.pg_type y WHERE y.oid OPERATOR(pg_catalog.=) t;
        EXIT WHEN b IS NULL OR b OPERATOR(pg_catalog.=) 0;
        t := b;
    END LOOP;
    RETURN t;
END $$;

-- the element type of an array type (domains peeled off), or NULL for a scalar
CREATE FUNCTION feast._array_element(typ oid) RETURNS oid
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT feast._base_type(y.typelem) FROM pg_catalog.pg_type y
     WHERE y.oid OPERATOR(pg_catalog.=) feast._base_type(typ)
       AND y.typcategory OPERATOR(pg_catalog.=) 'A' AND y.typelem OPERATOR(pg_catalog.<>) 0
$$;

-- the scalar column types a scalar dtype reads
CREATE FUNCTION feast._dtype_column_types(base text) RETURNS regtype[]
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE base
        WHEN 'int32' THEN '{smallint,integer}'::regtype[]
        WHEN 'int64' THEN '{smallint,integer,bigint}'::regtype[]
        WHEN 'float32' THEN '{smallint,integer,bigint,real,double precision,numeric}'::regtype[]
        WHEN 'float64' THEN '{smallint,integer,bigint,real,double precision,numeric}'::regtype[]
        WHEN 'string' THEN '{text,character varying,character}'::regtype[]
        WHEN 'bytes' THEN '{bytea}'::regtype[]
        WHEN 'bool' THEN '{boolean}'::regtype[]
        WHEN 'unix_timestamp' THEN '{timestamp with time zone,timestamp without time zone,date}'::regtype[]
        WHEN 'json' THEN '{jsonb,json}'::regtype[]
    END
$$;

-- the element types of the array column types array(base) reads: those of base, except that
-- array(unix_timestamp) reads timestamptz[] only (the array cast would read timestamp[] and
-- date[] in the session's TimeZone, not as UTC)
CREATE FUNCTION feast._dtype_element_types(base text) RETURNS regtype[]
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE base WHEN 'unix_timestamp' THEN '{timestamp with time zone}'::regtype[]
                     ELSE feast._dtype_column_types(base) END
$$;

-- does a column of type "typ" feed canonical dtype "dtype"?
CREATE FUNCTION feast._dtype_accepts(dtype text, typ oid) RETURNS boolean
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN dtype OPERATOR(pg_catalog.~~) 'array(%)'
                THEN COALESCE(feast._array_element(typ)::regtype OPERATOR(pg_catalog.=) ANY
                              (feast._dtype_element_types(pg_catalog.substr(dtype, 7, pg_catalog.length(dtype) OPERATOR(pg_catalog.-) 7))),
                              false)
                ELSE feast._array_element(typ) IS NULL
                     AND feast._base_type(typ)::regtype OPERATOR(pg_catalog.=) ANY (feast._dtype_column_types(dtype))
           END
$$;

-- the dtype that reads a column of type "typ" as it is, or NULL if none does
CREATE FUNCTION feast._dtype_for_type(typ oid) RETURNS text
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    WITH t AS (SELECT feast._array_element(typ) AS elem, feast._base_type(typ) AS base),
         s AS (SELECT t.elem, CASE COALESCE(t.elem, t.base)::regtype
                    WHEN 'smallint'::regtype THEN 'int32'
                    WHEN 'integer'::regtype THEN 'int32'
                    WHEN 'bigint'::regtype THEN 'int64'
                    WHEN 'real'::regtype THEN 'float32'
                    WHEN 'double precision'::regtype THEN 'float64'
                    WHEN 'numeric'::regtype THEN 'float64'
                    WHEN 'text'::regtype THEN 'string'
                    WHEN 'character varying'::regtype THEN 'string'
                    WHEN 'character'::regtype THEN 'string'
                    WHEN 'bytea'::regtype THEN 'bytes'
                    WHEN 'boolean'::regtype THEN 'bool'
                    WHEN 'timestamp with time zone'::regtype THEN 'unix_timestamp'
                    WHEN 'timestamp without time zone'::regtype THEN 'unix_timestamp'
                    WHEN 'date'::regtype THEN 'unix_timestamp'
                    WHEN 'jsonb'::regtype THEN 'json'
                    WHEN 'json'::regtype THEN 'json'
                END AS d FROM t)
    SELECT CASE WHEN s.elem IS NULL THEN s.d
                WHEN s.elem::regtype OPERATOR(pg_catalog.=) ANY (feast._dtype_element_types(s.d))
                THEN 'array(' || s.d || ')' END
      FROM s
$$;

-- every join key and feature of a view must be a column of its batch relation, of a type
-- that its dtype reads
CREATE OR REPLACE FUNCTION feast._check_view_columns(p_view text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    b       feast.data_sources;
    r       record;
    col     text;
    typ     oid;
    typname text;
    use     text;
BEGIN
    b := feast._view_batch_source(p_view);
    IF b.name IS NULL THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT e.join_key AS field, e.value_type AS dtype, e.name AS entity, u.ord AS ord
          FROM feast.feature_views v, unnest(v.entities) WITH ORDINALITY AS u(ent, ord)
          JOIN feast.entities e ON e.name = u.ent
         WHERE v.name = p_view
        UNION ALL
        SELECT f.name, f.dtype, NULL, 1000000 + f.position FROM feast.features f WHERE f.feature_view = p_view
        ORDER BY 4
    LOOP
        col := feast._source_column(b.field_mapping, r.field);
        PERFORM feast._check_column(b.relation, col,
                                    'field "' || r.field || '" of feature view "' || p_view
                                    || '", read from batch source "' || b.name || '"');
        SELECT a.atttypid, format_type(a.atttypid, a.atttypmod) INTO typ, typname
          FROM pg_attribute a
         WHERE a.attrelid = b.relation AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF feast._dtype_accepts(r.dtype, typ) THEN
            CONTINUE;
        END IF;
        use := feast._dtype_for_type(typ);
        IF r.entity IS NOT NULL THEN
            RAISE EXCEPTION 'join key "%" of feature view "%" is % (entity "%"), but column "%" of relation % has type %',
                            r.field, p_view, r.dtype, r.entity, col, b.relation, typname
                USING ERRCODE = '42804',
                      DETAIL = r.dtype || ' reads columns of type '
                               || array_to_string(feast._dtype_column_types(r.dtype)::text[], ', ') || '.',
                      HINT = CASE WHEN use IN ('int32', 'int64', 'string', 'bytes')
                                  THEN 'Apply entity "' || r.entity || '" with value_type ' || use || '.'
                                  ELSE 'Join keys are int32, int64, string or bytes: read the relation through a view that casts column "' || col || '".'
                             END;
        END IF;
        RAISE EXCEPTION 'feature "%" of feature view "%" is %, but column "%" of relation % has type %',
                        r.field, p_view, r.dtype, col, b.relation, typname
            USING ERRCODE = '42804',
                  DETAIL = CASE WHEN r.dtype LIKE 'array(%)'
                                THEN r.dtype || ' reads arrays of '
                                     || array_to_string(feast._dtype_element_types(substr(r.dtype, 7, length(r.dtype) - 7))::text[], ', ') || '.'
                                ELSE r.dtype || ' reads columns of type '
                                     || array_to_string(feast._dtype_column_types(r.dtype)::text[], ', ') || '.'
                           END,
                  HINT = CASE WHEN use IS NOT NULL
                              THEN 'Declare it with dtype ' || use || '.'
                              ELSE 'No dtype reads type ' || typname || ': read the relation through a view that casts column "' || col || '".'
                         END;
    END LOOP;
END $$;

-- == online writes for any view ==
-- feast_write_online writes rows to one online view's table, whatever feeds
-- the view (Feast's write_to_online_store, and cfeast-server's
-- /write-to-online-store, which Feast's remote online store calls for its
-- materialize and push).  Fields: the view's join keys and features,
-- event_timestamp, and created (optional), in the row or the column form of
-- feast_push, with its conversion and its write rule.  Like feast_push it is
-- executable by every role: PostgreSQL checks SELECT, INSERT, UPDATE on the
-- online table (feast_grant's materialize on the view, or push on its push
-- source, grants them).
CREATE FUNCTION @extschema@.feast_write_online(feature_view text, rows jsonb) RETURNS bigint
    AS 'MODULE_PATHNAME', 'cfeast_write_online' LANGUAGE C;
