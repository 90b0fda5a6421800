/*-------------------------------------------------------------------------
 * pipeline.c
 *	  The statements the event loop (loop.c) runs itself, on connections it
 *	  holds, several at a time on one connection in libpq's pipeline mode.
 *
 * POST /push, /get-online-features and /write-to-online-store come here
 * from the loop (http.c).  A request takes a free connection when its pool
 * has one that is open and has the statement prepared and nothing is
 * queued for the workers (cfs_work_reserve); the loop holds the connection
 * until its result is in.  Otherwise it goes to a worker (false here): no
 * connection is ready (the worker waits for one, or opens or prepares it),
 * or requests are queued already.
 *
 * The statement is sent in libpq's pipeline mode, followed by a Sync, so it
 * is its own transaction and the connection is never blocked on.  One
 * statement at a time per connection: sending more requests behind a busy
 * statement (a deeper pipeline) saved some wake-ups of the backend when
 * there were more clients than connections, but made them wait for
 * whatever ran ahead of them (a push held by a lock held every one behind
 * it, while another connection could have been free a moment later) and
 * took them past the queue that /metrics reports, so it is not done.  The
 * code keeps the list of statements in flight per connection, which a
 * deeper pipeline would fill: the results come back in order, each to its
 * own request; a broken connection fails every request still in it; a
 * stale statement (see pool.c) did not run: its request goes to a worker,
 * which prepares it again.
 *
 * Pushes are coalesced (--push-batch N, N > 1), as a database's group
 * commit is.  A /push that comes while one of this loop's push statements
 * is in flight waits for it; when it is done, those waiting with the same
 * push source and "to" (up to N, and 1 MB of bodies) go together on its
 * connection as one statement, feast._push_many, which pushes all their
 * rows as one push: one sort by key, one write, one commit, each request's
 * own row count back.  A push statement costs mostly its round trip, its
 * wake-ups of the backend and its commit, not its rows, so under load the
 * statements grow instead of their number: with 16 clients on 2 cores this
 * took HTTP pushes from 0.56x to 0.87x of the same pushes over SQL, where
 * taking a free connection first (coalescing only once every connection
 * was busy) left most pushes alone.  A push with nothing in flight on its
 * loop goes at once, and one that waits never waits long behind a slow
 * statement (a push held by a row lock): every HOLD_MS the loop sends the
 * pushes still waiting on a free connection, if there is one.  The rules stay
 * one request's: the rows resolve by the write rule whatever their order (a
 * full tie: the later request, in arrival order, as for two pushes), and
 * the keys are locked in one order as in any push, so coalescing cannot
 * deadlock with other pushers.  A coalesced statement that fails changed
 * nothing: its requests then go to the workers, each run alone, so each
 * gets its own answer and error (a connection lost, or the statement
 * cancelled, is every request's answer instead).  Every HOLD_MS the loop
 * looks for a connection freed elsewhere for the pushes still waiting;
 * those count as requests queued for a connection (/metrics) and get 503
 * after the pool wait, as queued ones do.  A database without
 * feast._push_many (cfeast before 0.6) or a router (which routes each
 * push) is sent single pushes.
 *-------------------------------------------------------------------------
 */
#include "server.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOLD_MS 2				/* how often waiting pushes look for a connection freed elsewhere */
#define BATCH_MAX_BYTES (1024 * 1024)	/* request bodies one coalesced statement carries */

/*
 * A coalesced push: its entry in the connection's pipeline (req; its
 * call.stmt is CFS_STMT_PUSH_MANY), the requests it carries and their
 * bodies as a binary text[].
 */
typedef struct Batch
{
	CfsPipeReq	req;
	CfsPipeReq *members;
	int			n;
	char	   *array;
} Batch;

static int	push_batch = 1;		/* --push-batch */
static int	pool_wait_ms = 10000;	/* a pending push's longest wait for a connection */
static int	push_pool_size;		/* the connections pushes run on, for that 503's message */
static atomic_bool no_push_many;		/* the database has no feast._push_many, or is a router */

/* this loop's /push requests waiting for its push statement in flight */
static __thread CfsPipeReq *pending_head,
		   *pending_tail;
static __thread int npending;
static __thread struct timespec pending_since;	/* when the oldest came */
static __thread int push_inflight;	/* this loop's push statements in flight */

