/*-------------------------------------------------------------------------
 * shard.h
 *	  The shard of a join key (src/shard.c).
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_SHARD_H
#define CFEAST_SHARD_H

#include "postgres.h"

/* logical shards of a router (feast_router_setup's default) */
#define CF_LOGICAL_SHARDS 64

/*
 * The remainder that PARTITION BY HASH with this modulus assigns to a key of
 * type typid (collation for collatable types); a NULL key has remainder 0.
 */
extern int	cf_shard_of(Datum key, bool isnull, Oid typid, Oid collation, int modulus);

#endif							/* CFEAST_SHARD_H */
