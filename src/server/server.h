/*-------------------------------------------------------------------------
 * server.h
 *	  cfeast-server: Feast's feature-server HTTP API in front of the cfeast
 *	  SQL functions.  A libpq connection pool (pool.c), the HTTP plumbing
 *	  on libmicrohttpd (http.c), the event loops that drive it (loop.c)
 *	  and run pushes and reads on free connections without waiting on them
 *	  (pipeline.c), the worker threads that run the other requests against
 *	  the database (work.c), one handler per endpoint (endpoints.c), the
 *	  counters behind GET /metrics (metrics.c) and the command line
 *	  (cfeast_server.c).
 *
 * This program runs outside the backend: plain malloc, pthreads, jansson.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_SERVER_H
#define CFEAST_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <libpq-fe.h>

/* the settings of one server (flags and CFEAST_* environment variables) */
typedef struct CfsConfig
{
	const char *dsn;			/* libpq connection string */
	const char *read_dsn;		/* reads go here when set (a standby); NULL: to dsn */
	int			read_pool_size; /* connections (and workers) for read_dsn */
	const char *listen;			/* HOST:PORT */
	int			pool_size;		/* database connections (and worker threads) */
	int			threads;		/* libmicrohttpd's threads (epoll) */
	size_t		max_body;		/* request bodies larger than this: 413 */
	size_t		max_inflight;	/* request bytes buffered at once, all clients: then 503 */
	int			request_timeout_ms; /* whole request (headers and body) within this */
	unsigned	max_connections;	/* open client connections, all clients */
	unsigned	max_per_ip;		/* open client connections from one address; 0: no cap */
	int			pool_wait_ms;	/* how long a request waits for a free connection */
	int			push_batch;		/* /push requests one statement may carry; 1: no coalescing */
	int			drain_ms;		/* on SIGTERM, how long in-flight requests may finish */
	const char *ui_dir;			/* --ui: a built web UI's files, or NULL */
} CfsConfig;

/*
 * An error on its way to the client.  status 0 means "decide from the
 * SQLSTATE and the endpoint" (cfs_status_for).  Strings are malloc'd.
 */
typedef struct CfsError
{
	int			status;
	char		sqlstate[6];
	char	   *message;
	char	   *detail;
	char	   *hint;
} CfsError;

/* the statements the server prepares on each connection */
typedef enum CfsStmt
{
	CFS_STMT_HEALTH,
	CFS_STMT_PUSH,
	CFS_STMT_PUSH_MANY,			/* several /push requests as one push (pipeline.c) */
	CFS_STMT_READ,
	CFS_STMT_WRITE,
	CFS_STMT_MATERIALIZE,
	CFS_STMT_MATERIALIZE_INC,
	CFS_STMT_REGISTRY,
	CFS_N_STMTS
} CfsStmt;

/* the endpoints, for the SQLSTATE -> status mapping */
typedef enum CfsEndpoint
{
	CFS_EP_HEALTH,
	CFS_EP_PUSH,
	CFS_EP_READ,
	CFS_EP_WRITE,
	CFS_EP_MATERIALIZE,
	CFS_EP_REGISTRY
} CfsEndpoint;

typedef struct CfsConn CfsConn;

/*
 * The connection pools: --dsn's, which takes writes (and reads too when
 * there is no --read-dsn), and --read-dsn's.  Each has its own workers and
 * queue, so slow writes never hold up reads on the other pool.
 */
#define CFS_POOL_WRITE	0
#define CFS_POOL_READ	1
#define CFS_N_POOLS		2
#define CFS_QUEUE_HEALTH (-1)	/* cfs_work_submit: /health's and /metrics' own worker */

/* the routes (http.c's table), and "other" for unknown paths: the endpoint label */
#define CFS_ROUTE_HEALTH	0
#define CFS_ROUTE_READ		2
#define CFS_ROUTE_METRICS	6
#define CFS_ROUTE_REGISTRY	7	/* GET /api/v1/..., /projects-list.json (ui.c) */
#define CFS_N_ROUTES		9

/* what pool.c and work.c report to GET /metrics */
typedef struct CfsPoolStats
{
	int			size;			/* 0: the pool is not configured */
	int			in_use;			/* connections handed to a request now */
	int			open;			/* connections open now */
	unsigned long connects;		/* connections opened */
	unsigned long connect_failures; /* attempts that failed */
} CfsPoolStats;