/* a connection the loop holds, and the requests in its pipeline */
typedef struct Held
{
	CfsWatch	watch;
	CfsConn    *c;				/* NULL: this entry is free */
	int			pool;
	CfsPipeReq *head;			/* sent, oldest first */
	CfsPipeReq *tail;
	int			depth;
} Held;

/* each loop's connections (each loop has its own: a pipeline is one loop's) */
static __thread Held *held;
static int	nheld;

/* every pooled connection */
void
cfs_pipe_init(const int *conns, int batch, int wait_ms)
{
	int			p;

	push_batch = batch;
	pool_wait_ms = wait_ms;
	push_pool_size = conns[cfs_pool_of(CFS_STMT_PUSH)];
	nheld = 0;
	for (p = 0; p < CFS_N_POOLS; p++)
		nheld += conns[p];
}

/* the loop is ending: its table goes (every pipeline has drained) */
void
cfs_pipe_loop_end(void)
{
	free(held);
	held = NULL;
}

static CfsStmt
stmt_of(CfsEndpoint ep)
{
	return ep == CFS_EP_PUSH ? CFS_STMT_PUSH : ep == CFS_EP_READ ? CFS_STMT_READ : CFS_STMT_WRITE;
}

static void held_event(CfsWatch *w, unsigned int events);
static Held *take_free(int pool, CfsStmt stmt);

/* wait for the results (and for room to send, when some is left to send) */
static void
arm(Held *h)
{
	if (!cfs_loop_watch(cfs_conn_socket(h->c), cfs_exec_flush(h->c) > 0, &h->watch))
	{
		/* cannot watch it (out of memory): poll it until it can */
		struct timespec ts = {0, 100000L};

		nanosleep(&ts, NULL);
		held_event(&h->watch, 0);
	}
}

/* the pipeline is empty: the connection goes back to the pool */
static void
give_back(Held *h)
{
	cfs_pipe_exit(h->c);
	cfs_pool_release(h->c);
	cfs_work_release(h->pool, false);
	h->c = NULL;
}

static void
pop(Held *h)
{
	h->head = h->head->next;
	if (h->head == NULL)
		h->tail = NULL;
	h->depth--;
}

/* a request that must run alone after all: a worker runs it from its body */
static void
requeue(CfsPipeReq *p)
{
	cfs_call_end(&p->call, NULL, &(CfsReply) {0});
	p->done(p, true);
}

/* a request answered with err (a copy: each request frees its own) */
static void
fail(CfsPipeReq *p, const CfsError *err)
{
	CfsError	e = {0};

	cfs_error_set(&e, err->status, err->sqlstate, "%s", err->message ? err->message : "");
	cfs_reply_error(p->reply, p->call.ep, &e);
	cfs_call_end(&p->call, NULL, p->reply);
	p->done(p, false);
}

/*
 * A coalesced push is done: r, res and err as cfs_pipe_receive left them.
 * Success: each request its own count, the array's element.  A failure that
 * is every request's (the connection lost, the statement cancelled) is
 * their answer; any other failure changed nothing, so each runs alone.
 */
static void
batch_end(Batch *b, int r, PGresult *res, const CfsError *err)
{
	CfsPipeReq *m = b->members;
	const char *v = res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "";
	bool		shared = r < 0 || (res == NULL && r == 1 && strncmp(err->sqlstate, "57", 2) == 0);

	if (res == NULL && r == 1 && (strcmp(err->sqlstate, "0A000") == 0 || strcmp(err->sqlstate, "42883") == 0))
		atomic_store(&no_push_many, true);	/* a router, or cfeast gone back before 0.6 */
	if (*v == '{')
		v++;
	while (m)
	{
		CfsPipeReq *next = m->next;
		char		count[24];
		size_t		n = strcspn(v, ",}");

		if (res == NULL && shared)
			fail(m, err);
		else if (res == NULL)
			requeue(m);
		else
		{
			/* "{1,2,3}": this request's element */
			snprintf(count, sizeof(count), "%.*s", (int) (n < sizeof(count) ? n : sizeof(count) - 1), v);
			v += n + (v[n] == ',');
			cfs_call_end_count(&m->call, count, m->reply);
			m->done(m, false);
		}
		m = next;
	}
	PQclear(res);
	free(b->array);
	free(b);
}

