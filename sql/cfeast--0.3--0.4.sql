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

-- == registry import and export ==
-------------------------------------------------------------------------------
-- Feast's registry as JSON, in and out.
--
-- The format is what `feast registry-dump` prints: each object is its
-- protobuf message as JSON (camelCase field names, enum names such as
-- "INT64", durations "86400s", timestamps RFC 3339; fields at their default
-- value omitted, so an absent "online" is false), under the keys
-- "entities", "dataSources", "featureViews", "featureServices" (and
-- "project", "onDemandFeatureViews", ... which cfeast has no objects for).
-- Feast's PostgreSQL source is a CUSTOM_SOURCE whose
-- customOptions.configuration is base64 of {"name", "query", "table"}.
--
-- feast_export_registry() is the one translation from cfeast's catalog to
-- that format; feast._export_objects(kind) gives one kind's list (the same
-- objects), for callers that serve them one kind at a time.
--
-- feast_import_registry(dump, relation_map, dry_run) translates a dump into
-- one feast_apply repository and applies it as the caller (so who may
-- import is who may apply), in the caller's transaction; dry_run applies it
-- in a subtransaction that is rolled back, and returns the same summary.
-- Before anything is applied, every object cfeast cannot take is named in
-- one error (0A000), and every relation that does not resolve in another
-- (42P01).  Nothing is pruned: objects missing from the dump stay.  The
-- project name is not recorded (a database holds one registry); export
-- names the database as the project.  A projection's featureViewNameAlias
-- and joinKeyMap are feature_services.projections.  A projection of every
-- feature of its view, in the view's order, is the whole-view reference
-- unless the registry's service already names each of them (so import of
-- an export reports every object unchanged).
-------------------------------------------------------------------------------

-- Feast's ValueType names and the cfeast dtype each one is
CREATE FUNCTION feast._feast_value_types(OUT value_type text, OUT dtype text) RETURNS SETOF record
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    VALUES ('BYTES', 'bytes'), ('STRING', 'string'), ('INT32', 'int32'), ('INT64', 'int64'),
           ('DOUBLE', 'float64'), ('FLOAT', 'float32'), ('BOOL', 'bool'),
           ('UNIX_TIMESTAMP', 'unix_timestamp'), ('JSON', 'json'),
           ('BYTES_LIST', 'array(bytes)'), ('STRING_LIST', 'array(string)'),
           ('INT32_LIST', 'array(int32)'), ('INT64_LIST', 'array(int64)'),
           ('DOUBLE_LIST', 'array(float64)'), ('FLOAT_LIST', 'array(float32)'),
           ('BOOL_LIST', 'array(bool)'), ('UNIX_TIMESTAMP_LIST', 'array(unix_timestamp)'),
           ('JSON_LIST', 'array(json)')
$$;

-- a timestamp as protobuf's JSON writes it: UTC, "Z", 0, 3 or 6 fraction digits
CREATE FUNCTION feast._rfc3339(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT to_char(u, 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN us = 0 THEN ''
                   WHEN us % 1000 = 0 THEN '.' || lpad((us / 1000)::text, 3, '0')
                   ELSE '.' || lpad(us::text, 6, '0') END
           || 'Z'
      FROM (SELECT ts AT TIME ZONE 'UTC' AS u) a,
           LATERAL (SELECT extract(microseconds FROM a.u)::bigint % 1000000 AS us) b
$$;

-- a ttl as a protobuf Duration ("86400s", "1.500s"); a month is 30 days, as cfeast counts it
CREATE FUNCTION feast._duration(i interval) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN us % 1000000 = 0 THEN (us / 1000000)::text
                WHEN us % 1000 = 0 THEN (us / 1000000)::text || '.' || lpad(((us % 1000000) / 1000)::text, 3, '0')
                ELSE (us / 1000000)::text || '.' || lpad((us % 1000000)::text, 6, '0') END || 's'
      FROM (SELECT (((extract(year FROM i)::numeric * 12 + extract(month FROM i)::numeric) * 30 * 86400
                    + extract(day FROM i)::numeric * 86400 + extract(hour FROM i)::numeric * 3600
                    + extract(minute FROM i)::numeric * 60) * 1000000
                   + extract(microseconds FROM i)::numeric)::bigint AS us) a
$$;

-- tags as Feast keeps them: string values (any other JSON value as its text); NULL if none
CREATE FUNCTION feast._export_tags(tags jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_object_agg(t.key, CASE WHEN jsonb_typeof(t.value) = 'string' THEN t.value
                                        ELSE to_jsonb(t.value::text) END)
      FROM jsonb_each(tags) t
$$;

-- {"createdTimestamp", "lastUpdatedTimestamp"}
CREATE FUNCTION feast._export_meta(created timestamptz, updated timestamptz) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('createdTimestamp', feast._rfc3339(created),
                              'lastUpdatedTimestamp', feast._rfc3339(updated))
$$;

-- a relation as Feast's PostgreSQL source names it: schema-qualified, quoted where needed
CREATE FUNCTION feast._export_relation(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('%I.%I', n.nspname, c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = rel
$$;

-- one data source as Feast's DataSource message: a batch source is a PostgreSQL source over its
-- relation; a push source carries its batch source and, as Feast writes it, that source's
-- timestamp fields
CREATE FUNCTION feast._export_data_source(p_name text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    s   feast.data_sources;
    b   jsonb;
    cfg text;
BEGIN
    SELECT * INTO s FROM feast.data_sources d WHERE d.name = p_name;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF s.kind = 'push' THEN
        b := feast._export_data_source(s.batch_source);
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'name', s.name, 'type', 'PUSH_SOURCE',
            'description', NULLIF(s.description, ''), 'tags', feast._export_tags(s.tags),
            'timestampField', b -> 'timestampField', 'createdTimestampColumn', b -> 'createdTimestampColumn',
            'fieldMapping', b -> 'fieldMapping', 'batchSource', b,
            'meta', feast._export_meta(s.created_at, s.updated_at)));
    END IF;
    cfg := format('{"name": %s, "query": "", "table": %s}', to_jsonb(s.name)::text,
                  to_jsonb(feast._export_relation(s.relation))::text);
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'name', s.name, 'type', 'CUSTOM_SOURCE',
        'dataSourceClassType', 'feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource',
        'customOptions', jsonb_build_object('configuration',
                                            translate(encode(convert_to(cfg, 'UTF8'), 'base64'), E'\n', '')),
        'description', NULLIF(s.description, ''), 'tags', feast._export_tags(s.tags),
        'timestampField', s.timestamp_field, 'createdTimestampColumn', s.created_timestamp_column,
        'fieldMapping', NULLIF(s.field_mapping, '{}'),
        'meta', feast._export_meta(s.created_at, s.updated_at)));
END $$;

-- a feature as Feast's FeatureSpecV2
CREATE FUNCTION feast._export_feature(f feast.features) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'name', f.name,
        'valueType', (SELECT t.value_type FROM feast._feast_value_types() t WHERE t.dtype = f.dtype),
        'description', NULLIF(f.description, ''), 'tags', feast._export_tags(f.tags)))
$$;

