/* cfeast 0.3 -> 0.4 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.4'" to load this file. \quit

-- Each topic of 0.4 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).

-- == feature service projections ==
-------------------------------------------------------------------------------
-- Feature services that rename (Feast's with_name and with_join_key_map).
-- feature_services.projections maps an alias, used in the service's feature
-- references in place of a view name, to {"feature_view": "<view>",
-- "join_key_map": {"<view's join key>": "<entity row column>"}} (stored with
-- both keys filled in).  "origin:temperature" then reads feature temperature
-- of the projected view, named origin__temperature with full_feature_names,
-- and reads the view's key location_id from the entity rows' origin_id.
-- One view may appear under several aliases.  Every place that reads a
-- service resolves it through feast._service_refs (SQL) or request.c (C).
-------------------------------------------------------------------------------
ALTER TABLE feast.feature_services ADD COLUMN projections jsonb NOT NULL DEFAULT '{}';

-- a service's references, resolved: the alias used (a view name when not projected), the feature
-- view it reads, the feature (NULL: all of the view's), and the join key map ({} when none)
CREATE FUNCTION feast._service_refs(p_features text[], p_projections jsonb)
RETURNS TABLE (ord bigint, ref text, alias text, feature_view text, feature text, join_key_map jsonb)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT u.o, u.r, pg_catalog.split_part(u.r, ':', 1),
           COALESCE(p_projections OPERATOR(pg_catalog.->) pg_catalog.split_part(u.r, ':', 1)
                                  OPERATOR(pg_catalog.->>) 'feature_view',
                    pg_catalog.split_part(u.r, ':', 1)),
           NULLIF(pg_catalog.split_part(u.r, ':', 2), ''),
           COALESCE(p_projections OPERATOR(pg_catalog.->) pg_catalog.split_part(u.r, ':', 1)
                                  OPERATOR(pg_catalog.->) 'join_key_map',
                    '{}'::jsonb)
      FROM pg_catalog.unnest(p_features) WITH ORDINALITY AS u(r, o)
$$;

-- the references of service p_service with aliases resolved to views: "view:feature" or "view",
-- each once, in order of first mention (what the service reads, for grants); NULL: no such service
CREATE FUNCTION feast._service_view_refs(p_service text) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.array_agg(x.r ORDER BY x.o)
      FROM (SELECT r.feature_view OPERATOR(pg_catalog.||) COALESCE(':' OPERATOR(pg_catalog.||) r.feature, '') AS r,
                   pg_catalog.min(r.ord) AS o
              FROM feast.feature_services s, feast._service_refs(s.features, s.projections) r
             WHERE s.name OPERATOR(pg_catalog.=) p_service
             GROUP BY 1) x
$$;

-- the join keys of a view, in key order
CREATE FUNCTION feast._view_join_keys(p_view text) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT COALESCE(pg_catalog.array_agg(e.join_key ORDER BY u.ord), '{}')
      FROM feast.feature_views v, pg_catalog.unnest(v.entities) WITH ORDINALITY AS u(ent, ord)
      JOIN feast.entities e ON e.name OPERATOR(pg_catalog.=) u.ent
     WHERE v.name OPERATOR(pg_catalog.=) p_view
$$;

-- the projections argument checked against the registry and filled in:
-- {"alias": {"feature_view": "view", "join_key_map": {...}}, ...}
CREATE FUNCTION feast._check_projections(p_service text, p_projections jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    result jsonb := '{}';
    alias  text;
    spec   jsonb;
    k      text;
    vname  text;
    keys   text[];
    jkm    jsonb;
    m      record;
    cols   text[];
    dup    text;
BEGIN
    IF p_projections IS NULL OR jsonb_typeof(p_projections) = 'null' THEN
        RETURN result;
    END IF;
    IF jsonb_typeof(p_projections) <> 'object' THEN
        RAISE EXCEPTION 'projections of feature service "%" must be a JSON object, got %', p_service, jsonb_typeof(p_projections)
            USING ERRCODE = '22023',
                  HINT = 'Write {"alias": {"feature_view": "view", "join_key_map": {"view_key": "entity_column"}}}.';
    END IF;
    FOR alias, spec IN SELECT e.key, e.value FROM jsonb_each(p_projections) e ORDER BY e.key LOOP
        PERFORM feast._check_name('projection alias', alias);
        IF jsonb_typeof(spec) <> 'object' THEN
            RAISE EXCEPTION 'projection "%" of feature service "%" must be a JSON object, got %', alias, p_service, jsonb_typeof(spec)
                USING ERRCODE = '22023',
                      HINT = 'Write {"feature_view": "view", "join_key_map": {"view_key": "entity_column"}}; both keys are optional.';
        END IF;
        FOR k IN SELECT jsonb_object_keys(spec) LOOP
            IF k NOT IN ('feature_view', 'join_key_map') THEN
                RAISE EXCEPTION 'projection "%" of feature service "%": unknown key "%"', alias, p_service, k
                    USING ERRCODE = '22023', HINT = 'Allowed keys: feature_view, join_key_map.';
            END IF;
        END LOOP;
        IF jsonb_typeof(spec -> 'feature_view') NOT IN ('string', 'null') THEN
            RAISE EXCEPTION 'projection "%" of feature service "%": "feature_view" must be a string, got %', alias, p_service, spec -> 'feature_view'
                USING ERRCODE = '22023';
        END IF;
        vname := COALESCE(spec ->> 'feature_view', alias);
        PERFORM feast._check_name('feature view', vname);
        IF NOT EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name = vname) THEN
            RAISE EXCEPTION 'feature view "%" (projection "%" of service "%") does not exist', vname, alias, p_service
                USING ERRCODE = '42704';
        END IF;
        IF alias <> vname AND EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name = alias) THEN
            RAISE EXCEPTION 'projection alias "%" of feature service "%" is ambiguous: it is the name of another feature view', alias, p_service
                USING ERRCODE = '42P09',
                      DETAIL = 'The projection reads feature view "' || vname || '", but references to "' || alias
                               || '" could mean feature view "' || alias || '" itself.',
                      HINT = 'Choose an alias that is no feature view''s name.';
        END IF;
        keys := feast._view_join_keys(vname);
        jkm := COALESCE(NULLIF(spec -> 'join_key_map', 'null'::jsonb), '{}');
        IF jsonb_typeof(jkm) <> 'object' THEN
            RAISE EXCEPTION 'projection "%" of feature service "%": "join_key_map" must be a JSON object, got %', alias, p_service, jsonb_typeof(jkm)
                USING ERRCODE = '22023', HINT = 'Write {"view_key": "entity_column"}.';
        END IF;
        FOR m IN SELECT e.key, e.value FROM jsonb_each(jkm) e ORDER BY e.key LOOP
            IF NOT m.key = ANY (keys) THEN
                RAISE EXCEPTION 'join_key_map of projection "%" (service "%"): "%" is not a join key of feature view "%"',
                                alias, p_service, m.key, vname
                    USING ERRCODE = '42703',
                          DETAIL = CASE WHEN cardinality(keys) = 0 THEN 'The view has no join keys.'
                                        ELSE 'Its join keys are: ' || array_to_string(keys, ', ') || '.' END,
                          HINT = 'The map goes from the view''s join key to the entity rows'' column: {"' || COALESCE(keys[1], 'key')
                                 || '": "' || m.key || '"}.';
            END IF;
            IF jsonb_typeof(m.value) <> 'string' THEN
                RAISE EXCEPTION 'join_key_map of projection "%" (service "%"): the column for join key "%" must be a string, got %',
                                alias, p_service, m.key, m.value
                    USING ERRCODE = '22023';
            END IF;
            PERFORM feast._check_name('entity column', m.value #>> '{}');
            IF m.value #>> '{}' IN ('event_timestamp', 'created_timestamp') THEN
                RAISE EXCEPTION 'join_key_map of projection "%" (service "%"): join key "%" cannot be read from column "%"',
                                alias, p_service, m.key, m.value #>> '{}'
                    USING ERRCODE = '42939',
                          DETAIL = 'That name is reserved for the entity rows'' time.';
            END IF;
        END LOOP;
        -- the entity row column of each key: no two keys may read one column
        cols := ARRAY(SELECT COALESCE(jkm ->> x, x) FROM unnest(keys) x);
        SELECT c INTO dup FROM unnest(cols) c GROUP BY c HAVING count(*) > 1 ORDER BY c LIMIT 1;
        IF dup IS NOT NULL THEN
            RAISE EXCEPTION 'join_key_map of projection "%" (service "%") reads two join keys of feature view "%" from one column "%"',
                            alias, p_service, vname, dup
                USING ERRCODE = '42701',
                      DETAIL = 'Join keys ' || array_to_string(keys, ', ') || ' would be read from columns '
                               || array_to_string(cols, ', ') || '.',
                      HINT = 'Map each join key to a column of its own.';
        END IF;
        result := result || jsonb_build_object(alias, jsonb_build_object('feature_view', vname, 'join_key_map', jkm));
    END LOOP;
    RETURN result;
END $$;

DROP FUNCTION feast._apply_feature_service(text, text[], text, jsonb);
CREATE FUNCTION feast._apply_feature_service(p_name text, p_features text[],
                                             p_description text, p_tags jsonb,
                                             p_projections jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    descr text := COALESCE(p_description, '');
    tg    jsonb;
    proj  jsonb;
    ref   text;
    r     record;
    unused text;
    old   feast.feature_services;
BEGIN
    PERFORM feast._check_name('feature service', p_name);
    tg := feast._check_tags('feature service "' || p_name || '"', p_tags);
    IF p_features IS NULL OR cardinality(p_features) = 0 THEN
        RAISE EXCEPTION 'feature service "%" needs at least one feature reference', p_name USING ERRCODE = '22023';
    END IF;
    FOREACH ref IN ARRAY p_features LOOP
        IF ref IS NULL OR ref !~ '^[^:]+(:[^:]+)?$' THEN
            RAISE EXCEPTION 'feature reference "%" of service "%" must be "view:feature" or "view"', ref, p_name
                USING ERRCODE = '22023';
        END IF;
    END LOOP;
    proj := feast._check_projections(p_name, p_projections);
    FOR r IN SELECT * FROM feast._service_refs(p_features, proj) ORDER BY ord LOOP
        IF NOT proj ? r.alias AND NOT EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name = r.feature_view) THEN
            IF proj = '{}' THEN
                RAISE EXCEPTION 'feature view "%" (in service "%") does not exist', r.feature_view, p_name
                    USING ERRCODE = '42704';
            END IF;
            RAISE EXCEPTION 'feature view "%" (in service "%") does not exist', r.feature_view, p_name
                USING ERRCODE = '42704',
                      DETAIL = 'It is no projection alias of the service either; the aliases are: '
                               || (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(proj) k) || '.';
        END IF;
        IF r.feature IS NOT NULL AND NOT EXISTS (SELECT 1 FROM feast.features f
                                                  WHERE f.feature_view = r.feature_view AND f.name = r.feature) THEN
            IF r.alias = r.feature_view THEN
                RAISE EXCEPTION 'feature "%" of view "%" (in service "%") does not exist', r.feature, r.feature_view, p_name
                    USING ERRCODE = '42704';
            END IF;
            RAISE EXCEPTION 'feature "%" of view "%" (projection "%" of service "%") does not exist', r.feature, r.feature_view, r.alias, p_name
                USING ERRCODE = '42704';
        END IF;
    END LOOP;
    SELECT k INTO unused FROM jsonb_object_keys(proj) k
     WHERE NOT EXISTS (SELECT 1 FROM feast._service_refs(p_features, proj) r WHERE r.alias = k)
     ORDER BY k LIMIT 1;
    IF unused IS NOT NULL THEN
        RAISE EXCEPTION 'projection "%" of feature service "%" is not used by any of its feature references', unused, p_name
            USING ERRCODE = '22023',
                  HINT = 'Name its features as "' || unused || ':feature" (or "' || unused || '" for all of them), or remove the projection.';
    END IF;
    IF (SELECT count(DISTINCT x) <> count(*) FROM unnest(p_features) x) THEN
        RAISE EXCEPTION 'feature service "%" lists a feature reference twice', p_name USING ERRCODE = '42710';
    END IF;
    SELECT * INTO old FROM feast.feature_services s WHERE s.name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO feast.feature_services (name, features, description, tags, projections)
        VALUES (p_name, p_features, descr, tg, proj);
        RETURN 'created';
    END IF;
    IF old.features = p_features AND old.description = descr AND old.tags = tg AND old.projections = proj THEN
        RETURN 'unchanged';
    END IF;
    UPDATE feast.feature_services s
       SET features = p_features, description = descr, tags = tg, projections = proj, updated_at = now()
     WHERE s.name = p_name;
    RETURN 'updated';
END $$;

-- a feature or join key that a service reads must stay in its view (aliases resolved), and no
-- view may take the name of an alias that projects another view
CREATE OR REPLACE FUNCTION feast._check_service_refs(p_view text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r record;
BEGIN
    SELECT s.name AS service, x.feature_view AS view, x.feature, x.ref INTO r
      FROM feast.feature_services s, feast._service_refs(s.features, s.projections) x
     WHERE (p_view IS NULL OR x.feature_view = p_view)
       AND x.feature IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM feast.features f
                        WHERE f.feature_view = x.feature_view AND f.name = x.feature)
     ORDER BY 1, 2, 3 LIMIT 1;
    IF FOUND AND r.ref = r.view || ':' || r.feature THEN
        RAISE EXCEPTION 'cannot drop feature "%" of feature view "%": feature service "%" names it',
                        r.feature, r.view, r.service
            USING ERRCODE = '2BP01',
                  HINT = 'Remove "' || r.ref || '" from the service first (in feast_apply, the same repository may do it).';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'cannot drop feature "%" of feature view "%": feature service "%" names it',
                        r.feature, r.view, r.service
            USING ERRCODE = '2BP01',
                  DETAIL = 'The service reads it as "' || r.ref || '".',
                  HINT = 'Remove "' || r.ref || '" from the service first (in feast_apply, the same repository may do it).';
    END IF;
    SELECT s.name AS service, p.key AS alias, p.value ->> 'feature_view' AS view, j.key AS join_key INTO r
      FROM feast.feature_services s, jsonb_each(s.projections) p, jsonb_object_keys(p.value -> 'join_key_map') j(key)
     WHERE (p_view IS NULL OR p.value ->> 'feature_view' = p_view)
       AND NOT j.key = ANY (feast._view_join_keys(p.value ->> 'feature_view'))
     ORDER BY 1, 2, 4 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot change the join keys of feature view "%": feature service "%" maps its join key "%"',
                        r.view, r.service, r.join_key
            USING ERRCODE = '2BP01',
                  DETAIL = 'Projection "' || r.alias || '" of the service has "' || r.join_key || '" in its join_key_map.',
                  HINT = 'Change the service''s projection first (in feast_apply, the same repository may do it).';
    END IF;
    SELECT s.name AS service, p.key AS alias, p.value ->> 'feature_view' AS view INTO r
      FROM feast.feature_services s, jsonb_each(s.projections) p
     WHERE p.key <> p.value ->> 'feature_view'
       AND (p_view IS NULL OR p.key = p_view)
       AND EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name = p.key)
     ORDER BY 1, 2 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'feature view "%" would make projection alias "%" of feature service "%" ambiguous',
                        r.alias, r.alias, r.service
            USING ERRCODE = '42P09',
                  DETAIL = 'The projection reads feature view "' || r.view || '" under that name.',
                  HINT = 'Name the view otherwise, or change the service''s alias first.';
    END IF;
END $$;

-- a view that a service reads, under its name or an alias, cannot be deleted
CREATE OR REPLACE FUNCTION feast._delete(p_kind text, p_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    deps text[];
    tbl  regclass;
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('entity', 'data_source', 'feature_view', 'feature_service') THEN
        RAISE EXCEPTION 'unknown kind "%"', p_kind
            USING ERRCODE = '22023', HINT = 'kind is one of entity, data_source, feature_view, feature_service.';
    END IF;
    IF p_kind = 'entity' THEN
        PERFORM 1 FROM feast.entities e WHERE e.name = p_name FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'entity "%" does not exist', p_name USING ERRCODE = '42704';
        END IF;
        SELECT array_agg('feature view ' || v.name ORDER BY v.name) INTO deps
          FROM feast.feature_views v WHERE p_name = ANY (v.entities);
    ELSIF p_kind = 'data_source' THEN
        PERFORM 1 FROM feast.data_sources s WHERE s.name = p_name FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'data source "%" does not exist', p_name USING ERRCODE = '42704';
        END IF;
        SELECT array_agg(d ORDER BY d) INTO deps FROM (
            SELECT 'feature view ' || v.name AS d FROM feast.feature_views v WHERE v.source = p_name
            UNION ALL
            SELECT 'push source ' || s.name FROM feast.data_sources s WHERE s.batch_source = p_name) x;
    ELSIF p_kind = 'feature_view' THEN
        SELECT v.online_table INTO tbl FROM feast.feature_views v WHERE v.name = p_name FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'feature view "%" does not exist', p_name USING ERRCODE = '42704';
        END IF;
        SELECT array_agg('feature service ' || s.name ORDER BY s.name) INTO deps
          FROM feast.feature_services s
         WHERE EXISTS (SELECT 1 FROM feast._service_refs(s.features, s.projections) r WHERE r.feature_view = p_name)
            OR EXISTS (SELECT 1 FROM jsonb_each(s.projections) p WHERE p.value ->> 'feature_view' = p_name);
    ELSE
        PERFORM 1 FROM feast.feature_services s WHERE s.name = p_name FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'feature service "%" does not exist', p_name USING ERRCODE = '42704';
        END IF;
    END IF;
    IF deps IS NOT NULL THEN
        RAISE EXCEPTION 'cannot delete % "%": other objects depend on it', replace(p_kind, '_', ' '), p_name
            USING ERRCODE = '2BP01',
                  DETAIL = 'Dependents: ' || array_to_string(deps, ', ') || '.',
                  HINT = 'Delete the dependents first.';
    END IF;
    IF p_kind = 'entity' THEN
        DELETE FROM feast.entities e WHERE e.name = p_name;
    ELSIF p_kind = 'data_source' THEN
        DELETE FROM feast.data_sources s WHERE s.name = p_name;
    ELSIF p_kind = 'feature_view' THEN
        DELETE FROM feast.features f WHERE f.feature_view = p_name;
        DELETE FROM feast.materialization_intervals m WHERE m.feature_view = p_name;
        DELETE FROM feast.push_activity a WHERE a.feature_view = p_name;
        DELETE FROM feast.feature_views v WHERE v.name = p_name;
        IF tbl IS NOT NULL THEN
            EXECUTE format('DROP TABLE %s', tbl);
        END IF;
    ELSE
        DELETE FROM feast.feature_services s WHERE s.name = p_name;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION feast._apply_repo(repo jsonb, prune boolean, caller_path text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    o       jsonb;
    st      text;
    k       text;
    kind    text;
    seen    jsonb := '{"entity": [], "data_source": [], "feature_view": [], "feature_service": []}';
    result  jsonb := '{"created": [], "updated": [], "unchanged": [], "deleted": []}';
    r       record;
    srcs    jsonb[] := '{}';
BEGIN
    IF repo IS NULL OR jsonb_typeof(repo) <> 'object' THEN
        RAISE EXCEPTION 'repository must be a JSON object with entities, data_sources, feature_views, feature_services'
            USING ERRCODE = '22023';
    END IF;
    FOR k IN SELECT jsonb_object_keys(repo) LOOP
        IF k NOT IN ('entities', 'data_sources', 'feature_views', 'feature_services') THEN
            RAISE EXCEPTION 'repository: unknown key "%"', k
                USING ERRCODE = '22023', HINT = 'Allowed keys: entities, data_sources, feature_views, feature_services.';
        END IF;
    END LOOP;

    FOR o IN SELECT * FROM feast._list(repo, 'entities') LOOP
        PERFORM feast._check_keys(o, 'entity', '{name,join_key,value_type,description,tags}');
        st := feast._apply_entity(o ->> 'name', o ->> 'join_key', COALESCE(o ->> 'value_type', 'int64'),
                                  o ->> 'description', o -> 'tags');
        result := jsonb_set(result, ARRAY[st], (result -> st) || jsonb_build_object('kind', 'entity', 'name', o ->> 'name'));
        seen := jsonb_set(seen, '{entity}', (seen -> 'entity') || to_jsonb(o ->> 'name'));
    END LOOP;
    -- batch sources first: push sources name them
    FOR o IN SELECT x FROM feast._list(repo, 'data_sources') x
              ORDER BY CASE WHEN x ->> 'kind' = 'push' THEN 1 ELSE 0 END LOOP
        kind := o ->> 'kind';
        IF kind = 'batch' THEN
            PERFORM feast._check_keys(o, 'data source', '{name,kind,relation,timestamp_field,created_timestamp_column,field_mapping,description,tags}');
            st := feast._apply_batch_source(o ->> 'name', feast._resolve_relation(o ->> 'relation', caller_path),
                                            o ->> 'timestamp_field',
                                            o ->> 'created_timestamp_column', o -> 'field_mapping',
                                            o ->> 'description', o -> 'tags');
        ELSIF kind = 'push' THEN
            PERFORM feast._check_keys(o, 'data source', '{name,kind,batch_source,description,tags}');
            st := feast._apply_push_source(o ->> 'name', o ->> 'batch_source', o ->> 'description', o -> 'tags');
        ELSE
            RAISE EXCEPTION 'data source "%" needs "kind": "batch" or "push", got %', o ->> 'name', COALESCE(o -> 'kind', 'null')
                USING ERRCODE = '22023';
        END IF;
        result := jsonb_set(result, ARRAY[st], (result -> st) || jsonb_build_object('kind', 'data_source', 'name', o ->> 'name'));
        seen := jsonb_set(seen, '{data_source}', (seen -> 'data_source') || to_jsonb(o ->> 'name'));
    END LOOP;
    FOR o IN SELECT * FROM feast._list(repo, 'feature_views') LOOP
        PERFORM feast._check_keys(o, 'feature view', '{name,entities,schema,source,ttl,online,description,tags}');
        SELECT a.status INTO st FROM feast._apply_feature_view(
            o ->> 'name', COALESCE(feast._text_array(o -> 'entities', 'entities of feature view "' || (o ->> 'name') || '"'), '{}'),
            o -> 'schema', o ->> 'source',
            CASE WHEN jsonb_typeof(o -> 'ttl') = 'number' THEN make_interval(secs => (o ->> 'ttl')::float8)
                 ELSE (o ->> 'ttl')::interval END,
            COALESCE((o ->> 'online')::boolean, true), o ->> 'description', o -> 'tags') a;
        result := jsonb_set(result, ARRAY[st], (result -> st) || jsonb_build_object('kind', 'feature_view', 'name', o ->> 'name'));
        seen := jsonb_set(seen, '{feature_view}', (seen -> 'feature_view') || to_jsonb(o ->> 'name'));
    END LOOP;
    FOR o IN SELECT * FROM feast._list(repo, 'feature_services') LOOP
        PERFORM feast._check_keys(o, 'feature service', '{name,features,description,tags,projections}');
        st := feast._apply_feature_service(o ->> 'name',
                  feast._text_array(o -> 'features', 'features of feature service "' || (o ->> 'name') || '"'),
                  o ->> 'description', o -> 'tags', o -> 'projections');
        result := jsonb_set(result, ARRAY[st], (result -> st) || jsonb_build_object('kind', 'feature_service', 'name', o ->> 'name'));
        seen := jsonb_set(seen, '{feature_service}', (seen -> 'feature_service') || to_jsonb(o ->> 'name'));
    END LOOP;

    IF prune THEN
        -- dependents first: services, views, push sources, batch sources, entities
        FOR r IN
            SELECT 1 AS ord, 'feature_service' AS kind, s.name FROM feast.feature_services s
             WHERE NOT (seen -> 'feature_service') ? s.name
            UNION ALL
            SELECT 2, 'feature_view', v.name FROM feast.feature_views v
             WHERE NOT (seen -> 'feature_view') ? v.name
            UNION ALL
            SELECT CASE WHEN d.kind = 'push' THEN 3 ELSE 4 END, 'data_source', d.name FROM feast.data_sources d
             WHERE NOT (seen -> 'data_source') ? d.name
            UNION ALL
            SELECT 5, 'entity', e.name FROM feast.entities e
             WHERE NOT (seen -> 'entity') ? e.name
            ORDER BY 1, 3
        LOOP
            PERFORM feast._delete(r.kind, r.name);
            result := jsonb_set(result, '{deleted}', (result -> 'deleted') || jsonb_build_object('kind', r.kind, 'name', r.name));
        END LOOP;
    END IF;
    RETURN result;
END $$;

-- the feature views a service reads (aliases resolved), or the view itself
CREATE OR REPLACE FUNCTION feast._grant_views(p_object text) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    views text[];
BEGIN
    IF EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name OPERATOR(pg_catalog.=) p_object) THEN
        RETURN ARRAY[p_object];
    END IF;
    SELECT pg_catalog.array_agg(DISTINCT r.feature_view) INTO views
      FROM feast.feature_services s, feast._service_refs(s.features, s.projections) AS r
     WHERE s.name OPERATOR(pg_catalog.=) p_object;
    IF views IS NULL THEN
        RAISE EXCEPTION 'feature view or feature service "%" does not exist', p_object
            USING ERRCODE = '42704';
    END IF;
    RETURN views;
END $$;

-- grants: a service's references with its aliases resolved
CREATE OR REPLACE FUNCTION feast._grant_plan(p_role name, p_action text, p_object text,
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
        -- with projections resolved: "view:feature" or "view", each once, in order of first mention
        svc := feast._service_view_refs(p_object);
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

CREATE FUNCTION feast._do_apply_feature_service(p_name text, p_features text[],
                                                p_description text, p_tags jsonb,
                                                p_projections jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._apply_feature_service(p_name, p_features, p_description, p_tags, p_projections);
END $$;
REVOKE ALL ON FUNCTION feast._do_apply_feature_service(text, text[], text, jsonb, jsonb) FROM PUBLIC;
DROP FUNCTION feast._do_apply_feature_service(text, text[], text, jsonb);

-- the public function gains its last argument; whoever could run the old one (feast_grant's
-- apply action) can run the new one
DO $$
DECLARE
    old regprocedure := '@extschema@.feast_apply_feature_service(text, text[], text, jsonb)'::regprocedure;
    grantees text[];
    g text;
BEGIN
    SELECT pg_catalog.array_agg(CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                     ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
                                OPERATOR(pg_catalog.||) CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
      INTO grantees
      FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
     WHERE p.oid OPERATOR(pg_catalog.=) old
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner;
    EXECUTE pg_catalog.format('DROP FUNCTION %s', old);
    CREATE FUNCTION @extschema@.feast_apply_feature_service(name text, features text[],
                                                 description text DEFAULT '', tags jsonb DEFAULT '{}',
                                                 projections jsonb DEFAULT '{}') RETURNS void
        AS 'MODULE_PATHNAME', 'cfeast_as_owner' LANGUAGE C;
    REVOKE ALL ON FUNCTION @extschema@.feast_apply_feature_service(text, text[], text, jsonb, jsonb) FROM PUBLIC;
    FOREACH g IN ARRAY COALESCE(grantees, '{}') LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.feast_apply_feature_service(text, text[], text, jsonb, jsonb) TO %s', g);
    END LOOP;
END $$;

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
--                            A projection reads its view under its alias
--                            (<alias>__<feature>, <alias>__event_timestamp)
--                            and through the key columns its join_key_map
--                            names (location_id read as origin_id).
-- A feature value whose row is older than its view's ttl reads as NULL,
-- exactly when feast_get_online_features says OUTSIDE_MAX_AGE: both compare
-- event_timestamp < feast._ttl_cutoff(ttl) (src/serving.c: now() minus the
-- ttl as a fixed length).  A service's rows are the keys found in its views'
-- online tables: views sharing a key column give the UNION of their keys
-- (key columns that a view lacks NULL), groups of views with no key column
-- in common combine as a CROSS JOIN (every origin with every destination);
-- each view is LEFT JOINed on its own keys, so a key predicate reaches every
-- online table's primary key.  Entityless views join every row.
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
    kname  text;
    kgroup int[];
    ks     int[];
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
    -- each alias (a view's name, or a projection's) once, in the order the service first names it
    FOR r IN SELECT x.alias, min(x.feature_view) AS view, bool_or(x.feature IS NULL) AS whole,
                    array_agg(COALESCE(x.feature, '') ORDER BY x.ord) AS feats, min(x.ord) AS first,
                    (array_agg(x.join_key_map))[1] AS jkm
               FROM feast._service_refs(s.features, s.projections) x
              GROUP BY x.alias ORDER BY 5 LOOP
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
            -- the entity column that gives this key (renamed by the projection's join_key_map)
            kname := COALESCE(r.jkm ->> vname, vname);
            vkeys := vkeys || (vname || '=' || kname);
            val := format_type((SELECT at.atttypid FROM pg_attribute at WHERE at.attrelid = tbl AND at.attname = vname), NULL);
            IF NOT kname = ANY (keys) THEN
                keys := keys || kname;
                ktypes := ktypes || val;
                kcomm := kcomm || col_description(tbl, (SELECT at.attnum FROM pg_attribute at
                                                         WHERE at.attrelid = tbl AND at.attname = vname));
            ELSIF ktypes[array_position(keys, kname)] <> val THEN
                IF warn THEN
                    RAISE WARNING 'feature service "%" gets no serving view: join key "%" is % in one of its views and % in "%"',
                                  p_name, kname, ktypes[array_position(keys, kname)], val, r.alias;
                END IF;
                body := NULL;
                RETURN;
            END IF;
            cond := cond || format('%s.%I OPERATOR(pg_catalog.=) k.%I', a, vname, kname);
        END LOOP;
        joins := joins || format('LEFT JOIN %s %s ON %s', tbl, a,
                                 CASE WHEN cardinality(cond) = 0 THEN 'true' ELSE array_to_string(cond, ' AND ') END);
        -- the arm of the key set this view gives (key columns filled in below, once all are known)
        IF cardinality(vkeys) > 0 THEN
            arms := arms || (tbl::text || '|' || array_to_string(vkeys, ','));
        END IF;
        tss := tss || format('%s.event_timestamp', a);
        fsel := fsel || format('%s.event_timestamp AS %I', a, r.alias || '__event_timestamp');
        fcols := fcols || (r.alias || '__event_timestamp');
        fcomm := fcomm || ('[event time of the values of feature view ' || r.view
                           || CASE WHEN r.alias <> r.view THEN ' (as ' || r.alias || ')' ELSE '' END || ']');
        FOR vname IN SELECT f.name FROM feast.features f
                      WHERE f.feature_view = r.view AND (r.whole OR f.name = ANY (r.feats))
                      ORDER BY CASE WHEN r.whole THEN f.position ELSE array_position(r.feats, f.name) END LOOP
            fsel := fsel || CASE WHEN v.ttl IS NULL THEN format('%s.%I AS %I', a, vname, r.alias || '__' || vname)
                                 ELSE format('CASE WHEN %s.event_timestamp OPERATOR(pg_catalog.>=) feast._ttl_cutoff(%L::interval) THEN %s.%I END AS %I',
                                             a, v.ttl, a, vname, r.alias || '__' || vname) END;
            fcols := fcols || (r.alias || '__' || vname);
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

    -- the key set.  Views sharing a key column form a group, whose keys are the UNION of its
    -- views' keys (each arm NULL for the group's keys it lacks); separate groups (a projection
    -- reading one view through origin_id and another through destination_id) combine as a
    -- CROSS JOIN, as any combination of their keys is an entity row.  A key predicate reaches
    -- every arm, so each lookup uses the online tables' primary keys.
    IF cardinality(keys) = 0 THEN
        body := 'FROM (SELECT) k ';
    ELSE
        -- the group of each key: keys of one arm are one group
        kgroup := array_fill(0, ARRAY[cardinality(keys)]);
        FOR a IN SELECT x FROM unnest(arms) x LOOP
            SELECT array_agg(array_position(keys, split_part(m, '=', 2))) INTO ks
              FROM unnest(string_to_array(split_part(a, '|', 2), ',')) m;
            SELECT COALESCE(min(kgroup[k2]) FILTER (WHERE kgroup[k2] > 0), max(g) + 1) INTO i
              FROM unnest(ks) k2, (SELECT max(gg) AS g FROM unnest(kgroup) gg) mx;
            -- merge: every key of the arm, and every key of a group it touches, joins group i
            kgroup := ARRAY(SELECT CASE WHEN o = ANY (ks) OR (gv > 0 AND gv IN (SELECT kgroup[k3] FROM unnest(ks) k3))
                                        THEN i ELSE gv END
                              FROM unnest(kgroup) WITH ORDINALITY AS q(gv, o) ORDER BY o);
        END LOOP;
        SELECT array_agg(u ORDER BY g) INTO arms FROM (
            SELECT kgroup[array_position(keys, split_part(split_part(split_part(arm, '|', 2), ',', 1), '=', 2))] AS g,
                   format('(%s)', string_agg(format('SELECT %s FROM %s', (
                       SELECT string_agg(COALESCE(
                                             (SELECT format('%I AS %I', split_part(m, '=', 1), kk)
                                                FROM unnest(string_to_array(split_part(arm, '|', 2), ',')) m
                                               WHERE split_part(m, '=', 2) = kk LIMIT 1),
                                             format('NULL::%s AS %I', ktypes[ko], kk)), ', ' ORDER BY ko)
                         FROM unnest(keys) WITH ORDINALITY AS q(kk, ko)
                        WHERE kgroup[ko] = kgroup[array_position(keys, split_part(split_part(split_part(arm, '|', 2), ',', 1), '=', 2))]),
                       split_part(arm, '|', 1)), ' UNION ' ORDER BY ao)) AS u
              FROM unnest(arms) WITH ORDINALITY AS x(arm, ao)
             GROUP BY 1) y;
        IF cardinality(arms) = 1 THEN
            body := format('FROM %s k ', arms[1]);
        ELSE
            body := format('FROM (SELECT * FROM %s) k ',
                           (SELECT string_agg(format('%s g%s', u, o), ' CROSS JOIN ' ORDER BY o)
                              FROM unnest(arms) WITH ORDINALITY AS z(u, o)));
        END IF;
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
                    || (SELECT string_agg(DISTINCT x.feature_view, ', ') FROM feast._service_refs(s.features, s.projections) x) || ']';
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
     WHERE EXISTS (SELECT 1 FROM feast._service_refs(s.features, s.projections) r WHERE r.feature_view = p_view)
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
                                                p_description text, p_tags jsonb,
                                                p_projections jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._check_name('feature service', p_name);
    PERFORM feast._serving_check_new_name('feature_service', p_name);
    PERFORM feast._apply_feature_service(p_name, p_features, p_description, p_tags, p_projections);
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