static void
unlink_pending(CfsPipeReq *prev, CfsPipeReq *p, bool expired)
{
	if (p->waiting)
	{
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		cfs_work_waiting(cfs_pool_of(CFS_STMT_PUSH), -1,
						 (now.tv_sec - p->queued.tv_sec) * 1000000000LL + (now.tv_nsec - p->queued.tv_nsec),
						 expired);
		p->waiting = false;
	}
	if (prev)
		prev->next = p->next;
	else
		pending_head = p->next;
	if (pending_tail == p)
		pending_tail = prev;
	npending--;
}

static void
append(Held *h, CfsPipeReq *p)
{
	p->next = NULL;
	if (h->tail)
		h->tail->next = p;
	else
		h->head = p;
	h->tail = p;
	h->depth++;
}

/*
 * The pending pushes that share the oldest one's source and "to" (up to
 * --push-batch of them, BATCH_MAX_BYTES of bodies) as one statement on h,
 * which the loop holds with nothing in flight, or on a free connection
 * (h NULL).  False if there was none: nothing sent, they stay pending.
 */
static bool
send_pending(Held *h)
{
	CfsPipeReq *p,
			   *prev,
			   *members = NULL,
			   *last = NULL;
	const char *source = pending_head->call.vals[0];
	const char *to = pending_head->call.vals[2];
	size_t		bytes = 0;
	int			n = 0;
	Batch	   *b;
	CfsError	err = {0};

	if (h == NULL)
	{
		if ((h = take_free(cfs_pool_of(CFS_STMT_PUSH), CFS_STMT_PUSH)) == NULL)
			return false;
		cfs_work_count(h->pool, -1);	/* its requests are counted (cfs_pipe_run) */
	}

	/* who goes: in arrival order */
	for (prev = NULL, p = pending_head; p && n < push_batch;)
	{
		CfsPipeReq *next = p->next;
		size_t		len = strlen(p->call.vals[1]);

		if (strcmp(p->call.vals[0], source) == 0 && strcmp(p->call.vals[2], to) == 0 &&
			(n == 0 || bytes + len <= BATCH_MAX_BYTES))
		{
			unlink_pending(prev, p, false);
			p->next = NULL;
			if (last)
				last->next = p;
			else
				members = p;
			last = p;
			bytes += len;
			n++;
		}
		else
			prev = p;
		p = next;
	}
	if (pending_head)
		pending_since = pending_head->queued;

	if (n > 1 && !cfs_conn_prepared(h->c, CFS_STMT_PUSH_MANY))
	{
		/* this connection cannot carry them together: each waits for a worker */
		if (h->head == NULL)
			give_back(h);
		for (p = members; p; p = last)
		{
			last = p->next;
			requeue(p);
		}
		return true;
	}
	push_inflight++;
	cfs_metrics_push_statement(n);
	if (n == 1)
	{
		if (!cfs_pipe_send(h->c, CFS_STMT_PUSH, members->call.n, members->call.vals, &err))
		{
			push_inflight--;
			fail(members, &err);
			cfs_error_free(&err);
			if (h->head == NULL)
				give_back(h);
			return true;
		}
		append(h, members);
		arm(h);
		return true;
	}

	/* the bodies as a binary text[]: ndim, flags, element type, length, lower bound; each length and bytes */
	b = calloc(1, sizeof(Batch));
	if (b)
		b->array = malloc(20 + 4 * (size_t) n + bytes);
	if (b == NULL || b->array == NULL)
	{
		free(b);
		push_inflight--;
		for (p = members; p; p = last)
		{
			last = p->next;
			requeue(p);
		}
		if (h->head == NULL)
			give_back(h);
		return true;
	}
	{
		uint32_t	hdr[5] = {htonl(1), 0, htonl(25), htonl((uint32_t) n), htonl(1)};
		char	   *w = b->array + sizeof(hdr);
		const char *vals[3] = {source, b->array, to};
		int			lengths[3] = {0, 0, 0};
		int			formats[3] = {0, 1, 0};

		memcpy(b->array, hdr, sizeof(hdr));
		for (p = members; p; p = p->next)
		{
			size_t		len = strlen(p->call.vals[1]);
			uint32_t	l = htonl((uint32_t) len);

			memcpy(w, &l, 4);
			memcpy(w + 4, p->call.vals[1], len);
			w += 4 + len;
		}
		lengths[1] = (int) (w - b->array);
		b->members = members;
		b->n = n;
		b->req.call.ep = CFS_EP_PUSH;
		b->req.call.stmt = CFS_STMT_PUSH_MANY;
		if (!cfs_pipe_send_binary(h->c, CFS_STMT_PUSH_MANY, 3, vals, lengths, formats, &err))
		{
			push_inflight--;
			batch_end(b, -1, NULL, &err);
			cfs_error_free(&err);
			if (h->head == NULL)
				give_back(h);
			return true;
		}
	}
	append(h, &b->req);
	arm(h);
	return true;
}

