-- historical and materialize against straightforward SQL on random data with many ties
-- (equal event times, equal and NULL created times), composite keys and all three modes.
-- Ties on (event, created) may pick either row, so the (event, created) chosen is compared.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS rnd_src, rnd_ent, rnd_ref, rnd_r1, rnd_r2, rnd_r3 CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SELECT setseed(0.1);
CREATE TABLE rnd_src AS
SELECT (random() * 50)::int AS k, (random() * 3)::int AS k2,
       timestamptz '2024-01-01' + (random() * 100)::int * interval '1 hour' AS ts,
       CASE WHEN random() < 0.3 THEN NULL
            ELSE timestamptz '2024-01-01' + (random() * 120)::int * interval '1 hour' END AS cr,
       g AS val
  FROM generate_series(1, 20000) g;
CREATE TABLE rnd_ent AS
SELECT (random() * 55)::int AS k, (random() * 3)::int AS k2,
       timestamptz '2024-01-01' + (random() * 110)::int * interval '1 hour' AS event_timestamp, g AS id
  FROM generate_series(1, 3000) g;
SELECT feast_apply_entity('rnd_k', 'k', 'int32');
SELECT feast_apply_entity('rnd_k2', 'k2', 'int32');
SELECT feast_apply_batch_source('rnd_s', 'rnd_src', 'ts', 'cr');
SELECT feast_apply_feature_view('rnd_v', '{rnd_k, rnd_k2}', '[{"name": "val", "dtype": "int32"}]', 'rnd_s',
                                interval '10 hours');
SELECT feast_apply_feature_view('rnd_vn', '{rnd_k, rnd_k2}', '[{"name": "val", "dtype": "int32"}]', 'rnd_s',
                                NULL, online => false);
CREATE INDEX ON rnd_src (k, k2, ts);
CREATE INDEX ON rnd_src (val);

-- the reference: latest (event, created NULLS FIRST) per entity row, by LATERAL subqueries
CREATE TABLE rnd_ref AS
SELECT e.id,
  (SELECT row(s.ts, s.cr)::text FROM rnd_src s
    WHERE s.k = e.k AND s.k2 = e.k2 AND s.ts <= e.event_timestamp AND s.ts >= e.event_timestamp - interval '10 hours'
    ORDER BY s.ts DESC, s.cr DESC NULLS LAST LIMIT 1) AS ttl,
  (SELECT row(s.ts, s.cr)::text FROM rnd_src s
    WHERE s.k = e.k AND s.k2 = e.k2 AND s.ts <= e.event_timestamp AND s.ts >= e.event_timestamp - interval '10 hours'
      AND s.cr <= e.event_timestamp
    ORDER BY s.ts DESC, s.cr DESC NULLS LAST LIMIT 1) AS created_filter,
  (SELECT row(s.ts, s.cr)::text FROM rnd_src s
    WHERE s.k = e.k AND s.k2 = e.k2 AND s.ts <= e.event_timestamp
    ORDER BY s.ts DESC, s.cr DESC NULLS LAST LIMIT 1) AS no_ttl
  FROM rnd_ent e;

SELECT feast_historical_features_sql('rnd_ent', '{rnd_v:val}') AS q \gset
CREATE TABLE rnd_r1 AS :q;
SELECT feast_historical_features_sql('rnd_ent', '{rnd_v:val}', filter_by_created_timestamp => true) AS q \gset
CREATE TABLE rnd_r2 AS :q;
SELECT feast_historical_features_sql('rnd_ent', '{rnd_vn:val}') AS q \gset
CREATE TABLE rnd_r3 AS :q;
-- every entity row once, in order; no differences from the reference
SELECT (SELECT count(*) FROM rnd_r1) AS rows, (SELECT count(*) FROM rnd_r1 JOIN rnd_ent USING (id, k, k2, event_timestamp)) AS same_rows;
SELECT count(*) FILTER (WHERE f.ttl IS DISTINCT FROM (SELECT row(s.ts, s.cr)::text FROM rnd_src s WHERE s.val = r.val)) AS ttl_diffs,
       count(r.val) > 1000 AS many_matched
  FROM rnd_r1 r JOIN rnd_ref f USING (id);
SELECT count(*) FILTER (WHERE f.created_filter IS DISTINCT FROM (SELECT row(s.ts, s.cr)::text FROM rnd_src s WHERE s.val = r.val)) AS filter_diffs
  FROM rnd_r2 r JOIN rnd_ref f USING (id);
SELECT count(*) FILTER (WHERE f.no_ttl IS DISTINCT FROM (SELECT row(s.ts, s.cr)::text FROM rnd_src s WHERE s.val = r.val)) AS no_ttl_diffs
  FROM rnd_r3 r JOIN rnd_ref f USING (id);

-- materialize [01-02, 01-04] against DISTINCT ON with the same order
SET client_min_messages = warning;
SELECT feast_materialize('2024-01-02', '2024-01-04', ARRAY['rnd_v']) > 100 AS wrote_rows;
RESET client_min_messages;
SELECT count(*) AS online_rows,
       count(*) FILTER (WHERE row(o.event_timestamp, o.created_timestamp)::text IS DISTINCT FROM d.v) AS diffs
  FROM feast_online.rnd_v o
  FULL JOIN (SELECT DISTINCT ON (k, k2) k, k2, row(ts, cr)::text AS v FROM rnd_src
              WHERE ts BETWEEN '2024-01-02' AND '2024-01-04'
              ORDER BY k, k2, ts DESC, cr DESC NULLS LAST) d USING (k, k2);
