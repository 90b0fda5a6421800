/* cfeast 0.3 -> 0.4 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.4'" to load this file. \quit

-- Each topic of 0.4 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).

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
-- names the database as the project.
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
-- projection alias) are one projection, so the references come back in their order
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
            'featureViewNameAlias', CASE WHEN use_name <> view THEN use_name END,
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
        -- projections: the column of feature-service projections, where it exists
        SELECT jsonb_agg(jsonb_build_object(
                   'spec', jsonb_strip_nulls(jsonb_build_object(
                       'name', s.name,
                       'features', feast._export_projections(s.features, to_jsonb(s) -> 'projections'),
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
    EXCEPTION WHEN invalid_name OR syntax_error OR invalid_parameter_value THEN
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
    has_proj  boolean;
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
        FOR f IN SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(spec -> 'features') = 'array'
                                                         THEN spec -> 'features' ELSE '[]' END) x LOOP
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
                                      CASE WHEN jsonb_typeof(spec -> 'entities') = 'array' THEN spec -> 'entities' ELSE '[]' END)
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
    has_proj := EXISTS (SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = 'feast.feature_services'::regclass
                           AND a.attname = 'projections' AND NOT a.attisdropped);
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
        FOR p IN SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(spec -> 'features') = 'array'
                                                         THEN spec -> 'features' ELSE '[]' END) x LOOP
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
            IF use_name <> k OR COALESCE(p -> 'joinKeyMap', '{}') <> '{}' THEN
                IF NOT has_proj THEN
                    refused := refused || jsonb_build_array(jsonb_build_array(what,
                        format('projection "%s" of feature view "%s" renames it or its join keys', use_name, k)));
                    bad := true;
                    CONTINUE;
                END IF;
                projs := projs || jsonb_build_object(use_name, jsonb_build_object(
                    'feature_view', k, 'join_key_map', COALESCE(p -> 'joinKeyMap', '{}')));
            END IF;
            cols := ARRAY(SELECT c ->> 'name' FROM jsonb_array_elements(
                              CASE WHEN jsonb_typeof(p -> 'featureColumns') = 'array' THEN p -> 'featureColumns' ELSE '[]' END)
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
