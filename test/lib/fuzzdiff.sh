# test/lib/fuzzdiff.sh: sourced by the checks that push the fuzz corpus two ways and compare
# (test/checks/push_text_diff.sh, push_many_diff.sh).  Needs ROOT (the repository) and PSQL.
#
# fz_diff_db DB: a fresh database DB holding test/fuzz/schema.sql's store, the corpus
# (test/fuzz/gen.pl with CF_FUZZ_SEED and CF_FUZZ_COUNT, the smoke run's by default) in
# fuzz_docs, and fz_state(): everything a push may write, as a step left it.  That is both
# online tables whole and, of the batch relation, its row count and the rows this transaction
# wrote.  Pushes only append there, and each step of a check is a transaction of its own, so
# every row an earlier step wrote has a positive age; the rows before a step are the same on
# both sides, as every earlier step compared equal.  Hashing the whole batch relation at every
# step would cost far more than the pushes.  An empty table hashes to 'none', not NULL, which
# concat_ws would drop.
fz_diff_db() {
	local db=$1
	$PSQL -d postgres -c "DROP DATABASE IF EXISTS $db" \
		-c "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" || return 1
	$PSQL -d "$db" -f "$ROOT/test/fuzz/schema.sql" >/dev/null || return 1
	perl "$ROOT/test/fuzz/gen.pl" "${CF_FUZZ_SEED:-20261125}" "${CF_FUZZ_COUNT:-3000}" |
		$PSQL -d "$db" -c "\\copy fuzz_docs FROM STDIN" || return 1
	$PSQL -d "$db" >/dev/null <<'SQL'
CREATE FUNCTION fz_state() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('|',
        (SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), 'none') FROM feast_online.fz_a t),
        (SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), 'none') FROM feast_online.fz_b t),
        (SELECT count(*) FROM fz_trips),
        (SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), 'none') FROM fz_trips t WHERE age(t.xmin) <= 0))
$$;
SQL
}