CREATE FUNCTION feast._export_view_features(p_view text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT COALESCE(jsonb_agg(feast._export_feature(f) ORDER BY f.position), '[]')
      FROM feast.features f WHERE f.feature_view = p_view
$$;

-- a service's feature references as Feast's projections: a whole-view reference is a
-- projection of every feature; consecutive "view:feature" references of one view (or
-- projection alias) are one projection, so the references come back in their order; a
-- reference through feature_services.projections carries its alias and join key map
CREATE FUNCTION feast._export_projections(p_features text[], p_projections jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    out      jsonb := '[]';
    cur      jsonb;
    cur_use  text;
    ref      text;
    use_name text;
    fname    text;
    view     text;
    proj     jsonb;
    col      jsonb;
BEGIN
    FOREACH ref IN ARRAY p_features LOOP
        use_name := split_part(ref, ':', 1);
        fname := NULLIF(split_part(ref, ':', 2), '');
        proj := COALESCE(p_projections, '{}') -> use_name;
        view := COALESCE(proj ->> 'feature_view', use_name);
        IF fname IS NOT NULL AND cur IS NOT NULL AND cur_use = use_name THEN
            SELECT feast._export_feature(f) INTO col FROM feast.features f
             WHERE f.feature_view = view AND f.name = fname;
            cur := jsonb_set(cur, '{featureColumns}', (cur -> 'featureColumns') || COALESCE(col, '[]'));
            CONTINUE;
        END IF;
        IF cur IS NOT NULL THEN
            out := out || jsonb_build_array(cur);
        END IF;
        cur := jsonb_strip_nulls(jsonb_build_object(
            'featureViewName', view,
            'featureViewNameAlias', CASE WHEN proj IS NOT NULL THEN use_name END,
            'joinKeyMap', NULLIF(proj -> 'join_key_map', '{}'),
            'featureColumns',
            CASE WHEN fname IS NULL THEN feast._export_view_features(view)
                 ELSE COALESCE((SELECT jsonb_build_array(feast._export_feature(f)) FROM feast.features f
                                 WHERE f.feature_view = view AND f.name = fname), '[]') END));
        cur_use := CASE WHEN fname IS NULL THEN NULL ELSE use_name END;
    END LOOP;
    IF cur IS NOT NULL THEN
        out := out || jsonb_build_array(cur);
    END IF;
    RETURN out;
END $$;

-- one kind's objects in Feast's form, ordered by name: kind is entity, data_source,
-- feature_view or feature_service (the kinds of feast_apply's summary)
CREATE FUNCTION feast._export_objects(kind text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    out jsonb;
BEGIN
    IF kind = 'entity' THEN
        SELECT jsonb_agg(x ORDER BY n COLLATE "C") INTO out FROM (
            SELECT e.name AS n, jsonb_build_object(
                       'spec', jsonb_strip_nulls(jsonb_build_object(
                           'name', e.name, 'joinKey', e.join_key,
                           'valueType', (SELECT t.value_type FROM feast._feast_value_types() t WHERE t.dtype = e.value_type),
                           'description', NULLIF(e.description, ''), 'tags', feast._export_tags(e.tags))),
                       'meta', feast._export_meta(e.created_at, e.updated_at)) AS x
              FROM feast.entities e
            UNION ALL
            -- Feast's placeholder entity of entityless views
            SELECT '__dummy', '{"spec": {"name": "__dummy", "joinKey": "__dummy_id"}}'
             WHERE EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.entities = '{}')
               AND NOT EXISTS (SELECT 1 FROM feast.entities e WHERE e.name = '__dummy')) o;
    ELSIF kind = 'data_source' THEN
        SELECT jsonb_agg(feast._export_data_source(d.name) ORDER BY d.name COLLATE "C") INTO out FROM feast.data_sources d;
    ELSIF kind = 'feature_view' THEN
        SELECT jsonb_agg(jsonb_build_object(
                   'spec', jsonb_strip_nulls(jsonb_build_object(
                       'name', v.name,
                       'entities', CASE WHEN v.entities = '{}' THEN '["__dummy"]'::jsonb ELSE to_jsonb(v.entities) END,
                       'features', feast._export_view_features(v.name),
                       'entityColumns', (SELECT jsonb_agg(jsonb_build_object(
                                                   'name', e.join_key,
                                                   'valueType', (SELECT t.value_type FROM feast._feast_value_types() t
                                                                  WHERE t.dtype = e.value_type)) ORDER BY u.o)
                                           FROM unnest(v.entities) WITH ORDINALITY u(ent, o)
                                           JOIN feast.entities e ON e.name = u.ent),
                       'ttl', feast._duration(COALESCE(v.ttl, '0'::interval)),
                       'batchSource', feast._export_data_source(CASE WHEN s.kind = 'push' THEN s.batch_source ELSE s.name END),
                       'streamSource', CASE WHEN s.kind = 'push' THEN feast._export_data_source(s.name) END,
                       'online', CASE WHEN v.online THEN true END,
                       'description', NULLIF(v.description, ''), 'tags', feast._export_tags(v.tags))),
                   'meta', feast._export_meta(v.created_at, v.updated_at)
                           || jsonb_strip_nulls(jsonb_build_object('materializationIntervals',
                                  (SELECT jsonb_agg(jsonb_build_object('startTime', feast._rfc3339(m.start_ts),
                                                                       'endTime', feast._rfc3339(m.end_ts)) ORDER BY m.id)
                                     FROM feast.materialization_intervals m WHERE m.feature_view = v.name))))
                 ORDER BY v.name COLLATE "C") INTO out
          FROM feast.feature_views v LEFT JOIN feast.data_sources s ON s.name = v.source;
    ELSIF kind = 'feature_service' THEN
        SELECT jsonb_agg(jsonb_build_object(
                   'spec', jsonb_strip_nulls(jsonb_build_object(
                       'name', s.name,
                       'features', feast._export_projections(s.features, s.projections),
                       'description', NULLIF(s.description, ''), 'tags', feast._export_tags(s.tags))),
                   'meta', feast._export_meta(s.created_at, s.updated_at)) ORDER BY s.name COLLATE "C") INTO out
          FROM feast.feature_services s;
    ELSE
        RAISE EXCEPTION 'unknown kind "%"', kind
            USING ERRCODE = '22023', HINT = 'Kinds: entity, data_source, feature_view, feature_service.';
    END IF;
    RETURN COALESCE(out, '[]');
END $$;

-- the whole registry, as `feast registry-dump` prints it (a kind with no objects is left out)
CREATE FUNCTION @extschema@.feast_export_registry() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('project', current_database())
           || jsonb_strip_nulls(jsonb_build_object(
                  'entities', NULLIF(feast._export_objects('entity'), '[]'),
                  'dataSources', NULLIF(feast._export_objects('data_source'), '[]'),
                  'featureViews', NULLIF(feast._export_objects('feature_view'), '[]'),
                  'featureServices', NULLIF(feast._export_objects('feature_service'), '[]')))
$$;

-- the cfeast dtype of a Feast ValueType name; NULL if cfeast has none
CREATE FUNCTION feast._import_dtype(value_type text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.dtype FROM feast._feast_value_types() t WHERE t.value_type = $1
$$;

-- a protobuf Duration ("86400s", "0.5s") as an interval; "0s" is no ttl (NULL)
CREATE FUNCTION feast._import_duration(d jsonb, what text) RETURNS interval
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF d IS NULL OR jsonb_typeof(d) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(d) <> 'string' OR (d #>> '{}') !~ '^[0-9]{1,12}(\.[0-9]{1,9})?s$' THEN
        RAISE EXCEPTION '% must be a duration such as "86400s", got %', what, d
            USING ERRCODE = '22023';
    END IF;
    RETURN NULLIF((rtrim(d #>> '{}', 's') || ' seconds')::interval, '0'::interval);
END $$;


-- one list of the dump: an array of objects, each named by spec.name (a data source, which
-- has no spec, by name)
CREATE FUNCTION feast._import_list(dump jsonb, key text) RETURNS SETOF jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    path text[] := CASE WHEN key = 'dataSources' THEN '{name}' ELSE '{spec,name}' END;
    x    jsonb;
    i    int := 0;
BEGIN
    IF NOT dump ? key OR jsonb_typeof(dump -> key) = 'null' THEN
        RETURN;
    END IF;
    IF jsonb_typeof(dump -> key) <> 'array' THEN
        RAISE EXCEPTION 'registry dump: "%" must be a JSON array, got %', key, jsonb_typeof(dump -> key)
            USING ERRCODE = '22023';
    END IF;
    FOR x IN SELECT e FROM jsonb_array_elements(dump -> key) e LOOP
        IF jsonb_typeof(x) <> 'object' OR jsonb_typeof(x #> path) IS DISTINCT FROM 'string'
           OR (key <> 'dataSources' AND jsonb_typeof(x -> 'spec') <> 'object') THEN
            RAISE EXCEPTION 'registry dump: %[%] must be an object with %', key, i,
                            CASE WHEN key = 'dataSources' THEN 'a string "name"' ELSE '"spec": {"name": "..."}' END
                USING ERRCODE = '22023';
        END IF;
        RETURN NEXT x;
        i := i + 1;
    END LOOP;
END $$;

-- a list inside a dump's object: absent or null is empty; anything but an array is refused
CREATE FUNCTION feast._import_array(j jsonb, what text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF j IS NULL OR jsonb_typeof(j) = 'null' THEN
        RETURN '[]';
    END IF;
    IF jsonb_typeof(j) <> 'array' THEN
        RAISE EXCEPTION '% must be a JSON array, got %', what, jsonb_typeof(j) USING ERRCODE = '22023';
    END IF;
    RETURN j;
END $$;

-- a relation named in a dump or relation_map, resolved with the caller's search_path, as a
-- schema-qualified name; NULL if there is none
CREATE FUNCTION feast._import_relation(rel text, caller_path text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r regclass;
BEGIN
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
    BEGIN
        r := pg_catalog.to_regclass(rel);
    EXCEPTION WHEN invalid_name OR syntax_error OR invalid_parameter_value OR feature_not_supported THEN
        r := NULL;
    END;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    RETURN feast._export_relation(r);
END $$;

CREATE FUNCTION feast._import_registry(dump jsonb, relation_map jsonb, dry_run boolean, caller_path text)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    name_re   constant text := '^[a-z_][a-z0-9_]{0,62}$';
    pg_source constant text := 'feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource';
    rmap      jsonb := COALESCE(relation_map, '{}');
    refused   jsonb := '[]';      -- what cfeast cannot take: [object, why] each
    missing   text[] := '{}';     -- relations that do not resolve
    ignored   text[] := '{}';     -- Feast-only settings left behind
    seen      jsonb := '{}';      -- "kind:name" -> true
    srcs      jsonb := '{}';      -- source name -> its DataSource JSON
    src_names text[] := '{}';     -- in the order met: the dump's list, then those embedded
    embedded  text[] := '{}';     -- the sources only embedded
    fv_feats  jsonb := '{}';      -- view name -> [its feature names]
    other_fvs jsonb := '{}';      -- on-demand and stream view name -> its kind
    ents      jsonb := '[]';
    sources   jsonb := '[]';
    views     jsonb := '[]';
    services  jsonb := '[]';
    o         jsonb;
    spec      jsonb;
    s         jsonb;
    f         jsonb;
    p         jsonb;
    k         text;
    nm        text;
    what      text;
    typ       text;
    dt        text;
    rel       text;
    cfg       jsonb;
    schema    jsonb;
    refs      text[];
    projs     jsonb;
    cols      text[];
    vcols     text[];
    use_name  text;
    old_refs  text[];
    bad       boolean;
    result    jsonb;
    i         int;
BEGIN
    IF dump IS NULL OR jsonb_typeof(dump) <> 'object' THEN
        RAISE EXCEPTION 'registry dump must be a JSON object, as `feast registry-dump` prints it'
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(rmap) <> 'object'
       OR EXISTS (SELECT 1 FROM jsonb_each(rmap) m WHERE jsonb_typeof(m.value) <> 'string') THEN
        RAISE EXCEPTION 'relation_map must be a JSON object {"data source name": "relation"}, got %', rmap
            USING ERRCODE = '22023';
    END IF;
    -- import applies: the caller needs what feast_apply needs, checked first
    IF NOT has_function_privilege('@extschema@.feast_apply(jsonb, boolean)', 'EXECUTE') THEN
        RAISE EXCEPTION 'permission denied for function feast_apply'
            USING ERRCODE = '42501',
                  DETAIL = 'feast_import_registry applies the dump with feast_apply, as its caller.',
                  HINT = 'feast_grant(role, ''apply'', ''*'') grants it.';
    END IF;

    -- the keys of a dump (registry-dump's, and the Registry message's own)
    FOR k IN SELECT jsonb_object_keys(dump) LOOP
        IF k IN ('entities', 'dataSources', 'featureViews', 'featureServices',
                 'project', 'projectMetadata', 'projects', 'infra', 'registrySchemaVersion',
                 'versionId', 'lastUpdated', 'featureViewVersionHistory') THEN
            CONTINUE;   -- the four kinds below; the rest is Feast's own metadata, not recorded
        ELSIF k IN ('onDemandFeatureViews', 'streamFeatureViews', 'labelViews', 'savedDatasets',
                    'validationReferences', 'permissions', 'featureTables') THEN
            IF jsonb_typeof(dump -> k) NOT IN ('array', 'null') THEN
                RAISE EXCEPTION 'registry dump: "%" must be a JSON array, got %', k, jsonb_typeof(dump -> k)
                    USING ERRCODE = '22023';
            END IF;
            FOR o IN SELECT e FROM jsonb_array_elements(COALESCE(NULLIF(dump -> k, 'null'), '[]')) e LOOP
                nm := COALESCE(o #>> '{spec,name}', o ->> 'name', '?');
                IF k IN ('onDemandFeatureViews', 'streamFeatureViews') THEN
                    other_fvs := other_fvs || jsonb_build_object(nm, CASE k WHEN 'onDemandFeatureViews'
                                                                     THEN 'on-demand' ELSE 'stream' END);
                END IF;
                refused := refused || CASE k
                    WHEN 'onDemandFeatureViews' THEN jsonb_build_array(jsonb_build_array(
                        format('on-demand feature view "%s"', nm), 'cfeast has no on-demand transformations'))
                    WHEN 'streamFeatureViews' THEN jsonb_build_array(jsonb_build_array(
                        format('stream feature view "%s"', nm),
                        'cfeast has no stream feature views (a feature view over a push source takes streamed rows)'))
                    WHEN 'labelViews' THEN jsonb_build_array(jsonb_build_array(
                        format('label view "%s"', nm), 'cfeast has no label views'))
                    WHEN 'savedDatasets' THEN jsonb_build_array(jsonb_build_array(
                        format('saved dataset "%s"', nm), 'cfeast has no saved datasets (training sets are tables)'))
                    WHEN 'validationReferences' THEN jsonb_build_array(jsonb_build_array(
                        format('validation reference "%s"', nm), 'cfeast has no data-quality validation'))
                    WHEN 'permissions' THEN jsonb_build_array(jsonb_build_array(
                        format('permission "%s"', nm), 'cfeast uses PostgreSQL privileges (feast_grant)'))
                    ELSE jsonb_build_array(jsonb_build_array(
                        format('feature table "%s"', nm), 'cfeast has no feature tables')) END;
            END LOOP;
        ELSE
            RAISE EXCEPTION 'registry dump: unknown key "%"', k
                USING ERRCODE = '22023',
                      HINT = 'A dump has entities, dataSources, featureViews and featureServices, as `feast registry-dump` prints them.';
        END IF;
    END LOOP;

    -- data sources: the dump's list, then the sources its views and push sources embed
    -- (Feast copies them into each view) where the list lacks them
    FOR o IN SELECT x FROM feast._import_list(dump, 'dataSources') x LOOP
        nm := o ->> 'name';
        IF srcs ? nm THEN
            refused := refused || jsonb_build_array(jsonb_build_array(format('data source "%s"', nm), 'listed twice'));
        ELSE
            srcs := srcs || jsonb_build_object(nm, o);
            src_names := src_names || nm;
        END IF;
    END LOOP;
    -- (one only embedded, that cfeast could not take but the registry has, is the registry's:
    -- a dump written by hand may name it with a stub)
    FOR o IN SELECT x FROM feast._import_list(dump, 'featureViews') x LOOP
        FOREACH k IN ARRAY ARRAY['batchSource', 'streamSource'] LOOP
            s := o #> ARRAY['spec', k];
            IF jsonb_typeof(s -> 'name') = 'string' AND NOT srcs ? (s ->> 'name') THEN
                srcs := srcs || jsonb_build_object(s ->> 'name', s);
                src_names := src_names || (s ->> 'name');
                embedded := embedded || (s ->> 'name');
            END IF;
        END LOOP;
    END LOOP;
    i := 1;
    WHILE i <= cardinality(src_names) LOOP
        s := srcs -> src_names[i] -> 'batchSource';
        IF jsonb_typeof(s -> 'name') = 'string' AND NOT srcs ? (s ->> 'name') THEN
            srcs := srcs || jsonb_build_object(s ->> 'name', s);
            src_names := src_names || (s ->> 'name');
            embedded := embedded || (s ->> 'name');
        END IF;
        i := i + 1;
    END LOOP;
    FOR k IN SELECT jsonb_object_keys(rmap) LOOP
        IF NOT srcs ? k THEN
            RAISE EXCEPTION 'relation_map names data source "%", which the dump does not have', k
                USING ERRCODE = '22023';
        ELSIF srcs -> k ->> 'type' = 'PUSH_SOURCE' THEN
            RAISE EXCEPTION 'relation_map names push source "%": a push source has no relation', k
                USING ERRCODE = '22023', HINT = 'Map its batch source.';
        END IF;
    END LOOP;

    FOREACH nm IN ARRAY src_names LOOP
        s := srcs -> nm;
        what := format('data source "%s"', nm);
        typ := COALESCE(s ->> 'type', 'INVALID');
        IF nm = ANY (embedded) AND NOT rmap ? nm AND EXISTS (SELECT 1 FROM feast.data_sources d WHERE d.name = nm)
           AND NOT (typ = 'PUSH_SOURCE'
                    OR (typ = 'CUSTOM_SOURCE' AND s ->> 'dataSourceClassType' = pg_source
                        AND COALESCE(s ->> 'timestampField', '') <> '')) THEN
            CONTINUE;
        END IF;
        IF COALESCE(s ->> 'owner', '') <> '' THEN
            ignored := ignored || (what || ': owner');
        END IF;
        IF nm !~ name_re THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what, 'the name is not a cfeast name (' || name_re || ')'));
            CONTINUE;
        END IF;
        IF typ = 'PUSH_SOURCE' THEN
            sources := sources || jsonb_build_object(
                'name', nm, 'kind', 'push', 'batch_source', s #> '{batchSource,name}',
                'description', COALESCE(s ->> 'description', ''), 'tags', COALESCE(s -> 'tags', '{}'));
            CONTINUE;
        END IF;
        rel := rmap ->> nm;
        IF rel IS NULL AND typ = 'CUSTOM_SOURCE' AND s ->> 'dataSourceClassType' = pg_source THEN
            BEGIN
                cfg := convert_from(decode(s #>> '{customOptions,configuration}', 'base64'), 'UTF8')::jsonb;
            EXCEPTION WHEN invalid_parameter_value OR invalid_text_representation
                           OR character_not_in_repertoire OR untranslatable_character THEN
                cfg := NULL;
            END;
            IF jsonb_typeof(cfg) IS DISTINCT FROM 'object' THEN
                RAISE EXCEPTION '%: customOptions.configuration must be base64 of a JSON object {"name", "query", "table"}', what
                    USING ERRCODE = '22023';
            END IF;
            rel := NULLIF(cfg ->> 'table', '');
            IF rel IS NULL THEN
                refused := refused || jsonb_build_array(jsonb_build_array(what,
                    'a PostgreSQL query source: cfeast reads relations in place, so relation_map must name one holding its rows (a view you create over the query)'));
                CONTINUE;
            END IF;
        ELSIF rel IS NULL THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what,
                'type ' || typ || CASE WHEN typ = 'CUSTOM_SOURCE' THEN ' (' || COALESCE(s ->> 'dataSourceClassType', '?') || ')' ELSE '' END
                || CASE WHEN typ = 'REQUEST_SOURCE' THEN ': request sources feed on-demand views'
                        ELSE ': relation_map must name a relation holding its rows' END));
            CONTINUE;
        END IF;
        IF COALESCE(s ->> 'timestampField', '') = '' THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what, 'no timestampField (a batch source needs its event time column)'));
            CONTINUE;
        END IF;
        IF COALESCE(s ->> 'datePartitionColumn', '') <> '' THEN
            ignored := ignored || (what || ': datePartitionColumn');
        END IF;
        sources := sources || jsonb_build_object(
            'name', nm, 'kind', 'batch', 'relation', rel, 'timestamp_field', s ->> 'timestampField',
            'created_timestamp_column', NULLIF(s ->> 'createdTimestampColumn', ''),
            'field_mapping', COALESCE(s -> 'fieldMapping', '{}'),
            'description', COALESCE(s ->> 'description', ''), 'tags', COALESCE(s -> 'tags', '{}'));
    END LOOP;

    -- entities (not Feast's placeholder of entityless views)
    FOR o IN SELECT x FROM feast._import_list(dump, 'entities') x LOOP
        spec := o -> 'spec';
        nm := spec ->> 'name';
        what := format('entity "%s"', nm);
        IF nm = '__dummy' AND spec ->> 'joinKey' = '__dummy_id' THEN
            CONTINUE;
        END IF;
        IF COALESCE(spec ->> 'owner', '') <> '' THEN
            ignored := ignored || (what || ': owner');
        END IF;
        IF seen ? ('entity:' || nm) THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what, 'listed twice'));
            CONTINUE;
        END IF;
        seen := seen || jsonb_build_object('entity:' || nm, true);
        k := COALESCE(NULLIF(spec ->> 'joinKey', ''), nm);
        IF nm !~ name_re OR k !~ name_re THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what,
                format('name "%s" or join key "%s" is not a cfeast name (%s)', nm, k, name_re)));
            CONTINUE;
        END IF;
        typ := COALESCE(spec ->> 'valueType', 'INVALID');
        IF typ = 'INVALID' THEN
            -- no type of its own (Feast infers it): the views' entity columns give it
            SELECT CASE WHEN count(DISTINCT c ->> 'valueType') = 1 THEN min(c ->> 'valueType') END INTO typ
              FROM feast._import_list(dump, 'featureViews') v,
                   jsonb_array_elements(CASE WHEN jsonb_typeof(v #> '{spec,entityColumns}') = 'array'
                                             THEN v #> '{spec,entityColumns}' ELSE '[]' END) c
             WHERE jsonb_typeof(v #> '{spec,entities}') = 'array' AND (v #> '{spec,entities}') ? nm
               AND c ->> 'name' = k;
            IF typ IS NULL THEN
                refused := refused || jsonb_build_array(jsonb_build_array(what,
                    'no valueType, and no feature view''s entityColumns give one'));
                CONTINUE;
            END IF;
        END IF;
        dt := feast._import_dtype(typ);
        IF dt IS NULL OR dt NOT IN ('int32', 'int64', 'string', 'bytes') THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what,
                'value type ' || typ || ' (cfeast join keys are INT32, INT64, STRING or BYTES)'));
            CONTINUE;
        END IF;
        ents := ents || jsonb_build_object('name', nm, 'join_key', k, 'value_type', dt,
                                           'description', COALESCE(spec ->> 'description', ''),
                                           'tags', COALESCE(spec -> 'tags', '{}'));
    END LOOP;

    -- feature views
    FOR o IN SELECT x FROM feast._import_list(dump, 'featureViews') x LOOP
        spec := o -> 'spec';
        nm := spec ->> 'name';
        what := format('feature view "%s"', nm);
        IF COALESCE(spec ->> 'owner', '') <> '' THEN
            ignored := ignored || (what || ': owner');
        END IF;
        IF seen ? ('feature_view:' || nm) OR other_fvs ? nm THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what, 'listed twice'));
            CONTINUE;
        END IF;
        seen := seen || jsonb_build_object('feature_view:' || nm, true);
        IF nm !~ name_re THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what, 'the name is not a cfeast name (' || name_re || ')'));
            CONTINUE;
        END IF;
        IF spec ? 'featureTransformation' OR jsonb_typeof(spec -> 'sourceViews') = 'array' THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what,
                'a transformation or source views (cfeast views read their source as it is)'));
            CONTINUE;
        END IF;
        IF spec -> 'disabled' = 'true' THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what, 'disabled (cfeast views are always served)'));
            CONTINUE;
        END IF;
        -- a view over a push source reads the push source; else its batch source
        k := COALESCE(spec #>> '{streamSource,name}', spec #>> '{batchSource,name}');
        IF k IS NULL THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what, 'no source (cfeast views read a batch or push source)'));
            CONTINUE;
        END IF;
        schema := '[]';
        cols := '{}';
        bad := false;
        FOR f IN SELECT x FROM jsonb_array_elements(feast._import_array(spec -> 'features', what || ': features')) x LOOP
            typ := COALESCE(f ->> 'valueType', 'INVALID');
            dt := feast._import_dtype(typ);
            IF COALESCE(f ->> 'name', '') !~ name_re THEN
                refused := refused || jsonb_build_array(jsonb_build_array(format('feature "%s:%s"', nm, f ->> 'name'),
                    'the name is not a cfeast name (' || name_re || ')'));
                bad := true;
            ELSIF dt IS NULL THEN
                refused := refused || jsonb_build_array(jsonb_build_array(format('feature "%s:%s"', nm, f ->> 'name'),
                    'type ' || typ || ', which cfeast lacks'));
                bad := true;
            ELSIF f -> 'vectorIndex' = 'true' THEN
                refused := refused || jsonb_build_array(jsonb_build_array(format('feature "%s:%s"', nm, f ->> 'name'),
                    'a vector index (cfeast has no vector search)'));
                bad := true;
            ELSE
                schema := schema || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                    'name', f ->> 'name', 'dtype', dt, 'description', f -> 'description', 'tags', f -> 'tags')));
                cols := cols || (f ->> 'name');
            END IF;
        END LOOP;
        IF bad THEN
            CONTINUE;
        END IF;
        IF spec -> 'offline' = 'true' THEN
            ignored := ignored || (what || ': offline (materialize writes online tables only)');
        END IF;
        IF COALESCE(spec ->> 'version', 'latest') NOT IN ('', 'latest') THEN
            ignored := ignored || (what || ': version ' || (spec ->> 'version'));
        END IF;
        fv_feats := fv_feats || jsonb_build_object(nm, to_jsonb(cols));
        views := views || jsonb_build_object(
            'name', nm,
            'entities', COALESCE((SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(
                                      feast._import_array(spec -> 'entities', what || ': entities'))
                                      WITH ORDINALITY AS a(e, n)
                                   WHERE e <> '"__dummy"'), '[]'),
            'schema', schema, 'source', k,
            'ttl', feast._import_duration(spec -> 'ttl', what || ': ttl')::text,
            'online', COALESCE(spec -> 'online' = 'true', false),
            'description', COALESCE(spec ->> 'description', ''), 'tags', COALESCE(spec -> 'tags', '{}'));
    END LOOP;

    -- feature services: each projection's columns are references to its view (or alias); a
    -- projection of every feature of the view, in its order, is the whole-view reference
    -- (unless the service in the registry names each of them already)
    FOR o IN SELECT x FROM feast._import_list(dump, 'featureServices') x LOOP
        spec := o -> 'spec';
        nm := spec ->> 'name';
        what := format('feature service "%s"', nm);
        IF COALESCE(spec ->> 'owner', '') <> '' THEN
            ignored := ignored || (what || ': owner');
        END IF;
        IF seen ? ('feature_service:' || nm) THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what, 'listed twice'));
            CONTINUE;
        END IF;
        seen := seen || jsonb_build_object('feature_service:' || nm, true);
        IF nm !~ name_re THEN
            refused := refused || jsonb_build_array(jsonb_build_array(what, 'the name is not a cfeast name (' || name_re || ')'));
            CONTINUE;
        END IF;
        IF spec ? 'loggingConfig' THEN
            ignored := ignored || (what || ': loggingConfig');
        END IF;
        IF spec -> 'precomputeOnline' = 'true' THEN
            ignored := ignored || (what || ': precomputeOnline');
        END IF;
        SELECT s2.features INTO old_refs FROM feast.feature_services s2 WHERE s2.name = nm;
        refs := '{}';
        projs := '{}';
        bad := false;
        FOR p IN SELECT x FROM jsonb_array_elements(feast._import_array(spec -> 'features', what || ': features')) x LOOP
            k := p ->> 'featureViewName';
            IF k IS NULL THEN
                RAISE EXCEPTION '%: each of its features needs a "featureViewName"', what USING ERRCODE = '22023';
            END IF;
            use_name := COALESCE(NULLIF(p ->> 'featureViewNameAlias', ''), k);
            IF other_fvs ? k THEN
                refused := refused || jsonb_build_array(jsonb_build_array(what,
                    format('reads %s feature view "%s"', other_fvs ->> k, k)));
                bad := true;
                CONTINUE;
            END IF;
            IF p ? 'versionTag' THEN
                refused := refused || jsonb_build_array(jsonb_build_array(what,
                    format('reads version %s of feature view "%s" (cfeast views have no versions)', p ->> 'versionTag', k)));
                bad := true;
                CONTINUE;
            END IF;
            IF COALESCE(p ->> 'featureViewNameAlias', '') <> '' OR COALESCE(p -> 'joinKeyMap', '{}') <> '{}' THEN
                projs := projs || jsonb_build_object(use_name, jsonb_build_object(
                    'feature_view', k, 'join_key_map', COALESCE(p -> 'joinKeyMap', '{}')));
            END IF;
            cols := ARRAY(SELECT c ->> 'name' FROM jsonb_array_elements(
                              feast._import_array(p -> 'featureColumns', format('%s: featureColumns of "%s"', what, k)))
                              WITH ORDINALITY AS a(c, n) ORDER BY n);
            IF cardinality(cols) = 0 THEN
                CONTINUE;
            END IF;
            IF fv_feats ? k THEN
                vcols := ARRAY(SELECT jsonb_array_elements_text(fv_feats -> k));
            ELSE
                vcols := ARRAY(SELECT f2.name FROM feast.features f2 WHERE f2.feature_view = k ORDER BY f2.position);
            END IF;
            vcols := CASE WHEN cols = vcols THEN NULL ELSE vcols END;   -- NULL: every feature, in order
            cols := ARRAY(SELECT use_name || ':' || c FROM unnest(cols) WITH ORDINALITY AS a(c, n) ORDER BY n);
            IF vcols IS NULL AND NOT cols <@ COALESCE(old_refs, '{}') THEN
                refs := refs || use_name;
            ELSE
                refs := refs || cols;
            END IF;
        END LOOP;
        IF bad THEN
            CONTINUE;
        END IF;
        services := services || (jsonb_build_object(
            'name', nm, 'features', to_jsonb(refs),
            'description', COALESCE(spec ->> 'description', ''), 'tags', COALESCE(spec -> 'tags', '{}'))
            || CASE WHEN projs <> '{}' THEN jsonb_build_object('projections', projs) ELSE '{}' END);
    END LOOP;

    IF jsonb_array_length(refused) > 0 THEN
        RAISE EXCEPTION 'registry dump: % cannot be imported: %',
                        CASE WHEN jsonb_array_length(refused) = 1 THEN '1 object' ELSE jsonb_array_length(refused) || ' objects' END,
                        (SELECT string_agg(r ->> 0, ', ' ORDER BY n) FROM jsonb_array_elements(refused) WITH ORDINALITY AS a(r, n))
            USING ERRCODE = '0A000',
                  DETAIL = (SELECT string_agg((r ->> 0) || ': ' || (r ->> 1), E'\n' ORDER BY n)
                              FROM jsonb_array_elements(refused) WITH ORDINALITY AS a(r, n)),
                  HINT = 'Nothing was written. Remove them from the dump (or map data sources with relation_map) and import again.';
    END IF;

    -- relations resolve as the caller sees them; feast_apply gets them schema-qualified
    FOR i IN 0 .. jsonb_array_length(sources) - 1 LOOP
        s := sources -> i;
        IF s ->> 'kind' = 'batch' THEN
            rel := feast._import_relation(s ->> 'relation', caller_path);
            IF rel IS NULL THEN
                missing := missing || format('%s of data source "%s"', s ->> 'relation', s ->> 'name');
            ELSE
                sources := jsonb_set(sources, ARRAY[i::text, 'relation'], to_jsonb(rel));
            END IF;
        END IF;
    END LOOP;
    IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION 'registry dump: relations do not exist: %', array_to_string(missing, ', ')
            USING ERRCODE = '42P01',
                  HINT = 'Nothing was written. Relations resolve with your search_path; relation_map {"data source": "relation"} names others.';
    END IF;

    IF cardinality(ignored) > 0 THEN
        RAISE NOTICE 'registry import: Feast settings cfeast does not keep: %', array_to_string(ignored, '; ');
    END IF;

    o := jsonb_build_object('entities', ents, 'data_sources', sources,
                            'feature_views', views, 'feature_services', services);
    IF dry_run THEN
        -- the same apply, rolled back: its summary is the plan
        BEGIN
            result := @extschema@.feast_apply(o, false);
            RAISE EXCEPTION USING ERRCODE = 'CFDRY', MESSAGE = 'dry run';
        EXCEPTION WHEN SQLSTATE 'CFDRY' THEN
            NULL;
        END;
    ELSE
        result := @extschema@.feast_apply(o, false);
    END IF;
    RETURN result;
