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
 *-------------------------------------------------------------------------
 */
#include "server.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
cfs_pipe_init(const int *conns)
{
	int			p;

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

		if (r == 0)
			break;
		pop(h);
		if (r == 2)
		{
			cfs_call_end(&p->call, NULL, &(CfsReply) {0});
			p->done(p, true);
			continue;
		}
		if (r < 0)
		{
			/* the connection broke: every request in its pipeline fails with it */
			while (h->head)
			{
				CfsPipeReq *q = h->head;
				CfsError	e = {0};

				pop(h);
				cfs_error_set(&e, err.status, err.sqlstate, "%s", err.message ? err.message : "");
				cfs_reply_error(q->reply, q->call.ep, &e);
				cfs_call_end(&q->call, NULL, q->reply);
				q->done(q, false);
			}
		}
		if (res == NULL)
			cfs_reply_error(p->reply, p->call.ep, &err);
		cfs_call_end(&p->call, res, p->reply);
		p->done(p, false);
	}
	if (h->head == NULL)
		give_back(h);
	else
		arm(h);
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

/*
 * Run the request from the loop if it can be (its reply comes through
 * p->done, perhaps before this returns); false: it goes to a worker.
 */
bool
cfs_pipe_run(CfsPipeReq *p, CfsEndpoint ep, const char *body, size_t len)
{
	CfsStmt		stmt = stmt_of(ep);
	int			pool = cfs_pool_of(stmt);
	Held	   *h = take_free(pool, stmt);
	CfsError	err = {0};

	if (h == NULL)
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
	p->next = NULL;
	if (h->tail)
		h->tail->next = p;
	else
		h->head = p;
	h->tail = p;
	h->depth++;
	arm(h);
	return true;
}
