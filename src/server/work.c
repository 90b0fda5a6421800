/*-------------------------------------------------------------------------
 * work.c
 *	  The threads that talk to the database, apart from the HTTP threads.
 *
 * libmicrohttpd's threads only move bytes (epoll, never blocking on the
 * database): a complete request is suspended there and handed to this
 * queue; a worker runs its handler and resumes the connection.  There is one
 * worker per pooled database connection, so a worker never waits for a
 * connection, and one more worker with a connection of its own for
 * GET /health (and GET /metrics), so that /health never queues behind slow
 * queries or a busy pool.  Each pool (--dsn's, and --read-dsn's when given)
 * has its own queue and workers.  A job that waited longer than pool_wait_ms
 * before a worker took it is told so (it then answers 503 instead of
 * running).
 *
 * The event loop (loop.c) runs most requests itself, without a worker, when
 * a connection is free and nothing is queued (cfs_work_reserve): a pool's
 * workers and the loop share its connections, and a worker takes a job only
 * while one is free, so "queued" still means "waiting for a connection".
 *
 * For GET /metrics each queue counts, under the queue lock it takes anyway,
 * the jobs taken (by a worker or the loop), those that found no free
 * connection (every free one already spoken for by a job ahead), those that
 * expired, and the time jobs spent queued.
 *
 * On shutdown the workers finish every job queued (each one resumes its
 * connection, which libmicrohttpd needs before it can stop) and exit.
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* pthread_timedjoin_np */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct Queue
{
	CfsJob	   *head;
	CfsJob	   *tail;
	pthread_cond_t ready;
	bool		health;			/* /health's: its jobs never expire */
	int			size;			/* workers (the pool's connections) */
	int			len;			/* jobs queued */
	int			running;		/* workers running a job */
	int			direct;			/* connections the event loop holds (cfs_work_reserve) */
	int			held;			/* pushes the loop holds that found no free connection */
	unsigned long jobs;			/* for /metrics: jobs taken */
	unsigned long waits;		/* jobs that found no free connection */
	unsigned long timeouts;		/* jobs that expired */
	long long	wait_ns;		/* time jobs spent queued */
} Queue;

static struct
{
	pthread_mutex_t lock;
	Queue		health;
	Queue		work[CFS_N_POOLS];
	bool		stopping;
	int			wait_ms;
	int			nthreads;
	pthread_t  *threads;
} wq = {.lock = PTHREAD_MUTEX_INITIALIZER,
		.health = {.ready = PTHREAD_COND_INITIALIZER, .health = true},
		.work = {{.ready = PTHREAD_COND_INITIALIZER}, {.ready = PTHREAD_COND_INITIALIZER}}};

static long long
ns_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000000000LL + (now.tv_nsec - t->tv_nsec);
}

static void *
worker_main(void *arg)
{
	Queue	   *q = arg;

	for (;;)
	{
		CfsJob	   *job;
		bool		expired = false;

		pthread_mutex_lock(&wq.lock);
		/* a job, when a connection is free for it (or when stopping: then every job goes) */
		while ((q->head == NULL || q->running + q->direct >= q->size) && !wq.stopping)
			pthread_cond_wait(&q->ready, &wq.lock);
		job = q->head;
		if (job)
		{
			long long	waited = ns_since(&job->queued);

			q->head = job->next;
			if (q->head == NULL)
				q->tail = NULL;
			q->len--;
			q->running++;
			if (!job->counted)
				q->jobs++;
			q->wait_ns += waited;
			expired = !q->health && waited > wq.wait_ms * 1000000LL;
			if (expired)
				q->timeouts++;
		}
		pthread_mutex_unlock(&wq.lock);
		if (job == NULL)
			return NULL;		/* stopping and nothing left */
		job->run(job, expired);
		pthread_mutex_lock(&wq.lock);
		q->running--;
		pthread_mutex_unlock(&wq.lock);
	}
}

/* workers[pool]: the workers of each pool (0: no such pool), and /health's one */
bool
cfs_work_start(const int *workers, int wait_ms)
{
	int			total = 1,
				p,
				i;

	wq.wait_ms = wait_ms;
	for (p = 0; p < CFS_N_POOLS; p++)
		total += workers[p];
	wq.threads = calloc(total, sizeof(pthread_t));
	if (wq.threads == NULL)
		return false;
	for (p = -1; p < CFS_N_POOLS; p++)
	{
		int			n = p < 0 ? 1 : workers[p];

		(p < 0 ? &wq.health : &wq.work[p])->size = n;
		for (i = 0; i < n; i++)
		{
			int			rc = pthread_create(&wq.threads[wq.nthreads], NULL, worker_main,
											p < 0 ? &wq.health : &wq.work[p]);

			if (rc != 0)
			{
				fprintf(stderr, "cfeast-server: cannot start a worker thread: error %d\n", rc);
				cfs_work_stop(1000);
				return false;
			}
			wq.nthreads++;
		}
	}
	return true;
}