END $$;

-- search_path is not pinned here (the same as feast._do_apply): relation names in the dump
-- resolve as the caller sees them; everything below is qualified
CREATE FUNCTION @extschema@.feast_import_registry(dump jsonb, relation_map jsonb DEFAULT '{}',
                                                  dry_run boolean DEFAULT false) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT feast._import_registry(dump, relation_map, COALESCE(dry_run, false),
                                  pg_catalog.current_setting('search_path'))
$$;

-- == training sets: one as-of join over the entity rows ==
-- The generated SQL of point-in-time retrieval hands the entity query itself to this function,
-- which reads the entity rows once, answers every feature view from its source query and returns
-- the entity columns followed by each view's features (src/asof.c).  It runs its queries with the
-- caller's rights, as the old feast._point_in_time_join does (kept for SQL generated by 0.3).
CREATE FUNCTION feast._as_of_join(entity_sql text, filter_created boolean, lower_bound timestamptz,
                                  source_sqls text[], ttls interval[], key_counts integer[],
                                  feature_counts integer[])
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'cfeast_as_of_join' LANGUAGE C;

-- == registry REST API for the UI ==
-------------------------------------------------------------------------------
-- Feast's web UI (@feast-dev/feast-ui) reads the registry over the REST API of
-- Feast's registry server (sdk/python/feast/api/registry/rest/).  cfeast-server
-- answers GET <ui api base>/<path>?<query> with feast._registry_api(path,
-- query): the objects are feast._export_objects()' (the one translation
-- between cfeast's catalog and Feast's registry JSON, also behind
-- feast_export_registry), the lists, relationships, pagination and error
-- shapes are the REST server's.  The project is the database.  Read-only.
-------------------------------------------------------------------------------

