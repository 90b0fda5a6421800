/* cfeast 0.4 -> 0.5 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.5'" to load this file. \quit

-- Each topic of 0.5 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).

-- == expire grants ==
-- feast_grant(role, 'expire', view or service): SELECT and DELETE on the online tables, what
-- CALL feast_expire checks (src/expire.c).  The list of actions lives here now: _grant_plan
-- (0.4) plans the other five and checks the role and the object for expire as for read.
CREATE OR REPLACE FUNCTION feast._do_grant(p_role name, p_action text, p_object text) RETURNS SETOF text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    g     record;
    rel   regclass;
    stmt  text;
    vname text;
BEGIN
    IF p_role IS NOT NULL AND (p_action IS NULL OR p_action NOT IN ('push', 'read', 'train', 'materialize', 'apply', 'expire')) THEN
        RAISE EXCEPTION 'unknown action "%"', p_action
            USING ERRCODE = '22023',
                  HINT = 'action is one of push (a push source), read, train, expire (a feature view or service), materialize (a feature view), apply (*).';
    END IF;
    IF p_action = 'expire' THEN
        -- the role, the object's name and its online tables, checked as a read grant checks them
        PERFORM pg_catalog.count(*) FROM feast._grant_plan(p_role, 'read', p_object);
        FOREACH vname IN ARRAY feast._grant_views(p_object) LOOP
            stmt := pg_catalog.format('GRANT SELECT, DELETE ON TABLE %s TO %s', feast._grant_online_table(vname),
                                      CASE WHEN p_role OPERATOR(pg_catalog.=) 'public' THEN 'PUBLIC'
                                           ELSE pg_catalog.quote_ident(p_role) END);
            EXECUTE stmt;
            RETURN NEXT stmt;
        END LOOP;
        RETURN;
    END IF;
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
        rel := pg_catalog.to_regclass('feast_serving.' || pg_catalog.quote_ident(p_object));
        IF rel IS NOT NULL THEN
            stmt := pg_catalog.format('GRANT SELECT ON TABLE %s TO %s', rel,
                                      CASE WHEN p_role OPERATOR(pg_catalog.=) 'public' THEN 'PUBLIC'
                                           ELSE pg_catalog.quote_ident(p_role) END);
            EXECUTE stmt;
            RETURN NEXT stmt;
        END IF;
    END IF;
END $$;
REVOKE ALL ON FUNCTION feast._do_grant(name, text, text) FROM PUBLIC;

-- == router configuration cache ==
-- every push and read asks whether this database routes; the answer is cached per backend
-- (src/router.c) and dropped, as the registry's own cache is, when feast.router changes
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON feast.router FOR EACH STATEMENT EXECUTE FUNCTION feast._registry_changed();
