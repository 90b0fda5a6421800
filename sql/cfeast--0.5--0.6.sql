/* cfeast 0.5 -> 0.6 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.6'" to load this file. \quit

-- Each topic of 0.6 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules (see cfeast--0.4--0.5.sql).

-- == coalesced pushes ==
-- The rows of several JSON texts (each what feast_push's text form takes) pushed as one push: one
-- resolution by the write rule (rows in order, text after text), one sort by key, one write; each
-- text's row count back.  cfeast-server coalesces /push requests with it.  Errors are feast_push's
-- for the failing text, with "element N of the rows array" as context (src/push.c).
CREATE FUNCTION feast._push_many(push_source text, rows text[], "to" text DEFAULT 'online') RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'cfeast_push_many' LANGUAGE C;
