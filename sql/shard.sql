-- shard: feast_shard_of(key, modulus) is the remainder PARTITION BY HASH (key)
-- gives the key, for every shard key type, checked against real
-- hash-partitioned tables (the partition each generated row landed in)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;

-- one hash-partitioned table per key type and modulus, partitions <table>_r<remainder>
CREATE FUNCTION pg_temp.hash_table(tbl text, typ text, modulus int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (k %s) PARTITION BY HASH (k)', tbl, typ);
    FOR r IN 0 .. modulus - 1 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                       tbl || '_r' || r, tbl, modulus, r);
    END LOOP;
END $$;

-- rows whose partition's remainder differs from feast_shard_of, and how many rows were checked
CREATE FUNCTION pg_temp.mismatches(tbl text, modulus int, OUT checked bigint, OUT wrong bigint)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$
        SELECT count(*), count(*) FILTER (WHERE feast_shard_of(k, %s) IS DISTINCT FROM
                 substring(tableoid::regclass::text from '_r([0-9]+)$')::int)
          FROM %I$q$, modulus, tbl)
       INTO checked, wrong;
END $$;

SELECT pg_temp.hash_table('h_int4', 'integer', 7);
SELECT pg_temp.hash_table('h_int8', 'bigint', 64);
SELECT pg_temp.hash_table('h_text', 'text', 64);
SELECT pg_temp.hash_table('h_bytea', 'bytea', 5);
SELECT pg_temp.hash_table('h_int8_3', 'bigint', 3);

INSERT INTO h_int4 SELECT g FROM generate_series(-2500, 2500) g;
INSERT INTO h_int4 VALUES (2147483647), (-2147483648);
INSERT INTO h_int8 SELECT g * 7919 + (g % 3) * 4294967296 FROM generate_series(-2500, 2500) g;
INSERT INTO h_int8 VALUES (9223372036854775807), (-9223372036854775808), (0);
INSERT INTO h_int8_3 SELECT g FROM generate_series(1, 3000) g;
INSERT INTO h_text SELECT 'driver-' || g FROM generate_series(1, 3000) g;
INSERT INTO h_text VALUES (''), ('é'), ('日本語'), (repeat('x', 5000));
INSERT INTO h_bytea SELECT decode(md5(g::text), 'hex') FROM generate_series(1, 3000) g;
INSERT INTO h_bytea VALUES (''::bytea), ('\x00'::bytea);

SELECT 'int4' AS type, * FROM pg_temp.mismatches('h_int4', 7)
UNION ALL SELECT 'int8', * FROM pg_temp.mismatches('h_int8', 64)
UNION ALL SELECT 'int8 / 3', * FROM pg_temp.mismatches('h_int8_3', 3)
UNION ALL SELECT 'text', * FROM pg_temp.mismatches('h_text', 64)
UNION ALL SELECT 'bytea', * FROM pg_temp.mismatches('h_bytea', 5);

-- every remainder is used: the rows spread over all partitions
SELECT count(DISTINCT tableoid) AS partitions_used FROM h_int8;
SELECT min(feast_shard_of(k, 64)), max(feast_shard_of(k, 64)) FROM h_text;

-- int4 and int8 keys of one value share a shard (PostgreSQL's integer hashes agree); text does not
SELECT feast_shard_of(1001, 64) AS int4_key, feast_shard_of(1001::bigint, 64) AS int8_key,
       feast_shard_of('1001'::text, 64) AS text_key;
-- modulus 1: every key on shard 0
SELECT feast_shard_of(12345::bigint, 1), feast_shard_of('x'::text, 1);

-- NULL: a NULL key has remainder 0 (where a hash-partitioned table puts it); a NULL modulus gives NULL
CREATE TABLE h_null (k bigint) PARTITION BY HASH (k);
CREATE TABLE h_null_r0 PARTITION OF h_null FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE h_null_r1 PARTITION OF h_null FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO h_null VALUES (NULL);
SELECT tableoid::regclass AS landed_in, feast_shard_of(k, 2) FROM h_null;
SELECT feast_shard_of(NULL::text, 64) AS null_key, feast_shard_of(5::bigint, NULL) AS null_modulus;

-- bad modulus, bad key types
SELECT feast_shard_of(5::bigint, 0);
SELECT feast_shard_of('a'::text, -3);
SELECT feast_shard_of(NULL::bigint, 0);
SELECT feast_shard_of('[1]'::json, 4);
SELECT feast_shard_of(NULL, 4);
-- SQLSTATEs
\set VERBOSITY sqlstate
SELECT feast_shard_of(5::bigint, 0);
SELECT feast_shard_of('[1]'::json, 4);
\set VERBOSITY default
