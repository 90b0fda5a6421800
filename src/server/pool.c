/*-------------------------------------------------------------------------
 * pool.c
 *	  A fixed pool of libpq connections with lazily prepared statements.
 *
 * A request takes a connection (waiting up to pool_wait_ms), runs one
 * prepared statement and gives it back.  A connection found dead -- never
 * opened, broken by the last query, or closed by the server while it sat
 * idle (checked with a zero-timeout poll before each use) -- is opened again
 * on the spot, so the first request after a database restart succeeds.
 * Statements are prepared on first use on each connection: if a cfeast
 * function is missing, the client gets PostgreSQL's own error (42883) and
 * the next request tries again.
 *
 * One more connection than --pool is opened and kept for GET /health alone
 * (its own worker uses it), so /health answers while every other
 * connection is busy.  GET /metrics uses it too, for its one query.
 *
 * With --read-dsn there is a second pool, for reads: the same rules, its own
 * connections (read-only: default_transaction_read_only is on, so a read
 * pool that lands on a primary still writes nothing) and its own /health
 * connection.  Which pool a statement runs on is cfs_pool_of's decision.
 *
 * The client never sees libpq's own connection messages: they name socket
 * paths, hosts and users.  Nor the messages of PostgreSQL's system and
 * internal errors (classes 58 and XX: "could not open file ..."), which
 * name files.  They go to the server's log (stderr); the client gets a
 * fixed message and the SQLSTATE.
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* vasprintf */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct Pool Pool;

struct CfsConn
{
	Pool	   *pool;
	PGconn	   *conn;
	PGcancel   *cancel;			/* for cfs_pool_cancel_busy; changed under pool.lock */
	bool		busy;
	bool		prepared[CFS_N_STMTS];
	bool		deallocate[CFS_N_STMTS];	/* stale in pipeline mode: when it ends */
	bool		no_push_many;	/* the installed cfeast has no feast._push_many */
	char		schema[140];	/* quoted extension schema plus ".", or "" */
	int			phase;			/* pipeline mode: 0 the head's results, 1 its Sync */
	PGresult   *pres;			/* pipeline mode: the head's result so far */
};

struct Pool
{
	pthread_cond_t freed;
	CfsConn    *slots;			/* size + 1: the last one is /health's */
	int			size;			/* 0: not configured */
	const char *dsn;
	const char *what;			/* for messages: "" or "read " */
	bool		read_only;
	int			in_use;			/* busy slots, /health's not counted */
	unsigned long connects;		/* for /metrics */
	unsigned long connect_failures;
};

/* one lock for the pools (each slot's busy flag and cancel handle) */
static struct
{
	pthread_mutex_t lock;
	Pool		p[CFS_N_POOLS];
	int			wait_ms;
	bool		coalesce;		/* --push-batch over 1: prepare CFS_STMT_PUSH_MANY too */
	int			push_many;		/* the last connection prepared found it: 1, or not: 0 */
} pool = {PTHREAD_MUTEX_INITIALIZER,
	{{.freed = PTHREAD_COND_INITIALIZER, .what = ""},
	{.freed = PTHREAD_COND_INITIALIZER, .what = "read ", .read_only = true}}, 0};

/*
 * The statements.  %s is the extension's schema (quoted, with a dot), so a
 * search_path set in the connection string cannot redirect the calls.
 */
