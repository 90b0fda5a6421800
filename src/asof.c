/*-------------------------------------------------------------------------
 * asof.c
 *	  feast._as_of_join(): the as-of join behind point-in-time retrieval
 *	  (and feast._point_in_time_join(), its form of 0.3 for one view).
 *
 * feast._as_of_join runs the entity query once: the entity columns go to
 * one array of Datums, row after row (variable-width values copied into an
 * arena; past work_mem of those, every row goes to a tuple store instead),
 * their times and each view's keys to arrays (sized once for the planner's
 * estimate of the rows, grown by doubling past it).  Then, for each view, given a source query (source.c) returning
 * the view's rows, it answers, for each entity row
 * in input order, the features of the latest source row of its key at or
 * before its time (the write rule of version.c decides between rows of
 * one time), or NULLs.  Its cost grows like reading the source once plus
 * sorting the entity rows:
 *
 *	 1. group the entity rows by key tuple (a key set of keys.c), lay the
 *		groups out one after another and sort each by time;
 *	 2. stream the source rows once (executor, or source.c's direct read of a
 *		plain table, -> our DestReceiver); a row with
 *		time t can only answer entity rows of its key with time >= t, so it
 *		goes to the "bucket" of the first such entity row (binary search),
 *		and each bucket keeps only its latest (event, created) row (a plain
 *		table's scan may be split among parallel workers by block ranges,
 *		their buckets merged under the same rule: see "The source scan split
 *		among parallel workers" below);
 *	 3. walk each key's entity rows in time order carrying the latest row
 *		seen so far (a prefix maximum); the ttl bound is checked last, since
 *		if the latest row is too old, every other candidate is older still.
 *
 * With filter_by_created_timestamp a row may only answer entity rows with
 * time >= max(event, created); bucketing by that value keeps step 3 exact.
 * Finally each stored entity row is read back in order and emitted with
 * every view's answer (read from the answers, which lie in key order, with
 * a prefetch a few rows ahead): no array of whole rows, no zip by position.  The
 * rows go to a sink: the function's result (a tuple store), or, for
 * feast_create_training_set, straight into its new table
 * (cf_as_of_join_into): whole heap pages built here and written with
 * smgrextend, each WAL-logged as a full page, as CLUSTER and index builds
 * write a new relation (table_multi_insert in batches where that does not
 * apply: another table access method, wal_level = logical).
 * feast._point_in_time_join instead gets one view's entity times and keys
 * as arrays and answers the features alone, in the entity rows' order.
 *-------------------------------------------------------------------------
 */
#include "cfeast.h"
#include "asof.h"
#include "keys.h"
#include "source.h"
#include "version.h"

#include "access/detoast.h"
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "port/atomics.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include <sys/mman.h>

PG_FUNCTION_INFO_V1(cfeast_point_in_time_join);
PG_FUNCTION_INFO_V1(cfeast_as_of_join);

#define ARG_BOOL(n) (PG_ARGISNULL(n) ? false : PG_GETARG_BOOL(n))

/* the latest source row offered to one entity position so far */
typedef struct CfBucket
{
	TimestampTz ts;
	TimestampTz created;
	bool		has;
	bool		cnull;
} CfBucket;

typedef struct CfAsof
{
	/* entity rows, input order; n of them have keys and a time */
	int			ninput;
	int			n;
	int			nkeys;
	Oid		   *key_types;
	Datum	   *keys;			/* [row * nkeys + k] */
	TimestampTz *ts;
	bool	   *usable;
	bool		has_varlena_key;
	Oid		   *src_key_types;	/* the source query's key types */
	int			last_group;		/* group of the previous source row, -2: none */
	int			last_pos;		/* its bucket (-1: none; -2: not known) */
	/* key groups: rows sorted by (group, time) in ord[], group g at [group_start[g], group_start[g + 1]) */
	int			ngroups;
	int		   *group_start;
	CfKeySet   *groups;			/* key tuple -> its group (stored as the group's row) */
	int		   *row_group;		/* [input row]: its group */
	int		   *ord;			/* sorted position -> input row */
	TimestampTz *sorted_ts;		/* sorted position -> time */
	/* the best source row per sorted position */
	CfBucket   *best;
	int			nfeat;
	Datum	   *best_values;	/* [pos * nfeat + f] */
	bool	   *best_nulls;
	Oid		   *feat_types;
	int16	   *typlen;
	bool	   *typbyval;
	/* options */
	bool		filter_created;
	bool		has_lower;
	TimestampTz lower;
	MemoryContext values_cxt;
	MemoryContext row_cxt;
	int64		rows_read;
	int64		key_changes;	/* source rows whose keys differ from the previous row's */
} CfAsof;

/* arrays of at least this size are asked for huge pages */
#define CF_HUGE_MIN ((Size) 4 * 1024 * 1024)
#define CF_HUGE_PAGE ((uintptr_t) 2 * 1024 * 1024)

/*
 * A large array of the join (palloc_extended with MCXT_ALLOC_HUGE allowed),
 * on Linux asked to be backed by transparent huge pages (MADV_HUGEPAGE on
 * its 2 MB-aligned interior) before anything touches it: each fresh 4 kB
 * page costs a page fault (14 us each on the development machine, a
 * virtual machine, 0.5 us a 4 kB page with huge pages), one huge page one
 * fault per 2 MB.  It is advice only: where transparent huge pages are
 * off, or the memory was touched before, nothing changes.
 */
static void *
cf_big_alloc(Size size, int flags)
{
	char	   *p = palloc_extended(size, (flags & ~MCXT_ALLOC_ZERO) | MCXT_ALLOC_HUGE);

#ifdef MADV_HUGEPAGE
	if (size >= CF_HUGE_MIN)
	{
		uintptr_t	lo = ((uintptr_t) p + CF_HUGE_PAGE - 1) & ~(CF_HUGE_PAGE - 1);
		uintptr_t	hi = ((uintptr_t) p + size) & ~(CF_HUGE_PAGE - 1);

		if (hi > lo)
			(void) madvise((void *) lo, hi - lo, MADV_HUGEPAGE);
	}
#endif
	if (flags & MCXT_ALLOC_ZERO)
		memset(p, 0, size);
	return p;
}

/* an empty join of one view, its memory in "cxt" */
static CfAsof *
cf_asof_new(MemoryContext cxt, bool filter_created, bool no_lower, TimestampTz lower)
{
	CfAsof	   *a = MemoryContextAllocZero(cxt, sizeof(CfAsof));

	a->filter_created = filter_created;
	a->has_lower = !no_lower;
	a->lower = lower;
	a->values_cxt = AllocSetContextCreate(cxt, "cfeast join values", ALLOCSET_DEFAULT_SIZES);
	a->row_cxt = AllocSetContextCreate(cxt, "cfeast join row", ALLOCSET_SMALL_SIZES);
	return a;
}

/* read the entity arrays; rows with a NULL key or time take no part */
static void
cf_asof_load(CfAsof *a, FunctionCallInfo fcinfo, int first_arg)
{
	int			nargs = PG_NARGS() - first_arg;
	Datum	   *d;
	bool	   *nulls;
	int			n;
	bool	   *usable;

	a->ninput = 0;
	a->n = 0;
	if (nargs < 1 || PG_ARGISNULL(first_arg))
		return;
	a->nkeys = nargs - 1;
	a->key_types = palloc(sizeof(Oid) * Max(a->nkeys, 1));
	if (get_fn_expr_argtype(fcinfo->flinfo, first_arg) != TIMESTAMPTZARRAYOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the entity times passed to feast._point_in_time_join must be a timestamptz[]")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(first_arg), TIMESTAMPTZOID, 8, true, TYPALIGN_DOUBLE,
					  &d, &nulls, &n);
	a->n = a->ninput = n;
	usable = cf_big_alloc(sizeof(bool) * Max(n, 1), MCXT_ALLOC_HUGE);
	a->ts = cf_big_alloc(sizeof(TimestampTz) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		a->ts[i] = nulls[i] ? 0 : DatumGetTimestampTz(d[i]);
		usable[i] = !nulls[i];
	}
	a->keys = cf_big_alloc(sizeof(Datum) * Max(n * a->nkeys, 1), MCXT_ALLOC_HUGE);
	for (int k = 0; k < a->nkeys; k++)
	{
		Oid			at = get_fn_expr_argtype(fcinfo->flinfo, first_arg + 1 + k);
		Oid			et = OidIsValid(at) ? get_element_type(at) : InvalidOid;
		int16		len;
		bool		byval;
		char		align;

		cf_check_key_type(et, psprintf("join key argument %d", k + 1));
		a->key_types[k] = et;
		if (PG_ARGISNULL(first_arg + 1 + k))
		{
			a->n = 0;
			return;
		}
		get_typlenbyvalalign(et, &len, &byval, &align);
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(first_arg + 1 + k), et, len, byval, align, &d, &nulls, &n);
		if (n != a->n)
			elog(ERROR, "feast._point_in_time_join: arrays of different lengths");
		for (int i = 0; i < n; i++)
		{
			a->keys[i * a->nkeys + k] = d[i];
			usable[i] &= !nulls[i];
		}
	}
	a->usable = usable;
	a->n = 0;
	for (int i = 0; i < a->ninput; i++)
		a->n += usable[i];
	for (int k = 0; k < a->nkeys; k++)
		a->has_varlena_key |= a->key_types[k] != INT4OID && a->key_types[k] != INT8OID;
}

/* key k of entity row "item" (a CfKeyFetch) */
static Datum
cf_asof_key(void *arg, int64 item, int k)
{
	CfAsof	   *a = arg;

	return a->keys[item * a->nkeys + k];
}

/* (time, row) pairs in order */
static int
cf_ts_row_cmp(const void *x, const void *y)
{
	const TimestampTz *a = x;
	const TimestampTz *b = y;

	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : (a[1] > b[1] ? 1 : 0);
}

/* sort one group's positions [lo, hi) by time (insertion sort: groups are small) */
static void
cf_asof_sort_group(CfAsof *a, int lo, int hi)
{
	for (int i = lo + 1; i < hi; i++)
	{
		TimestampTz t = a->sorted_ts[i];
		int			r = a->ord[i];
		int			j = i - 1;

		while (j >= lo && a->sorted_ts[j] > t)
		{
			a->sorted_ts[j + 1] = a->sorted_ts[j];
			a->ord[j + 1] = a->ord[j];
			j--;
		}
		a->sorted_ts[j + 1] = t;
		a->ord[j + 1] = r;
	}
}

