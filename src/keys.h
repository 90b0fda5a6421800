/*-------------------------------------------------------------------------
 * keys.h
 *	  Join keys: hashing, equality, order, and sets of key tuples.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_KEYS_H
#define CFEAST_KEYS_H

#include "postgres.h"

/* ---------- in keys.c ---------- */

/*
 * A join-key value is an int2, int4 or int8 (compared and hashed by value,
 * whatever its width) or a text or bytea (bytewise).
 */
extern void cf_check_key_type(Oid type, const char *what);
extern bool cf_key_is_int(Oid type);

extern bool cf_key_eq(Datum a, Oid atype, Datum b, Oid btype);
extern bool cf_keys_eq(const Datum *a, const Oid *atypes, const Datum *b, const Oid *btypes,
					   int nkeys);
/* a total order of the values of one key type, the same in every backend */
extern int	cf_key_cmp(Datum a, Datum b, Oid type);

/*
 * A set of key tuples, each stored as an "item" number of the caller's;
 * fetch(arg, item, k) reads key k of an item.
 */
typedef Datum (*CfKeyFetch) (void *arg, int64 item, int k);
typedef struct CfKeySet CfKeySet;

extern CfKeySet *cf_keyset_create(int nkeys, const Oid *types, CfKeyFetch fetch, void *arg,
								  int64 expected);
/* the stored item with the key tuple of "item"; a new tuple stores "item" (*found = false) */
extern int64 *cf_keyset_enter(CfKeySet *set, int64 item, bool *found);
/* the stored item with key tuple "keys" (of "types"), or -1 */
extern int64 cf_keyset_find(CfKeySet *set, const Datum *keys, const Oid *types);
extern void cf_keyset_destroy(CfKeySet *set);

#endif							/* CFEAST_KEYS_H */