static const struct
{
	const char *name;
	const char *sql;
	int			nparams;
}			stmts[CFS_N_STMTS] = {
	[CFS_STMT_HEALTH] = {"cfs_health",
		"SELECT e.extversion FROM pg_catalog.pg_extension e "
		"WHERE e.extname OPERATOR(pg_catalog.=) 'cfeast'", 0},
	[CFS_STMT_PUSH] = {"cfs_push",
		"SELECT %sfeast_push($1, (($2::pg_catalog.json) OPERATOR(pg_catalog.->) 'df')::pg_catalog.text, $3)", 3},
	/* $2: the request bodies, in binary (no escaping), "df" picked out of each in order */
	[CFS_STMT_PUSH_MANY] = {"cfs_push_many",
		"SELECT feast._push_many($1, ARRAY(SELECT (u.b::pg_catalog.json OPERATOR(pg_catalog.->) 'df')::pg_catalog.text "
		"FROM pg_catalog.unnest($2::pg_catalog.text[]) WITH ORDINALITY AS u(b, n) ORDER BY u.n), $3)", 3},
	[CFS_STMT_READ] = {"cfs_read",
		"SELECT %sfeast_get_online_features($1::pg_catalog.text[], "
		"($2::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'entities', $3::pg_catalog.bool, $4)", 4},
	[CFS_STMT_WRITE] = {"cfs_write",
		"SELECT %sfeast_write_online($1, ($2::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'df')", 2},
	[CFS_STMT_MATERIALIZE] = {"cfs_materialize",
		"SELECT %sfeast_materialize($1::pg_catalog.timestamptz, $2::pg_catalog.timestamptz, "
		"$3::pg_catalog.text[])", 3},
	[CFS_STMT_MATERIALIZE_INC] = {"cfs_materialize_inc",
		"SELECT %sfeast_materialize_incremental($1::pg_catalog.timestamptz, $2::pg_catalog.text[])", 2},
	[CFS_STMT_REGISTRY] = {"cfs_registry",
		"SELECT (r OPERATOR(pg_catalog.->>) 'status')::pg_catalog.int4, r OPERATOR(pg_catalog.->) 'body' "
		"FROM feast._registry_api($1, $2::pg_catalog.jsonb) AS r", 2},
};

/* malloc'd copy of a message without its trailing newline */
static char *
dup_message(const char *s)
{
	size_t		n;
	char	   *r;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	r = malloc(n + 1);
	if (r)
	{
		memcpy(r, s, n);
		r[n] = '\0';
	}
	return r;
}

void
cfs_error_set(CfsError *err, int status, const char *sqlstate, const char *fmt,...)
{
	va_list		ap;
	char	   *buf = NULL;

	va_start(ap, fmt);
	if (vasprintf(&buf, fmt, ap) < 0)
		buf = NULL;
	va_end(ap);
	cfs_error_free(err);
	err->status = status;
	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate ? sqlstate : "");
	err->message = dup_message(buf ? buf : "out of memory");
	free(buf);
}

void
cfs_error_free(CfsError *err)
{
	free(err->message);
	free(err->detail);
	free(err->hint);
	memset(err, 0, sizeof(*err));
}

/*
 * The connection's own error: the database is gone or unreachable (503).
 * libpq's message names the socket path or host: it goes to the log only.
 */
static void
error_from_conn(CfsError *err, Pool *p, PGconn *conn, const char *sqlstate)
{
	const char *msg = conn ? PQerrorMessage(conn) : "out of memory opening a connection";
	size_t		n = strlen(msg);

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	fprintf(stderr, "cfeast-server: %sdatabase connection failed: %.*s\n", p->what, (int) n, msg);
	cfs_error_set(err, 503, sqlstate, "the %sdatabase is unavailable", p->what);
}

