/*-------------------------------------------------------------------------
 * loop.c
 *	  The event loop: one thread that drives libmicrohttpd (on its epoll
 *	  descriptor, in libmicrohttpd's external-polling mode) and, in the same
 *	  epoll set, the sockets of the database connections it has statements
 *	  running on.
 *
 * Why: on a small machine a request's cost is mostly the threads it wakes.
 * Handing every request to a worker thread and back costs two more thread
 * switches (and their futex and eventfd calls) than the database round trip
 * itself.  So a request whose connection is free runs from here: its
 * statement is sent without waiting (libpq's non-blocking calls), the loop
 * goes on serving other connections, and when the result arrives the reply
 * is queued at once, on the thread that sends it.  Requests that find no
 * free connection, large bodies, and every other endpoint still go to the
 * workers (work.c), which may block.
 *
 * The access log is written in blocks rather than a write per line: it is
 * flushed whenever no request is in flight, and at least every 100 ms.
 *
 * Other threads never call libmicrohttpd: a worker that is done posts its
 * request to the loop (cfs_loop_post), which resumes the connection;
 * quiescing (on shutdown) is done by the loop itself on request; and the
 * daemon is stopped only once the loop has ended.
 *-------------------------------------------------------------------------
 */
#include "server.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOG_FLUSH_MS 100

static struct
{
	struct MHD_Daemon *d;
	int			epfd;
	int			wakefd;
	pthread_t	thread;
	bool		running;
	atomic_bool stop;
	atomic_int	quiesce;		/* 1: asked, 2: done */
	MHD_socket	quiesced_fd;
	bool		log_dirty;
	struct timespec flushed;
	pthread_mutex_t lock;		/* for posted */
	CfsWatch   *posted;			/* cfs_loop_post's, newest first */
} loop = {.epfd = -1, .wakefd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

/* tags of the two descriptors that are not a watch */
static char mhd_tag,
			wake_tag;

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

static void
wake(void)
{
	uint64_t	one = 1;

	/* a full counter (EAGAIN) wakes the loop all the same */
	(void) !write(loop.wakefd, &one, sizeof(one));
}

/* run w->fn(w, 0) on the loop's thread soon (from any thread) */
void
cfs_loop_post(CfsWatch *w)
{
	bool		first;

	pthread_mutex_lock(&loop.lock);
	first = loop.posted == NULL;
	w->next = loop.posted;
	loop.posted = w;
	pthread_mutex_unlock(&loop.lock);
	if (first)
		wake();
}

static void
run_posted(void)
{
	CfsWatch   *w,
			   *rev = NULL;

	pthread_mutex_lock(&loop.lock);
	w = loop.posted;
	loop.posted = NULL;
	pthread_mutex_unlock(&loop.lock);
	/* oldest first */
	while (w)
	{
		CfsWatch   *next = w->next;

		w->next = rev;
		rev = w;
		w = next;
	}
	while (rev)
	{
		CfsWatch   *next = rev->next;

		rev->fn(rev, 0);
		rev = next;
	}
}

/* an access-log line was written (on the loop's thread) */
void
cfs_loop_logged(void)
{
	loop.log_dirty = true;
}

static void
flush_log(void)
{
	fflush(stdout);
	loop.log_dirty = false;
	clock_gettime(CLOCK_MONOTONIC, &loop.flushed);
}

/*
 * Tell fn(arg) once when fd is readable (or writable, with out): a
 * one-shot registration, changed in place when fd is watched already.
 */
bool
cfs_loop_watch(int fd, bool out, CfsWatch *w)
{
	struct epoll_event ev = {.events = (out ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT, .data.ptr = w};

	if (epoll_ctl(loop.epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return true;
	return errno == ENOENT && epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

static void *
loop_main(void *arg)
{
	struct epoll_event ev[64];

	(void) arg;
	clock_gettime(CLOCK_MONOTONIC, &loop.flushed);
	for (;;)
	{
		MHD_UNSIGNED_LONG_LONG mhd_ms;
		int			timeout = 1000,
					n,
					i;

		if (MHD_get_timeout(loop.d, &mhd_ms) == MHD_YES && mhd_ms < (MHD_UNSIGNED_LONG_LONG) timeout)
			timeout = (int) mhd_ms;
		if (loop.log_dirty)
		{
			long		ms = ms_since(&loop.flushed);

			if (cfs_http_in_flight() == 0 || ms >= LOG_FLUSH_MS)
				flush_log();
			else if (timeout > LOG_FLUSH_MS - ms)
				timeout = (int) (LOG_FLUSH_MS - ms);
		}
		n = epoll_wait(loop.epfd, ev, 64, timeout);
		for (i = 0; i < n; i++)
		{
			void	   *p = ev[i].data.ptr;

			if (p == &mhd_tag)
				continue;
			if (p == &wake_tag)
			{
				uint64_t	v;

				(void) !read(loop.wakefd, &v, sizeof(v));
				run_posted();
				if (atomic_load(&loop.quiesce) == 1)
				{
					loop.quiesced_fd = MHD_quiesce_daemon(loop.d);
					atomic_store(&loop.quiesce, 2);
				}
				continue;
			}
			((CfsWatch *) p)->fn((CfsWatch *) p, ev[i].events);
		}
		MHD_run(loop.d);
		if (atomic_load(&loop.stop))
			break;
	}
	run_posted();
	MHD_run(loop.d);
	flush_log();
	return NULL;
}

bool
cfs_loop_start(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	struct epoll_event ev = {.events = EPOLLIN};
	int			rc;

	loop.d = d;
	loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	loop.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (info == NULL || loop.epfd < 0 || loop.wakefd < 0)
	{
		fprintf(stderr, "cfeast-server: cannot set up the event loop\n");
		return false;
	}
	ev.data.ptr = &mhd_tag;
	if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev) != 0)
		return false;
	ev.data.ptr = &wake_tag;
	if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, loop.wakefd, &ev) != 0)
		return false;
	rc = pthread_create(&loop.thread, NULL, loop_main, NULL);
	if (rc != 0)
	{
		fprintf(stderr, "cfeast-server: cannot start the event loop: error %d\n", rc);
		return false;
	}
	loop.running = true;
	return true;
}

/* stop taking connections (the loop does it); the listening socket, or MHD_INVALID_SOCKET */
int
cfs_loop_quiesce(void)
{
	if (!loop.running)
		return MHD_INVALID_SOCKET;
	atomic_store(&loop.quiesce, 1);
	wake();
	while (atomic_load(&loop.quiesce) != 2)
	{
		struct timespec ts = {0, 1000000L};

		nanosleep(&ts, NULL);
	}
	return loop.quiesced_fd;
}

/* end the loop (the daemon may be stopped after) */
void
cfs_loop_stop(void)
{
	if (loop.running)
	{
		atomic_store(&loop.stop, true);
		wake();
		pthread_join(loop.thread, NULL);
		loop.running = false;
	}
	if (loop.epfd >= 0)
		close(loop.epfd);
	if (loop.wakefd >= 0)
		close(loop.wakefd);
	loop.epfd = loop.wakefd = -1;
}
