/*-------------------------------------------------------------------------
 * work.c
 *	  The threads that talk to the database, apart from the HTTP threads.
 *
 * libmicrohttpd's threads only move bytes (epoll, never blocking on the
 * database): a complete request is suspended there and handed to this
 * queue; a worker runs its handler and resumes the connection.  There is one
 * worker per pooled database connection, so a worker never waits for a
 * connection, and one more worker with a connection of its own for
 * GET /health, so that /health never queues behind slow queries or a busy
 * pool.  A job that waited longer than pool_wait_ms before a worker took it
 * is told so (it then answers 503 instead of running).
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
} Queue;

static struct
{
	pthread_mutex_t lock;
	Queue		work;
	Queue		health;
	bool		stopping;
	int			wait_ms;
	int			nthreads;
	pthread_t  *threads;
} wq = {PTHREAD_MUTEX_INITIALIZER,
		{NULL, NULL, PTHREAD_COND_INITIALIZER},
		{NULL, NULL, PTHREAD_COND_INITIALIZER},
		false, 0, 0, NULL};

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

static void *
worker_main(void *arg)
{
	Queue	   *q = arg;

	for (;;)
	{
		CfsJob	   *job;

		pthread_mutex_lock(&wq.lock);
		while (q->head == NULL && !wq.stopping)
			pthread_cond_wait(&q->ready, &wq.lock);
		job = q->head;
		if (job)
		{
			q->head = job->next;
			if (q->head == NULL)
				q->tail = NULL;
		}
		pthread_mutex_unlock(&wq.lock);
		if (job == NULL)
			return NULL;		/* stopping and nothing left */
		job->run(job, q == &wq.work && ms_since(&job->queued) > wq.wait_ms);
	}
}

bool
cfs_work_start(int workers, int wait_ms)
{
	int			i;

	wq.wait_ms = wait_ms;
	wq.threads = calloc(workers + 1, sizeof(pthread_t));
	if (wq.threads == NULL)
		return false;
	for (i = 0; i <= workers; i++)
	{
		int			rc = pthread_create(&wq.threads[i], NULL, worker_main,
										i == 0 ? &wq.health : &wq.work);

		if (rc != 0)
		{
			fprintf(stderr, "cfeast-server: cannot start a worker thread: error %d\n", rc);
			cfs_work_stop(1000);
			return false;
		}
		wq.nthreads++;
	}
	return true;
}

/* queue a job; false once stopping (then the caller answers by itself) */
bool
cfs_work_submit(CfsJob *job, bool health)
{
	Queue	   *q = health ? &wq.health : &wq.work;
	bool		ok;

	job->next = NULL;
	clock_gettime(CLOCK_MONOTONIC, &job->queued);
	pthread_mutex_lock(&wq.lock);
	ok = !wq.stopping;
	if (ok)
	{
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
	pthread_cond_broadcast(&wq.work.ready);
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