/* an error result: PostgreSQL's message, SQLSTATE, detail and hint */
static void
error_from_result(CfsError *err, CfsConn *c, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	bool		lost = PQstatus(c->conn) == CONNECTION_BAD;

	if (msg == NULL)
		msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->conn);
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(c->conn);
	if (state == NULL)
	{
		/* no error from the server: libpq's own words, which may name paths */
		fprintf(stderr, "cfeast-server: database error: %s%s", msg,
				msg[0] && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
		msg = lost ? "the connection to the database was lost" : "the database call failed";
	}
	else if (strncmp(state, "58", 2) == 0 || strncmp(state, "XX", 2) == 0)
	{
		/* a system or internal error: its words may name files on the database server */
		fprintf(stderr, "cfeast-server: database error %s: %s\n", state, msg);
		cfs_error_set(err, lost ? 503 : 0, state,
					  "the database failed with an internal error; the server's log has the detail");
		return;
	}
	cfs_error_set(err, lost ? 503 : 0, state ? state : (lost ? "08006" : "XX000"), "%s", msg);
	if (res)
	{
		err->detail = dup_message(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
		err->hint = dup_message(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
	}
}

/* NOTICEs (materialization progress, ...) go to the server's log */
static void
log_notice(void *arg, const char *message)
{
	(void) arg;
	fprintf(stderr, "cfeast-server: database: %s", message);
}

/* the schema CREATE EXTENSION cfeast installed into, quoted, with a dot */
static void
find_schema(CfsConn *c)
{
	PGresult   *res;

	c->schema[0] = '\0';
	res = PQexec(c->conn,
				 "SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e "
				 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
				 "WHERE e.extname OPERATOR(pg_catalog.=) 'cfeast'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		snprintf(c->schema, sizeof(c->schema), "%s.", PQgetvalue(res, 0, 0));
	PQclear(res);
}

/* replace the slot's cancel handle (the stopping thread may be reading it) */
static void
set_cancel(CfsConn *c, PGcancel *cancel)
{
	PGcancel   *old;

	pthread_mutex_lock(&pool.lock);
	old = c->cancel;
	c->cancel = cancel;
	pthread_mutex_unlock(&pool.lock);
	if (old)
		PQfreeCancel(old);
}

/* (re)open one connection; naive timestamps are read as UTC, as Feast does */
static bool
connect_slot(CfsConn *c, CfsError *err)
{
	/* the body goes to PostgreSQL as UTF-8 (jansson checked it), messages come back so */
	const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname",
	"client_encoding", NULL};
	const char *vals[] = {"5", "cfeast-server", c->pool->dsn, "UTF8", NULL};
	PGresult   *res;

	set_cancel(c, NULL);
	if (c->conn)
		PQfinish(c->conn);
	memset(c->prepared, 0, sizeof(c->prepared));
	c->no_push_many = false;
	c->conn = PQconnectdbParams(keys, vals, 1);
	if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK)
	{
		__atomic_add_fetch(&c->pool->connect_failures, 1, __ATOMIC_RELAXED);
		error_from_conn(err, c->pool, c->conn, "08001");
		PQfinish(c->conn);
		c->conn = NULL;
		return false;
	}
	__atomic_add_fetch(&c->pool->connects, 1, __ATOMIC_RELAXED);
	PQsetNoticeProcessor(c->conn, log_notice, NULL);
	set_cancel(c, PQgetCancel(c->conn));
	res = PQexec(c->conn, c->pool->read_only ?
				 "SELECT pg_catalog.set_config('timezone', 'UTC', false), "
				 "pg_catalog.set_config('default_transaction_read_only', 'on', false)" :
				 "SELECT pg_catalog.set_config('timezone', 'UTC', false)");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		error_from_result(err, c, res);
		PQclear(res);
		return false;
	}
	PQclear(res);
	find_schema(c);
	return true;
}

/*
 * Is an idle connection still usable?  The server may have closed it (a
 * restart, pg_terminate_backend): that shows as input waiting on the socket.
 */
static bool
idle_conn_ok(CfsConn *c)
{
	struct pollfd p;
	int			i;

	if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK ||
		PQpipelineStatus(c->conn) != PQ_PIPELINE_OFF)
		return false;
	for (i = 0; i < 4; i++)
	{
		p.fd = PQsocket(c->conn);
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, 0) <= 0)
			return true;
		if (!PQconsumeInput(c->conn))
			return false;
		(void) PQisBusy(c->conn);	/* processes what came, e.g. a FATAL notice */
		if (PQstatus(c->conn) != CONNECTION_OK)
			return false;
	}
	return PQstatus(c->conn) == CONNECTION_OK;
}

static bool
pool_open(Pool *p, const char *dsn, int size)
{
	CfsError	err = {0};
	int			i;

	p->size = size;
	p->dsn = dsn;
	p->slots = calloc(size + 1, sizeof(CfsConn));
	if (p->slots == NULL)
		return false;
	for (i = 0; i <= size; i++)
		p->slots[i].pool = p;
	/* open them now; a database that is down is not fatal, /health says 503 */
	for (i = 0; i <= size; i++)
	{
		if (!connect_slot(&p->slots[i], &err))
		{
			fprintf(stderr, "cfeast-server: warning: cannot connect yet: %s\n", err.message);
			cfs_error_free(&err);
			break;
		}
	}
	return true;
}

bool
cfs_pool_init(const CfsConfig *cfg)
{
	pool.wait_ms = cfg->pool_wait_ms;
	pool.coalesce = cfg->push_batch > 1;
	if (!pool_open(&pool.p[CFS_POOL_WRITE], cfg->dsn, cfg->pool_size))
		return false;
	if (cfg->read_dsn && !pool_open(&pool.p[CFS_POOL_READ], cfg->read_dsn, cfg->read_pool_size))
		return false;
	return true;
}