/*
 * Queue a job for a pool's workers (or CFS_QUEUE_HEALTH); false once
 * stopping (then the caller answers by itself).
 */
bool
cfs_work_submit(CfsJob *job, int queue)
{
	Queue	   *q = queue == CFS_QUEUE_HEALTH ? &wq.health : &wq.work[queue];
	bool		ok;

	job->next = NULL;
	clock_gettime(CLOCK_MONOTONIC, &job->queued);
	pthread_mutex_lock(&wq.lock);
	ok = !wq.stopping;
	if (ok)
	{
		if (q->len >= q->size - q->running - q->direct)
			q->waits++;			/* every free connection has a job ahead of this one */
		q->len++;
		if (q->tail)
			q->tail->next = job;
		else
			q->head = job;
		q->tail = job;
		pthread_cond_signal(&q->ready);
	}
	pthread_mutex_unlock(&wq.lock);
	return ok;
}

/*
 * The event loop (loop.c) runs a request on one of a pool's connections
 * itself when nothing is queued and a connection is free: it holds one of
 * the pool's places until cfs_work_release, so that the workers never take
 * more jobs than there are free connections, and the request is counted as
 * a job taken without waiting.  False when it must be queued instead.
 */
bool
cfs_work_reserve(int pool)
{
	Queue	   *q = &wq.work[pool];
	bool		ok;

	pthread_mutex_lock(&wq.lock);
	ok = !wq.stopping && q->len == 0 && q->running + q->direct < q->size;
	if (ok)
	{
		q->direct++;
		q->jobs++;
	}
	pthread_mutex_unlock(&wq.lock);
	return ok;
}

/* the place given back; uncount: the request goes to the queue after all */
void
cfs_work_release(int pool, bool uncount)
{
	Queue	   *q = &wq.work[pool];

	pthread_mutex_lock(&wq.lock);
	q->direct--;
	if (uncount)
		q->jobs--;
	if (q->head)
		pthread_cond_signal(&q->ready);
	pthread_mutex_unlock(&wq.lock);
}

/*
 * Requests the event loop took without a place of their own (a push that
 * waits for the loop's push statement in flight, pipeline.c), or -1: a place
 * taken for such requests, which are counted already.
 */
void
cfs_work_count(int pool, int n)
{
	pthread_mutex_lock(&wq.lock);
	wq.work[pool].jobs += n;
	pthread_mutex_unlock(&wq.lock);
}

/*
 * A push the event loop holds (pipeline.c) found no free connection (+1),
 * or stopped waiting for one (-1, after waited_ns; expired: it is answered
 * 503): it counts as a request queued, as if it waited for a worker.
 */
void
cfs_work_waiting(int pool, int delta, long long waited_ns, bool expired)
{
	Queue	   *q = &wq.work[pool];

	pthread_mutex_lock(&wq.lock);
	q->held += delta;
	if (delta > 0)
		q->waits++;
	else
		q->wait_ns += waited_ns;
	if (expired)
		q->timeouts++;
	pthread_mutex_unlock(&wq.lock);
}

/* a pool's queue, for GET /metrics */
void
cfs_work_stats(int pool, CfsQueueStats *s)
{
	Queue	   *q = &wq.work[pool];

	pthread_mutex_lock(&wq.lock);
	s->queued = q->len + q->held;
	s->jobs = q->jobs;
	s->waits = q->waits;
	s->timeouts = q->timeouts;
	s->wait_seconds = q->wait_ns / 1e9;
	pthread_mutex_unlock(&wq.lock);
}

/*
 * Take no more jobs, let the workers finish the queued ones and exit.  True
 * if they all did within timeout_ms (a query that ignores cancellation could
 * hold one).
 */
bool
cfs_work_stop(int timeout_ms)
{
	struct timespec deadline;
	bool		all = true;
	int			i;

	pthread_mutex_lock(&wq.lock);
	wq.stopping = true;
	for (i = 0; i < CFS_N_POOLS; i++)
		pthread_cond_broadcast(&wq.work[i].ready);
	pthread_cond_broadcast(&wq.health.ready);
	pthread_mutex_unlock(&wq.lock);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
	{
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	for (i = 0; i < wq.nthreads; i++)
		if (pthread_timedjoin_np(wq.threads[i], NULL, &deadline) != 0)
			all = false;
	if (all)
	{
		free(wq.threads);
		wq.threads = NULL;
		wq.nthreads = 0;
	}
	return all;
}
