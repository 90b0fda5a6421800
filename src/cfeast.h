/*-------------------------------------------------------------------------
 * cfeast.h
 *	  Private declarations shared by cfeast's C files, grouped by file.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_H
#define CFEAST_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "utils/jsonb.h"

/* ---------- in types.c: dtypes and JSON-to-Datum conversion ---------- */

typedef enum CfBaseType
{
	CF_INT32,
	CF_INT64,
	CF_FLOAT32,
	CF_FLOAT64,
	CF_STRING,
	CF_BYTES,
	CF_BOOL,
	CF_TIMESTAMP,				/* unix_timestamp: timestamptz online */
	CF_JSON
} CfBaseType;

typedef struct CfDtype
{
	CfBaseType	base;
	bool		is_array;		/* array(base) */
} CfDtype;

/* where a value came from, for error messages: row N (from 0), field "x" */
typedef struct CfValueSite
{
	int64		row;			/* -1: no row (column form, entity lists) */
	const char *field;
} CfValueSite;

extern bool cf_parse_dtype(const char *str, CfDtype *out);
extern const char *cf_dtype_name(CfDtype t);	/* canonical: "array(float32)" */
extern Oid	cf_dtype_type_oid(CfDtype t);	/* online column type */
extern char *cf_dtype_sql(CfDtype t);	/* qualified SQL type name */

/*
 * One JSON value as the conversion rules see it, whether it came from a
 * jsonb iterator or straight from JSON text (jsontext.c): its kind, and for
 * a string its (de-escaped) characters, for a number the digits as written
 * in the text or the jsonb numeric, for an array its elements.  Both push
 * forms convert through cf_value_to_datum, so they share every rule and
 * every message.
 */
typedef enum CfJsonKind
{
	CF_JSON_NULL,
	CF_JSON_BOOL,
	CF_JSON_NUMBER,
	CF_JSON_STRING,
	CF_JSON_ARRAY,
	CF_JSON_OBJECT
} CfJsonKind;

typedef struct CfJsonValue
{
	CfJsonKind	kind;
	bool		boolean;
	const char *str;			/* string: its characters; number or container
								 * from text: its JSON text (numbers NUL-ended) */
	int			len;
	JsonbValue *jbv;			/* from jsonb: the value itself; NULL from text */
	struct CfJsonValue *elems;	/* an array from text: its elements, if kept */
	int			nelems;
} CfJsonValue;

/* a jsonb iterator's value (scalar or jbvBinary container) as a CfJsonValue */
extern void cf_value_from_jsonb(JsonbValue *v, CfJsonValue *out);
/* convert one JSON value to a Datum of dtype t; JSON null gives *isnull */
extern Datum cf_value_to_datum(CfJsonValue *v, CfDtype t, const CfValueSite *site,
							   bool *isnull);
/* a short description of a JSON value for messages: string "abc", number 1.5 */
extern char *cf_describe_value(CfJsonValue *v);
/* the same two for a jsonb iterator's value */
extern Datum cf_json_to_datum(JsonbValue *v, CfDtype t, const CfValueSite *site,
							  bool *isnull);
extern char *cf_describe_json(JsonbValue *v);
/* ---------- in registry.c: the registry cache ---------- */

/* a feature view as the cache knows it */
typedef struct CfView
{
	char	   *name;
	char	   *source;			/* its data source */
	bool		online;
	Oid			online_relid;	/* InvalidOid if not online */
	char	   *online_table;	/* quoted "feast_online.name" */
	bool		has_ttl;
	Interval	ttl;
	int			nkeys;
	char	  **key_names;
	char	  **key_entities;	/* the entity of each key */
	CfDtype    *key_types;
	int			nfeatures;
	char	  **feature_names;
	CfDtype    *feature_types;
	void	   *private_online;	/* online.c's cached plan state, or NULL */
} CfView;

/* roles of a push field */
typedef enum CfFieldRole
{
	CF_FIELD_KEY,
	CF_FIELD_FEATURE,
	CF_FIELD_TIMESTAMP,
	CF_FIELD_CREATED
} CfFieldRole;

typedef struct CfField
{
	char	   *name;
	int			namelen;
	CfDtype		dtype;
	CfFieldRole role;
	bool		required;
	char	   *offline_column;	/* batch relation column it maps to, or NULL */
} CfField;

/* one view that a push source fans out to: its columns as field indexes */
typedef struct CfPushTarget
{
	CfView	   *view;
	int		   *key_fields;		/* nkeys field indexes */
	int		   *feature_fields; /* nfeatures field indexes */
	SPIPlanPtr	upsert_plan;	/* built on first use, kept */
	TimestampTz last_noted;		/* when this backend last set push_activity */
} CfPushTarget;

typedef struct CfPushSource
{
	char	   *name;
	const char *kind;			/* "push source", or "feature view" (a view's writer) */
	int			nfields;
	CfField    *fields;
	int			ts_field;		/* index of the event timestamp field */
	int			created_field;	/* index, or -1 */
	int			ntargets;
	CfPushTarget *targets;
	char	   *batch_source;	/* NULL: online-only push source */
	char	   *offline_table;	/* quoted qualified batch relation, or NULL */
	Oid			offline_relid;	/* its OID, or InvalidOid */
	SPIPlanPtr	offline_plan;	/* built on first use, kept */
} CfPushSource;

/*
 * The one way in and out for SQL-callable functions that read the registry:
 * connects SPI, pins the cache (dropping it first if stale), runs body(arg,
 * caller) in SPI's procedure context (where every SPI call returns, so the
 * body never switches back by hand; what must outlive the call goes into
 * "caller"), then unpins in every case, error or not, and disconnects.
 */
typedef void (*CfRegistryBody) (void *arg, MemoryContext caller);
extern void cf_registry_call(CfRegistryBody body, void *arg);

/* look-ups, inside cf_registry_call; both raise 42704 for unknown names */
extern CfPushSource *cf_lookup_push_source(const char *name);
extern CfView *cf_lookup_view(const char *name);
/*
 * An online view's writer: a push source of one target built from the view
 * alone (its keys, its features, event_timestamp, and "created" (optional)
 * as Feast's remote online store names them, unless the view has a key or
 * feature of that name), for feast_write_online.
 * 42704 for an unknown view, 55000 for a view that is not online.
 */
extern CfPushSource *cf_lookup_view_writer(const char *view_name);
/* memory context that lives as long as the cache entries (for plans, private state) */
extern MemoryContext cf_cache_context(void);
/* SPI_keepplan the plan and free it when the cache is flushed */
extern void cf_cache_keep_plan(SPIPlanPtr plan);
/* a relation whose relcache invalidation must drop the cache (plans built over it) */
extern void cf_cache_depend_on(Oid relid);
/* counts invalidations that reached the cache: compare before and after taking locks */
extern uint64 cf_cache_generation(void);
/* drop the cache now, if no caller up the stack still uses it; false if one does */
extern bool cf_cache_reload(void);
extern void cf_registry_init(void);
/* field_mapping {"source column": "field"} read backwards: the column feeding "field" */
extern char *cf_mapped_column(Jsonb *mapping, const char *field);

/* ---------- in push.c ---------- */

extern int	cf_unknown_fields;	/* GUC cfeast.unknown_fields */
#define CF_UNKNOWN_ERROR	0
#define CF_UNKNOWN_IGNORE	1

/* ---------- in online.c ---------- */

extern bool cf_direct_read;		/* GUC cfeast.direct_read (hidden) */

#endif							/* CFEAST_H */
