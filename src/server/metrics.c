/*-------------------------------------------------------------------------
 * metrics.c
 *	  GET /metrics: the server's counters in Prometheus' text exposition
 *	  format (version 0.0.4).
 *
 * What is counted where:
 *  - every request, when it completes (http.c's completion callback, so
 *    404s, 413s and the 503s answered before a body count too): by
 *    endpoint (a known path, else "other") and status, and its duration
 *    (headers in to response out, as the access log's) in a histogram;
 *  - rows accepted by /push (per push source), written by
 *    /write-to-online-store (per feature view) and by the materialize
 *    endpoints: the bigint their function returned, on success only, so
 *    only names the registry knows become label values;
 *  - the pools (pool.c) and their queues (work.c) keep their own figures
 *    under the locks they take anyway; they are read at scrape time.
 *
 * The hot path is a few relaxed atomic additions on fixed arrays, no lock;
 * the per-name row counts take a mutex (one per successful push, beside a
 * database round trip).  A scrape reads each atomic once: a histogram's
 * _count is the sum of its buckets as read, so the buckets always add up
 * within one scrape, even while requests complete.
 *
 * The per-view figures that the database keeps (rows written, rows found
 * stale, newest event time, last write: feast.freshness, when the
 * installed cfeast has those columns) are read at scrape time on the
 * /health connection with a 1 s statement_timeout.  If the columns are not
 * there, or the database does not answer, the page still has everything
 * else and cfeast_freshness_up is 0.
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* open_memstream */
#include "server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* upper bounds of the duration buckets, in seconds: 0.1 ms to 10 s */
#define N_BUCKETS 16
static const char *const bucket_le[N_BUCKETS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
	"0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"
};
static const int64_t bucket_ns[N_BUCKETS] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
	50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000LL,
	5000000000LL, 10000000000LL
};

#define STATUS_MIN 100
#define N_STATUS 500			/* 100..599 */

/* rows per name (push source or feature view) */
typedef struct Named
{
	struct Named *next;
	unsigned long rows;
	char		name[];
} Named;

#define MAX_NAMES 10000			/* past this, further names count under "(other)" */

static struct
{
	atomic_ulong requests[CFS_N_ROUTES][N_STATUS];
	atomic_ulong buckets[CFS_N_ROUTES][N_BUCKETS + 1];	/* the last: over 10 s */
	atomic_ullong sum_ns[CFS_N_ROUTES];
	atomic_ulong aborted;
	atomic_ulong rows_materialized;
	atomic_ulong push_statements;	/* statements that carried /push requests */
	atomic_ulong push_coalesced;	/* requests carried by a statement of several */
	pthread_mutex_t names_lock;
	Named	   *pushed;			/* per push source */
	Named	   *written;		/* per feature view, /write-to-online-store */
	int			nnames;
	double		start_time;
} m = {.names_lock = PTHREAD_MUTEX_INITIALIZER};

void
cfs_metrics_init(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	m.start_time = t.tv_sec + t.tv_nsec / 1e9;
}

