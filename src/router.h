/*-------------------------------------------------------------------------
 * router.h
 *	  Router mode: feast_push, feast_get_online_features, the registry
 *	  functions and materialization sent to shards through PL/Proxy
 *	  (src/router.c).
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_ROUTER_H
#define CFEAST_ROUTER_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/jsonb.h"

/* is this database a router (feast_router_setup has named a cluster)? */
extern bool cf_router_active(void);
/* a routed push; returns the rows accepted */
extern int64 cf_router_push(const char *source, Jsonb *rows, text *to, const char *push_id);
/* a routed push from JSON text, split as it is; returns the rows accepted */
extern int64 cf_router_push_text(const char *source, text *rows, text *to);
/* a routed feast_get_online_features */
extern Jsonb *cf_router_read(FunctionCallInfo fcinfo);
/* in online.c: the read from this database's own online tables */
extern Jsonb *cf_online_local(FunctionCallInfo fcinfo);
/* after a registry function or materialization ran here: the same call on every node */
extern Datum cf_router_broadcast(FunctionCallInfo fcinfo, Datum local_result);

/* in push.c */
struct CfBatch;
extern int64 cf_push_local(const char *source_name, Jsonb *rows, int to, int64 *written, int64 *stale);
extern int64 cf_push_local_text(const char *source_name, text *rows, int to, int64 *written, int64 *stale);
extern int	cf_push_parse(const char *source_name, Jsonb *rows, text *to, struct CfBatch *batch);
extern int	cf_push_parse_text(const char *source_name, text *rows, text *to, struct CfBatch *batch,
							   bool *parsed);

#endif							/* CFEAST_ROUTER_H */