/* a big group: sort (time, row) pairs with qsort */
static void
cf_asof_sort_big_group(CfAsof *a, int lo, int hi)
{
	int			n = hi - lo;
	TimestampTz *pairs = cf_big_alloc(sizeof(TimestampTz) * 2 * n, MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
	{
		pairs[2 * i] = a->sorted_ts[lo + i];
		pairs[2 * i + 1] = a->ord[lo + i];
	}
	/* the row number breaks ties, so the order is stable */
	qsort(pairs, n, sizeof(TimestampTz) * 2, cf_ts_row_cmp);
	for (int i = 0; i < n; i++)
	{
		a->sorted_ts[lo + i] = pairs[2 * i];
		a->ord[lo + i] = (int) pairs[2 * i + 1];
	}
	pfree(pairs);
}

/*
 * Group the rows by key tuple (a key set of keys.c, O(n)), lay the groups out one
 * after another (counting sort), then sort each group by time.
 */
static void
cf_asof_index(CfAsof *a)
{
	int		   *gid = cf_big_alloc(sizeof(int) * Max(a->ninput, 1), MCXT_ALLOC_HUGE);
	int		   *fill;

	/* usually far fewer groups than rows: start small, the set grows as needed */
	a->groups = cf_keyset_create(a->nkeys, a->key_types, cf_asof_key, a, Min(a->n, 8192));
	a->row_group = gid;
	a->group_start = cf_big_alloc(sizeof(int) * (a->n + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int r = 0; r < a->ninput; r++)
	{
		bool		found;
		int64	   *first;

		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!a->usable[r])
			continue;
		first = cf_keyset_enter(a->groups, r, &found);
		gid[r] = found ? gid[*first] : a->ngroups++;
		a->group_start[gid[r] + 1]++;
	}
	for (int g = 0; g < a->ngroups; g++)
		a->group_start[g + 1] += a->group_start[g];
	fill = cf_big_alloc(sizeof(int) * Max(a->ngroups, 1), MCXT_ALLOC_HUGE);
	memcpy(fill, a->group_start, sizeof(int) * a->ngroups);
	a->ord = cf_big_alloc(sizeof(int) * Max(a->n, 1), MCXT_ALLOC_HUGE);
	a->sorted_ts = cf_big_alloc(sizeof(TimestampTz) * Max(a->n, 1), MCXT_ALLOC_HUGE);
	for (int r = 0; r < a->ninput; r++)
	{
		int			p;

		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!a->usable[r])
			continue;
		p = fill[gid[r]]++;
		a->ord[p] = r;
		a->sorted_ts[p] = a->ts[r];
	}
	for (int g = 0; g < a->ngroups; g++)
	{
		int			lo = a->group_start[g];
		int			hi = a->group_start[g + 1];

		if ((g & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (hi - lo <= 32)
			cf_asof_sort_group(a, lo, hi);
		else
			cf_asof_sort_big_group(a, lo, hi);
	}
	pfree(fill);
}

/*
 * First sorted position of group g whose time is >= t, or -1.  "hint" is
 * the answer for the previous source row of this group (end of group for
 * -1; -2: none): rows read in time order land at or a little after it, so
 * a few steps from there answer without the binary search.
 */
static inline int
cf_asof_bucket(CfAsof *a, int g, TimestampTz t, int hint)
{
	int			lo = a->group_start[g];
	int			end = a->group_start[g + 1];
	int			hi = end;

	if (hint == -1)
		hint = end;
	if (hint >= lo && (hint == lo || a->sorted_ts[hint - 1] < t))
	{
		for (int i = 0; i < 4; i++, hint++)
			if (hint == end || a->sorted_ts[hint] >= t)
				return hint < end ? hint : -1;
		lo = hint;
	}

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (a->sorted_ts[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < end ? lo : -1;
}

/* keep source row (values at "vals") in bucket "pos" if it is the latest there */
static void
cf_asof_offer(CfAsof *a, int pos, TimestampTz ts, bool cnull, TimestampTz created,
			  Datum *vals, bool *nulls)
{
	CfBucket   *b = &a->best[pos];
	Datum	   *bv = &a->best_values[pos * a->nfeat];
	bool	   *bn = &a->best_nulls[pos * a->nfeat];
	MemoryContext old;

	if (b->has && !cf_version_replaces(ts, cnull, created, b->ts, b->cnull, b->created))
		return;
	old = MemoryContextSwitchTo(a->values_cxt);
	for (int f = 0; f < a->nfeat; f++)
	{
		if (b->has && !bn[f] && !a->typbyval[f])
			pfree(DatumGetPointer(bv[f]));
		bn[f] = nulls[f];
		if (nulls[f])
			bv[f] = (Datum) 0;
		else if (a->typbyval[f])
			bv[f] = vals[f];
		else if (a->typlen[f] == -1)
			bv[f] = PointerGetDatum(pg_detoast_datum_copy((struct varlena *) DatumGetPointer(vals[f])));
		else
			bv[f] = datumCopy(vals[f], false, a->typlen[f]);
	}
	MemoryContextSwitchTo(old);
	b->has = true;
	b->ts = ts;
	b->cnull = cnull;
	b->created = created;
}

/* the DestReceiver that the source query's executor feeds */
typedef struct CfAsofReceiver
{
	DestReceiver pub;
	CfAsof	   *asof;
	Datum	   *keys;
	Datum	   *last_keys;		/* keys of the previous row */
	MemoryContext last_cxt;		/* its text and bytea keys */
} CfAsofReceiver;

static bool
cf_asof_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CfAsofReceiver *r = (CfAsofReceiver *) self;
	CfAsof	   *a = r->asof;
	int			nk = a->nkeys;
	TimestampTz ts;
	TimestampTz created;
	bool		cnull;
	TimestampTz at;
	int			g;
	int			pos;
	CfSourceRow row;
	bool		usable;
	MemoryContext old;

	if ((++a->rows_read & 4095) == 0)
		CHECK_FOR_INTERRUPTS();
	if (a->has_varlena_key)
		MemoryContextReset(a->row_cxt);
	old = MemoryContextSwitchTo(a->row_cxt);
	usable = cf_source_row(slot, nk, r->keys, &row);
	MemoryContextSwitchTo(old);
	if (!usable)
		return true;			/* no event time or no key: never a candidate */
	ts = row.event;
	cnull = row.created_null;
	created = row.created;
	if (a->has_lower && ts < a->lower)
		return true;
	if (a->filter_created && cnull)
		return true;
	at = a->filter_created && created > ts ? created : ts;
	/*
	 * Sources are often stored or read key by key: a row with the previous
	 * row's keys takes its group without hashing (text and bytea keys are
	 * kept for that in last_cxt until the keys change).
	 */
	if (a->last_group != -2 && cf_keys_eq(r->keys, a->src_key_types, r->last_keys, a->src_key_types, nk))
		g = a->last_group;
	else
	{
		int64		first = cf_keyset_find(a->groups, r->keys, a->src_key_types);

		g = first < 0 ? -1 : a->row_group[first];
		a->last_pos = -2;
		if (a->has_varlena_key)
		{
			MemoryContextReset(r->last_cxt);
			old = MemoryContextSwitchTo(r->last_cxt);
			for (int k = 0; k < nk; k++)
				r->last_keys[k] = cf_key_is_int(a->src_key_types[k]) ? r->keys[k]
					: datumCopy(r->keys[k], false, -1);
			MemoryContextSwitchTo(old);
		}
		else
			memcpy(r->last_keys, r->keys, sizeof(Datum) * nk);
		a->last_group = g;
		a->key_changes++;
	}
	if (g < 0)
		return true;
	pos = cf_asof_bucket(a, g, at, a->last_pos);
	a->last_pos = pos;
	if (pos < 0)
		return true;
	cf_asof_offer(a, pos, ts, cnull, created, &slot->tts_values[nk + 2], &slot->tts_isnull[nk + 2]);
	return true;
}

static void
cf_asof_startup(DestReceiver *self, int operation, TupleDesc td)
{
	CfAsofReceiver *r = (CfAsofReceiver *) self;
	CfAsof	   *a = r->asof;

	if (td->natts != a->nkeys + 2 + a->nfeat)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the source query returns %d columns, expected %d (keys, event and created timestamps, features)",
						td->natts, a->nkeys + 2 + a->nfeat)));
	a->src_key_types = palloc(sizeof(Oid) * Max(a->nkeys, 1));
	for (int k = 0; k < a->nkeys; k++)
	{
		Oid			t = TupleDescAttr(td, k)->atttypid;

		a->src_key_types[k] = t;
		if (t != a->key_types[k] && !(cf_key_is_int(t) && cf_key_is_int(a->key_types[k])))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source column %d has type %s, but the entity key has type %s", k + 1,
							format_type_be(TupleDescAttr(td, k)->atttypid), format_type_be(a->key_types[k]))));
	}
	for (int i = 0; i < 2; i++)
		if (TupleDescAttr(td, a->nkeys + i)->atttypid != TIMESTAMPTZOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source column %d must be timestamptz", a->nkeys + i + 1)));
	for (int f = 0; f < a->nfeat; f++)
	{
		Oid			t = TupleDescAttr(td, a->nkeys + 2 + f)->atttypid;

		if (t != a->feat_types[f])
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source column %d has type %s, but the column definition list says %s",
							a->nkeys + 3 + f, format_type_be(t), format_type_be(a->feat_types[f]))));
	}
}

static void
cf_asof_noop(DestReceiver *self)
{
}

static void
cf_asof_receiver_init(CfAsofReceiver *r, CfAsof *a)
{
	memset(r, 0, sizeof(*r));
	r->pub.receiveSlot = cf_asof_receive;
	r->pub.rStartup = cf_asof_startup;
	r->pub.rShutdown = cf_asof_noop;
	r->pub.rDestroy = cf_asof_noop;
	r->pub.mydest = DestNone;
	r->asof = a;
	r->keys = palloc(sizeof(Datum) * Max(a->nkeys, 1));
	r->last_keys = palloc(sizeof(Datum) * Max(a->nkeys, 1));
	r->last_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast join last keys", ALLOCSET_SMALL_SIZES);
	a->last_group = -2;			/* none yet */
}

