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
-- == descriptions and column comments ==
-- Each feature keeps the description and tags its schema entry gives
-- (feast.features.description, .tags; tags validated like a view's), and
-- every apply that creates or changes an online table writes its comments,
-- as the extension's owner, in the same code path: the table's says the
-- view's description, ttl and source; each feature column's its description
-- and dtype; each join key column's its entity's description and value type.
-- Re-applying an entity with another description rewrites the comments of
-- the tables that use it.  An unchanged definition writes nothing.  A schema
-- entry naming a join key takes no description or tags (describe the
-- entity instead).
ALTER TABLE feast.features ADD COLUMN description text NOT NULL DEFAULT '',
                           ADD COLUMN tags jsonb NOT NULL DEFAULT '{}';

-- the comments of a view's online table "tbl", from the registry rows
CREATE FUNCTION feast._comment_online_table(p_view text, tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET intervalstyle = 'postgres' AS $$
#variable_conflict use_column
DECLARE
    v   feast.feature_views;
    src feast.data_sources;
    r   record;
BEGIN
    SELECT * INTO v FROM feast.feature_views fv WHERE fv.name = p_view;
    IF tbl IS NULL OR v.name IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO src FROM feast.data_sources s WHERE s.name = v.source;
    EXECUTE format('COMMENT ON TABLE %s IS %L', tbl,
                   CASE WHEN v.description <> '' THEN v.description || ' ' ELSE '' END
                   || '[cfeast feature view ' || v.name
                   || '; ttl: ' || COALESCE(v.ttl::text, 'none')
                   || '; source: ' || v.source || COALESCE(' (' || src.kind || ' source)', '') || ']');
    FOR r IN SELECT e.name, e.join_key, e.value_type, e.description
               FROM unnest(v.entities) WITH ORDINALITY AS u(ent, ord)
               JOIN feast.entities e ON e.name = u.ent ORDER BY u.ord LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', tbl, r.join_key,
                       CASE WHEN r.description <> '' THEN r.description || ' ' ELSE '' END
                       || '[join key of entity ' || r.name || '; value_type: ' || r.value_type || ']');
    END LOOP;
    FOR r IN SELECT f.name, f.dtype, f.description FROM feast.features f
              WHERE f.feature_view = p_view ORDER BY f.position LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', tbl, r.name,
                       CASE WHEN r.description <> '' THEN r.description || ' ' ELSE '' END
                       || '[feature; dtype: ' || r.dtype || ']');
    END LOOP;
    EXECUTE format('COMMENT ON COLUMN %s.event_timestamp IS %L', tbl, '[event time of the row''s feature values]');
    EXECUTE format('COMMENT ON COLUMN %s.created_timestamp IS %L', tbl,
                   '[creation time of the row, when its source gives one]');
END $$;

-- (re)create the online table of a view from the registry rows, with its comments
CREATE OR REPLACE FUNCTION feast._create_online_table(p_view text) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    cols text[] := '{}';
    keys text[] := '{}';
    r    record;
    tbl  regclass;
BEGIN
    FOR r IN SELECT e.join_key, e.value_type
               FROM feast.feature_views v, unnest(v.entities) WITH ORDINALITY AS u(ent, ord)
               JOIN feast.entities e ON e.name = u.ent
              WHERE v.name = p_view ORDER BY u.ord LOOP
        cols := cols || format('%I %s NOT NULL', r.join_key, feast._dtype_online_type(r.value_type));
        keys := keys || quote_ident(r.join_key);
    END LOOP;
    FOR r IN SELECT f.name, f.online_type FROM feast.features f
              WHERE f.feature_view = p_view ORDER BY f.position LOOP
        cols := cols || format('%I %s', r.name, r.online_type);
    END LOOP;
    cols := cols || 'event_timestamp timestamptz NOT NULL'::text || 'created_timestamp timestamptz'::text;
    IF cardinality(keys) > 0 THEN
        cols := cols || format('PRIMARY KEY (%s)', array_to_string(keys, ', '));
    END IF;
    EXECUTE format('CREATE TABLE feast_online.%I (%s) WITH (fillfactor = 90)', p_view, array_to_string(cols, ', '));
    tbl := format('feast_online.%I', p_view)::regclass;
    IF cardinality(keys) = 0 THEN
        -- an entityless view holds one row
        EXECUTE format('CREATE UNIQUE INDEX %I ON %s ((true))', left(p_view, 54) || '_one_row', tbl);
    END IF;
    PERFORM feast._comment_online_table(p_view, tbl);
    RETURN tbl;