typedef struct CfsQueueStats
{
	int			queued;			/* requests waiting for a worker (a connection) now */
	unsigned long jobs;			/* requests taken by a worker */
	unsigned long waits;		/* requests that found every worker busy */
	unsigned long timeouts;		/* ... and gave up after pool_wait_ms (503) */
	double		wait_seconds;	/* total time requests spent queued */
} CfsQueueStats;

/* a request handed to the workers (work.c); embedded in http.c's request */
typedef struct CfsJob
{
	struct CfsJob *next;
	struct timespec queued;
	bool		counted;		/* already counted as taken (by the event loop) */
	/* runs on a worker; expired: it waited longer than pool_wait_ms */
	void		(*run) (struct CfsJob *job, bool expired);
} CfsJob;

/* what a handler hands back to http.c */
typedef struct CfsReply
{
	int			status;
	char	   *body;			/* malloc'd, or NULL */
	size_t		len;
	PGresult   *result;			/* cleared once the response is built */
	bool		body_in_result; /* the body is the result's first value, sent as is */
	const char *rows;			/* X-Cfeast-Rows header value (into result, or rows_own) */
	char		rows_own[24];
	const char *content_type;	/* NULL: application/json */
	char		sqlstate[6];	/* for the access log */
	bool		retry_after;	/* a 503 for load: say when to come back */
} CfsReply;

/*
 * One statement of POST /push, /get-online-features or
 * /write-to-online-store between its two halves (endpoints.c): the body
 * checked, the parameters ready, the result not yet in.
 */
typedef struct CfsCall
{
	CfsEndpoint ep;
	CfsStmt		stmt;
	int			n;
	const char *vals[4];
	char	   *own[4];			/* malloc'd parameters, freed with the call */
	const char *name;			/* the push source or view, for /metrics */
} CfsCall;

/* ---------- in pool.c ---------- */
extern bool cfs_pool_init(const CfsConfig *cfg);
extern void cfs_pool_close(void);
extern int	cfs_pool_of(CfsStmt stmt);
extern CfsConn *cfs_pool_acquire(CfsStmt stmt, CfsError *err);
extern CfsConn *cfs_pool_acquire_health(CfsError *err);
extern bool cfs_pool_read_healthy(CfsError *err);
extern void cfs_pool_release(CfsConn *c);
extern int	cfs_pool_cancel_busy(void);
extern PGconn *cfs_conn_pg(CfsConn *c);
extern void cfs_pool_stats(int pool, CfsPoolStats *s);
extern PGresult *cfs_exec(CfsConn *c, CfsStmt stmt, int nparams,
						  const char *const *values, CfsError *err);
extern CfsConn *cfs_pool_try_acquire(CfsStmt stmt);
extern bool cfs_pool_push_many(void);
extern bool cfs_pool_any_free(int pool);
extern bool cfs_pipe_enter(CfsConn *c, CfsError *err);
extern bool cfs_pipe_send(CfsConn *c, CfsStmt stmt, int nparams,
						  const char *const *values, CfsError *err);
extern bool cfs_pipe_send_binary(CfsConn *c, CfsStmt stmt, int nparams, const char *const *values,
								 const int *lengths, const int *formats, CfsError *err);
extern void cfs_pipe_consume(CfsConn *c);
extern int	cfs_pipe_receive(CfsConn *c, CfsStmt stmt, PGresult **res, CfsError *err);
extern void cfs_pipe_exit(CfsConn *c);
extern int	cfs_exec_flush(CfsConn *c);
extern int	cfs_conn_socket(CfsConn *c);
extern bool cfs_conn_prepared(CfsConn *c, CfsStmt stmt);
extern void cfs_error_set(CfsError *err, int status, const char *sqlstate,
						  const char *fmt,...) __attribute__((format(printf, 4, 5)));
extern void cfs_error_free(CfsError *err);

/* ---------- in endpoints.c ---------- */
extern void cfs_handle_health(CfsReply *reply);
extern void cfs_handle_call(CfsEndpoint ep, const char *body, size_t len, CfsReply *reply);
extern bool cfs_call_begin(CfsEndpoint ep, const char *body, size_t len, CfsCall *call,
						   CfsReply *reply);