/* run the source query, feeding every row to the receiver */
static void
cf_asof_scan(CfAsof *a, const char *source_sql, TimestampTz upper, TimestampTz lower)
{
	CfAsofReceiver r;
	SPIExecuteOptions opts;
	Oid			argtypes[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, InvalidOid};
	int			nargs = 2;
	SPIPlanPtr	plan;
	int			rc;

	cf_asof_receiver_init(&r, a);
	memset(&opts, 0, sizeof(opts));
	opts.params = cf_source_params(upper, lower);
	if (a->nkeys > 0 && cf_source_wants_keys(source_sql))
	{
		/* a partitioned or foreign source: $3 = each key group's first key, NULL past the maximum (source.c) */
		Datum	   *first = palloc(sizeof(Datum) * Max(Min(a->ngroups, CF_SOURCE_KEY_FILTER_MAX), 1));

		for (int g = 0; g < a->ngroups && a->ngroups <= CF_SOURCE_KEY_FILTER_MAX; g++)
			first[g] = a->keys[(int64) a->ord[a->group_start[g]] * a->nkeys];
		argtypes[2] = get_array_type(a->key_types[0]);
		opts.params = cf_source_params_keys(upper, lower, a->key_types[0], first, a->ngroups);
		nargs = 3;
	}
	opts.read_only = true;
	opts.dest = (DestReceiver *) &r;
	/* the scan may run in parallel workers; our receiver runs in the leader */
	plan = SPI_prepare_cursor(source_sql, nargs, argtypes, CURSOR_OPT_PARALLEL_OK);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source query of feast._point_in_time_join is invalid: %s",
						SPI_result_code_string(SPI_result))));
	/* a plain table PostgreSQL would scan whole is read without the executor (source.c) */
	if (cf_source_read_direct(plan, opts.params, true, (DestReceiver *) &r))
		return;
	rc = SPI_execute_plan_extended(plan, &opts);
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source query of feast._point_in_time_join must be a SELECT")));
}

/* ------------------------------------------------------------------------
 * The source scan split among parallel workers
 *
 * A plain heap table's scan may be shared by PostgreSQL's parallel
 * workers (a ParallelContext of our own: as many as the table's
 * parallel_workers storage parameter asks, within
 * max_parallel_workers_per_gather; see cf_asof_workers).  The table's blocks are cut into
 * chunks; the leader and each worker take the next chunk from a shared
 * counter and read it with the source query plus a block range (a TID
 * range scan: the same SELECT, so the same casts, checks and errors),
 * each into buckets of its own.  A worker then sends its filled buckets
 * (position, version, features) through a queue, and the leader offers
 * each to its own bucket of that position under the same write rule:
 * the latest of a position's candidates wins whichever process read it,
 * so the answers are the one-scan answers.  The workers rebuild the key
 * set from each group's key and share the sorted times and group bounds
 * read-only.  A worker's error reaches the leader through the parallel
 * context and is raised there.
 * ------------------------------------------------------------------------
 */

#define CF_PAR_KEY_SHARED	UINT64CONST(0xCFEA500000000001)
#define CF_PAR_KEY_SQL		UINT64CONST(0xCFEA500000000002)
#define CF_PAR_KEY_GROUPS	UINT64CONST(0xCFEA500000000003)
#define CF_PAR_KEY_TIMES	UINT64CONST(0xCFEA500000000004)
#define CF_PAR_KEY_KEYS		UINT64CONST(0xCFEA500000000005)
#define CF_PAR_KEY_QUEUES	UINT64CONST(0xCFEA500000000006)
#define CF_PAR_QUEUE_SIZE	((Size) 1024 * 1024)
#define CF_PAR_MESSAGE		(64 * 1024)
#define CF_PAR_CHUNKS		16		/* chunks per process, about */

typedef struct CfAsofShared
{
	int			nkeys;
	int			nfeat;
	int			ngroups;
	int			n;
	bool		filter_created;
	bool		has_lower;
	TimestampTz lower;			/* the join's lower bound option */
	TimestampTz scan_upper;		/* the source query's $1 and $2 */
	TimestampTz scan_lower;
	BlockNumber chunk;			/* blocks per chunk */
	uint32		nchunks;
	pg_atomic_uint32 next;		/* the next chunk to read */
	Oid			types[FLEXIBLE_ARRAY_MEMBER];	/* key types, then feature types */
} CfAsofShared;

static void cf_asof_alloc_best(CfAsof *a, int nfeat, const Oid *types);

/*
 * Workers for the scan of "relid" (0: scan alone): the table's
 * parallel_workers storage parameter, within max_parallel_workers_per_gather.
 * Only a permanent or unlogged heap table without row security is split,
 * and only when its parallel_workers asks for it: a worker's start and its
 * first touch of shared buffers and of its own arrays cost more than the
 * half of a scan it saves on the development machine (a 2-core virtual
 * machine where a page fault costs 14 us: a 1M-row training set took
 * 250 ms in one scan, 335 ms with one worker), so the default is one scan,
 * unlike PostgreSQL's planner, which splits by size.
 */
static int
cf_asof_workers(Oid relid, BlockNumber *nblocks)
{
	Relation	rel;
	int			workers = 0;

	*nblocks = 0;
	if (!OidIsValid(relid) || max_parallel_workers_per_gather <= 0 || IsInParallelMode() ||
		!IsUnderPostmaster)
		return 0;
	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_tableam == GetHeapamTableAmRoutine() &&
		rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP && !rel->rd_rel->relrowsecurity)
	{
		workers = Max(RelationGetParallelWorkers(rel, 0), 0);
		workers = Min(workers, max_parallel_workers_per_gather);
		if (workers > 0)
			*nblocks = RelationGetNumberOfBlocks(rel);
	}
	table_close(rel, NoLock);
	return workers;
}

/* the plan of a source's SELECT with CF_SOURCE_BLOCK_RANGE, for every chunk */
static SPIPlanPtr
cf_asof_chunk_plan(const char *sql)
{
	Oid			argtypes[4] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TIDOID, TIDOID};
	/* a TID range scan, never a parallel plan of its own */
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, 4, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source query of feast._as_of_join is invalid: %s",
						SPI_result_code_string(SPI_result))));
	return plan;
}

/* may "plan" run in a parallel worker (no parallel-unsafe or -restricted function)? */
static bool
cf_asof_plan_parallel_safe(SPIPlanPtr plan)
{
	ListCell   *lc;

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *ps = lfirst(lc);
		ListCell   *lq;

		foreach(lq, ps->query_list)
			if (max_parallel_hazard(lfirst_node(Query, lq)) != PROPARALLEL_SAFE)
				return false;
	}
	return true;
}

/* read chunks of the source with "plan" (cf_asof_chunk_plan) until none is left */
static void
cf_asof_read_chunks(CfAsof *a, CfAsofShared *sh, SPIPlanPtr plan)
{
	CfAsofReceiver r;
	SPIExecuteOptions opts;
	ParamListInfo bounds = cf_source_params(sh->scan_upper, sh->scan_lower);
	ParamListInfo params = makeParamList(4);
	ItemPointerData from;
	ItemPointerData to;

	cf_asof_receiver_init(&r, a);
	params->numParams = 4;
	params->params[0] = bounds->params[0];
	params->params[1] = bounds->params[1];
	for (int i = 2; i < 4; i++)
	{
		params->params[i].ptype = TIDOID;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].isnull = false;
	}
	params->params[2].value = PointerGetDatum(&from);
	params->params[3].value = PointerGetDatum(&to);
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) &r;
	for (;;)
	{
		uint32		c = pg_atomic_fetch_add_u32(&sh->next, 1);
		int			rc;

		if (c >= sh->nchunks)
			break;
		ItemPointerSet(&from, c * sh->chunk, 0);
		/* the last chunk is open above */
		if (c + 1 == sh->nchunks)
			ItemPointerSet(&to, MaxBlockNumber, MaxOffsetNumber);
		else
			ItemPointerSet(&to, (c + 1) * sh->chunk, 0);
		rc = SPI_execute_plan_extended(plan, &opts);
		if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the source query of feast._as_of_join must be a SELECT")));
	}
}

/*
 * A worker's filled buckets, in messages of about CF_PAR_MESSAGE bytes:
 * per bucket its position, event and created times, whether created is
 * NULL, then per feature a NULL flag and the value (a by-value Datum as
 * it is, any other with datumSerialize).
 */
static void
cf_asof_send_best(CfAsof *a, shm_mq_handle *mqh)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int p = 0; p < a->n; p++)
	{
		CfBucket   *b = &a->best[p];

		if (!b->has)
			continue;
		appendBinaryStringInfoNT(&buf, (char *) &p, sizeof(int));
		appendBinaryStringInfoNT(&buf, (char *) &b->ts, sizeof(TimestampTz));
		appendBinaryStringInfoNT(&buf, (char *) &b->created, sizeof(TimestampTz));
		appendBinaryStringInfoNT(&buf, (char *) &b->cnull, sizeof(bool));
		for (int f = 0; f < a->nfeat; f++)
		{
			Datum		v = a->best_values[(int64) p * a->nfeat + f];
			bool		isnull = a->best_nulls[(int64) p * a->nfeat + f];

			appendBinaryStringInfoNT(&buf, (char *) &isnull, sizeof(bool));
			if (isnull)
				continue;
			if (a->typbyval[f])
				appendBinaryStringInfoNT(&buf, (char *) &v, sizeof(Datum));
			else
			{
				Size		size = datumEstimateSpace(v, false, false, a->typlen[f]);
				char	   *at;

				enlargeStringInfo(&buf, size);
				at = buf.data + buf.len;
				datumSerialize(v, false, false, a->typlen[f], &at);
				buf.len += size;
			}
		}
		if (buf.len >= CF_PAR_MESSAGE)
		{
			if (shm_mq_send(mqh, buf.len, buf.data, false, true) != SHM_MQ_SUCCESS)
				return;			/* the leader is gone */
			resetStringInfo(&buf);
		}
	}
	if (buf.len > 0)
		(void) shm_mq_send(mqh, buf.len, buf.data, false, true);
}

