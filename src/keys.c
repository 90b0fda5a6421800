/*-------------------------------------------------------------------------
 * keys.c
 *	  Join keys, in one place: how key tuples hash, compare equal and sort,
 *	  and the hash sets of key tuples that push (one row per key), online
 *	  reads (distinct entity keys), materialize (latest row per key) and
 *	  the point-in-time join (key groups) are built on.
 *
 * The hash is seeded once per backend from pg_strong_random, and every key
 * value is fed through hash_bytes_extended with the running hash as its
 * seed, so a client cannot build keys that collide without knowing the
 * seed: a table of crafted keys costs what a table of plain keys costs.
 * Integers hash as int64 whatever their width, so an int4 source column
 * finds the int8 keys of an entity table.
 *
 * A key set is PostgreSQL's simplehash keyed by the caller's item number
 * (a row, an entry); the caller says how to read key k of an item, so the
 * keys stay where they are (column arrays, entry arrays) and are never
 * copied for the set.  A look-up of a tuple that is not an item uses the
 * reserved item number CF_PROBE_ITEM.
 *-------------------------------------------------------------------------
 */
#include "keys.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#define CF_PROBE_ITEM (-1)

typedef struct CfKeyEntry
{
	int64		item;
	uint32		hash;
	char		status;
} CfKeyEntry;

struct CfKeySet
{
	int			nkeys;
	Oid		   *types;
	CfKeyFetch	fetch;
	void	   *arg;
	const Datum *probe;			/* the tuple of CF_PROBE_ITEM */
	const Oid  *probe_types;
	struct cfkeys_hash *tab;
};

static uint64 cf_key_seed;
static bool cf_key_seeded = false;

/* the backend's hash seed, drawn on first use */
static uint64
cf_seed(void)
{
	if (!cf_key_seeded)
	{
		if (!pg_strong_random(&cf_key_seed, sizeof(cf_key_seed)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random hash seed")));
		cf_key_seeded = true;
	}
	return cf_key_seed;
}

void
cf_check_key_type(Oid type, const char *what)
{
	if (type != INT4OID && type != INT8OID && type != TEXTOID && type != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s has type %s; join keys are integer, bigint, text or bytea",
						what, format_type_be(type))));
}

bool
cf_key_is_int(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID;
}

static inline int64
cf_key_int64(Datum d, Oid type)
{
	return type == INT8OID ? DatumGetInt64(d) : type == INT4OID ? DatumGetInt32(d) : DatumGetInt16(d);
}

/* one key value folded into the running hash h */
static inline uint64
cf_key_hash_next(uint64 h, Datum d, Oid type)
{
	if (cf_key_is_int(type))
	{
		int64		v = cf_key_int64(d, type);

		return hash_bytes_extended((const unsigned char *) &v, sizeof(v), h);
	}
	return hash_bytes_extended((const unsigned char *) VARDATA_ANY(DatumGetPointer(d)),
							   VARSIZE_ANY_EXHDR(DatumGetPointer(d)), h);
}

bool
cf_key_eq(Datum a, Oid atype, Datum b, Oid btype)
{
	Pointer		pa;
	Pointer		pb;

	if (cf_key_is_int(atype))
		return cf_key_int64(a, atype) == cf_key_int64(b, btype);
	pa = DatumGetPointer(a);
	pb = DatumGetPointer(b);
	return VARSIZE_ANY_EXHDR(pa) == VARSIZE_ANY_EXHDR(pb) &&
		memcmp(VARDATA_ANY(pa), VARDATA_ANY(pb), VARSIZE_ANY_EXHDR(pa)) == 0;
}

bool
cf_keys_eq(const Datum *a, const Oid *atypes, const Datum *b, const Oid *btypes, int nkeys)
{
	for (int k = 0; k < nkeys; k++)
		if (!cf_key_eq(a[k], atypes[k], b[k], btypes[k]))
			return false;
	return true;
}

int
cf_key_cmp(Datum a, Datum b, Oid type)
{
	int			la;
	int			lb;
	int			cmp;

	if (cf_key_is_int(type))
	{
		int64		x = cf_key_int64(a, type);
		int64		y = cf_key_int64(b, type);

		return x < y ? -1 : x > y;
	}
	la = VARSIZE_ANY_EXHDR(DatumGetPointer(a));
	lb = VARSIZE_ANY_EXHDR(DatumGetPointer(b));
	cmp = memcmp(VARDATA_ANY(DatumGetPointer(a)), VARDATA_ANY(DatumGetPointer(b)), Min(la, lb));
	if (cmp != 0)
		return cmp;
	return la < lb ? -1 : la > lb;
}

/* ------------------------------------------------------------------------
 * key sets
 * ------------------------------------------------------------------------
 */

/* key k of an item, and its type */
static inline Datum
cf_item_key(CfKeySet *set, int64 item, int k, Oid *type)
{
	if (item == CF_PROBE_ITEM)
	{
		*type = set->probe_types[k];
		return set->probe[k];
	}
	*type = set->types[k];
	return set->fetch(set->arg, item, k);
}

static uint32
cf_item_hash(CfKeySet *set, int64 item)
{
	uint64		h = cf_seed();

	for (int k = 0; k < set->nkeys; k++)
	{
		Oid			type;
		Datum		d = cf_item_key(set, item, k, &type);

		h = cf_key_hash_next(h, d, type);
	}
	return (uint32) (h ^ (h >> 32));
}

static bool
cf_items_equal(CfKeySet *set, int64 a, int64 b)
{
	for (int k = 0; k < set->nkeys; k++)
	{
		Oid			at;
		Oid			bt;
		Datum		x = cf_item_key(set, a, k, &at);
		Datum		y = cf_item_key(set, b, k, &bt);

		if (!cf_key_eq(x, at, y, bt))
			return false;
	}
	return true;
}

#define SH_PREFIX cfkeys
#define SH_ELEMENT_TYPE CfKeyEntry
#define SH_KEY_TYPE int64
#define SH_KEY item
#define SH_HASH_KEY(tb, key) cf_item_hash((CfKeySet *) (tb)->private_data, key)
#define SH_EQUAL(tb, a, b) cf_items_equal((CfKeySet *) (tb)->private_data, a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

CfKeySet *
cf_keyset_create(int nkeys, const Oid *types, CfKeyFetch fetch, void *arg, int64 expected)
{
	CfKeySet   *set = palloc0(sizeof(CfKeySet));

	set->nkeys = nkeys;
	set->types = palloc(sizeof(Oid) * Max(nkeys, 1));
	memcpy(set->types, types, sizeof(Oid) * nkeys);
	set->fetch = fetch;
	set->arg = arg;
	set->tab = cfkeys_create(CurrentMemoryContext, (uint32) Min(Max(expected, 16), PG_INT32_MAX / 2),
							 set);
	return set;
}

int64 *
cf_keyset_enter(CfKeySet *set, int64 item, bool *found)
{
	CfKeyEntry *e = cfkeys_insert_hash(set->tab, item, cf_item_hash(set, item), found);

	return &e->item;
}

int64
cf_keyset_find(CfKeySet *set, const Datum *keys, const Oid *types)
{
	CfKeyEntry *e;

	set->probe = keys;
	set->probe_types = types;
	e = cfkeys_lookup_hash(set->tab, CF_PROBE_ITEM, cf_item_hash(set, CF_PROBE_ITEM));
	return e ? e->item : -1;
}

void
cf_keyset_destroy(CfKeySet *set)
{
	cfkeys_destroy(set->tab);
	pfree(set->types);
	pfree(set);
}
