/* cfeast 0.3 -> 0.4 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.4'" to load this file. \quit

-- Each topic of 0.4 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).

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