/* offer each bucket of a worker's message to the leader's bucket of that position */
static void
cf_asof_merge(CfAsof *a, char *data, Size len, Datum *vals, bool *nulls)
{
	char	   *at = data;
	char	   *end = data + len;
	MemoryContext old = MemoryContextSwitchTo(a->row_cxt);

	while (at < end)
	{
		int			p;
		TimestampTz ts;
		TimestampTz created;
		bool		cnull;

		memcpy(&p, at, sizeof(int));
		at += sizeof(int);
		memcpy(&ts, at, sizeof(TimestampTz));
		at += sizeof(TimestampTz);
		memcpy(&created, at, sizeof(TimestampTz));
		at += sizeof(TimestampTz);
		memcpy(&cnull, at, sizeof(bool));
		at += sizeof(bool);
		if (p < 0 || p >= a->n)
			elog(ERROR, "cfeast as-of join: a parallel worker sent bucket %d of %d", p, a->n);
		for (int f = 0; f < a->nfeat; f++)
		{
			memcpy(&nulls[f], at, sizeof(bool));
			at += sizeof(bool);
			vals[f] = (Datum) 0;
			if (nulls[f])
				continue;
			if (a->typbyval[f])
			{
				memcpy(&vals[f], at, sizeof(Datum));
				at += sizeof(Datum);
			}
			else
				vals[f] = datumRestore(&at, &nulls[f]);
		}
		/* cf_asof_offer copies what it keeps into the join's memory */
		MemoryContextSwitchTo(old);
		cf_asof_offer(a, p, ts, cnull, created, vals, nulls);
		MemoryContextSwitchTo(a->row_cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(a->row_cxt);
}

/* the worker's side (see above) */
void
cf_asof_parallel_main(dsm_segment *seg, shm_toc *toc)
{
	CfAsofShared *sh = shm_toc_lookup(toc, CF_PAR_KEY_SHARED, false);
	char	   *sql = shm_toc_lookup(toc, CF_PAR_KEY_SQL, false);
	char	   *keyspace = shm_toc_lookup(toc, CF_PAR_KEY_KEYS, false);
	shm_mq	   *mq = (shm_mq *) ((char *) shm_toc_lookup(toc, CF_PAR_KEY_QUEUES, false) +
								 ParallelWorkerNumber * CF_PAR_QUEUE_SIZE);
	shm_mq_handle *mqh;
	CfAsof	   *a;

	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);
	a = cf_asof_new(CurrentMemoryContext, sh->filter_created, !sh->has_lower, sh->lower);
	a->nkeys = sh->nkeys;
	a->key_types = palloc(sizeof(Oid) * Max(a->nkeys, 1));
	for (int k = 0; k < a->nkeys; k++)
	{
		a->key_types[k] = sh->types[k];
		a->has_varlena_key |= !cf_key_is_int(sh->types[k]);
	}
	a->n = a->ninput = sh->n;
	a->ngroups = sh->ngroups;
	a->group_start = shm_toc_lookup(toc, CF_PAR_KEY_GROUPS, false);
	a->sorted_ts = shm_toc_lookup(toc, CF_PAR_KEY_TIMES, false);
	/* the key set again, from each group's key: item g is group g */
	a->keys = cf_big_alloc(sizeof(Datum) * Max((int64) a->ngroups * a->nkeys, 1), MCXT_ALLOC_HUGE);
	a->row_group = cf_big_alloc(sizeof(int) * Max(a->ngroups, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < (int64) a->ngroups * a->nkeys; i++)
	{
		bool		isnull;

		a->keys[i] = datumRestore(&keyspace, &isnull);
	}
	a->groups = cf_keyset_create(a->nkeys, a->key_types, cf_asof_key, a, Max(a->ngroups, 1));
	for (int g = 0; g < a->ngroups; g++)
	{
		bool		found;

		a->row_group[g] = g;
		(void) cf_keyset_enter(a->groups, g, &found);
	}
	cf_asof_alloc_best(a, sh->nfeat, &sh->types[sh->nkeys]);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cf_asof_read_chunks(a, sh, cf_asof_chunk_plan(sql));
	SPI_finish();
	cf_asof_send_best(a, mqh);
	shm_mq_detach(mqh);
}

/*
 * The scan of "relid" (whose SELECT is source_sql) with parallel workers;
 * false (nothing read) if it is not to be split.  SPI connected.
 */
static bool
cf_asof_scan_parallel(CfAsof *a, const char *source_sql, Oid relid, TimestampTz upper,
					  TimestampTz lower, int *launched)
{
	BlockNumber nblocks;
	int			nworkers = cf_asof_workers(relid, &nblocks);
	char	   *sql;
	Size		shared_size;
	Size		keys_size = 0;
	int16	   *keylen;
	bool	   *keybyval;
	ParallelContext *pcxt;
	CfAsofShared *sh;
	char	   *space;
	shm_mq_handle **mqh;
	Datum	   *vals;
	bool	   *nulls;

	SPIPlanPtr	plan;

	*launched = 0;
	if (nworkers <= 0 || a->nkeys == 0)
		return false;
	sql = psprintf("%s" CF_SOURCE_BLOCK_RANGE, source_sql);
	plan = cf_asof_chunk_plan(sql);
	if (!cf_asof_plan_parallel_safe(plan))
	{
		SPI_freeplan(plan);
		return false;
	}
	keylen = palloc(sizeof(int16) * a->nkeys);
	keybyval = palloc(sizeof(bool) * a->nkeys);
	for (int k = 0; k < a->nkeys; k++)
		get_typlenbyval(a->key_types[k], &keylen[k], &keybyval[k]);
	for (int g = 0; g < a->ngroups; g++)
		for (int k = 0; k < a->nkeys; k++)
			keys_size = add_size(keys_size,
								 datumEstimateSpace(a->keys[(int64) a->ord[a->group_start[g]] * a->nkeys + k],
													false, keybyval[k], keylen[k]));
	shared_size = add_size(offsetof(CfAsofShared, types), sizeof(Oid) * (a->nkeys + a->nfeat));

	EnterParallelMode();
	pcxt = CreateParallelContext("cfeast", "cf_asof_parallel_main", nworkers);
	shm_toc_estimate_chunk(&pcxt->estimator, shared_size);
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(sql) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(int) * ((Size) a->ngroups + 1));
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(TimestampTz) * (Size) Max(a->n, 1));
	shm_toc_estimate_chunk(&pcxt->estimator, Max(keys_size, 1));
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(CF_PAR_QUEUE_SIZE, nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 6);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		/* no dynamic shared memory to be had: read it alone */
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return false;
	}

	sh = shm_toc_allocate(pcxt->toc, shared_size);
	sh->nkeys = a->nkeys;
	sh->nfeat = a->nfeat;
	sh->ngroups = a->ngroups;
	sh->n = a->n;
	sh->filter_created = a->filter_created;
	sh->has_lower = a->has_lower;
	sh->lower = a->lower;
	sh->scan_upper = upper;
	sh->scan_lower = lower;
	/* about CF_PAR_CHUNKS chunks a process, so that none waits long for the others */
	sh->chunk = Max(nblocks / (CF_PAR_CHUNKS * (nworkers + 1)), 1);
	sh->nchunks = Max((nblocks + sh->chunk - 1) / sh->chunk, 1);
	pg_atomic_init_u32(&sh->next, 0);
	memcpy(sh->types, a->key_types, sizeof(Oid) * a->nkeys);
	memcpy(&sh->types[a->nkeys], a->feat_types, sizeof(Oid) * a->nfeat);
	shm_toc_insert(pcxt->toc, CF_PAR_KEY_SHARED, sh);

	space = shm_toc_allocate(pcxt->toc, strlen(sql) + 1);
	strcpy(space, sql);
	shm_toc_insert(pcxt->toc, CF_PAR_KEY_SQL, space);
	space = shm_toc_allocate(pcxt->toc, sizeof(int) * ((Size) a->ngroups + 1));
	memcpy(space, a->group_start, sizeof(int) * ((Size) a->ngroups + 1));
	shm_toc_insert(pcxt->toc, CF_PAR_KEY_GROUPS, space);
	space = shm_toc_allocate(pcxt->toc, sizeof(TimestampTz) * (Size) Max(a->n, 1));
	memcpy(space, a->sorted_ts, sizeof(TimestampTz) * (Size) a->n);
	shm_toc_insert(pcxt->toc, CF_PAR_KEY_TIMES, space);
	space = shm_toc_allocate(pcxt->toc, Max(keys_size, 1));
	shm_toc_insert(pcxt->toc, CF_PAR_KEY_KEYS, space);
	for (int g = 0; g < a->ngroups; g++)
		for (int k = 0; k < a->nkeys; k++)
			datumSerialize(a->keys[(int64) a->ord[a->group_start[g]] * a->nkeys + k], false,
						   keybyval[k], keylen[k], &space);
	space = shm_toc_allocate(pcxt->toc, mul_size(CF_PAR_QUEUE_SIZE, nworkers));
	shm_toc_insert(pcxt->toc, CF_PAR_KEY_QUEUES, space);
	mqh = palloc(sizeof(shm_mq_handle *) * nworkers);
	for (int i = 0; i < nworkers; i++)
	{
		shm_mq	   *mq = shm_mq_create(space + i * CF_PAR_QUEUE_SIZE, CF_PAR_QUEUE_SIZE);

		shm_mq_set_receiver(mq, MyProc);
		mqh[i] = shm_mq_attach(mq, pcxt->seg, NULL);
	}

	LaunchParallelWorkers(pcxt);
	for (int i = 0; i < pcxt->nworkers_launched; i++)
		shm_mq_set_handle(mqh[i], pcxt->worker[i].bgwhandle);
	*launched = pcxt->nworkers_launched;

	/* the leader reads chunks too, unless told not to (it reads all if no worker started) */
	if (parallel_leader_participation || pcxt->nworkers_launched == 0)
		cf_asof_read_chunks(a, sh, plan);

	vals = palloc(sizeof(Datum) * Max(a->nfeat, 1));
	nulls = palloc(sizeof(bool) * Max(a->nfeat, 1));
	for (int i = 0; i < pcxt->nworkers_launched; i++)
	{
		for (;;)
		{
			Size		len;
			void	   *data;

			if (shm_mq_receive(mqh[i], &len, &data, false) != SHM_MQ_SUCCESS)
				break;			/* done (or failed: raised below) */
			cf_asof_merge(a, data, len, vals, nulls);
		}
	}
	/* a worker's error is raised here */
	WaitForParallelWorkersToFinish(pcxt);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	SPI_freeplan(plan);
	return true;
}

