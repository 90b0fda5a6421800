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
