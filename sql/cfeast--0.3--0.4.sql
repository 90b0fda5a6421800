/* cfeast 0.3 -> 0.4 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.4'" to load this file. \quit

-- Each topic of 0.4 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).

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
