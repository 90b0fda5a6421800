/* cfeast 0.1: registry, online tables, push, online and historical retrieval */

\echo Use "CREATE EXTENSION cfeast" to load this file. \quit

-------------------------------------------------------------------------------
-- Schemas
-------------------------------------------------------------------------------
CREATE SCHEMA feast;
CREATE SCHEMA feast_online;
COMMENT ON SCHEMA feast IS 'cfeast registry: entities, data sources, feature views, services';
COMMENT ON SCHEMA feast_online IS 'cfeast online tables, one per feature view';
GRANT USAGE ON SCHEMA feast TO PUBLIC;
GRANT USAGE ON SCHEMA feast_online TO PUBLIC;

-------------------------------------------------------------------------------
-- Registry tables.  No foreign keys between them: the apply and delete
-- functions keep them consistent, and pg_restore may load config-table data
-- in any order.
-------------------------------------------------------------------------------
CREATE TABLE feast.entities (
    name        text PRIMARY KEY,
    join_key    text NOT NULL,
    value_type  text NOT NULL,
    description text NOT NULL DEFAULT '',
    tags        jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE feast.data_sources (
    name                     text PRIMARY KEY,
    kind                     text NOT NULL CHECK (kind IN ('batch', 'push')),
    relation                 regclass,          -- batch: the relation read in place
    timestamp_field          text,              -- batch: its event time column
    created_timestamp_column text,              -- batch: optional created column
    field_mapping            jsonb NOT NULL DEFAULT '{}',  -- {"source column": "field name"}
    batch_source             text,              -- push: the batch source it writes offline to
    description              text NOT NULL DEFAULT '',
    tags                     jsonb NOT NULL DEFAULT '{}',
    created_at               timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at               timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE feast.feature_views (
    name         text PRIMARY KEY,
    entities     text[] NOT NULL DEFAULT '{}',
    source       text NOT NULL,
    ttl          interval,
    online       boolean NOT NULL DEFAULT true,
    online_table regclass,
    description  text NOT NULL DEFAULT '',
    tags         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE feast.features (
    feature_view text NOT NULL,
    name         text NOT NULL,
    dtype        text NOT NULL,
    online_type  text NOT NULL,
    position     integer NOT NULL,
    PRIMARY KEY (feature_view, name)
);

CREATE TABLE feast.feature_services (
    name        text PRIMARY KEY,
    features    text[] NOT NULL,
    description text NOT NULL DEFAULT '',
    tags        jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE feast.materialization_intervals (
    id           bigserial PRIMARY KEY,
    feature_view text NOT NULL,
    start_ts     timestamptz NOT NULL,
    end_ts       timestamptz NOT NULL,
    rows_written bigint NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX ON feast.materialization_intervals (feature_view, end_ts);

-- when feast_push last wrote to each view (kept by push.c, at most once a second per backend,
-- never waiting on another pusher's lock; push.c writes it as the table's owner, after the
-- pusher's own write to the view succeeded, so no role needs a grant on it)
CREATE TABLE feast.push_activity (
    feature_view text PRIMARY KEY,
    last_push_at timestamptz              -- NULL: never pushed
);

SELECT pg_catalog.pg_extension_config_dump('feast.push_activity', '');
SELECT pg_catalog.pg_extension_config_dump('feast.entities', '');
SELECT pg_catalog.pg_extension_config_dump('feast.data_sources', '');
SELECT pg_catalog.pg_extension_config_dump('feast.feature_views', '');
SELECT pg_catalog.pg_extension_config_dump('feast.features', '');
SELECT pg_catalog.pg_extension_config_dump('feast.feature_services', '');
SELECT pg_catalog.pg_extension_config_dump('feast.materialization_intervals', '');
SELECT pg_catalog.pg_extension_config_dump('feast.materialization_intervals_id_seq', '');

GRANT SELECT ON ALL TABLES IN SCHEMA feast TO PUBLIC;

-------------------------------------------------------------------------------
-- Cache invalidation: any change to the registry tells every backend to drop
-- its cached push sources, views and plans (at commit, like a relcache
-- invalidation).
-------------------------------------------------------------------------------
CREATE FUNCTION feast._registry_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'cfeast_registry_changed' LANGUAGE C;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['entities', 'data_sources', 'feature_views',
                             'features', 'feature_services'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE '
            'ON feast.%I FOR EACH STATEMENT EXECUTE FUNCTION feast._registry_changed()', t);
    END LOOP;
END $$;

-------------------------------------------------------------------------------
-- Helpers (C): dtype parsing is defined once, in src/types.c.
-------------------------------------------------------------------------------
-- canonical dtype ('Array(Float32)' -> 'array(float32)') or an error
CREATE FUNCTION feast._dtype_canonical(dtype text, what text) RETURNS text
    AS 'MODULE_PATHNAME', 'cfeast_dtype_canonical' LANGUAGE C STRICT IMMUTABLE;
-- the online column type of a canonical dtype ('array(float32)' -> 'real[]')
CREATE FUNCTION feast._dtype_online_type(dtype text) RETURNS text
    AS 'MODULE_PATHNAME', 'cfeast_dtype_online_type' LANGUAGE C STRICT IMMUTABLE;

-------------------------------------------------------------------------------
-- Registry helpers (PL/pgSQL).  Every function pins search_path and
-- qualifies what it touches.
-------------------------------------------------------------------------------
CREATE FUNCTION feast._check_name(what text, name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION '% name must not be null', what USING ERRCODE = '22004';
    END IF;
    IF name OPERATOR(pg_catalog.!~) '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid % name "%"', what, name
            USING ERRCODE = '42602',
                  DETAIL = 'Names must match ^[a-z_][a-z0-9_]{0,62}$: lower-case letters, digits and underscores, at most 63 bytes.',
                  HINT = CASE WHEN pg_catalog.lower(name) OPERATOR(pg_catalog.~) '^[a-z_][a-z0-9_]{0,62}$'
                              THEN 'Upper case is refused, not folded: use "' || pg_catalog.lower(name) || '".'
                              ELSE 'Use lower-case letters, digits and underscores only.'
                         END;
    END IF;
    RETURN name;
END $$;

CREATE FUNCTION feast._check_tags(what text, tags jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF tags IS NULL THEN
        RETURN '{}'::jsonb;
    END IF;
    IF pg_catalog.jsonb_typeof(tags) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION 'tags of % must be a JSON object, got %', what, pg_catalog.jsonb_typeof(tags)
            USING ERRCODE = '22023';
    END IF;
    RETURN tags;
END $$;

-- the columns of a relation: name -> type (format_type), for apply-time checks
CREATE FUNCTION feast._relation_columns(rel regclass) RETURNS TABLE (attname text, atttype text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) rel
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
     ORDER BY a.attnum
$$;

-- the source column that feeds field "field" of a batch source (reverse field_mapping)
CREATE FUNCTION feast._source_column(field_mapping jsonb, field text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT COALESCE((SELECT m.key FROM pg_catalog.jsonb_each_text(field_mapping) m
                      WHERE m.value OPERATOR(pg_catalog.=) field LIMIT 1), field)
$$;

-------------------------------------------------------------------------------
-- Entities
-------------------------------------------------------------------------------
CREATE FUNCTION feast._apply_entity(p_name text, p_join_key text, p_value_type text,
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
    RETURN 'updated';
END $$;

-------------------------------------------------------------------------------
-- Data sources
-------------------------------------------------------------------------------
-- check that column "col" exists in "rel"; "what" says why it is needed
CREATE FUNCTION feast._check_column(rel regclass, col text, what text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    t    text;
    cols text;
BEGIN
    SELECT c.atttype INTO t FROM feast._relation_columns(rel) c WHERE c.attname = col;
    IF NOT FOUND THEN
        SELECT string_agg(c.attname, ', ') INTO cols FROM feast._relation_columns(rel) c;
        RAISE EXCEPTION 'column "%" (%) does not exist in relation %', col, what, rel
            USING ERRCODE = '42703',
                  DETAIL = 'The relation has columns: ' || COALESCE(cols, '(none)') || '.';
    END IF;
    RETURN t;
END $$;

CREATE FUNCTION feast._check_timestamp_column(rel regclass, col text, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    t text := feast._check_column(rel, col, what);
BEGIN
    IF t NOT IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
        RAISE EXCEPTION 'column "%" (%) of relation % has type %, expected timestamptz, timestamp or date',
                        col, what, rel, t
            USING ERRCODE = '42804';
    END IF;
END $$;

CREATE FUNCTION feast._apply_batch_source(p_name text, p_relation regclass, p_timestamp_field text,
                                          p_created text, p_field_mapping jsonb,
                                          p_description text, p_tags jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    descr text := COALESCE(p_description, '');
    fm    jsonb := COALESCE(p_field_mapping, '{}');
    tg    jsonb;
    kind  "char";
    m     record;
    old   feast.data_sources;
    v     text;
BEGIN
    PERFORM feast._check_name('data source', p_name);
    tg := feast._check_tags('data source "' || p_name || '"', p_tags);
    IF p_relation IS NULL THEN
        RAISE EXCEPTION 'batch source "%" needs a relation', p_name USING ERRCODE = '22004';
    END IF;
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = p_relation;
    IF kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION 'relation % of batch source "%" is not a table, view, materialized view or foreign table',
                        p_relation, p_name
            USING ERRCODE = '42809';
    END IF;
    IF p_timestamp_field IS NULL THEN
        RAISE EXCEPTION 'batch source "%" needs a timestamp_field', p_name USING ERRCODE = '22004';
    END IF;
    PERFORM feast._check_timestamp_column(p_relation, p_timestamp_field, 'timestamp_field of "' || p_name || '"');
    IF p_created IS NOT NULL THEN
        IF p_created = p_timestamp_field THEN
            RAISE EXCEPTION 'created_timestamp_column of batch source "%" must differ from its timestamp_field', p_name
                USING ERRCODE = '22023';
        END IF;
        PERFORM feast._check_timestamp_column(p_relation, p_created, 'created_timestamp_column of "' || p_name || '"');
    END IF;
    IF jsonb_typeof(fm) <> 'object' THEN
        RAISE EXCEPTION 'field_mapping of batch source "%" must be a JSON object {"source column": "field name"}', p_name
            USING ERRCODE = '22023';
    END IF;
    FOR m IN SELECT e.key, e.value FROM jsonb_each(fm) e LOOP
        IF jsonb_typeof(m.value) <> 'string' THEN
            RAISE EXCEPTION 'field_mapping of batch source "%": the value for "%" must be a string', p_name, m.key
                USING ERRCODE = '22023';
        END IF;
        PERFORM feast._check_column(p_relation, m.key, 'field_mapping of "' || p_name || '"');
        PERFORM feast._check_name('field', m.value #>> '{}');
        IF m.key IN (p_timestamp_field, p_created) THEN
            RAISE EXCEPTION 'field_mapping of batch source "%" cannot rename its timestamp column "%"', p_name, m.key
                USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF (SELECT count(DISTINCT e.value) <> count(*) FROM jsonb_each(fm) e) THEN
        RAISE EXCEPTION 'field_mapping of batch source "%" maps two columns to one field', p_name
            USING ERRCODE = '22023';
    END IF;

    SELECT * INTO old FROM feast.data_sources s WHERE s.name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO feast.data_sources (name, kind, relation, timestamp_field, created_timestamp_column,
                                        field_mapping, description, tags)
        VALUES (p_name, 'batch', p_relation, p_timestamp_field, p_created, fm, descr, tg);
        RETURN 'created';
    END IF;
    IF old.kind <> 'batch' THEN
        RAISE EXCEPTION 'data source "%" already exists as a % source', p_name, old.kind
            USING ERRCODE = '42710';
    END IF;
    IF old.relation = p_relation AND old.timestamp_field = p_timestamp_field
       AND old.created_timestamp_column IS NOT DISTINCT FROM p_created
       AND old.field_mapping = fm AND old.description = descr AND old.tags = tg THEN
        RETURN 'unchanged';
    END IF;
    UPDATE feast.data_sources s
       SET relation = p_relation, timestamp_field = p_timestamp_field, created_timestamp_column = p_created,
           field_mapping = fm, description = descr, tags = tg, updated_at = now()
     WHERE s.name = p_name;
    -- views reading it (directly or through a push source) must still find their columns
    FOR v IN SELECT fv.name FROM feast.feature_views fv
              WHERE fv.source = p_name
                 OR fv.source IN (SELECT ps.name FROM feast.data_sources ps WHERE ps.batch_source = p_name) LOOP
        PERFORM feast._check_view_columns(v);
    END LOOP;
    RETURN 'updated';
END $$;

CREATE FUNCTION feast._apply_push_source(p_name text, p_batch_source text,
                                         p_description text, p_tags jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    descr text := COALESCE(p_description, '');
    tg    jsonb;
    bkind text;
    old   feast.data_sources;
    v     text;
BEGIN
    PERFORM feast._check_name('data source', p_name);
    tg := feast._check_tags('data source "' || p_name || '"', p_tags);
    IF p_batch_source IS NOT NULL THEN
        SELECT s.kind INTO bkind FROM feast.data_sources s WHERE s.name = p_batch_source;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'batch source "%" of push source "%" does not exist', p_batch_source, p_name
                USING ERRCODE = '42704';
        ELSIF bkind <> 'batch' THEN
            RAISE EXCEPTION 'data source "%" is a push source; push source "%" needs a batch source', p_batch_source, p_name
                USING ERRCODE = '42809';
        END IF;
    END IF;
    SELECT * INTO old FROM feast.data_sources s WHERE s.name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO feast.data_sources (name, kind, batch_source, description, tags)
        VALUES (p_name, 'push', p_batch_source, descr, tg);
        RETURN 'created';
    END IF;
    IF old.kind <> 'push' THEN
        RAISE EXCEPTION 'data source "%" already exists as a % source', p_name, old.kind
            USING ERRCODE = '42710';
    END IF;
    IF old.batch_source IS NOT DISTINCT FROM p_batch_source AND old.description = descr AND old.tags = tg THEN
        RETURN 'unchanged';
    END IF;
    UPDATE feast.data_sources s
       SET batch_source = p_batch_source, description = descr, tags = tg, updated_at = now()
     WHERE s.name = p_name;
    FOR v IN SELECT fv.name FROM feast.feature_views fv WHERE fv.source = p_name LOOP
        PERFORM feast._check_view_columns(v);
    END LOOP;
    RETURN 'updated';
END $$;

-- the batch source that holds a view's offline rows (its own, or its push source's); NULL if none
CREATE FUNCTION feast._view_batch_source(p_view text) RETURNS feast.data_sources
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT b.*
      FROM feast.feature_views v
      JOIN feast.data_sources s ON s.name = v.source
      JOIN feast.data_sources b ON b.name = CASE WHEN s.kind = 'push' THEN s.batch_source ELSE s.name END
     WHERE v.name = p_view
$$;

-- every join key and feature of a view must be a column of its batch relation
CREATE FUNCTION feast._check_view_columns(p_view text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    b   feast.data_sources;
    col text;
BEGIN
    b := feast._view_batch_source(p_view);
    IF b.name IS NULL THEN
        RETURN;
    END IF;
    FOR col IN
        SELECT e.join_key FROM feast.feature_views v, unnest(v.entities) WITH ORDINALITY AS u(ent, ord)
          JOIN feast.entities e ON e.name = u.ent
         WHERE v.name = p_view
        UNION ALL
        SELECT f.name FROM feast.features f WHERE f.feature_view = p_view
    LOOP
        PERFORM feast._check_column(b.relation, feast._source_column(b.field_mapping, col),
                                    'field "' || col || '" of feature view "' || p_view
                                    || '", read from batch source "' || b.name || '"');
    END LOOP;
END $$;

-------------------------------------------------------------------------------
-- Feature views and their online tables
-------------------------------------------------------------------------------
-- (re)create the online table of a view from the registry rows
CREATE FUNCTION feast._create_online_table(p_view text) RETURNS regclass
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
    EXECUTE format('COMMENT ON TABLE %s IS %L', tbl, 'cfeast online table of feature view ' || p_view);
    RETURN tbl;
END $$;

CREATE FUNCTION feast._table_is_empty(tbl regclass) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    found_one boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', tbl) INTO found_one;
    RETURN NOT found_one;
END $$;

CREATE FUNCTION feast._apply_feature_view(p_name text, p_entities text[], p_schema jsonb, p_source text,
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
        IF fname = ANY (jks) THEN
            IF fdtype <> jk_types[array_position(jks, fname)] THEN
                RAISE EXCEPTION 'schema of feature view "%" gives join key "%" dtype %, but its entity says %',
                                p_name, fname, fdtype, jk_types[array_position(jks, fname)]
                    USING ERRCODE = '42804';
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
        SELECT array_agg(a || ':' || b ORDER BY o) INTO new_feats
          FROM unnest(fnames, fdtypes) WITH ORDINALITY AS u(a, b, o);
        IF old.entities = ents AND old.source = p_source AND old.ttl IS NOT DISTINCT FROM v_ttl
           AND old.online = onl AND old.description = descr AND old.tags = tg AND old_feats = new_feats THEN
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
    INSERT INTO feast.features (feature_view, name, dtype, online_type, position)
    SELECT p_name, a, b, feast._dtype_online_type(b), o::int
      FROM unnest(fnames, fdtypes) WITH ORDINALITY AS u(a, b, o);
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
    END IF;
    UPDATE feast.feature_views v SET online_table = tbl WHERE v.name = p_name;
    online_table := tbl;
END $$;

-------------------------------------------------------------------------------
-- Feature services
-------------------------------------------------------------------------------
CREATE FUNCTION feast._apply_feature_service(p_name text, p_features text[],
                                             p_description text, p_tags jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    descr text := COALESCE(p_description, '');
    tg    jsonb;
    ref   text;
    vname text;
    fname text;
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
        vname := split_part(ref, ':', 1);
        fname := NULLIF(split_part(ref, ':', 2), '');
        IF NOT EXISTS (SELECT 1 FROM feast.feature_views v WHERE v.name = vname) THEN
            RAISE EXCEPTION 'feature view "%" (in service "%") does not exist', vname, p_name USING ERRCODE = '42704';
        END IF;
        IF fname IS NOT NULL AND NOT EXISTS (SELECT 1 FROM feast.features f
                                              WHERE f.feature_view = vname AND f.name = fname) THEN
            RAISE EXCEPTION 'feature "%" of view "%" (in service "%") does not exist', fname, vname, p_name
                USING ERRCODE = '42704';
        END IF;
    END LOOP;
    IF (SELECT count(DISTINCT x) <> count(*) FROM unnest(p_features) x) THEN
        RAISE EXCEPTION 'feature service "%" lists a feature reference twice', p_name USING ERRCODE = '42710';
    END IF;
    SELECT * INTO old FROM feast.feature_services s WHERE s.name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO feast.feature_services (name, features, description, tags)
        VALUES (p_name, p_features, descr, tg);
        RETURN 'created';
    END IF;
    IF old.features = p_features AND old.description = descr AND old.tags = tg THEN
        RETURN 'unchanged';
    END IF;
    UPDATE feast.feature_services s SET features = p_features, description = descr, tags = tg, updated_at = now()
     WHERE s.name = p_name;
    RETURN 'updated';
END $$;

-------------------------------------------------------------------------------
-- Deletion
-------------------------------------------------------------------------------
CREATE FUNCTION feast._delete(p_kind text, p_name text) RETURNS void
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
         WHERE EXISTS (SELECT 1 FROM unnest(s.features) r WHERE split_part(r, ':', 1) = p_name);
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

-------------------------------------------------------------------------------
-- feast_apply: a whole repository in one transaction
-------------------------------------------------------------------------------
-- refuse keys that no argument takes, so a typo in a repository is not ignored
CREATE FUNCTION feast._check_keys(obj jsonb, what text, allowed text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    k text;
BEGIN
    IF jsonb_typeof(obj) <> 'object' THEN
        RAISE EXCEPTION '% must be a JSON object, got %', what, jsonb_typeof(obj) USING ERRCODE = '22023';
    END IF;
    IF NOT (obj ? 'name') OR jsonb_typeof(obj -> 'name') <> 'string' THEN
        RAISE EXCEPTION '% needs a string "name"', what USING ERRCODE = '22023';
    END IF;
    FOR k IN SELECT jsonb_object_keys(obj) LOOP
        IF NOT k = ANY (allowed) THEN
            RAISE EXCEPTION '% "%": unknown key "%"', what, obj ->> 'name', k
                USING ERRCODE = '22023', HINT = 'Allowed keys: ' || array_to_string(allowed, ', ') || '.';
        END IF;
    END LOOP;
    RETURN obj;
END $$;

CREATE FUNCTION feast._text_array(j jsonb, what text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF j IS NULL OR jsonb_typeof(j) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(j) <> 'array' OR EXISTS (SELECT 1 FROM jsonb_array_elements(j) x WHERE jsonb_typeof(x) <> 'string') THEN
        RAISE EXCEPTION '% must be a JSON array of strings, got %', what, j USING ERRCODE = '22023';
    END IF;
    RETURN ARRAY(SELECT jsonb_array_elements_text(j));
END $$;

CREATE FUNCTION feast._list(repo jsonb, key text) RETURNS SETOF jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT repo ? key OR jsonb_typeof(repo -> key) = 'null' THEN
        RETURN;
    END IF;
    IF jsonb_typeof(repo -> key) <> 'array' THEN
        RAISE EXCEPTION 'repository key "%" must be a JSON array', key USING ERRCODE = '22023';
    END IF;
    RETURN QUERY SELECT x FROM jsonb_array_elements(repo -> key) x;
END $$;

-- a relation named in a repository, resolved with the caller's search_path
CREATE FUNCTION feast._resolve_relation(rel text, caller_path text) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
    saved text := pg_catalog.current_setting('search_path');
    r     regclass;
BEGIN
    IF rel IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
    r := pg_catalog.to_regclass(rel);
    PERFORM pg_catalog.set_config('search_path', saved, true);
    IF r IS NULL THEN
        RAISE EXCEPTION 'relation "%" does not exist', rel USING ERRCODE = '42P01';
    END IF;
    RETURN r;
END $$;

CREATE FUNCTION feast._apply_repo(repo jsonb, prune boolean, caller_path text) RETURNS jsonb
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
        PERFORM feast._check_keys(o, 'feature service', '{name,features,description,tags}');
        st := feast._apply_feature_service(o ->> 'name',
                  feast._text_array(o -> 'features', 'features of feature service "' || (o ->> 'name') || '"'),
                  o ->> 'description', o -> 'tags');
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

-------------------------------------------------------------------------------
-- Public registry functions
-------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.feast_apply_entity(name text, join_key text DEFAULT NULL,
                                    value_type text DEFAULT 'int64',
                                    description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._apply_entity(name, join_key, value_type, description, tags);
END $$;

CREATE FUNCTION @extschema@.feast_apply_batch_source(name text, relation regclass, timestamp_field text,
                                          created_timestamp_column text DEFAULT NULL,
                                          field_mapping jsonb DEFAULT '{}',
                                          description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._apply_batch_source(name, relation, timestamp_field, created_timestamp_column,
                                      field_mapping, description, tags);
END $$;

CREATE FUNCTION @extschema@.feast_apply_push_source(name text, batch_source text,
                                         description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._apply_push_source(name, batch_source, description, tags);
END $$;

CREATE FUNCTION @extschema@.feast_apply_feature_view(name text, entities text[], schema jsonb, source text,
                                          ttl interval DEFAULT NULL, online boolean DEFAULT true,
                                          description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM feast._apply_feature_view(name, entities, schema, source, ttl, online, description, tags);
    RETURN r.online_table;
END $$;

CREATE FUNCTION @extschema@.feast_apply_feature_service(name text, features text[],
                                             description text DEFAULT '', tags jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._apply_feature_service(name, features, description, tags);
END $$;

-- search_path is not pinned here: relation names in the repository resolve as the caller sees them
CREATE FUNCTION @extschema@.feast_apply(repo jsonb, prune boolean DEFAULT false) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT feast._apply_repo(repo, COALESCE(prune, false), pg_catalog.current_setting('search_path'))
$$;

CREATE FUNCTION @extschema@.feast_delete(kind text, name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM feast._delete(kind, name);
END $$;

-------------------------------------------------------------------------------
-- Push, in C: src/push.c
-------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.feast_push(push_source text, rows jsonb, "to" text DEFAULT 'online') RETURNS bigint
    AS 'MODULE_PATHNAME', 'cfeast_push' LANGUAGE C;

-- the rows of the push in progress, read by feast_push's own INSERT plans
CREATE FUNCTION feast._push_batch() RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'cfeast_push_batch' LANGUAGE C;


-------------------------------------------------------------------------------
-- Online retrieval, in C: src/online.c
-------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.feast_get_online_features(features text[] DEFAULT NULL,
                                                     entity_rows jsonb DEFAULT NULL,
                                                     full_feature_names boolean DEFAULT false,
                                                     feature_service text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'cfeast_get_online_features' LANGUAGE C STABLE;

-- rows and newest event time of one online table: one scan (there is no index on
-- event_timestamp); NULLs when the caller may not read the table
CREATE FUNCTION feast._online_table_stats(tbl regclass, OUT online_rows bigint,
                                          OUT newest_event_timestamp timestamptz)
LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT pg_catalog.has_table_privilege(tbl, 'SELECT') THEN
        RETURN;
    END IF;
    EXECUTE format('SELECT pg_catalog.count(*), pg_catalog.max(event_timestamp) FROM %s', tbl)
       INTO online_rows, newest_event_timestamp;
END $$;

-- per view: how many online rows, the newest event time among them, the last push
CREATE VIEW feast.freshness AS
SELECT v.name AS feature_view, s.online_rows, s.newest_event_timestamp, a.last_push_at
  FROM feast.feature_views v
  LEFT JOIN LATERAL feast._online_table_stats(v.online_table) s ON true
  LEFT JOIN feast.push_activity a ON a.feature_view OPERATOR(pg_catalog.=) v.name
 ORDER BY v.name;
GRANT SELECT ON feast.freshness TO PUBLIC;



-------------------------------------------------------------------------------
-- Historical retrieval, in C: src/historical.c
-------------------------------------------------------------------------------
-- the as-of join behind the generated SQL: reads source_sql once, answers each entity row
CREATE FUNCTION feast._point_in_time_join(source_sql text, ttl interval, filter_created boolean,
                                          lower_bound timestamptz, VARIADIC entity_arrays "any")
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'cfeast_point_in_time_join' LANGUAGE C;

CREATE FUNCTION @extschema@.feast_historical_features_sql(entity_sql text, features text[] DEFAULT NULL,
                                               full_feature_names boolean DEFAULT false,
                                               feature_service text DEFAULT NULL,
                                               filter_by_created_timestamp boolean DEFAULT false)
    RETURNS text
    AS 'MODULE_PATHNAME', 'cfeast_historical_features_sql' LANGUAGE C;

CREATE FUNCTION @extschema@.feast_create_training_set(name text, entity_sql text, features text[] DEFAULT NULL,
                                           full_feature_names boolean DEFAULT false,
                                           feature_service text DEFAULT NULL,
                                           filter_by_created_timestamp boolean DEFAULT false,
                                           replace boolean DEFAULT false)
    RETURNS regclass
    AS 'MODULE_PATHNAME', 'cfeast_create_training_set' LANGUAGE C;

-- entity-less mode: one row per key seen in [start_ts, end_ts], its latest features in that range
CREATE FUNCTION @extschema@.feast_range_features_sql(start_ts timestamptz DEFAULT NULL,
                                          end_ts timestamptz DEFAULT pg_catalog.now(),
                                          features text[] DEFAULT NULL,
                                          full_feature_names boolean DEFAULT false,
                                          feature_service text DEFAULT NULL)
    RETURNS text
    AS 'MODULE_PATHNAME', 'cfeast_range_features_sql' LANGUAGE C;



-------------------------------------------------------------------------------
-- Materialization, in C: src/materialize.c
-------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.feast_materialize(start_ts timestamptz, end_ts timestamptz,
                                   feature_views text[] DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'cfeast_materialize' LANGUAGE C;

CREATE FUNCTION @extschema@.feast_materialize_incremental(end_ts timestamptz DEFAULT pg_catalog.now(),
                                               feature_views text[] DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'cfeast_materialize_incremental' LANGUAGE C;

-- the rows of the materialization in progress, read by its own INSERT
CREATE FUNCTION feast._materialize_batch() RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'cfeast_materialize_batch' LANGUAGE C;



-------------------------------------------------------------------------------
-- Privileges
-------------------------------------------------------------------------------
-- cfeast runs with the caller's rights (no SECURITY DEFINER): the registry is
-- readable by PUBLIC and written only by roles granted INSERT, UPDATE, DELETE
-- on it; online tables belong to the role that applied the view.  feast_grant,
-- which issues the grants each action needs, arrives in cfeast--0.1--0.2.sql.