/* walk each group in time order, carrying the latest row: answer[input row] */
static int *
cf_asof_answers(CfAsof *a, Interval *ttl)
{
	int		   *answer = cf_big_alloc(sizeof(int) * Max(a->ninput, 1), MCXT_ALLOC_HUGE);

	for (int i = 0; i < a->ninput; i++)
		answer[i] = -1;
	for (int g = 0; g < a->ngroups; g++)
	{
		int			cur = -1;

		CHECK_FOR_INTERRUPTS();
		for (int p = a->group_start[g]; p < a->group_start[g + 1]; p++)
		{
			int			r = a->ord[p];

			if (a->best[p].has &&
				(cur < 0 || cf_version_replaces(a->best[p].ts, a->best[p].cnull, a->best[p].created,
												a->best[cur].ts, a->best[cur].cnull,
												a->best[cur].created)))
				cur = p;
			if (cur < 0)
				continue;
			if (ttl != NULL && a->best[cur].ts < cf_minus_ttl(a->sorted_ts[p], ttl))
				continue;
			answer[r] = cur;
		}
	}
	return answer;
}

/* one output row per entity row, in the order given */
static void
cf_asof_emit(CfAsof *a, int *answer, ReturnSetInfo *rsinfo)
{
	bool	   *all_null = palloc(sizeof(bool) * Max(a->nfeat, 1));
	Datum	   *zero = palloc0(sizeof(Datum) * Max(a->nfeat, 1));

	memset(all_null, true, sizeof(bool) * Max(a->nfeat, 1));
	for (int r = 0; r < a->ninput; r++)
	{
		int			p = answer[r];

		if ((r & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		if (p < 0)
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, zero, all_null);
		else
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &a->best_values[p * a->nfeat],
								 &a->best_nulls[p * a->nfeat]);
	}
}

static void
cf_asof_alloc_best(CfAsof *a, int nfeat, const Oid *types)
{
	int			n = Max(a->n, 1);

	a->nfeat = nfeat;
	a->typlen = palloc(sizeof(int16) * Max(a->nfeat, 1));
	a->typbyval = palloc(sizeof(bool) * Max(a->nfeat, 1));
	a->feat_types = palloc(sizeof(Oid) * Max(a->nfeat, 1));
	for (int f = 0; f < a->nfeat; f++)
	{
		a->feat_types[f] = types[f];
		get_typlenbyval(a->feat_types[f], &a->typlen[f], &a->typbyval[f]);
	}
	a->best = cf_big_alloc(sizeof(CfBucket) * n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	a->best_values = cf_big_alloc(sizeof(Datum) * n * Max(a->nfeat, 1), MCXT_ALLOC_HUGE);
	a->best_nulls = cf_big_alloc(sizeof(bool) * n * Max(a->nfeat, 1), MCXT_ALLOC_HUGE);
}

/*
 * Answer every entity row of "a" from source_sql (SPI connected; the
 * current memory context is the join's): answer[input row] is the sorted
 * position whose best row answers it, or -1.
 */
static int *
cf_asof_run(CfAsof *a, const char *source_sql, Oid split_rel, Interval *ttl)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz upper = DT_NOBEGIN;
	TimestampTz lower = DT_NOEND;
	TimestampTz t0,
				t1,
				t2;
	int		   *answer;
	int			workers = 0;

	if (a->n == 0)
		return cf_asof_answers(a, ttl);
	t0 = GetCurrentTimestamp();
	cf_asof_index(a);
	t1 = GetCurrentTimestamp();
	for (int i = 0; i < a->n; i++)
	{
		upper = Max(upper, a->sorted_ts[i]);
		lower = Min(lower, a->sorted_ts[i]);
	}
	lower = ttl != NULL ? cf_minus_ttl(lower, ttl) : DT_NOBEGIN;
	if (a->has_lower)
		lower = Max(lower, a->lower);
	if (cf_asof_scan_parallel(a, source_sql, split_rel, upper, lower, &workers))
		ereport(DEBUG1,
				(errmsg_internal("cfeast as-of join: the source read by %d parallel workers%s", workers,
								 parallel_leader_participation || workers == 0 ? " and the leader" : "")));
	else
		cf_asof_scan(a, source_sql, upper, lower);
	MemoryContextSwitchTo(cxt);
	t2 = GetCurrentTimestamp();
	answer = cf_asof_answers(a, ttl);
	ereport(DEBUG2,
			(errmsg_internal("cfeast as-of join: %d entity rows in %d key groups, " INT64_FORMAT
							 " source rows (" INT64_FORMAT " key look-ups; the leader's, %d workers beside it); sort %ld ms, scan %ld ms, answer %ld ms",
							 a->ninput, a->ngroups, a->rows_read, a->key_changes, workers,
							 (long) ((t1 - t0) / 1000), (long) ((t2 - t1) / 1000),
							 (long) ((GetCurrentTimestamp() - t2) / 1000))));
	return answer;
}

/*
 * Like InitMaterializedSRF, but the tuplestore may hold all the answers in
 * memory: they are in memory already, and spilling them to disk only to
 * read them back at once would cost more than it saves.
 */
static void
cf_asof_init_result(FunctionCallInfo fcinfo, int nrows)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	int64		kb;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize) || rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("feast._point_in_time_join() must be called in FROM with a column definition list")));
	kb = (int64) nrows * (32 + 16 * rsinfo->expectedDesc->natts) / 1024 + 1024;
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(rsinfo->expectedDesc);
	rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0, false,
											  (int) Min(Max(kb, work_mem), MAX_KILOBYTES));
	MemoryContextSwitchTo(old);
}

/*
 * feast._point_in_time_join(source_sql text, ttl interval, filter_created boolean,
 *		lower_bound timestamptz, VARIADIC event_timestamps timestamptz[], keys anyarray...)
 *		RETURNS SETOF record (features...): one row per entity row, in their order
 *
 * source_sql returns (keys..., event_timestamp, created_timestamp, features...),
 * all timestamptz, keys of the arrays' element types; $1 is the latest entity
 * time, $2 the earliest time a candidate may have.
 */
Datum
cfeast_point_in_time_join(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext join_cxt;
	MemoryContext old;
	CfAsof	   *a;
	Interval   *ttl = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	Oid		   *types;
	int		   *answer;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("source_sql must not be null")));
	join_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast point-in-time join",
									 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(join_cxt);
	a = cf_asof_new(join_cxt, ARG_BOOL(2), PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_TIMESTAMPTZ(3));
	cf_asof_load(a, fcinfo, 4);
	cf_asof_init_result(fcinfo, a->ninput);
	types = palloc(sizeof(Oid) * Max(rsinfo->setDesc->natts, 1));
	for (int f = 0; f < rsinfo->setDesc->natts; f++)
		types[f] = TupleDescAttr(rsinfo->setDesc, f)->atttypid;
	cf_asof_alloc_best(a, rsinfo->setDesc->natts, types);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(join_cxt);
	answer = cf_asof_run(a, text_to_cstring(PG_GETARG_TEXT_PP(0)), InvalidOid, ttl);
	SPI_finish();
	MemoryContextSwitchTo(join_cxt);
	cf_asof_emit(a, answer, rsinfo);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(join_cxt);
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * feast._as_of_join: the entity rows read here, every view answered, the
 * entity columns and every view's features emitted together
 * ------------------------------------------------------------------------
 */

/*
 * The entity rows as they come: their columns row after row in one array
 * of Datums (variable-width values copied into blocks of an arena), their
 * times and each view's keys beside them.  Once the variable-width values
 * pass work_mem, every row goes to a tuple store instead (in memory up to
 * 1 GB or work_mem, whichever is larger, then on disk).
 */
typedef struct CfEntityRows
{
	DestReceiver pub;
	MemoryContext cxt;
	TupleDesc	out;			/* the result columns */
	TupleDesc	td;				/* the entity columns (the query's first nent) */
	int			nent;			/* entity columns (the rest are hidden) */
	int16	   *typlen;
	bool	   *typbyval;
	int			nviews;
	CfAsof	  **views;
	int			nkeys_all;		/* hidden key columns, view after view */
	int			cap;
	int			first_cap;		/* the planner's estimate of the rows, within reason */
	int			n;
	TimestampTz *ts;
	bool	   *ts_ok;
	/* the entity columns in memory: [row * nent + col] */
	Datum	   *values;
	bool	   *nulls;
	MemoryContext arena_cxt;	/* their variable-width values */
	char	   *block;
	Size		block_free;
	Size		arena_bytes;
	Size		limit;
	MemoryContext scratch;		/* detoasting, reset per row */
	Tuplestorestate *spill;		/* not NULL: the entity columns are here instead */
} CfEntityRows;

#define CF_ARENA_BLOCK (256 * 1024)

static void
cf_entity_startup(DestReceiver *self, int operation, TupleDesc td)
{
	CfEntityRows *e = (CfEntityRows *) self;
	MemoryContext old;
	int			col;

	if (td->natts != e->nent + 1 + e->nkeys_all)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the entity query returns %d columns, expected %d (the %d entity columns, their time and %d join keys)",
						td->natts, e->nent + 1 + e->nkeys_all, e->nent, e->nkeys_all)));
	for (int i = 0; i < e->nent; i++)
		if (TupleDescAttr(td, i)->atttypid != TupleDescAttr(e->out, i)->atttypid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("entity column %d has type %s, but the column definition list says %s", i + 1,
							format_type_be(TupleDescAttr(td, i)->atttypid),
							format_type_be(TupleDescAttr(e->out, i)->atttypid))));
	if (TupleDescAttr(td, e->nent)->atttypid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column %d of the entity query (the entity rows' time) must be timestamptz", e->nent + 1)));
	/* the stored rows are the entity columns alone */
	old = MemoryContextSwitchTo(e->cxt);
	e->td = CreateTupleDescCopy(td);
	e->td->natts = e->nent;
	e->typlen = palloc(sizeof(int16) * Max(e->nent, 1));
	e->typbyval = palloc(sizeof(bool) * Max(e->nent, 1));
	for (int i = 0; i < e->nent; i++)
	{
		e->typlen[i] = TupleDescAttr(td, i)->attlen;
		e->typbyval[i] = TupleDescAttr(td, i)->attbyval;
	}
	MemoryContextSwitchTo(old);
	col = e->nent + 1;
	for (int v = 0; v < e->nviews; v++)
	{
		CfAsof	   *a = e->views[v];

		for (int k = 0; k < a->nkeys; k++, col++)
		{
			Oid			t = TupleDescAttr(td, col)->atttypid;

			cf_check_key_type(t, psprintf("column %d of the entity query (a join key)", col + 1));
			a->key_types[k] = t;
			a->has_varlena_key |= !cf_key_is_int(t);
		}
	}
}

static void *
cf_entity_grow_array(CfEntityRows *e, void *p, Size elem, int cap)
{
	if (p == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(e->cxt);

		p = cf_big_alloc(elem * cap, 0);
		MemoryContextSwitchTo(old);
		return p;
	}
	return repalloc_huge(p, elem * cap);
}

static void
cf_entity_grow(CfEntityRows *e)
{
	int			cap = e->cap == 0 ? Max(e->first_cap, 1024) : e->cap * 2;

	if (e->cap >= MaxAllocHugeSize / sizeof(Datum) / 4 / Max(e->nkeys_all + e->nent, 1) || cap < 0)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("too many entity rows")));
	e->ts = cf_entity_grow_array(e, e->cap ? e->ts : NULL, sizeof(TimestampTz), cap);
	e->ts_ok = cf_entity_grow_array(e, e->cap ? e->ts_ok : NULL, sizeof(bool), cap);
	if (e->spill == NULL && e->nent > 0)
	{
		e->values = cf_entity_grow_array(e, e->values, sizeof(Datum) * e->nent, cap);
		e->nulls = cf_entity_grow_array(e, e->nulls, sizeof(bool) * e->nent, cap);
	}
	for (int v = 0; v < e->nviews; v++)
	{
		CfAsof	   *a = e->views[v];

		a->keys = cf_entity_grow_array(e, e->cap ? a->keys : NULL, sizeof(Datum) * Max(a->nkeys, 1), cap);
		a->usable = cf_entity_grow_array(e, e->cap ? a->usable : NULL, sizeof(bool), cap);
	}
	e->cap = cap;
}