extern void cfs_call_end(CfsCall *call, PGresult *res, CfsReply *reply);
extern void cfs_call_end_count(CfsCall *call, const char *count, CfsReply *reply);
extern void cfs_handle_materialize(const char *body, size_t len, bool incremental,
								   CfsReply *reply);
extern void cfs_handle_registry(const char *path, const char *query, CfsReply *reply);
extern int	cfs_status_for(CfsEndpoint ep, const CfsError *err);
extern void cfs_reply_error(CfsReply *reply, CfsEndpoint ep, CfsError *err);
extern void cfs_reply_detail(CfsReply *reply, int status, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* ---------- in ui.c ---------- */
#define CFS_UI_API "/api/v1"	/* where the registry REST API is served */
struct MHD_Connection;
extern const char *cfs_ui_api_path(const char *url);
extern char *cfs_ui_query_json(struct MHD_Connection *conn);
extern bool cfs_ui_static(const char *dir, const char *url, CfsReply *reply);

/* ---------- in work.c ---------- */
extern bool cfs_work_start(const int *workers, int wait_ms);
extern bool cfs_work_submit(CfsJob *job, int queue);
extern bool cfs_work_stop(int timeout_ms);
extern void cfs_work_stats(int pool, CfsQueueStats *s);
extern bool cfs_work_reserve(int pool);
extern void cfs_work_release(int pool, bool uncount);
extern void cfs_work_count(int pool, int n);
extern void cfs_work_waiting(int pool, int delta, long long waited_ns, bool expired);

/* ---------- in pipeline.c ---------- */
/*
 * A request the event loop runs itself; embedded in http.c's request.
 * done runs on the loop once the reply is set, or with requeue when the
 * request must go to a worker after all (its statement was stale and did
 * not run; it counts as taken already).
 */
typedef struct CfsPipeReq
{
	CfsCall		call;
	CfsReply   *reply;
	struct CfsPipeReq *next;
	struct timespec queued;		/* a pending push: when it came (pipeline.c) */
	bool		waiting;		/* ... and found no free connection */
	void		(*done) (struct CfsPipeReq *p, bool requeue);
} CfsPipeReq;

extern void cfs_pipe_init(const int *conns, int push_batch, int wait_ms);
extern int	cfs_pipe_timeout(int timeout_ms);
extern void cfs_pipe_tick(void);
extern void cfs_pipe_loop_end(void);
extern bool cfs_pipe_run(CfsPipeReq *p, CfsEndpoint ep, const char *body, size_t len);

/* ---------- in metrics.c ---------- */
extern void cfs_metrics_init(void);
extern void cfs_metrics_request(int route, int status, const struct timespec *start,
								const struct timespec *end);
extern void cfs_metrics_aborted(void);
extern void cfs_metrics_rows(CfsEndpoint ep, const char *name, const PGresult *res);
extern void cfs_metrics_count(CfsEndpoint ep, const char *name, unsigned long n);
extern void cfs_metrics_push_statement(int requests);
extern void cfs_handle_metrics(CfsReply *reply);

struct MHD_Daemon;

/* ---------- in loop.c ---------- */
/* a descriptor the event loop watches for one event: fn runs on the loop's thread */
typedef struct CfsWatch
{
	void		(*fn) (struct CfsWatch *w, unsigned int events);
	struct CfsWatch *next;		/* cfs_loop_post's list */
} CfsWatch;

typedef struct CfsLoop CfsLoop;

extern bool cfs_loop_start(struct MHD_Daemon **d, int n);
extern CfsLoop *cfs_loop_current(void);
extern bool cfs_loop_watch(int fd, bool out, CfsWatch *w);
extern void cfs_loop_post(CfsLoop *l, CfsWatch *w);
extern void cfs_loop_logged(void);
extern int	cfs_loop_quiesce(void);
extern void cfs_loop_stop(void);
extern long cfs_ms_since(const struct timespec *t);

/* ---------- in http.c ---------- */
struct MHD_Daemon;
extern struct MHD_Daemon *cfs_http_start(const CfsConfig *cfg, char *bound, size_t boundlen);
extern bool cfs_http_stop(struct MHD_Daemon *d, int drain_ms);
extern const char *cfs_route_path(int route);
extern int	cfs_http_in_flight(void);

#endif							/* CFEAST_SERVER_H */
