/* cfeast 0.4 -> 0.5 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.5'" to load this file. \quit

-- Each topic of 0.5 has its own section below, starting with a line
-- "-- == topic ==".  Functions keep the 0.3 rules: SET search_path on every
-- SQL or plpgsql function, schema-qualified operators where a hostile
-- search_path could reach them, registry writes only through the entry
-- points of the privilege model (cfeast_as_owner).