/*
 * Pushes are pending and h (or a free connection) can take them.  Those
 * left when no connection is free wait for this loop's push statement in
 * flight.  With none in flight, nothing here will free one, and a free
 * connection the loop cannot take is one a worker must open or prepare:
 * then they go to the workers.
 */
static void
send_all_pending(Held *h)
{
	while (pending_head && send_pending(h))
		h = NULL;
	while (pending_head && (push_inflight == 0 || cfs_pool_any_free(cfs_pool_of(CFS_STMT_PUSH))))
	{
		CfsPipeReq *p = pending_head;

		unlink_pending(NULL, p, false);
		requeue(p);
	}
}

/* the results that arrived go to their requests, in order */
static void
held_event(CfsWatch *w, unsigned int events)
{
	Held	   *h = (Held *) ((char *) w - offsetof(Held, watch));

	(void) events;
	(void) cfs_exec_flush(h->c);
	cfs_pipe_consume(h->c);
	while (h->head)
	{
		CfsPipeReq *p = h->head;
		PGresult   *res;
		CfsError	err = {0};
		int			r = cfs_pipe_receive(h->c, p->call.stmt, &res, &err);
		bool		batch;

		if (r == 0)
			break;
		pop(h);
		if (p->call.ep == CFS_EP_PUSH)
			push_inflight--;
		batch = p->call.stmt == CFS_STMT_PUSH_MANY;
		if (batch)
		{
			/* p is freed with it */
			batch_end((Batch *) p, r, res, &err);
			if (r >= 0)
			{
				cfs_error_free(&err);
				continue;
			}
		}
		else if (r == 2)
		{
			requeue(p);
			continue;
		}
		if (r < 0)
		{
			/* the connection broke: every request in its pipeline fails with it */
			while (h->head)
			{
				CfsPipeReq *q = h->head;

				pop(h);
				if (q->call.ep == CFS_EP_PUSH)
					push_inflight--;
				if (q->call.stmt == CFS_STMT_PUSH_MANY)
					batch_end((Batch *) q, -1, NULL, &err);
				else
					fail(q, &err);
			}
			if (batch)
			{
				cfs_error_free(&err);
				continue;
			}
		}
		if (res == NULL)
			cfs_reply_error(p->reply, p->call.ep, &err);
		cfs_call_end(&p->call, res, p->reply);
		p->done(p, false);
	}
	if (h->head == NULL && pending_head && h->pool == cfs_pool_of(CFS_STMT_PUSH) &&
		PQstatus(cfs_conn_pg(h->c)) == CONNECTION_OK)
	{
		/* the pushes that waited go now, on this connection */
		send_all_pending(h);
		return;
	}
	if (h->head == NULL)
		give_back(h);
	else
		arm(h);
	if (pending_head && push_inflight == 0)
		send_all_pending(NULL);
}

/* a free connection of the pool, now held by the loop in pipeline mode; NULL if none */
static Held *
take_free(int pool, CfsStmt stmt)
{
	CfsConn    *c;
	CfsError	err = {0};
	int			i;

	if (held == NULL)
	{
		/* room for every pooled connection, for this loop; freed at exit */
		held = calloc(nheld > 0 ? nheld : 1, sizeof(Held));
		if (held == NULL)
			return NULL;
	}
	if (!cfs_work_reserve(pool))
		return NULL;
	c = cfs_pool_try_acquire(stmt);
	if (c != NULL && !cfs_pipe_enter(c, &err))
	{
		cfs_error_free(&err);	/* a worker tries again, opening it anew */
		cfs_pool_release(c);
		c = NULL;
	}
	if (c == NULL)
	{
		cfs_work_release(pool, true);
		return NULL;
	}
	for (i = 0; i < nheld && held[i].c != NULL; i++)
		;
	/* there is always room: a connection is held at most once */
	held[i].c = c;
	held[i].pool = pool;
	held[i].watch.fn = held_event;
	return &held[i];
}