/* a copy of variable-width value "d" of entity column "col" in the arena */
static Datum
cf_entity_copy(CfEntityRows *e, Datum d, int col)
{
	int16		len = e->typlen[col];
	const char *src = DatumGetPointer(d);
	Size		sz;
	Size		asz;
	char	   *p;

	if (len == -1)
	{
		struct varlena *v = (struct varlena *) src;

		/* out-of-line and expanded values are brought in; compressed ones stay so */
		if (VARATT_IS_EXTERNAL(v))
		{
			MemoryContext old = MemoryContextSwitchTo(e->scratch);

			v = detoast_external_attr(v);
			MemoryContextSwitchTo(old);
		}
		src = (const char *) v;
		sz = VARSIZE_ANY(v);
	}
	else if (len == -2)
		sz = strlen(src) + 1;
	else
		sz = len;
	asz = MAXALIGN(sz);
	if (asz > CF_ARENA_BLOCK / 4)
		p = MemoryContextAllocHuge(e->arena_cxt, asz);
	else
	{
		if (e->block == NULL || e->block_free < asz)
		{
			e->block = MemoryContextAlloc(e->arena_cxt, CF_ARENA_BLOCK);
			e->block_free = CF_ARENA_BLOCK;
		}
		p = e->block;
		e->block += asz;
		e->block_free -= asz;
	}
	memcpy(p, src, sz);
	e->arena_bytes += asz;
	return PointerGetDatum(p);
}

/* the variable-width values passed work_mem: move every row to a tuple store */
static void
cf_entity_spill(CfEntityRows *e)
{
	MemoryContext old = MemoryContextSwitchTo(e->cxt);

	e->spill = tuplestore_begin_heap(false, false, Max(work_mem, 1024 * 1024));
	for (int r = 0; r < e->n; r++)
	{
		if ((r & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		tuplestore_putvalues(e->spill, e->td, &e->values[(int64) r * e->nent], &e->nulls[(int64) r * e->nent]);
	}
	MemoryContextSwitchTo(old);
	pfree(e->values);
	pfree(e->nulls);
	e->values = NULL;
	e->nulls = NULL;
	MemoryContextReset(e->arena_cxt);
	e->block = NULL;
	e->block_free = 0;
}

static bool
cf_entity_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CfEntityRows *e = (CfEntityRows *) self;
	int			r = e->n;
	int			col = e->nent + 1;
	bool		ts_ok;

	if ((r & 4095) == 0)
		CHECK_FOR_INTERRUPTS();
	if (r == e->cap)
		cf_entity_grow(e);
	slot_getallattrs(slot);
	if (e->spill != NULL)
		tuplestore_putvalues(e->spill, e->td, slot->tts_values, slot->tts_isnull);
	else
	{
		Datum	   *vals = &e->values[(int64) r * e->nent];
		bool	   *nulls = &e->nulls[(int64) r * e->nent];

		for (int i = 0; i < e->nent; i++)
		{
			nulls[i] = slot->tts_isnull[i];
			if (nulls[i])
				vals[i] = (Datum) 0;
			else if (e->typbyval[i])
				vals[i] = slot->tts_values[i];
			else
				vals[i] = cf_entity_copy(e, slot->tts_values[i], i);
		}
		MemoryContextReset(e->scratch);
	}
	ts_ok = !slot->tts_isnull[e->nent];
	e->ts_ok[r] = ts_ok;
	e->ts[r] = ts_ok ? DatumGetTimestampTz(slot->tts_values[e->nent]) : 0;
	for (int v = 0; v < e->nviews; v++)
	{
		CfAsof	   *a = e->views[v];
		bool		ok = ts_ok;

		for (int k = 0; k < a->nkeys; k++, col++)
		{
			Datum		d = slot->tts_values[col];

			if (slot->tts_isnull[col])
			{
				ok = false;
				d = (Datum) 0;
			}
			else if (!cf_key_is_int(a->key_types[k]))
			{
				/* text and bytea keys: kept detoasted, in the join's memory */
				MemoryContext old = MemoryContextSwitchTo(e->cxt);

				d = datumCopy(PointerGetDatum(PG_DETOAST_DATUM_PACKED(d)), false, -1);
				MemoryContextSwitchTo(old);
			}
			a->keys[(int64) r * a->nkeys + k] = d;
		}
		a->usable[r] = ok;
	}
	e->n++;
	if (e->spill == NULL && e->arena_bytes > e->limit)
		cf_entity_spill(e);
	return true;
}

/*
 * The arrays of the entity rows are sized once for the planner's estimate
 * of their number (and a margin), rather than grown by doubling from a few
 * (each step copying them all and touching fresh memory), within a bound
 * of their bytes; past it they grow as before.
 */
#define CF_ENTITY_FIRST_BYTES ((Size) 64 * 1024 * 1024)

static int
cf_entity_first_cap(CfEntityRows *e, SPIPlanPtr plan)
{
	CachedPlan *cplan = SPI_plan_get_cached_plan(plan);
	double		rows = 0;
	Size		row_bytes = sizeof(TimestampTz) + sizeof(bool) +
		(sizeof(Datum) + sizeof(bool)) * (e->nent + e->nkeys_all + e->nviews);

	if (cplan == NULL)
		return 0;
	if (list_length(cplan->stmt_list) == 1)
	{
		PlannedStmt *ps = linitial_node(PlannedStmt, cplan->stmt_list);

		if (ps->commandType == CMD_SELECT && ps->planTree != NULL)
			rows = ps->planTree->plan_rows;
	}
	ReleaseCachedPlan(cplan, NULL);
	rows = rows * 1.1 + 1024;
	return (int) Min(rows, (double) (CF_ENTITY_FIRST_BYTES / row_bytes));
}

/* run the entity query, keeping its rows, times and keys */
static void
cf_entity_read(CfEntityRows *e, const char *entity_sql)
{
	SPIExecuteOptions opts;
	SPIPlanPtr	plan;
	int			rc;

	e->pub.receiveSlot = cf_entity_receive;
	e->pub.rStartup = cf_entity_startup;
	e->pub.rShutdown = cf_asof_noop;
	e->pub.rDestroy = cf_asof_noop;
	e->pub.mydest = DestNone;
	plan = SPI_prepare_cursor(entity_sql, 0, NULL, CURSOR_OPT_PARALLEL_OK);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the entity query of feast._as_of_join is invalid: %s",
						SPI_result_code_string(SPI_result))));
	e->first_cap = cf_entity_first_cap(e, plan);
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = (DestReceiver *) e;
	/* a plain table PostgreSQL would scan whole is read without the executor (source.c) */
	rc = cf_source_read_direct(plan, NULL, true, (DestReceiver *) e) ? SPI_OK_SELECT
		: SPI_execute_plan_extended(plan, &opts);
	SPI_freeplan(plan);
	/* with a receiver of ours, a SELECT answers SPI_OK_UTILITY; it must have sent us its rows */
	if ((rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY) || e->td == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the entity query of feast._as_of_join must be a SELECT")));
	for (int v = 0; v < e->nviews; v++)
	{
		CfAsof	   *a = e->views[v];

		a->ninput = e->n;
		a->ts = e->ts;
		a->n = 0;
		for (int r = 0; r < e->n; r++)
			a->n += a->usable[r];
	}
}

/* rows ahead that the emitting loop prefetches the answer of */
#define CF_PREFETCH 16
#if defined(__GNUC__) || defined(__clang__)
#define cf_prefetch(p) __builtin_prefetch(p)
#else
#define cf_prefetch(p) ((void) 0)
#endif

