/* cfeast 0.2 -> 0.3 */

\echo Use "ALTER EXTENSION cfeast UPDATE TO '0.3'" to load this file. \quit

-- == one SQL writer for push and materialize ==
-- feast_push and feast_materialize write through one INSERT ... ON CONFLICT
-- plan that reads feast._push_batch(); feast._materialize_batch() (the same
-- function under a second name) is no longer used.
DROP FUNCTION feast._materialize_batch();