void
cfs_pool_close(void)
{
	int			i,
				k;

	pthread_mutex_lock(&pool.lock);
	for (k = 0; k < CFS_N_POOLS; k++)
	{
		Pool	   *p = &pool.p[k];

		for (i = 0; p->slots && i <= p->size; i++)
		{
			if (p->slots[i].cancel)
				PQfreeCancel(p->slots[i].cancel);
			if (p->slots[i].conn)
				PQfinish(p->slots[i].conn);
			p->slots[i].cancel = NULL;
			p->slots[i].conn = NULL;
		}
	}
	pthread_mutex_unlock(&pool.lock);
	for (k = 0; k < CFS_N_POOLS; k++)
	{
		free(pool.p[k].slots);
		pool.p[k].slots = NULL;
	}
}

/* on shutdown, past the drain time: cancel the queries still running */
int
cfs_pool_cancel_busy(void)
{
	char		errbuf[256];
	int			n = 0,
				i,
				k;

	pthread_mutex_lock(&pool.lock);
	for (k = 0; k < CFS_N_POOLS; k++)
	{
		Pool	   *p = &pool.p[k];

		for (i = 0; p->slots && i <= p->size; i++)
		{
			if (p->slots[i].busy && p->slots[i].cancel &&
				PQcancel(p->slots[i].cancel, errbuf, sizeof(errbuf)))
				n++;
		}
	}
	pthread_mutex_unlock(&pool.lock);
	return n;
}

/* the pool a statement runs on: reads on --read-dsn's when there is one */
int
cfs_pool_of(CfsStmt stmt)
{
	return (stmt == CFS_STMT_READ || stmt == CFS_STMT_REGISTRY) && pool.p[CFS_POOL_READ].size > 0 ?
		CFS_POOL_READ : CFS_POOL_WRITE;
}