/* one completed request; route CFS_N_ROUTES - 1 is "other" */
void
cfs_metrics_request(int route, int status, const struct timespec *start,
					const struct timespec *end)
{
	int64_t		ns = (int64_t) (end->tv_sec - start->tv_sec) * 1000000000LL +
		(end->tv_nsec - start->tv_nsec);
	int			b = 0;

	if (route < 0 || route >= CFS_N_ROUTES)
		route = CFS_N_ROUTES - 1;
	if (ns < 0)
		ns = 0;
	while (b < N_BUCKETS && ns > bucket_ns[b])
		b++;
	if (status >= STATUS_MIN && status < STATUS_MIN + N_STATUS)
		atomic_fetch_add_explicit(&m.requests[route][status - STATUS_MIN], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.buckets[route][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.sum_ns[route], (unsigned long long) ns, memory_order_relaxed);
}

/* a request whose client left before it was answered */
void
cfs_metrics_aborted(void)
{
	atomic_fetch_add_explicit(&m.aborted, 1, memory_order_relaxed);
}

/* add n rows to name's count in *list (under names_lock) */
static void
named_add(Named **list, const char *name, unsigned long n)
{
	Named	   *e;

	for (e = *list; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			break;
	if (e == NULL && m.nnames >= MAX_NAMES && strcmp(name, "(other)") != 0)
	{
		named_add(list, "(other)", n);
		return;
	}
	if (e == NULL)
	{
		size_t		len = strlen(name);

		e = malloc(sizeof(Named) + len + 1);
		if (e == NULL)
			return;
		memcpy(e->name, name, len + 1);
		e->rows = 0;
		e->next = *list;
		*list = e;
		m.nnames++;
	}
	e->rows += n;
}

/*
 * A successful push, write or materialization (res NULL: it failed, nothing
 * to count): the bigint the function returned.
 */
void
cfs_metrics_rows(CfsEndpoint ep, const char *name, const PGresult *res)
{
	if (res == NULL || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		return;
	cfs_metrics_count(ep, name, strtoul(PQgetvalue(res, 0, 0), NULL, 10));
}

/* the same from the count itself (one request of a coalesced push) */
void
cfs_metrics_count(CfsEndpoint ep, const char *name, unsigned long n)
{
	if (ep == CFS_EP_MATERIALIZE)
	{
		atomic_fetch_add_explicit(&m.rows_materialized, n, memory_order_relaxed);
		return;
	}
	if (name == NULL)
		return;
	pthread_mutex_lock(&m.names_lock);
	named_add(ep == CFS_EP_PUSH ? &m.pushed : &m.written, name, n);
	pthread_mutex_unlock(&m.names_lock);
}

/* a push statement sent from the event loop, carrying this many /push requests */
void
cfs_metrics_push_statement(int requests)
{
	atomic_fetch_add_explicit(&m.push_statements, 1, memory_order_relaxed);
	if (requests > 1)
		atomic_fetch_add_explicit(&m.push_coalesced, (unsigned long) requests, memory_order_relaxed);
}

/* ---------------------------------------------------------------- the page */

/* a label value: backslash, double quote and newline escaped */
static void
put_label(FILE *f, const char *s)
{
	for (; *s; s++)
	{
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
http_families(FILE *f)
{
	int			r,
				s,
				b;

	family(f, "cfeast_http_requests_total", "counter",
		   "HTTP requests answered, by endpoint (the path, or other) and status.");
	for (r = 0; r < CFS_N_ROUTES; r++)
		for (s = 0; s < N_STATUS; s++)
		{
			unsigned long n = atomic_load_explicit(&m.requests[r][s], memory_order_relaxed);

			if (n > 0)
				fprintf(f, "cfeast_http_requests_total{endpoint=\"%s\",status=\"%d\"} %lu\n",
						cfs_route_path(r), s + STATUS_MIN, n);
		}
	family(f, "cfeast_http_request_duration_seconds", "histogram",
		   "Time from a request's headers arriving to its response sent, by endpoint.");
	for (r = 0; r < CFS_N_ROUTES; r++)
	{
		unsigned long cum = 0;
		unsigned long long ns = atomic_load_explicit(&m.sum_ns[r], memory_order_relaxed);

		for (b = 0; b <= N_BUCKETS; b++)
		{
			cum += atomic_load_explicit(&m.buckets[r][b], memory_order_relaxed);
			fprintf(f, "cfeast_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%s\"} %lu\n",
					cfs_route_path(r), b < N_BUCKETS ? bucket_le[b] : "+Inf", cum);
		}
		fprintf(f, "cfeast_http_request_duration_seconds_sum{endpoint=\"%s\"} %.9f\n",
				cfs_route_path(r), ns / 1e9);
		fprintf(f, "cfeast_http_request_duration_seconds_count{endpoint=\"%s\"} %lu\n",
				cfs_route_path(r), cum);
	}
	family(f, "cfeast_http_requests_aborted_total", "counter",
		   "Requests whose client went away before any response.");
	fprintf(f, "cfeast_http_requests_aborted_total %lu\n",
			atomic_load_explicit(&m.aborted, memory_order_relaxed));
	family(f, "cfeast_http_requests_in_flight", "gauge",
		   "Requests received and not yet answered, this one included.");
	fprintf(f, "cfeast_http_requests_in_flight %d\n", cfs_http_in_flight());
}

static const char *const pool_label[CFS_N_POOLS] = {"write", "read"};

static void
pool_families(FILE *f)
{
	CfsPoolStats ps[CFS_N_POOLS];
	CfsQueueStats qs[CFS_N_POOLS];
	int			k;

	for (k = 0; k < CFS_N_POOLS; k++)
	{
		cfs_pool_stats(k, &ps[k]);
		if (ps[k].size > 0)
			cfs_work_stats(k, &qs[k]);
	}
#define EACH_POOL(fmt, val) \
	for (k = 0; k < CFS_N_POOLS; k++) \
		if (ps[k].size > 0) \
			fprintf(f, fmt, pool_label[k], val)

	family(f, "cfeast_pool_size", "gauge",
		   "Database connections of a pool (write: --dsn's, which also reads without --read-dsn; "
		   "read: --read-dsn's), /health's own not counted.");
	EACH_POOL("cfeast_pool_size{pool=\"%s\"} %d\n", ps[k].size);
	family(f, "cfeast_pool_connections_in_use", "gauge",
		   "Connections of a pool running a request now.");
	EACH_POOL("cfeast_pool_connections_in_use{pool=\"%s\"} %d\n", ps[k].in_use);
	family(f, "cfeast_pool_connections_open", "gauge",
		   "Connections of a pool opened and not found broken since.");
	EACH_POOL("cfeast_pool_connections_open{pool=\"%s\"} %d\n", ps[k].open);
	family(f, "cfeast_pool_waiting_requests", "gauge",
		   "Requests queued now for a free connection of a pool.");
	EACH_POOL("cfeast_pool_waiting_requests{pool=\"%s\"} %d\n", qs[k].queued);
	family(f, "cfeast_pool_requests_total", "counter",
		   "Requests that a pool's workers took from its queue.");
	EACH_POOL("cfeast_pool_requests_total{pool=\"%s\"} %lu\n", qs[k].jobs);
	family(f, "cfeast_pool_waits_total", "counter",
		   "Requests that found every connection of a pool busy and queued.");
	EACH_POOL("cfeast_pool_waits_total{pool=\"%s\"} %lu\n", qs[k].waits);
	family(f, "cfeast_pool_wait_seconds_total", "counter",
		   "Time requests spent queued for a connection of a pool.");
	EACH_POOL("cfeast_pool_wait_seconds_total{pool=\"%s\"} %.9f\n", qs[k].wait_seconds);
	family(f, "cfeast_pool_wait_timeouts_total", "counter",
		   "Requests that waited past the pool wait (10 s) and got 503.");
	EACH_POOL("cfeast_pool_wait_timeouts_total{pool=\"%s\"} %lu\n", qs[k].timeouts);
	family(f, "cfeast_pool_connects_total", "counter",
		   "Database connections a pool opened (reconnections included).");
	EACH_POOL("cfeast_pool_connects_total{pool=\"%s\"} %lu\n", ps[k].connects);
	family(f, "cfeast_pool_connect_failures_total", "counter",
		   "Attempts of a pool to open a connection that failed.");
	EACH_POOL("cfeast_pool_connect_failures_total{pool=\"%s\"} %lu\n", ps[k].connect_failures);
#undef EACH_POOL
}

static void
named_family(FILE *f, const char *name, const char *label, const char *help, Named *list)
{
	Named	   *e;

	family(f, name, "counter", help);
	for (e = list; e; e = e->next)
	{
		fprintf(f, "%s{%s=\"", name, label);
		put_label(f, e->name);
		fprintf(f, "\"} %lu\n", e->rows);
	}
}

static void
row_families(FILE *f)
{
	pthread_mutex_lock(&m.names_lock);
	named_family(f, "cfeast_rows_pushed_total", "push_source",
				 "Rows accepted by POST /push (feast_push's count), by push source.", m.pushed);
	named_family(f, "cfeast_rows_written_online_total", "feature_view",
				 "Rows written by POST /write-to-online-store, by feature view.", m.written);
	pthread_mutex_unlock(&m.names_lock);
	family(f, "cfeast_rows_materialized_total", "counter",
		   "Rows written by POST /materialize and /materialize-incremental.");
	fprintf(f, "cfeast_rows_materialized_total %lu\n",
			atomic_load_explicit(&m.rows_materialized, memory_order_relaxed));
	family(f, "cfeast_push_statements_total", "counter",
		   "Push statements the event loops sent (a worker's are not counted).");
	fprintf(f, "cfeast_push_statements_total %lu\n",
			atomic_load_explicit(&m.push_statements, memory_order_relaxed));
	family(f, "cfeast_push_coalesced_requests_total", "counter",
		   "POST /push requests that shared their statement with others (--push-batch).");
	fprintf(f, "cfeast_push_coalesced_requests_total %lu\n",
			atomic_load_explicit(&m.push_coalesced, memory_order_relaxed));
}

/*
 * The per-view figures the database keeps.  The columns are looked up in the
 * catalog first, so an installed cfeast without them costs no failing query
 * (and no ERROR line in the database's log) per scrape.
 */
#define FRESHNESS_COLUMNS "'feature_view', 'rows_written', 'rows_stale', " \
	"'newest_event_timestamp', 'last_write_at'"

static bool
freshness_families(FILE *f)
{
	CfsError	err = {0};
	CfsConn    *c = cfs_pool_acquire_health(&err);
	PGresult   *res;
	bool		ok = false;
	int			i,
				col;
	static const struct
	{
		const char *name;
		const char *type;
		const char *help;
	}			fam[4] = {
		{"cfeast_feature_view_rows_written_total", "counter",
		"Rows written to a view's online table by pushes and materializations (feast.freshness)."},
		{"cfeast_feature_view_rows_stale_total", "counter",
		"Rows a push or materialization found older than the stored row and left (feast.freshness)."},
		{"cfeast_feature_view_newest_event_timestamp_seconds", "gauge",
		"Newest event time written to a view's online table, Unix seconds (feast.freshness)."},
		{"cfeast_feature_view_last_write_timestamp_seconds", "gauge",
		"When a view's online table was last written, Unix seconds (feast.freshness)."},
	};

	if (c == NULL)
	{
		cfs_error_free(&err);
		return false;
	}
	res = PQexec(cfs_conn_pg(c),
				 "SET statement_timeout = 1000; "
				 "SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute "
				 "WHERE attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('feast.freshness') "
				 "AND NOT attisdropped AND attname OPERATOR(pg_catalog.=) ANY (ARRAY[" FRESHNESS_COLUMNS "])");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "5") == 0)
	{
		PQclear(res);
		res = PQexec(cfs_conn_pg(c),
					 "SELECT feature_view::pg_catalog.text, rows_written::pg_catalog.text, "
					 "rows_stale::pg_catalog.text, "
					 "pg_catalog.date_part('epoch', newest_event_timestamp)::pg_catalog.text, "
					 "pg_catalog.date_part('epoch', last_write_at)::pg_catalog.text "
					 "FROM feast.freshness");
		ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) == 5;
	}
	cfs_pool_release(c);
	if (ok)
	{
		for (col = 1; col <= 4; col++)
		{
			family(f, fam[col - 1].name, fam[col - 1].type, fam[col - 1].help);
			for (i = 0; i < PQntuples(res); i++)
			{
				if (PQgetisnull(res, i, 0) || PQgetisnull(res, i, col))
					continue;
				fprintf(f, "%s{feature_view=\"", fam[col - 1].name);
				put_label(f, PQgetvalue(res, i, 0));
				fprintf(f, "\"} %s\n", PQgetvalue(res, i, col));
			}
		}
	}
	PQclear(res);
	return ok;
}

/* GET /metrics */
void
cfs_handle_metrics(CfsReply *reply)
{
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f = open_memstream(&buf, &len);
	bool		fresh;

	if (f == NULL)
	{
		cfs_reply_detail(reply, 500, "out of memory");
		return;
	}
	http_families(f);
	pool_families(f);
	row_families(f);
	fresh = freshness_families(f);
	family(f, "cfeast_freshness_up", "gauge",
		   "1 if the per-view figures of feast.freshness were read for this page, else 0 "
		   "(database unreachable, or a cfeast without them).");
	fprintf(f, "cfeast_freshness_up %d\n", fresh ? 1 : 0);
	family(f, "cfeast_server_start_time_seconds", "gauge",
		   "When the server started, Unix seconds.");
	fprintf(f, "cfeast_server_start_time_seconds %.3f\n", m.start_time);
	if (fclose(f) != 0 || buf == NULL)
	{
		free(buf);
		cfs_reply_detail(reply, 500, "out of memory");
		return;
	}
	reply->status = 200;
	reply->body = buf;
	reply->len = len;
	reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
