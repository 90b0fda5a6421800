/*-------------------------------------------------------------------------
 * shard.c
 *	  feast_shard_of(key, modulus): the shard of a join key, the same
 *	  remainder that PostgreSQL's PARTITION BY HASH (key) with that modulus
 *	  assigns to it.
 *
 * A routed push, a hash-partitioned batch table and postgres_fdw
 * partitions therefore put a key on the same node.  The hash is the
 * partitioning code's own: compute_partition_hash_value over the key
 * type's extended hash support function (its default hash operator
 * class, support function 2) with the partition seed, then the modulo,
 * as satisfies_hash_partition decides for a table whose partitions all
 * have that modulus.  A NULL key hashes to 0, so it has remainder 0, as
 * in a hash-partitioned table.
 *-------------------------------------------------------------------------
 */
#include "shard.h"

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "partitioning/partbounds.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(cfeast_shard_of);

static void
cf_check_modulus(int modulus)
{
	if (modulus <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("modulus must be a positive integer, got %d", modulus)));
}

int
cf_shard_of(Datum key, bool isnull, Oid typid, Oid collation, int modulus)
{
	TypeCacheEntry *tc;
	uint64		hash;

	cf_check_modulus(modulus);
	tc = lookup_type_cache(typid, TYPECACHE_HASH_EXTENDED_PROC_FINFO);
	if (!OidIsValid(tc->hash_extended_proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("type %s has no extended hash function, so it cannot be a shard key",
						format_type_be(typid))));
	if (!OidIsValid(collation) && type_is_collatable(typid))
		collation = DEFAULT_COLLATION_OID;
	hash = compute_partition_hash_value(1, &tc->hash_extended_proc_finfo, &collation,
										&key, &isnull);
	return (int) (hash % (uint64) modulus);
}

/*
 * feast_shard_of(key anyelement, modulus integer) RETURNS integer: NULL for
 * a NULL modulus, 22023 for a modulus below 1, 42883 for a key type that
 * cannot be hash partitioned.
 */
Datum
cfeast_shard_of(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (!OidIsValid(typid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not determine the type of the key")));
	PG_RETURN_INT32(cf_shard_of(PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0), PG_ARGISNULL(0),
								typid, PG_GET_COLLATION(), PG_GETARG_INT32(1)));
}