-- every relationship of the registry, as Feast's GetObjectRelationships sees
-- them: entity -> view, source -> view, view -> service (direct), and entity
-- -> service, source -> service (indirect, through a view)
CREATE FUNCTION feast._registry_relations(OUT source_type text, OUT source_name text,
                                          OUT target_type text, OUT target_name text, OUT direct boolean)
    RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH fv AS (SELECT x FROM jsonb_array_elements(feast._export_objects('feature_view')) x),
         fs AS (SELECT x FROM jsonb_array_elements(feast._export_objects('feature_service')) x),
         direct AS (
             SELECT 'entity' AS st, e AS sn, 'featureView' AS tt, fv.x #>> '{spec,name}' AS tn
               FROM fv, jsonb_array_elements_text(fv.x #> '{spec,entities}') e
             UNION
             SELECT 'dataSource', s, 'featureView', fv.x #>> '{spec,name}'
               FROM fv, LATERAL (VALUES (fv.x #>> '{spec,batchSource,name}'), (fv.x #>> '{spec,streamSource,name}')) v(s)
              WHERE s IS NOT NULL
             UNION
             SELECT 'featureView', p ->> 'featureViewName', 'featureService', fs.x #>> '{spec,name}'
               FROM fs, jsonb_array_elements(fs.x #> '{spec,features}') p)
    SELECT st, sn, tt, tn, true FROM direct
    UNION
    SELECT d.st, d.sn, 'featureService', s.tn, false
      FROM direct d JOIN direct s ON s.st = 'featureView' AND s.sn = d.tn
     WHERE d.st IN ('entity', 'dataSource')
$$;

-- the relationships of one object (either end), in Feast's EntityRelation form
CREATE FUNCTION feast._registry_object_relations(p_type text, p_name text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT COALESCE(jsonb_agg(jsonb_build_object(
               'source', jsonb_build_object('type', r.source_type, 'name', r.source_name),
               'target', jsonb_build_object('type', r.target_type, 'name', r.target_name))
             ORDER BY NOT r.direct, r.source_type, r.source_name, r.target_type, r.target_name), '[]')
      FROM feast._registry_relations() r
     WHERE (r.source_type = p_type AND r.source_name = p_name)
        OR (r.target_type = p_type AND r.target_name = p_name)
$$;

-- GET <path>?<params> of the registry REST API: {"status": int, "body": jsonb}
CREATE FUNCTION feast._registry_api(path text, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    project  text := current_database();
    parts    text[] := regexp_split_to_array(trim(BOTH '/' FROM path), '/');
    kinds    CONSTANT jsonb := '{"entities":         ["entity",          "entities",        "entity",         "Entity"],
                                 "data_sources":     ["data_source",     "dataSources",     "dataSource",     "Data source"],
                                 "feature_views":    ["feature_view",    "featureViews",    "featureView",    "Feature view"],
                                 "feature_services": ["feature_service", "featureServices", "featureService", "Feature service"]}';
    k        jsonb;
    objs     jsonb;
    obj      jsonb;
    rels     jsonb;
    page     integer;
    lim      integer;
    total    integer;
    want_rel boolean := COALESCE(params ->> 'include_relationships', 'false') IN ('true', '1');
    all_form boolean := array_length(parts, 1) = 2 AND parts[2] = 'all';
    p        text := params ->> 'project';
BEGIN
    -- a project other than this database's is unknown (FeastObjectNotFoundException: 404)
    IF p IS NOT NULL AND p <> project AND parts[1] <> 'projects' THEN
        RETURN jsonb_build_object('status', 404, 'body', jsonb_build_object(
            'status_code', 404, 'detail', format('Project %s does not exist', p),
            'error_type', 'FeastObjectNotFoundException'));
    END IF;
    -- the UI's list of projects: this database, whose registry is the API under /api/v1
    IF path = 'projects-list.json' THEN
        RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('projects', jsonb_build_array(
            jsonb_build_object('name', project, 'id', project, 'registryPath', '/api/v1',
                               'description', 'cfeast registry of database ' || project))));
    END IF;
    IF parts[1] = 'projects' AND array_length(parts, 1) <= 2 THEN
        obj := jsonb_build_object('spec', jsonb_build_object('name', project,
                   'description', COALESCE(shobj_description((SELECT oid FROM pg_database WHERE datname = project), 'pg_database'),
                                           'cfeast registry of database ' || project)),
                   'meta', '{}'::jsonb);
        IF array_length(parts, 1) = 1 THEN
            RETURN jsonb_build_object('status', 200, 'body',
                jsonb_build_object('projects', jsonb_build_array(obj), 'pagination', '{}'::jsonb));
        ELSIF parts[2] = project THEN
            RETURN jsonb_build_object('status', 200, 'body', obj);
        END IF;
        RETURN jsonb_build_object('status', 404, 'body', jsonb_build_object(
            'status_code', 404, 'detail', format('Project %s does not exist', parts[2]),
            'error_type', 'FeastObjectNotFoundException'));
    END IF;
    -- kinds cfeast does not have: always empty
    IF parts[1] IN ('saved_datasets', 'label_views', 'permissions') AND array_length(parts, 1) <= 2
       AND (array_length(parts, 1) = 1 OR all_form) THEN
        RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object(
            CASE parts[1] WHEN 'saved_datasets' THEN 'savedDatasets' WHEN 'label_views' THEN 'featureViews'
                          ELSE 'permissions' END, '[]'::jsonb, 'pagination', '{}'::jsonb));
    END IF;
    page := CASE WHEN params ->> 'page' ~ '^[1-9][0-9]{0,5}$' THEN (params ->> 'page')::integer END;
    lim := CASE WHEN params ->> 'limit' ~ '^[1-9][0-9]{0,2}$' THEN least((params ->> 'limit')::integer, 100) END;
    IF all_form THEN
        page := COALESCE(page, 1);
        lim := COALESCE(lim, 50);
    END IF;

    IF parts[1] = 'features' THEN
        SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'name', f ->> 'name', 'featureView', v #>> '{spec,name}', 'type', f ->> 'valueType',
                   'description', f ->> 'description', 'tags', f -> 'tags',
                   'createdTimestamp', v #>> '{meta,createdTimestamp}',
                   'lastUpdatedTimestamp', v #>> '{meta,lastUpdatedTimestamp}'))
                   || CASE WHEN all_form THEN jsonb_build_object('project', project) ELSE '{}' END
                 ORDER BY v #>> '{spec,name}', f ->> 'name')
          INTO objs
          FROM jsonb_array_elements(feast._export_objects('feature_view')) v,
               jsonb_array_elements(v #> '{spec,features}') f;
        objs := COALESCE(objs, '[]');
        IF array_length(parts, 1) = 3 THEN
            SELECT o INTO obj FROM jsonb_array_elements(objs) o
             WHERE o ->> 'featureView' = parts[2] AND o ->> 'name' = parts[3];
            IF obj IS NULL THEN
                RETURN jsonb_build_object('status', 404, 'body', jsonb_build_object(
                    'status_code', 404, 'detail', format('Feature %s does not exist in feature view %s in project %s',
                                                         parts[3], parts[2], project),
                    'error_type', 'FeastObjectNotFoundException'));
            END IF;
            RETURN jsonb_build_object('status', 200, 'body', obj);
        ELSIF array_length(parts, 1) = 1 OR all_form THEN
            IF params ? 'feature_view' THEN
                SELECT COALESCE(jsonb_agg(o), '[]') INTO objs FROM jsonb_array_elements(objs) o
                 WHERE o ->> 'featureView' = params ->> 'feature_view';
            END IF;
            k := '["feature", "features", "feature", "Feature"]';
        ELSE
            RETURN NULL;
        END IF;
    ELSE
        k := kinds -> parts[1];
        IF k IS NULL OR array_length(parts, 1) > 2 THEN
            RETURN NULL;                         -- not an API path: the server's 404
        END IF;
        objs := feast._export_objects(k ->> 0);
        IF parts[1] = 'feature_views' THEN       -- AnyFeatureView, flattened as the REST server does
            SELECT COALESCE(jsonb_agg(jsonb_build_object('type', 'featureView') || o ORDER BY ord), '[]') INTO objs
              FROM jsonb_array_elements(objs) WITH ORDINALITY a(o, ord);
        END IF;
        IF array_length(parts, 1) = 2 AND NOT all_form THEN
            SELECT o INTO obj FROM jsonb_array_elements(objs) o
             WHERE COALESCE(o #>> '{spec,name}', o ->> 'name') = parts[2];
            IF obj IS NULL THEN
                RETURN jsonb_build_object('status', 404, 'body', jsonb_build_object(
                    'status_code', 404, 'detail', format('%s %s does not exist in project %s', k ->> 3, parts[2], project),
                    'error_type', 'FeastObjectNotFoundException'));
            END IF;
            IF want_rel THEN
                obj := obj || jsonb_build_object('relationships', feast._registry_object_relations(k ->> 2, parts[2]));
            END IF;
            RETURN jsonb_build_object('status', 200, 'body', obj);
        END IF;
        IF all_form THEN
            SELECT COALESCE(jsonb_agg(o || jsonb_build_object('project', project) ORDER BY ord), '[]') INTO objs
              FROM jsonb_array_elements(objs) WITH ORDINALITY a(o, ord);
        END IF;
    END IF;

    -- a list: paginated as paginate_and_sort does, relationships per object on request
    total := jsonb_array_length(objs);
    IF lim IS NOT NULL THEN
        page := COALESCE(page, 1);
        SELECT COALESCE(jsonb_agg(o ORDER BY ord), '[]') INTO objs
          FROM jsonb_array_elements(objs) WITH ORDINALITY a(o, ord)
         WHERE ord > (page - 1) * lim AND ord <= page * lim;
    END IF;
    obj := jsonb_build_object(k ->> 1, objs, 'pagination', CASE WHEN lim IS NULL THEN '{}'::jsonb ELSE
               jsonb_strip_nulls(jsonb_build_object('page', page, 'limit', lim, 'totalCount', NULLIF(total, 0),
                                                    'totalPages', NULLIF((total + lim - 1) / lim, 0),
                                                    'hasNext', CASE WHEN page * lim < total THEN true END,
                                                    'hasPrevious', CASE WHEN page > 1 THEN true END)) END);
    IF want_rel THEN
        SELECT COALESCE(jsonb_object_agg(n, feast._registry_object_relations(k ->> 2, n)), '{}') INTO rels
          FROM (SELECT COALESCE(o #>> '{spec,name}', o ->> 'name') AS n FROM jsonb_array_elements(objs) o) x
         WHERE k ->> 2 <> 'feature';
        obj := obj || jsonb_build_object('relationships', COALESCE(rels, '{}'));
    END IF;
    RETURN jsonb_build_object('status', 200, 'body', obj);
END $$;

-- == operations: freshness, expiry, scheduling ==
-------------------------------------------------------------------------------
-- Freshness without scans.  Every push, write_online, materialization and
-- expiry adds what it did to feast.freshness_state, in its own transaction
-- (a rolled-back push counts nothing), as the table's owner, into one row
-- per (online table, slot): the slot is the writing backend's, held for the
-- transaction by a lock that is only ever tried, never waited for (src/
-- freshness.c), so concurrent writers to one view never wait on each other.
-- feast.freshness sums the slots per view; it reads no online table.
-- feast_online_row_count(view) is the exact count, for whoever pays for the
-- scan.  An updated store starts from one scan of each online table, here.
-------------------------------------------------------------------------------
CREATE TABLE feast.freshness_state (
    online_table           regclass NOT NULL,          -- the table written (a recreated table starts afresh)
    slot                   integer NOT NULL,           -- the writer's slot; 0: the state an update found
    feature_view           text NOT NULL,
    rows_written           bigint NOT NULL DEFAULT 0,  -- rows inserted or replaced
    rows_stale             bigint NOT NULL DEFAULT 0,  -- rows refused by the write rule (older than the stored one or another row of the batch)
    rows_expired           bigint NOT NULL DEFAULT 0,  -- rows deleted by feast_expire
    newest_event_timestamp timestamptz,                -- the newest event time written
    last_write_at          timestamptz,                -- the last push or materialization that wrote a row
    last_push_at           timestamptz,                -- the last push (feast_push, feast_write_online)
    last_materialize_at    timestamptz,                -- the last materialization
    last_expire_at         timestamptz,                -- the last feast_expire of the view
    PRIMARY KEY (online_table, slot)
);
SELECT pg_catalog.pg_extension_config_dump('feast.freshness_state', '');

-- a deleted view, or an online table recreated by apply, leaves no state behind
CREATE FUNCTION feast._forget_freshness() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        DELETE FROM feast.freshness_state f WHERE f.feature_view OPERATOR(pg_catalog.=) OLD.name;
    ELSIF OLD.online_table IS DISTINCT FROM NEW.online_table THEN
        DELETE FROM feast.freshness_state f WHERE f.feature_view OPERATOR(pg_catalog.=) OLD.name
           AND f.online_table IS DISTINCT FROM NEW.online_table;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER forget_freshness AFTER DELETE OR UPDATE OF online_table ON feast.feature_views
    FOR EACH ROW EXECUTE FUNCTION feast._forget_freshness();

-- the state of a store made before 0.4: one scan of each online table
DO $$
DECLARE
    v record;
    n bigint;
    newest timestamptz;
BEGIN
    FOR v IN SELECT f.name, f.online_table FROM feast.feature_views f
              WHERE f.online_table IS NOT NULL ORDER BY f.name LOOP
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*), pg_catalog.max(event_timestamp) FROM %s',
                                  v.online_table) INTO n, newest;
        INSERT INTO feast.freshness_state (online_table, slot, feature_view, rows_written,
                                           newest_event_timestamp, last_write_at, last_push_at,
                                           last_materialize_at)
        SELECT v.online_table, 0, v.name, n, newest,
               GREATEST(a.last_push_at, m.last_write), a.last_push_at, m.last_run
          FROM (SELECT pg_catalog.max(p.last_push_at) AS last_push_at FROM feast.push_activity p
                 WHERE p.feature_view OPERATOR(pg_catalog.=) v.name) a,
               (SELECT pg_catalog.max(i.finished_at) AS last_run,
                       pg_catalog.max(i.finished_at) FILTER (WHERE i.rows_written OPERATOR(pg_catalog.>) 0) AS last_write
                  FROM feast.materialization_intervals i
                 WHERE i.feature_view OPERATOR(pg_catalog.=) v.name) m;
    END LOOP;
END $$;

-- per view: what cfeast wrote, refused and expired, and when; no online table is read.  NULLs
-- where the caller may read no column of the online table (and for views that are not online).
DROP VIEW feast.freshness;
DROP FUNCTION feast._online_table_stats(regclass);
CREATE VIEW feast.freshness AS
SELECT v.name AS feature_view,
       CASE WHEN k.ok THEN COALESCE(s.rows_written, 0) END::bigint AS rows_written,
       CASE WHEN k.ok THEN COALESCE(s.rows_stale, 0) END::bigint AS rows_stale,
       CASE WHEN k.ok THEN s.newest_event_timestamp END AS newest_event_timestamp,
       CASE WHEN k.ok THEN s.last_write_at END AS last_write_at,
       CASE WHEN k.ok THEN COALESCE(s.rows_expired, 0) END::bigint AS rows_expired,
       CASE WHEN k.ok THEN s.last_push_at END AS last_push_at,
       CASE WHEN k.ok THEN s.last_materialize_at END AS last_materialize_at,
       CASE WHEN k.ok THEN s.last_expire_at END AS last_expire_at
  FROM feast.feature_views v
 CROSS JOIN LATERAL (SELECT pg_catalog.has_any_column_privilege(v.online_table::pg_catalog.oid, 'SELECT') AS ok) k
  LEFT JOIN LATERAL (SELECT pg_catalog.sum(f.rows_written) AS rows_written,
                            pg_catalog.sum(f.rows_stale) AS rows_stale,
                            pg_catalog.sum(f.rows_expired) AS rows_expired,
                            pg_catalog.max(f.newest_event_timestamp) AS newest_event_timestamp,
                            pg_catalog.max(f.last_write_at) AS last_write_at,
                            pg_catalog.max(f.last_push_at) AS last_push_at,
                            pg_catalog.max(f.last_materialize_at) AS last_materialize_at,
                            pg_catalog.max(f.last_expire_at) AS last_expire_at
                       FROM feast.freshness_state f
                      WHERE f.online_table OPERATOR(pg_catalog.=) v.online_table
                        AND f.feature_view OPERATOR(pg_catalog.=) v.name) s ON true
 ORDER BY v.name;
GRANT SELECT ON feast.freshness TO PUBLIC;

-- the exact number of rows in a view's online table: one scan, with the caller's rights
CREATE FUNCTION @extschema@.feast_online_row_count(feature_view text) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    tbl regclass;
    n   bigint;
BEGIN
    IF feature_view IS NULL THEN
        RAISE EXCEPTION 'feature view name must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT v.online_table INTO tbl FROM feast.feature_views v WHERE v.name OPERATOR(pg_catalog.=) feature_view;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" does not exist', feature_view USING ERRCODE = '42704';
    ELSIF tbl IS NULL THEN
        RAISE EXCEPTION 'feature view "%" is not online, so it has no online rows', feature_view
            USING ERRCODE = '55000';
    END IF;
    EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', tbl) INTO n;
    RETURN n;
END $$;

-------------------------------------------------------------------------------
-- Expiry (src/expire.c).  A procedure: CALLed on its own (psql, pg_cron) it
-- commits after each batch, so a long run on a big table can be cancelled at
-- any time and keeps what it did, and pushes never wait long on the rows it
-- deletes; inside a transaction block it is one transaction.  It deletes
-- with the caller's rights (DELETE on the online table, SELECT on its
-- event_timestamp), so EXECUTE stays with PUBLIC.  No SET clause: that
-- would forbid the commits; the C code qualifies every name.
-------------------------------------------------------------------------------
CREATE PROCEDURE @extschema@.feast_expire(feature_views text[] DEFAULT NULL, older_than interval DEFAULT NULL,
                                          INOUT rows_deleted bigint DEFAULT NULL)
    AS 'MODULE_PATHNAME', 'cfeast_expire' LANGUAGE C;

-------------------------------------------------------------------------------
-- Scheduling with pg_cron.  cfeast has no scheduler: feast_schedule hands
-- pg_cron (Debian's postgresql-15-cron, installed in this database) a job
-- that runs feast_materialize_incremental or feast_expire, as the caller
-- (pg_cron runs a job as the role that scheduled it, with its rights), so
-- EXECUTE stays with PUBLIC.  One job per (job, views) and role: scheduling
-- it again changes its schedule.  feast_unschedule removes it.
-------------------------------------------------------------------------------
-- the pg_cron job name and command of a cfeast job; checks the arguments
CREATE FUNCTION feast._cron_job(p_job text, p_views text[], OUT jobname text, OUT command text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    vs  text[];
    v   text;
    sch text;
BEGIN
    IF p_job IS NULL OR p_job NOT IN ('materialize_incremental', 'expire') THEN
        RAISE EXCEPTION 'unknown job %', COALESCE(quote_literal(p_job), 'NULL')
            USING ERRCODE = '22023',
                  HINT = 'job is materialize_incremental or expire.';
    END IF;
    IF p_views IS NOT NULL THEN
        IF array_position(p_views, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'feature view name % is null', array_position(p_views, NULL) USING ERRCODE = '22004';
        END IF;
        FOREACH v IN ARRAY p_views LOOP
            PERFORM feast._check_name('feature view', v);
            IF NOT EXISTS (SELECT 1 FROM feast.feature_views f WHERE f.name OPERATOR(pg_catalog.=) v) THEN
                RAISE EXCEPTION 'feature view "%" does not exist', v USING ERRCODE = '42704';
            ELSIF NOT EXISTS (SELECT 1 FROM feast.feature_views f
                               WHERE f.name OPERATOR(pg_catalog.=) v AND f.online_table IS NOT NULL) THEN
                RAISE EXCEPTION 'feature view "%" is not online, so there is nothing to %', v,
                                CASE p_job WHEN 'expire' THEN 'expire' ELSE 'materialize' END
                    USING ERRCODE = '55000';
            END IF;
        END LOOP;
        SELECT array_agg(DISTINCT u ORDER BY u) INTO vs FROM unnest(p_views) u;
    END IF;
    SELECT quote_ident(n.nspname) INTO sch
      FROM pg_extension e JOIN pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'cfeast';
    jobname := 'cfeast_' || p_job || COALESCE('(' || array_to_string(vs, ',') || ')', '');
    command := CASE p_job
        WHEN 'materialize_incremental' THEN
            format('SELECT %s.feast_materialize_incremental(feature_views => %s)', sch,
                   COALESCE(quote_literal(vs) || '::text[]', 'NULL'))
        ELSE
            format('CALL %s.feast_expire(feature_views => %s)', sch,
                   COALESCE(quote_literal(vs) || '::text[]', 'NULL'))
        END;
END $$;

-- pg_cron must be installed in this database (it runs in the one cron.database_name names)
CREATE FUNCTION feast._require_cron(p_what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
        RAISE EXCEPTION '% needs pg_cron, which is not installed in database "%"', p_what, current_database()
            USING ERRCODE = '55000',
                  DETAIL = 'cfeast has no scheduler of its own; pg_cron runs its jobs.',
                  HINT = format('Install Debian''s package postgresql-15-cron, set shared_preload_libraries = ''pg_cron'' '
                                'and cron.database_name = %L in postgresql.conf, restart the server, '
                                'then CREATE EXTENSION pg_cron in this database.', current_database());
    END IF;
END $$;

CREATE FUNCTION @extschema@.feast_schedule(job text, schedule text, feature_views text[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    j  record;
    id bigint;
BEGIN
    j := feast._cron_job(job, feature_views);
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be null' USING ERRCODE = '22004',
              HINT = 'feast_unschedule(job) removes a job.';
    END IF;
    PERFORM feast._require_cron('feast_schedule');
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING j.jobname, schedule, j.command;
    RETURN id;
END $$;

CREATE FUNCTION @extschema@.feast_unschedule(job text, feature_views text[] DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    j  record;
    id bigint;
BEGIN
    j := feast._cron_job(job, feature_views);
    PERFORM feast._require_cron('feast_unschedule');
    EXECUTE 'SELECT c.jobid FROM cron.job c WHERE c.jobname OPERATOR(pg_catalog.=) $1'
            ' AND c.username OPERATOR(pg_catalog.=) current_user' INTO id USING j.jobname;
    IF id IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' USING id;
    RETURN true;
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

-- == push from JSON text ==
-- feast_push from JSON text, parsed once straight into typed values: the
-- jsonb form's contract, rules and messages.  An untyped literal
-- (feast_push('src', '[...]')) resolves to this form; a jsonb argument keeps
-- the jsonb form.  Like it, it runs as the caller (SECURITY INVOKER).
CREATE FUNCTION @extschema@.feast_push(push_source text, rows text, "to" text DEFAULT 'online') RETURNS bigint
    AS 'MODULE_PATHNAME', 'cfeast_push_text' LANGUAGE C;