/* may a /push that finds no free connection wait for this loop's push statement in flight? */
static bool
coalescing(void)
{
	return push_inflight > 0 && npending < push_batch && cfs_pool_push_many() &&
		!atomic_load_explicit(&no_push_many, memory_order_relaxed);
}

/*
 * Run the request from the loop if it can be (its reply comes through
 * p->done, perhaps before this returns); false: it goes to a worker.
 */
bool
cfs_pipe_run(CfsPipeReq *p, CfsEndpoint ep, const char *body, size_t len)
{
	CfsStmt		stmt = stmt_of(ep);
	int			pool = cfs_pool_of(stmt);
	Held	   *h;
	CfsError	err = {0};

	if (ep == CFS_EP_PUSH && coalescing())
	{
		/* it waits for the push statement in flight, then goes with the others (or after HOLD_MS) */
		if (!cfs_call_begin(ep, body, len, &p->call, p->reply))
		{
			p->done(p, false);
			return true;
		}
		cfs_work_count(pool, 1);	/* taken by the loop, as a request it runs */
		p->next = NULL;
		p->waiting = false;
		clock_gettime(CLOCK_MONOTONIC, &p->queued);
		if (pending_tail)
			pending_tail->next = p;
		else
		{
			pending_head = p;
			pending_since = p->queued;
		}
		pending_tail = p;
		npending++;
		return true;
	}
	if ((h = take_free(pool, stmt)) == NULL)
		return false;
	if (!cfs_call_begin(ep, body, len, &p->call, p->reply))
	{
		/* a 422: nothing to send */
		if (h->head == NULL)
			give_back(h);
		p->done(p, false);
		return true;
	}
	if (!cfs_pipe_send(h->c, stmt, p->call.n, p->call.vals, &err))
	{
		cfs_reply_error(p->reply, ep, &err);
		cfs_call_end(&p->call, NULL, p->reply);
		if (h->head == NULL)
			give_back(h);
		p->done(p, false);
		return true;
	}
	if (ep == CFS_EP_PUSH)
	{
		push_inflight++;
		cfs_metrics_push_statement(1);
	}
	append(h, p);
	arm(h);
	return true;
}

/* the loop's wait, shortened so that no push waits past HOLD_MS */
int
cfs_pipe_timeout(int timeout_ms)
{
	long		left;

	if (pending_head == NULL)
		return timeout_ms;
	left = HOLD_MS - cfs_ms_since(&pending_since);
	return left < 0 ? 0 : left < timeout_ms ? (int) left : timeout_ms;
}

/*
 * After each wait: pushes that waited HOLD_MS go on another connection if
 * one is free; those that waited past the pool wait get 503, as a request
 * queued for a worker would.
 */
void
cfs_pipe_tick(void)
{
	CfsPipeReq *p;

	if (pending_head == NULL || cfs_ms_since(&pending_since) < HOLD_MS)
		return;
	send_all_pending(NULL);
	while (pending_head && cfs_ms_since(&pending_head->queued) >= pool_wait_ms)
	{
		CfsError	err = {0};

		p = pending_head;
		unlink_pending(NULL, p, true);
		cfs_error_set(&err, 503, "53300", "all %d database connections stayed busy for %d ms",
					  push_pool_size, pool_wait_ms);
		cfs_reply_error(p->reply, CFS_EP_PUSH, &err);
		p->reply->retry_after = true;
		cfs_call_end(&p->call, NULL, p->reply);
		p->done(p, false);
	}
	/* the rest wait for a connection, as queued requests: the next try in HOLD_MS */
	for (p = pending_head; p; p = p->next)
	{
		if (!p->waiting)
			cfs_work_waiting(cfs_pool_of(CFS_STMT_PUSH), 1, 0, false);
		p->waiting = true;
	}
	if (pending_head)
		clock_gettime(CLOCK_MONOTONIC, &pending_since);
}
