/* cfeast 0.3 -> 0.4 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.4'" to load this file. \quit

-- Each topic of 0.4 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).

-- == push from JSON text ==
-- feast_push from JSON text, parsed once straight into typed values: the
-- jsonb form's contract, rules and messages.  An untyped literal
-- (feast_push('src', '[...]')) resolves to this form; a jsonb argument keeps
-- the jsonb form.  Like it, it runs as the caller (SECURITY INVOKER).
CREATE FUNCTION @extschema@.feast_push(push_source text, rows text, "to" text DEFAULT 'online') RETURNS bigint
    AS 'MODULE_PATHNAME', 'cfeast_push_text' LANGUAGE C;