void
cf_as_of_join_exec(const CfAsofCall *call, TupleDesc out, CfAsofSink *sink)
{
	MemoryContext join_cxt;
	MemoryContext old;
	CfEntityRows e;
	int			nfeat_all = 0;
	int		  **answers;
	TupleTableSlot *slot = NULL;
	Datum	   *values;
	bool	   *nulls;

	join_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast as-of join", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(join_cxt);
	memset(&e, 0, sizeof(e));
	e.cxt = join_cxt;
	e.arena_cxt = AllocSetContextCreate(join_cxt, "cfeast entity values", ALLOCSET_DEFAULT_SIZES);
	e.scratch = AllocSetContextCreate(join_cxt, "cfeast entity detoast", ALLOCSET_SMALL_SIZES);
	e.limit = (Size) work_mem * 1024;
	e.nviews = call->nviews;
	e.views = palloc(sizeof(CfAsof *) * Max(call->nviews, 1));
	for (int v = 0; v < call->nviews; v++)
	{
		CfAsof	   *a = cf_asof_new(join_cxt, call->filter_created, !call->has_lower, call->lower);

		a->nkeys = call->key_counts[v];
		a->key_types = palloc0(sizeof(Oid) * Max(a->nkeys, 1));
		a->nfeat = call->feat_counts[v];
		e.nkeys_all += a->nkeys;
		nfeat_all += a->nfeat;
		e.views[v] = a;
	}
	e.out = out;
	e.nent = out->natts - nfeat_all;
	if (e.nent < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column definition list has %d columns, fewer than the %d features",
						out->natts, nfeat_all)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(join_cxt);
	cf_entity_read(&e, call->entity_sql);
	ereport(DEBUG1,
			(errmsg_internal("cfeast as-of join: %d entity rows, their columns %s", e.n,
							 e.spill ? "in a tuple store" : "in memory")));
	MemoryContextSwitchTo(join_cxt);
	sink->start(sink, e.n);
	MemoryContextSwitchTo(join_cxt);
	answers = palloc(sizeof(int *) * Max(call->nviews, 1));
	for (int v = 0, f0 = e.nent; v < call->nviews; v++)
	{
		CfAsof	   *a = e.views[v];
		Oid		   *types = palloc(sizeof(Oid) * Max(a->nfeat, 1));

		for (int f = 0; f < a->nfeat; f++)
			types[f] = TupleDescAttr(out, f0 + f)->atttypid;
		f0 += a->nfeat;
		cf_asof_alloc_best(a, a->nfeat, types);
		answers[v] = cf_asof_run(a, call->sources[v], call->split_rels ? call->split_rels[v] : InvalidOid,
								 call->ttls[v]);
	}
	SPI_finish();
	MemoryContextSwitchTo(join_cxt);

	/* one output row per entity row: its columns, then each view's answer */
	values = palloc(sizeof(Datum) * Max(out->natts, 1));
	nulls = palloc(sizeof(bool) * Max(out->natts, 1));
	if (e.spill != NULL)
	{
		slot = MakeSingleTupleTableSlot(e.td, &TTSOpsMinimalTuple);
		tuplestore_rescan(e.spill);
	}
	for (int r = 0; r < e.n; r++)
	{
		int			col = e.nent;

		if ((r & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		if (e.spill != NULL)
		{
			if (!tuplestore_gettupleslot(e.spill, true, false, slot))
				elog(ERROR, "feast._as_of_join: entity row %d is missing", r + 1);
			slot_getsomeattrs(slot, e.nent);
			memcpy(values, slot->tts_values, sizeof(Datum) * e.nent);
			memcpy(nulls, slot->tts_isnull, sizeof(bool) * e.nent);
		}
		else if (e.nent > 0)
		{
			memcpy(values, &e.values[(int64) r * e.nent], sizeof(Datum) * e.nent);
			memcpy(nulls, &e.nulls[(int64) r * e.nent], sizeof(bool) * e.nent);
		}
		for (int v = 0; v < call->nviews; v++)
		{
			CfAsof	   *a = e.views[v];
			int			p = answers[v][r];

			/*
			 * The answers lie in key order, the rows come in input order:
			 * ask for a later row's answer now, so the cache miss of each
			 * read overlaps the work of the rows between.
			 */
			if (r + CF_PREFETCH < e.n && answers[v][r + CF_PREFETCH] >= 0)
			{
				int64		q = answers[v][r + CF_PREFETCH];

				cf_prefetch(&a->best_values[q * a->nfeat]);
				cf_prefetch(&a->best_nulls[q * a->nfeat]);
			}

			if (p < 0)
			{
				memset(&values[col], 0, sizeof(Datum) * a->nfeat);
				memset(&nulls[col], true, sizeof(bool) * a->nfeat);
			}
			else
			{
				memcpy(&values[col], &a->best_values[(int64) p * a->nfeat], sizeof(Datum) * a->nfeat);
				memcpy(&nulls[col], &a->best_nulls[(int64) p * a->nfeat], sizeof(bool) * a->nfeat);
			}
			col += a->nfeat;
		}
		sink->row(sink, values, nulls);
	}
	sink->finish(sink);
	if (slot != NULL)
		ExecDropSingleTupleTableSlot(slot);
	if (e.spill != NULL)
		tuplestore_end(e.spill);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(join_cxt);
}

/* a one-dimensional array's elements (NULLs allowed), checked to have "n" of them */
static Datum *
cf_view_array(ArrayType *arr, Oid elemtype, const char *what, int *n, bool **nulls)
{
	Datum	   *d;
	int16		len;
	bool		byval;
	char		align;
	int			count;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	get_typlenbyvalalign(elemtype, &len, &byval, &align);
	deconstruct_array(arr, elemtype, len, byval, align, &d, nulls, &count);
	if (*n >= 0 && count != *n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s has %d elements, but there are %d feature views", what, count, *n)));
	*n = count;
	return d;
}

/* the function's result: a tuple store (asof rows are in memory already) */
typedef struct CfSrfSink
{
	CfAsofSink	pub;
	FunctionCallInfo fcinfo;
} CfSrfSink;

static void
cf_srf_start(CfAsofSink *sink, int64 nrows)
{
	cf_asof_init_result(((CfSrfSink *) sink)->fcinfo, (int) nrows);
}

static void
cf_srf_row(CfAsofSink *sink, Datum *values, bool *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) ((CfSrfSink *) sink)->fcinfo->resultinfo;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

static void
cf_srf_finish(CfAsofSink *sink)
{
}

/*
 * feast._as_of_join(entity_sql text, filter_created boolean, lower_bound timestamptz,
 *		source_sqls text[], ttls interval[], key_counts integer[], feature_counts integer[])
 *		RETURNS SETOF record (entity columns..., each view's features...)
 *
 * entity_sql returns the entity rows' columns, then their time as
 * timestamptz, then each view's join keys (key_counts[v] of them, view
 * after view).  For each view v, source_sqls[v] is a source query as for
 * feast._point_in_time_join ($1 the latest entity time, $2 the earliest
 * time a candidate may have), ttls[v] its ttl (NULL: none), and
 * feature_counts[v] its features, which follow the entity columns in the
 * result, view after view.  One row per entity row, in their order.
 */
Datum
cfeast_as_of_join(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt;
	MemoryContext old;
	CfAsofCall	call;
	CfSrfSink	sink;
	int			nviews = -1;
	Datum	   *sources;
	Datum	   *ttls;
	Datum	   *key_counts;
	Datum	   *feat_counts;
	bool	   *src_nulls;
	bool	   *ttl_nulls;
	bool	   *kc_nulls;
	bool	   *fc_nulls;

	for (int i = 0; i < 7; i++)
		if (PG_ARGISNULL(i) && i != 1 && i != 2)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of feast._as_of_join must not be null", i + 1)));
	cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast as-of join call", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	sources = cf_view_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, "source_sqls", &nviews, &src_nulls);
	ttls = cf_view_array(PG_GETARG_ARRAYTYPE_P(4), INTERVALOID, "ttls", &nviews, &ttl_nulls);
	key_counts = cf_view_array(PG_GETARG_ARRAYTYPE_P(5), INT4OID, "key_counts", &nviews, &kc_nulls);
	feat_counts = cf_view_array(PG_GETARG_ARRAYTYPE_P(6), INT4OID, "feature_counts", &nviews, &fc_nulls);

	memset(&call, 0, sizeof(call));
	call.entity_sql = text_to_cstring(DatumGetTextPP(PG_GETARG_DATUM(0)));
	call.filter_created = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	call.has_lower = !PG_ARGISNULL(2);
	call.lower = PG_ARGISNULL(2) ? 0 : PG_GETARG_TIMESTAMPTZ(2);
	call.nviews = nviews;
	call.sources = palloc(sizeof(char *) * Max(nviews, 1));
	call.ttls = palloc(sizeof(Interval *) * Max(nviews, 1));
	call.key_counts = palloc(sizeof(int) * Max(nviews, 1));
	call.feat_counts = palloc(sizeof(int) * Max(nviews, 1));
	for (int v = 0; v < nviews; v++)
	{
		if (src_nulls[v] || kc_nulls[v] || fc_nulls[v] || DatumGetInt32(key_counts[v]) < 0 ||
			DatumGetInt32(feat_counts[v]) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature view %d of feast._as_of_join needs a source query and counts of keys and features",
							v + 1)));
		call.sources[v] = TextDatumGetCString(sources[v]);
		call.ttls[v] = ttl_nulls[v] ? NULL : DatumGetIntervalP(ttls[v]);
		call.key_counts[v] = DatumGetInt32(key_counts[v]);
		call.feat_counts[v] = DatumGetInt32(feat_counts[v]);
	}
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("feast._as_of_join() must be called in FROM with a column definition list")));
	sink.pub.start = cf_srf_start;
	sink.pub.row = cf_srf_row;
	sink.pub.finish = cf_srf_finish;
	sink.fcinfo = fcinfo;
	cf_as_of_join_exec(&call, rsinfo->expectedDesc, &sink.pub);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * straight into a new table: feast_create_training_set
 * ------------------------------------------------------------------------
 */

#define CF_INSERT_BATCH 1000

typedef struct CfTableSink
{
	CfAsofSink	pub;
	Relation	rel;
	const int  *col_map;		/* table column -> result column */
	int			natts;
	TupleTableSlot **slots;
	int			used;
	BulkInsertState bistate;
	CommandId	cid;
	MemoryContext batch_cxt;	/* the tuples of one batch */
	int64		rows;
} CfTableSink;

static void
cf_table_flush(CfTableSink *t)
{
	MemoryContext old;

	if (t->used == 0)
		return;
	old = MemoryContextSwitchTo(t->batch_cxt);
	table_multi_insert(t->rel, t->slots, t->used, t->cid, TABLE_INSERT_SKIP_FSM, t->bistate);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < t->used; i++)
		ExecClearTuple(t->slots[i]);
	MemoryContextReset(t->batch_cxt);
	t->rows += t->used;
	t->used = 0;
}

static void
cf_table_start(CfAsofSink *sink, int64 nrows)
{
}

static void
cf_table_row(CfAsofSink *sink, Datum *values, bool *nulls)
{
	CfTableSink *t = (CfTableSink *) sink;
	TupleTableSlot *slot = t->slots[t->used];

	ExecClearTuple(slot);
	for (int i = 0; i < t->natts; i++)
	{
		slot->tts_values[i] = values[t->col_map[i]];
		slot->tts_isnull[i] = nulls[t->col_map[i]];
	}
	ExecStoreVirtualTuple(slot);
	if (++t->used == CF_INSERT_BATCH)
		cf_table_flush(t);
}

static void
cf_table_finish(CfAsofSink *sink)
{
	cf_table_flush((CfTableSink *) sink);
}