END $$;

CREATE OR REPLACE FUNCTION feast._apply_feature_view(p_name text, p_entities text[], p_schema jsonb, p_source text,
                                          p_ttl interval, p_online boolean, p_description text,
                                          p_tags jsonb, OUT status text, OUT online_table regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    descr     text := COALESCE(p_description, '');
    ents      text[] := COALESCE(p_entities, '{}');
    v_ttl     interval := NULLIF(p_ttl, '0'::interval);
    onl       boolean := COALESCE(p_online, true);
    tg        jsonb;
    src       feast.data_sources;
    old       feast.feature_views;
    jks       text[] := '{}';
    jk_types  text[] := '{}';
    fnames    text[] := '{}';
    fdtypes   text[] := '{}';
    fdescrs   text[] := '{}';
    ftags     jsonb[] := '{}';
    fdescr    text;
    ftg       jsonb;
    old_descrs text[];
    old_ftags jsonb[];
    e         record;
    f         jsonb;
    fname     text;
    fdtype    text;
    k         text;
    i         int;
    other     record;
    old_feats text[];
    new_feats text[];
    tbl       regclass;
    changed_shape boolean;
BEGIN
    PERFORM feast._check_name('feature view', p_name);
    tg := feast._check_tags('feature view "' || p_name || '"', p_tags);
    IF v_ttl < '0'::interval THEN
        RAISE EXCEPTION 'ttl of feature view "%" must not be negative, got %', p_name, v_ttl USING ERRCODE = '22023';
    END IF;

    -- entities and their join keys, in the order given
    FOREACH k IN ARRAY ents LOOP
        SELECT * INTO e FROM feast.entities en WHERE en.name = k;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'entity "%" of feature view "%" does not exist', k, p_name USING ERRCODE = '42704';
        END IF;
        IF e.join_key = ANY (jks) THEN
            RAISE EXCEPTION 'feature view "%" has two entities with join key "%"', p_name, e.join_key
                USING ERRCODE = '42710';
        END IF;
        jks := jks || e.join_key::text;
        jk_types := jk_types || e.value_type::text;
    END LOOP;

    -- the source
    SELECT * INTO src FROM feast.data_sources s WHERE s.name = p_source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'data source "%" of feature view "%" does not exist', p_source, p_name
            USING ERRCODE = '42704';
    END IF;

    -- the schema: [{"name": ..., "dtype": ...}, ...]; entries naming a join key are the key's own column
    IF p_schema IS NULL OR jsonb_typeof(p_schema) <> 'array' THEN
        RAISE EXCEPTION 'schema of feature view "%" must be a JSON array of {"name": ..., "dtype": ...}', p_name
            USING ERRCODE = '22023';
    END IF;
    i := 0;
    FOR f IN SELECT x FROM jsonb_array_elements(p_schema) x LOOP
        IF jsonb_typeof(f) <> 'object' OR NOT (f ? 'name') OR NOT (f ? 'dtype')
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(f) kk WHERE kk NOT IN ('name', 'dtype', 'description', 'tags'))
           OR jsonb_typeof(f -> 'name') <> 'string' OR jsonb_typeof(f -> 'dtype') <> 'string' THEN
            RAISE EXCEPTION 'schema of feature view "%": entry % must be {"name": "...", "dtype": "..."}, got %', p_name, i, f
                USING ERRCODE = '22023';
        END IF;
        fname := feast._check_name('feature', f ->> 'name');
        fdtype := feast._dtype_canonical(f ->> 'dtype', 'dtype of feature "' || fname || '"');
        IF jsonb_typeof(f -> 'description') NOT IN ('string', 'null') THEN
            RAISE EXCEPTION 'description of feature "%" of feature view "%" must be a string, got %',
                            fname, p_name, jsonb_typeof(f -> 'description')
                USING ERRCODE = '22023';
        END IF;
        fdescr := COALESCE(f ->> 'description', '');
        ftg := feast._check_tags('feature "' || fname || '" of feature view "' || p_name || '"', f -> 'tags');
        IF fname = ANY (jks) THEN
            IF fdtype <> jk_types[array_position(jks, fname)] THEN
                RAISE EXCEPTION 'schema of feature view "%" gives join key "%" dtype %, but its entity says %',
                                p_name, fname, fdtype, jk_types[array_position(jks, fname)]
                    USING ERRCODE = '42804';
            END IF;
            IF fdescr <> '' OR ftg <> '{}' THEN
                RAISE EXCEPTION 'schema of feature view "%": join key "%" takes no description or tags', p_name, fname
                    USING ERRCODE = '22023',
                          HINT = 'Its column is described by entity "' || (SELECT en.name FROM feast.entities en
                                  WHERE en.name = ANY (ents) AND en.join_key = fname LIMIT 1)
                                 || '": give the description to feast_apply_entity.';
            END IF;
        ELSE
            IF fname IN ('event_timestamp', 'created_timestamp') THEN
                RAISE EXCEPTION 'feature name "%" of feature view "%" is reserved for the online table''s timestamps',
                                fname, p_name USING ERRCODE = '42939';
            END IF;
            IF fname = ANY (fnames) THEN
                RAISE EXCEPTION 'feature view "%" has two features named "%"', p_name, fname USING ERRCODE = '42701';
            END IF;
            fnames := fnames || fname;
            fdtypes := fdtypes || fdtype;
            fdescrs := fdescrs || fdescr;
            ftags := ftags || ftg;
        END IF;
        i := i + 1;
    END LOOP;
    IF cardinality(fnames) = 0 THEN
        RAISE EXCEPTION 'feature view "%" has no features', p_name USING ERRCODE = '22023';
    END IF;

    -- views fed by one push source share the push's field names: they must agree
    IF src.kind = 'push' THEN
        FOR other IN
            SELECT f2.feature_view, f2.name, f2.dtype FROM feast.features f2
              JOIN feast.feature_views v2 ON v2.name = f2.feature_view
             WHERE v2.source = p_source AND v2.name <> p_name
        LOOP
            IF other.name = ANY (fnames) AND other.dtype <> fdtypes[array_position(fnames, other.name)] THEN
                RAISE EXCEPTION 'feature "%" is % in feature view "%" but % in "%", and both read push source "%"',
                                other.name, other.dtype, other.feature_view,
                                fdtypes[array_position(fnames, other.name)], p_name, p_source
                    USING ERRCODE = '42804',
                          HINT = 'Views fed by one push source read the same fields; give the feature one dtype.';
            END IF;
            IF other.name = ANY (jks) THEN
                RAISE EXCEPTION 'field "%" is a feature of view "%" but a join key of "%", and both read push source "%"',
                                other.name, other.feature_view, p_name, p_source USING ERRCODE = '42710';
            END IF;
        END LOOP;
        FOR other IN
            SELECT v2.name, en.join_key FROM feast.feature_views v2, unnest(v2.entities) AS u(ent)
              JOIN feast.entities en ON en.name = u.ent
             WHERE v2.source = p_source AND v2.name <> p_name
        LOOP
            IF other.join_key = ANY (fnames) THEN
                RAISE EXCEPTION 'field "%" is a join key of view "%" but a feature of "%", and both read push source "%"',
                                other.join_key, other.name, p_name, p_source USING ERRCODE = '42710';
            END IF;
        END LOOP;
    END IF;

    SELECT * INTO old FROM feast.feature_views v WHERE v.name = p_name FOR UPDATE;
    IF FOUND THEN
        SELECT array_agg(f2.name || ':' || f2.dtype ORDER BY f2.position) INTO old_feats
          FROM feast.features f2 WHERE f2.feature_view = p_name;
        SELECT array_agg(f2.description ORDER BY f2.position), array_agg(f2.tags ORDER BY f2.position)
          INTO old_descrs, old_ftags
          FROM feast.features f2 WHERE f2.feature_view = p_name;
        SELECT array_agg(a || ':' || b ORDER BY o) INTO new_feats
          FROM unnest(fnames, fdtypes) WITH ORDINALITY AS u(a, b, o);
        IF old.entities = ents AND old.source = p_source AND old.ttl IS NOT DISTINCT FROM v_ttl
           AND old.online = onl AND old.description = descr AND old.tags = tg AND old_feats = new_feats
           AND old_descrs = fdescrs AND old_ftags = ftags THEN
            status := 'unchanged';
            online_table := old.online_table;
            RETURN;
        END IF;
    END IF;

    -- record the definition
    IF old.name IS NULL THEN
        INSERT INTO feast.feature_views (name, entities, source, ttl, online, description, tags)
        VALUES (p_name, ents, p_source, v_ttl, onl, descr, tg);
        INSERT INTO feast.push_activity (feature_view) VALUES (p_name) ON CONFLICT DO NOTHING;
        status := 'created';
    ELSE
        UPDATE feast.feature_views v
           SET entities = ents, source = p_source, ttl = v_ttl, online = onl, description = descr,
               tags = tg, updated_at = now()
         WHERE v.name = p_name;
        status := 'updated';
    END IF;
    DELETE FROM feast.features f2 WHERE f2.feature_view = p_name;
    INSERT INTO feast.features (feature_view, name, dtype, online_type, position, description, tags)
    SELECT p_name, a, b, feast._dtype_online_type(b), o::int, d, t
      FROM unnest(fnames, fdtypes, fdescrs, ftags) WITH ORDINALITY AS u(a, b, d, t, o);
    PERFORM feast._check_view_columns(p_name);

    -- the online table
    tbl := old.online_table;
    IF tbl IS NOT NULL AND (NOT onl OR old.entities <> ents) THEN
        IF NOT feast._table_is_empty(tbl) THEN
            RAISE EXCEPTION 'cannot % feature view "%": its online table % holds rows',
                            CASE WHEN NOT onl THEN 'take offline' ELSE 'change the entities of' END, p_name, tbl
                USING ERRCODE = '55000',
                      HINT = 'TRUNCATE ' || tbl::text || ' first, or apply the new definition under another name.';
        END IF;
        EXECUTE format('DROP TABLE %s', tbl);
        tbl := NULL;
    END IF;
    IF onl AND tbl IS NULL THEN
        tbl := feast._create_online_table(p_name);
    ELSIF onl THEN
        -- same entities: add, retype (only when empty) and drop feature columns
        FOR i IN 1 .. cardinality(fnames) LOOP
            SELECT f2.dtype INTO fdtype FROM unnest(old_feats) AS x(s),
                   LATERAL (SELECT split_part(x.s, ':', 1) AS name, substr(x.s, length(split_part(x.s, ':', 1)) + 2) AS dtype) f2
             WHERE f2.name = fnames[i];
            IF NOT FOUND THEN
                EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', tbl, fnames[i], feast._dtype_online_type(fdtypes[i]));
            ELSIF fdtype <> fdtypes[i] THEN
                IF NOT feast._table_is_empty(tbl) THEN
                    RAISE EXCEPTION 'cannot change feature "%" of view "%" from % to %: its online table % holds rows',
                                    fnames[i], p_name, fdtype, fdtypes[i], tbl
                        USING ERRCODE = '55000',
                              HINT = 'TRUNCATE ' || tbl::text || ' first, or add the feature under a new name.';
                END IF;
                EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE %s USING NULL', tbl, fnames[i],
                               feast._dtype_online_type(fdtypes[i]));
            END IF;
        END LOOP;
        FOR fname IN SELECT split_part(x.s, ':', 1) FROM unnest(old_feats) AS x(s) LOOP
            IF NOT fname = ANY (fnames) THEN
                EXECUTE format('ALTER TABLE %s DROP COLUMN %I', tbl, fname);
            END IF;
        END LOOP;
        -- the description, ttl, source or a feature changed: the comments follow
        PERFORM feast._comment_online_table(p_name, tbl);
    END IF;
    UPDATE feast.feature_views v SET online_table = tbl WHERE v.name = p_name;
    online_table := tbl;
