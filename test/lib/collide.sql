-- test/lib/collide.sql: the schema shared by test/checks/collide.sh and test/bench/collide.sh.
-- N keys of two kinds, in table keys(kind, k):
--   'plain'   k = hi << 32 | hi
--   'collide' k = hi << 32 | (T # murmurhash32(hi)): every k gives one 32-bit value to an
--             unseeded hash that folds the halves as murmurhash32(lo # murmurhash32(hi))
-- A push source (with a batch source over table hist, for materialize and the join),
-- a view v over it, and the push documents of each kind in table docs.
-- psql variable n: the number of keys.
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
-- murmurhash32 of common/hashfn.h, on the low 32 bits of a bigint
CREATE FUNCTION mm32(h bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    h := h # (h >> 16);
    h := ((h::numeric * 2246822507) % 4294967296)::bigint;
    h := h # (h >> 13);
    h := ((h::numeric * 3266489909) % 4294967296)::bigint;
    RETURN h # (h >> 16);
END $$;
CREATE TABLE keys (kind text, k bigint);
INSERT INTO keys SELECT 'plain', (hi << 32) | hi FROM generate_series(1::bigint, :n) hi;
INSERT INTO keys SELECT 'collide', (hi << 32) | (12345 # mm32(hi)) FROM generate_series(1::bigint, :n) hi;
CREATE TABLE hist (kind text, driver_id bigint, ts timestamptz, x bigint);
INSERT INTO hist SELECT kind, k, '2024-01-01', k % 1000 FROM keys;
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
-- one batch source per kind (a view over each half of hist)
CREATE VIEW hist_plain AS SELECT driver_id, ts, x FROM hist WHERE kind = 'plain';
CREATE VIEW hist_collide AS SELECT driver_id, ts, x FROM hist WHERE kind = 'collide';
SELECT feast_apply_batch_source('b_' || kind, 'hist_' || kind, 'ts') FROM (VALUES ('plain'), ('collide')) s(kind);
SELECT feast_apply_push_source('p_' || kind, 'b_' || kind) FROM (VALUES ('plain'), ('collide')) s(kind);
SELECT feast_apply_feature_view('v_' || kind, '{driver}', '[{"name": "x", "dtype": "int64"}]', 'p_' || kind)
  FROM (VALUES ('plain'), ('collide')) s(kind);
CREATE TABLE docs AS
SELECT kind,
       jsonb_agg(jsonb_build_object('driver_id', k, 'ts', '2024-01-02T00:00:00Z', 'x', k % 7)) AS rows,
       jsonb_build_object('driver_id', jsonb_agg(k)) AS entities
  FROM keys GROUP BY kind;
CREATE TABLE ent AS SELECT kind, k AS driver_id, timestamptz '2024-01-05' AS event_timestamp FROM keys;
CREATE VIEW ent_plain AS SELECT driver_id, event_timestamp FROM ent WHERE kind = 'plain';
CREATE VIEW ent_collide AS SELECT driver_id, event_timestamp FROM ent WHERE kind = 'collide';
-- the four operations, each once, for kind K
CREATE FUNCTION op_push(kind text) RETURNS bigint LANGUAGE sql AS
$$ SELECT feast_push('p_' || kind, rows) FROM docs d WHERE d.kind = op_push.kind $$;
CREATE FUNCTION op_read(kind text) RETURNS int LANGUAGE sql AS
$$ SELECT jsonb_array_length(feast_get_online_features(ARRAY['v_' || kind || ':x'], entities) -> 'results')
     FROM docs d WHERE d.kind = op_read.kind $$;
CREATE FUNCTION op_materialize(kind text) RETURNS bigint LANGUAGE sql AS
$$ SELECT feast_materialize('2023-12-31', '2024-01-03', ARRAY['v_' || kind]) $$;
CREATE FUNCTION op_join(kind text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE 'SELECT count(x) FROM (' || feast_historical_features_sql('ent_' || kind, ARRAY['v_' || kind || ':x']) || ') j'
       INTO n;
    RETURN n;
END $$;