/*
 * Whole pages, written by us: the table is new, created in this transaction
 * and seen by no one else, so, as CLUSTER and index builds do, its heap
 * pages are filled in local memory and written with smgrextend, each logged
 * as a full page when the relation needs WAL, no shared buffers and no WAL
 * record a row.  Their writes are synced as a buffer's are: each is handed
 * to the checkpointer, whose next checkpoint syncs it before it completes
 * (a crash before then replays the logged pages).  A checkpoint that began
 * while we wrote may have passed the records of pages written before it
 * and have taken its sync requests already: if the redo pointer moved, the
 * file is synced here before commit, as index builds do.  Tuples carry this transaction's xmin and
 * command id, exactly as an insert would set them, formed straight into
 * the page (cf_page_row_inline: no tuple built, then copied); long ones are
 * toasted the usual way.
 */
typedef struct CfPageSink
{
	CfAsofSink	pub;
	Relation	rel;
	TupleDesc	td;
	const int  *col_map;
	Datum	   *values;
	bool	   *nulls;
	PGAlignedBlock page;
	bool		page_used;
	BlockNumber blkno;
	bool		use_wal;
	XLogRecPtr	start_redo;		/* the redo pointer before the first page was logged */
	Size		save_free;
	TransactionId xid;
	CommandId	cid;
	MemoryContext row_cxt;
	int64		rows;
} CfPageSink;

static void
cf_page_flush(CfPageSink *t)
{
	Page		page = (Page) t->page.data;

	if (!t->page_used)
		return;
	if (t->use_wal)
		log_newpage(&t->rel->rd_node, MAIN_FORKNUM, t->blkno, page, true);
	PageSetChecksumInplace(page, t->blkno);
	smgrextend(RelationGetSmgr(t->rel), MAIN_FORKNUM, t->blkno, page, !t->use_wal);
	t->blkno++;
	t->page_used = false;
}

/*
 * A row that needs no toasting is formed straight into the page, as
 * heap_form_tuple and PageAddItem would lay it out (the page was zeroed
 * by PageInit, so alignment padding is zero as theirs is), with the header
 * heap_insert gives it; true if done, false to take the general path.
 */
static bool
cf_page_row_inline(CfPageSink *t)
{
	Page		page = (Page) t->page.data;
	PageHeader	ph = (PageHeader) page;
	TupleDesc	td = t->td;
	bool		hasnull = false;
	Size		hoff;
	Size		data_len;
	Size		len;
	OffsetNumber off;
	HeapTupleHeader tup;

	for (int i = 0; i < td->natts; i++)
	{
		if (t->nulls[i])
			hasnull = true;
		else if (TupleDescAttr(td, i)->attlen == -1 &&
				 VARATT_IS_EXTERNAL(DatumGetPointer(t->values[i])))
			return false;
	}
	hoff = SizeofHeapTupleHeader;
	if (hasnull)
		hoff += BITMAPLEN(td->natts);
	hoff = MAXALIGN(hoff);
	data_len = heap_compute_data_size(td, t->values, t->nulls);
	len = hoff + data_len;
	if (len > TOAST_TUPLE_THRESHOLD)
		return false;
	if (t->page_used && MAXALIGN(len) + t->save_free > PageGetHeapFreeSpace(page))
		cf_page_flush(t);
	if (!t->page_used)
	{
		PageInit(page, BLCKSZ, 0);
		t->page_used = true;
	}
	off = OffsetNumberNext(PageGetMaxOffsetNumber(page));
	if (PageGetHeapFreeSpace(page) < MAXALIGN(len))
		elog(ERROR, "cfeast: failed to add a tuple to a page of the training set");
	ph->pd_upper -= MAXALIGN(len);
	ph->pd_lower += sizeof(ItemIdData);
	ItemIdSetNormal(PageGetItemId(page, off), ph->pd_upper, len);
	tup = (HeapTupleHeader) ((char *) page + ph->pd_upper);
	HeapTupleHeaderSetNatts(tup, td->natts);
	tup->t_hoff = hoff;
	tup->t_infomask = HEAP_XMAX_INVALID;
	HeapTupleHeaderSetXmin(tup, t->xid);
	HeapTupleHeaderSetCmin(tup, t->cid);
	HeapTupleHeaderSetXmax(tup, 0);
	ItemPointerSet(&tup->t_ctid, t->blkno, off);
	heap_fill_tuple(td, t->values, t->nulls, (char *) tup + hoff, data_len, &tup->t_infomask,
					hasnull ? tup->t_bits : NULL);
	t->rows++;
	return true;
}

static void
cf_page_row(CfAsofSink *sink, Datum *values, bool *nulls)
{
	CfPageSink *t = (CfPageSink *) sink;
	Page		page = (Page) t->page.data;
	MemoryContext old;
	HeapTuple	tup;
	HeapTuple	heaptup;
	Size		len;
	OffsetNumber off;
	HeapTupleHeader onpage;

	for (int i = 0; i < t->td->natts; i++)
	{
		t->values[i] = values[t->col_map[i]];
		t->nulls[i] = nulls[t->col_map[i]];
	}
	if (cf_page_row_inline(t))
		return;
	old = MemoryContextSwitchTo(t->row_cxt);
	tup = heap_form_tuple(t->td, t->values, t->nulls);
	/* the header heap_insert would give it */
	tup->t_data->t_infomask &= ~(HEAP_XACT_MASK);
	tup->t_data->t_infomask2 &= ~(HEAP2_XACT_MASK);
	tup->t_data->t_infomask |= HEAP_XMAX_INVALID;
	HeapTupleHeaderSetXmin(tup->t_data, t->xid);
	HeapTupleHeaderSetCmin(tup->t_data, t->cid);
	HeapTupleHeaderSetXmax(tup->t_data, 0);
	tup->t_tableOid = RelationGetRelid(t->rel);
	heaptup = tup;
	if (HeapTupleHasExternal(tup) || tup->t_len > TOAST_TUPLE_THRESHOLD)
		heaptup = heap_toast_insert_or_update(t->rel, tup, NULL, HEAP_INSERT_SKIP_FSM);
	len = MAXALIGN(heaptup->t_len);
	if (len > MaxHeapTupleSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row is too big: size %zu, maximum size %zu", len, MaxHeapTupleSize)));
	if (t->page_used && len + t->save_free > PageGetHeapFreeSpace(page))
		cf_page_flush(t);
	if (!t->page_used)
	{
		PageInit(page, BLCKSZ, 0);
		t->page_used = true;
	}
	off = PageAddItem(page, (Item) heaptup->t_data, heaptup->t_len, InvalidOffsetNumber, false, true);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "cfeast: failed to add a tuple to a page of the training set");
	onpage = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, off));
	ItemPointerSet(&onpage->t_ctid, t->blkno, off);
	MemoryContextSwitchTo(old);
	MemoryContextReset(t->row_cxt);
	t->rows++;
}

static void
cf_page_finish(CfAsofSink *sink)
{
	CfPageSink *t = (CfPageSink *) sink;

	cf_page_flush(t);
	if (t->use_wal && GetRedoRecPtr() != t->start_redo)
		smgrimmedsync(RelationGetSmgr(t->rel), MAIN_FORKNUM);
	pgstat_count_heap_insert(t->rel, t->rows);
}

/*
 * Rows go to the table in whole pages (CfPageSink) when it is an empty heap
 * table created in this transaction and logical decoding needs no row
 * records; else in batches of
 * CF_INSERT_BATCH through table_multi_insert (one WAL record a page rather
 * than one a row).  Either way no tuple store stands between the join and
 * the table.  The table is new and bare: no index, trigger, constraint or
 * row security to apply (the caller checks).
 */
int64
cf_as_of_join_into(const CfAsofCall *call, Oid relid, const int *col_map)
{
	Relation	rel = table_open(relid, AccessExclusiveLock);
	TupleDesc	td = RelationGetDescr(rel);
	TupleDesc	out;
	int64		rows;

	/* the result columns in the join's order */
	out = CreateTemplateTupleDesc(td->natts);
	for (int i = 0; i < td->natts; i++)
		TupleDescCopyEntry(out, col_map[i] + 1, td, i + 1);
	if (rel->rd_tableam == GetHeapamTableAmRoutine() && !XLogLogicalInfoActive() &&
		rel->rd_createSubid != InvalidSubTransactionId && RelationGetNumberOfBlocks(rel) == 0)
	{
		CfPageSink	t;

		memset(&t, 0, sizeof(t));
		t.pub.start = cf_table_start;
		t.pub.row = cf_page_row;
		t.pub.finish = cf_page_finish;
		t.rel = rel;
		t.td = td;
		t.col_map = col_map;
		t.values = palloc(sizeof(Datum) * Max(td->natts, 1));
		t.nulls = palloc(sizeof(bool) * Max(td->natts, 1));
		t.use_wal = RelationNeedsWAL(rel);
		t.start_redo = GetRedoRecPtr();
		t.save_free = RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);
		t.xid = GetCurrentTransactionId();
		t.cid = GetCurrentCommandId(true);
		t.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast training set row", ALLOCSET_DEFAULT_SIZES);
		cf_as_of_join_exec(call, out, &t.pub);
		MemoryContextDelete(t.row_cxt);
		rows = t.rows;
	}
	else
	{
		CfTableSink t;

		memset(&t, 0, sizeof(t));
		t.pub.start = cf_table_start;
		t.pub.row = cf_table_row;
		t.pub.finish = cf_table_finish;
		t.rel = rel;
		t.natts = td->natts;
		t.col_map = col_map;
		t.slots = palloc(sizeof(TupleTableSlot *) * CF_INSERT_BATCH);
		for (int i = 0; i < CF_INSERT_BATCH; i++)
			t.slots[i] = table_slot_create(rel, NULL);
		t.bistate = GetBulkInsertState();
		t.cid = GetCurrentCommandId(true);
		t.batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast training set batch",
											ALLOCSET_DEFAULT_SIZES);
		cf_as_of_join_exec(call, out, &t.pub);
		FreeBulkInsertState(t.bistate);
		table_finish_bulk_insert(rel, TABLE_INSERT_SKIP_FSM);
		for (int i = 0; i < CF_INSERT_BATCH; i++)
			ExecDropSingleTupleTableSlot(t.slots[i]);
		MemoryContextDelete(t.batch_cxt);
		rows = t.rows;
	}
	table_close(rel, NoLock);
	return rows;
}