END $$;

-- an entity's new description reaches the join key columns of the online tables using it
CREATE OR REPLACE FUNCTION feast._apply_entity(p_name text, p_join_key text, p_value_type text,
                                    p_description text, p_tags jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    jk    text;
    vt    text;
    descr text := COALESCE(p_description, '');
    tg    jsonb;
    old   feast.entities;
    users text[];
    r     record;
BEGIN
    PERFORM feast._check_name('entity', p_name);
    jk := feast._check_name('join key', COALESCE(p_join_key, p_name));
    vt := feast._dtype_canonical(COALESCE(p_value_type, 'int64'), 'value_type of entity "' || p_name || '"');
    IF vt NOT IN ('int32', 'int64', 'string', 'bytes') THEN
        RAISE EXCEPTION 'value_type of entity "%" must be int32, int64, string or bytes, got %', p_name, vt
            USING ERRCODE = '22023';
    END IF;
    IF jk IN ('event_timestamp', 'created_timestamp') THEN
        RAISE EXCEPTION 'join key "%" of entity "%" is reserved for the online tables'' timestamps', jk, p_name
            USING ERRCODE = '42939';
    END IF;
    tg := feast._check_tags('entity "' || p_name || '"', p_tags);

    SELECT * INTO old FROM feast.entities WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO feast.entities (name, join_key, value_type, description, tags)
        VALUES (p_name, jk, vt, descr, tg);
        RETURN 'created';
    END IF;
    IF old.join_key = jk AND old.value_type = vt AND old.description = descr AND old.tags = tg THEN
        RETURN 'unchanged';
    END IF;
    IF old.join_key <> jk OR old.value_type <> vt THEN
        SELECT array_agg(v.name ORDER BY v.name) INTO users
          FROM feast.feature_views v WHERE p_name = ANY (v.entities);
        IF users IS NOT NULL THEN
            RAISE EXCEPTION 'cannot change the join key or value type of entity "%"', p_name
                USING ERRCODE = '2BP01',
                      DETAIL = 'Feature views using it: ' || array_to_string(users, ', ') || '.',
                      HINT = 'Delete those feature views first, or apply a new entity under another name.';
        END IF;
    END IF;
    UPDATE feast.entities
       SET join_key = jk, value_type = vt, description = descr, tags = tg, updated_at = now()
     WHERE name = p_name;
    FOR r IN SELECT v.name, v.online_table FROM feast.feature_views v
              WHERE p_name = ANY (v.entities) AND v.online_table IS NOT NULL ORDER BY v.name LOOP
        PERFORM feast._comment_online_table(r.name, r.online_table);
    END LOOP;
    RETURN 'updated';
END $$;

-- online tables made before 0.3 get their comments
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT v.name, v.online_table FROM feast.feature_views v
              WHERE v.online_table IS NOT NULL ORDER BY v.name LOOP
        PERFORM feast._comment_online_table(r.name, r.online_table);
    END LOOP;
END $$;