/* take a free connection (one already open if any), waiting up to wait_ms */
static CfsConn *
take_slot(Pool *p)
{
	struct timespec deadline;
	CfsConn    *found = NULL;
	int			i;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += pool.wait_ms / 1000;
	deadline.tv_nsec += (long) (pool.wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
	{
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool.lock);
	for (;;)
	{
		for (i = 0; i < p->size; i++)
		{
			if (p->slots[i].busy)
				continue;
			/* prefer one that is open (its cancel handle is set under the lock) */
			if (found == NULL || (found->cancel == NULL && p->slots[i].cancel != NULL))
				found = &p->slots[i];
		}
		if (found)
		{
			found->busy = true;
			p->in_use++;
			break;
		}
		if (pthread_cond_timedwait(&p->freed, &pool.lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&pool.lock);
	return found;
}

CfsConn *
cfs_pool_acquire(CfsStmt stmt, CfsError *err)
{
	Pool	   *p = &pool.p[cfs_pool_of(stmt)];
	CfsConn    *c = take_slot(p);

	if (c == NULL)
	{
		cfs_error_set(err, 503, "53300", "all %d %sdatabase connections stayed busy for %d ms",
					  p->size, p->what, pool.wait_ms);
		return NULL;
	}
	if (!idle_conn_ok(c) && !connect_slot(c, err))
	{
		cfs_pool_release(c);
		return NULL;
	}
	return c;
}

/*
 * /health's own connection to a pool's database.  Only the /health worker
 * takes it, one request at a time, so it is never busy here.
 */
static CfsConn *
acquire_health(Pool *p, CfsError *err)
{
	CfsConn    *c = &p->slots[p->size];

	pthread_mutex_lock(&pool.lock);
	c->busy = true;
	pthread_mutex_unlock(&pool.lock);
	if (!idle_conn_ok(c) && !connect_slot(c, err))
	{
		cfs_pool_release(c);
		return NULL;
	}
	return c;
}

/* --dsn's /health connection (/health's and /metrics' own) */
CfsConn *
cfs_pool_acquire_health(CfsError *err)
{
	return acquire_health(&pool.p[CFS_POOL_WRITE], err);
}

/*
 * GET /health's second half: with --read-dsn, does that database answer and
 * have cfeast too?  True without --read-dsn.
 */
bool
cfs_pool_read_healthy(CfsError *err)
{
	Pool	   *p = &pool.p[CFS_POOL_READ];
	CfsConn    *c;
	PGresult   *res;
	bool		ok;

	if (p->size == 0)
		return true;
	c = acquire_health(p, err);
	if (c == NULL)
		return false;
	res = cfs_exec(c, CFS_STMT_HEALTH, 0, NULL, err);
	cfs_pool_release(c);
	if (res == NULL)
	{
		err->status = 503;
		return false;
	}
	ok = PQntuples(res) == 1;
	PQclear(res);
	if (!ok)
		cfs_error_set(err, 503, "42704",
					  "extension \"cfeast\" is not installed in the server's read database");
	return ok;
}

void
cfs_pool_release(CfsConn *c)
{
	Pool	   *p = c->pool;

	pthread_mutex_lock(&pool.lock);
	c->busy = false;
	if (c != &p->slots[p->size])
		p->in_use--;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&pool.lock);
}

/* the libpq connection of a pooled one, for GET /metrics' own query */
PGconn *
cfs_conn_pg(CfsConn *c)
{
	return c->conn;
}

/* a pool's connections, for GET /metrics */
void
cfs_pool_stats(int k, CfsPoolStats *s)
{
	Pool	   *p = &pool.p[k];
	int			i;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&pool.lock);
	s->size = p->size;
	s->in_use = p->in_use;
	for (i = 0; p->slots && i < p->size; i++)
		if (p->slots[i].cancel)
			s->open++;			/* set when a connection opens, cleared when it goes */
	pthread_mutex_unlock(&pool.lock);
	s->connects = __atomic_load_n(&p->connects, __ATOMIC_RELAXED);
	s->connect_failures = __atomic_load_n(&p->connect_failures, __ATOMIC_RELAXED);
}

/*
 * With --push-batch, the statement that carries several /push requests is
 * prepared beside the single one, if the installed cfeast has
 * feast._push_many (0.6 on); without it the loop sends each push alone.
 */
static void
prepare_push_many(CfsConn *c)
{
	char		sql[1024];
	PGresult   *res;

	res = PQexec(c->conn, "SELECT pg_catalog.to_regprocedure('feast._push_many(text,text[],text)') IS NOT NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		c->no_push_many = true;
		__atomic_store_n(&pool.push_many, 0, __ATOMIC_RELAXED);
		PQclear(res);
		return;
	}
	PQclear(res);
	snprintf(sql, sizeof(sql), stmts[CFS_STMT_PUSH_MANY].sql, "");
	res = PQprepare(c->conn, stmts[CFS_STMT_PUSH_MANY].name, sql, 3, NULL);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		c->prepared[CFS_STMT_PUSH_MANY] = true;
	else
	{
		c->no_push_many = true;
		fprintf(stderr, "cfeast-server: cannot prepare the coalesced push: %s", PQresultErrorMessage(res));
	}
	__atomic_store_n(&pool.push_many, c->prepared[CFS_STMT_PUSH_MANY], __ATOMIC_RELAXED);
	PQclear(res);
}

/* has the pool a connection no one holds (open and prepared or not)? */
bool
cfs_pool_any_free(int k)
{
	Pool	   *p = &pool.p[k];
	bool		any;

	pthread_mutex_lock(&pool.lock);
	any = p->in_use < p->size;
	pthread_mutex_unlock(&pool.lock);
	return any;
}

/* may pushes be coalesced: --push-batch over 1 and the database has feast._push_many */
bool
cfs_pool_push_many(void)
{
	return pool.coalesce && __atomic_load_n(&pool.push_many, __ATOMIC_RELAXED);
}

/* prepare a statement on this connection if it is not yet */
static bool
prepare_stmt(CfsConn *c, CfsStmt stmt, CfsError *err)
{
	char		sql[1024];
	PGresult   *res;

	if (c->prepared[stmt])
	{
		/* gone since (stale, see stale_statement): prepared again with the single push */
		if (stmt == CFS_STMT_PUSH && pool.coalesce && !c->prepared[CFS_STMT_PUSH_MANY] && !c->no_push_many)
			prepare_push_many(c);
		return true;
	}
	if (c->schema[0] == '\0')
		find_schema(c);			/* the extension may have been created since */
	snprintf(sql, sizeof(sql), stmts[stmt].sql, c->schema);
	res = PQprepare(c->conn, stmts[stmt].name, sql, stmts[stmt].nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		error_from_result(err, c, res);
		PQclear(res);
		return false;
	}
	PQclear(res);
	c->prepared[stmt] = true;
	if (stmt == CFS_STMT_PUSH && pool.coalesce && !c->prepared[CFS_STMT_PUSH_MANY] && !c->no_push_many)
		prepare_push_many(c);
	return true;
}

/*
 * A prepared statement to prepare again: gone from the session (26000, e.g.
 * after DISCARD ALL), or planned for a function whose result type changed
 * since (0A000, an extension update while the server runs).
 */
static bool
stale_statement(CfsConn *c, CfsStmt stmt, PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *file = PQresultErrorField(res, PG_DIAG_SOURCE_FILE);
	bool		replanned = state && strcmp(state, "0A000") == 0 && file &&
		strcmp(file, "plancache.c") == 0;
	char		sql[64];

	if (!replanned && !(state && strcmp(state, "26000") == 0))
		return false;
	if (replanned && PQpipelineStatus(c->conn) != PQ_PIPELINE_OFF)
		c->deallocate[stmt] = true; /* cfs_pipe_exit does it */
	else if (replanned)
	{
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", stmts[stmt].name);
		PQclear(PQexec(c->conn, sql));
	}
	c->prepared[stmt] = false;
	return true;
}

/*
 * Run a prepared statement.  Returns its result (PGRES_TUPLES_OK), or NULL
 * with err filled in.  A stale statement is prepared again, once.
 */
PGresult *
cfs_exec(CfsConn *c, CfsStmt stmt, int nparams, const char *const *values, CfsError *err)
{
	int			attempt;

	for (attempt = 0; attempt < 2; attempt++)
	{
		PGresult   *res;

		if (!prepare_stmt(c, stmt, err))
			return NULL;
		res = PQexecPrepared(c->conn, stmts[stmt].name, nparams, values, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			return res;
		if (attempt == 0 && res && stale_statement(c, stmt, res))
		{
			PQclear(res);
			continue;
		}
		error_from_result(err, c, res);
		PQclear(res);
		return NULL;
	}
	return NULL;
}

/*
 * The event loop's side (loop.c, http.c): a connection taken without
 * waiting, a statement sent without waiting for its result, and the result
 * read as it arrives, so that one thread can have statements running on
 * several connections while it serves HTTP.
 *
 * Only a free connection that is open, still alive and has the statement
 * prepared is taken (NULL otherwise: a worker then opens or prepares).
 */
CfsConn *
cfs_pool_try_acquire(CfsStmt stmt)
{
	Pool	   *p = &pool.p[cfs_pool_of(stmt)];
	CfsConn    *found = NULL;
	int			i;

	pthread_mutex_lock(&pool.lock);
	for (i = 0; i < p->size; i++)
	{
		CfsConn    *c = &p->slots[i];

		if (!c->busy && c->cancel != NULL && c->prepared[stmt])
		{
			found = c;
			found->busy = true;
			p->in_use++;
			break;
		}
	}
	pthread_mutex_unlock(&pool.lock);
	if (found && !idle_conn_ok(found))
	{
		cfs_pool_release(found);
		return NULL;
	}
	return found;
}

/*
 * Pipeline mode: the loop sends statements one after another on a
 * connection it holds, each followed by a Sync, so each is its own
 * transaction and an error ends only its own statement; the results come
 * back in order.  Non-blocking while in it; blocking again after.
 */
bool
cfs_pipe_enter(CfsConn *c, CfsError *err)
{
	c->phase = 0;
	c->pres = NULL;
	if (PQsetnonblocking(c->conn, 1) == 0 && PQenterPipelineMode(c->conn))
		return true;
	error_from_result(err, c, NULL);
	(void) PQsetnonblocking(c->conn, 0);
	return false;
}

/* queue a prepared statement and its Sync; false with err set if that failed */
bool
cfs_pipe_send(CfsConn *c, CfsStmt stmt, int nparams, const char *const *values, CfsError *err)
{
	if (PQsendQueryPrepared(c->conn, stmts[stmt].name, nparams, values, NULL, NULL, 0) &&
		PQpipelineSync(c->conn))
		return true;
	error_from_result(err, c, NULL);
	return false;
}

/* the same with some parameters in binary (lengths and formats as PQsendQueryPrepared's) */
bool
cfs_pipe_send_binary(CfsConn *c, CfsStmt stmt, int nparams, const char *const *values,
					 const int *lengths, const int *formats, CfsError *err)
{
	if (PQsendQueryPrepared(c->conn, stmts[stmt].name, nparams, values, lengths, formats, 0) &&
		PQpipelineSync(c->conn))
		return true;
	error_from_result(err, c, NULL);
	return false;
}

/* what is left to send: 0 nothing, 1 more (wait until writable), -1 failed */
int
cfs_exec_flush(CfsConn *c)
{
	return PQflush(c->conn);
}

int
cfs_conn_socket(CfsConn *c)
{
	return PQsocket(c->conn);
}

bool
cfs_conn_prepared(CfsConn *c, CfsStmt stmt)
{
	return c->prepared[stmt];
}

/* read what has arrived (then cfs_pipe_receive until it says 0) */
void
cfs_pipe_consume(CfsConn *c)
{
	(void) PQconsumeInput(c->conn);	/* a failure shows as CONNECTION_BAD */
}

/*
 * The next statement of the pipeline, in the order sent, if all of it has
 * arrived.  0: not yet (wait until readable); 1: done, *res its result
 * (PGRES_TUPLES_OK) or NULL with err set; 2: it was stale (see
 * stale_statement) and did not run: run it on a worker, which prepares it
 * again; -1: the connection broke, err set: every statement still in the
 * pipeline is lost with it.
 */
int
cfs_pipe_receive(CfsConn *c, CfsStmt stmt, PGresult **res, CfsError *err)
{
	*res = NULL;
	for (;;)
	{
		PGresult   *r;

		if (PQstatus(c->conn) == CONNECTION_BAD)
		{
			/* the server's last words (57P01 when terminated), as a worker would get them */
			PGresult   *e = c->pres;

			c->pres = NULL;
			c->phase = 0;
			if (e == NULL || PQresultStatus(e) == PGRES_TUPLES_OK)
			{
				PQclear(e);
				e = PQgetResult(c->conn);	/* does not wait: the socket is gone */
			}
			error_from_result(err, c, e);
			PQclear(e);
			return -1;
		}
		if (PQisBusy(c->conn))
			return 0;
		r = PQgetResult(c->conn);
		if (c->phase == 0)
		{
			/* the statement's results, ended by a NULL */
			if (r == NULL)
				c->phase = 1;
			else if (c->pres == NULL)
				c->pres = r;
			else
				PQclear(r);
			continue;
		}
		/* then its Sync (not followed by a NULL) */
		if (r == NULL)
			return 0;
		if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
		{
			PQclear(r);
			continue;
		}
		PQclear(r);
		c->phase = 0;
		r = c->pres;
		c->pres = NULL;
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
		{
			*res = r;
			return 1;
		}
		if (r && stale_statement(c, stmt, r))
		{
			PQclear(r);
			return 2;
		}
		error_from_result(err, c, r);
		PQclear(r);
		return 1;
	}
}

/* every result in: out of pipeline mode, blocking again, stale statements deallocated */
void
cfs_pipe_exit(CfsConn *c)
{
	int			i;

	PQclear(c->pres);
	c->pres = NULL;
	if (PQstatus(c->conn) == CONNECTION_OK && !PQexitPipelineMode(c->conn))
		fprintf(stderr, "cfeast-server: cannot leave pipeline mode: %s", PQerrorMessage(c->conn));
	(void) PQsetnonblocking(c->conn, 0);
	for (i = 0; i < CFS_N_STMTS; i++)
	{
		if (c->deallocate[i] && PQpipelineStatus(c->conn) == PQ_PIPELINE_OFF)
		{
			char		sql[64];

			snprintf(sql, sizeof(sql), "DEALLOCATE %s", stmts[i].name);
			PQclear(PQexec(c->conn, sql));
		}
		c->deallocate[i] = false;
	}
}
