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

struct CfsLoop
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
};

static CfsLoop *loops;
static int	nloops;

/* the loop whose thread this is */
static __thread CfsLoop *current;

/* tags of the two descriptors that are not a watch */
static char mhd_tag,
			wake_tag;

/* milliseconds on the monotonic clock since *t */
long
cfs_ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

static void
wake(CfsLoop *l)
{
	uint64_t	one = 1;

	/* a full counter (EAGAIN) wakes the loop all the same */
	(void) !write(l->wakefd, &one, sizeof(one));
}

/* the loop of the calling thread (NULL off the loops) */
CfsLoop *
cfs_loop_current(void)
{
	return current;
}

/* run w->fn(w, 0) on loop l's thread soon (from any thread) */
void
cfs_loop_post(CfsLoop *l, CfsWatch *w)
{
	bool		first;

	pthread_mutex_lock(&l->lock);
	first = l->posted == NULL;
	w->next = l->posted;
	l->posted = w;
	pthread_mutex_unlock(&l->lock);
	if (first)
		wake(l);
}

static void
run_posted(CfsLoop *l)
{
	CfsWatch   *w,
			   *rev = NULL;

	pthread_mutex_lock(&l->lock);
	w = l->posted;
	l->posted = NULL;
	pthread_mutex_unlock(&l->lock);
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

/* an access-log line was written (on a loop's thread, or after the loops ended) */
void
cfs_loop_logged(void)
{
	if (current)
		current->log_dirty = true;
}

static void
flush_log(CfsLoop *l)
{
	fflush(stdout);
	l->log_dirty = false;
	clock_gettime(CLOCK_MONOTONIC, &l->flushed);
}

/*
 * On a loop's thread: run w->fn once when fd is readable (or writable too,
 * with out): a one-shot registration, changed in place when fd is watched
 * already.
 */
bool
cfs_loop_watch(int fd, bool out, CfsWatch *w)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0) | EPOLLONESHOT, .data.ptr = w};

	if (epoll_ctl(current->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return true;
	return errno == ENOENT && epoll_ctl(current->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

static void *
loop_main(void *arg)
{
	CfsLoop    *l = arg;
	struct epoll_event ev[64];

	current = l;
	clock_gettime(CLOCK_MONOTONIC, &l->flushed);
	for (;;)
	{
		MHD_UNSIGNED_LONG_LONG mhd_ms;
		int			timeout = 1000,
					n,
					i;

		if (MHD_get_timeout(l->d, &mhd_ms) == MHD_YES && mhd_ms < (MHD_UNSIGNED_LONG_LONG) timeout)
			timeout = (int) mhd_ms;
		if (l->log_dirty)
		{
			long		ms = cfs_ms_since(&l->flushed);

			if (cfs_http_in_flight() == 0 || ms >= LOG_FLUSH_MS)
				flush_log(l);
			else if (timeout > LOG_FLUSH_MS - ms)
				timeout = (int) (LOG_FLUSH_MS - ms);
		}
		timeout = cfs_pipe_timeout(timeout);
		n = epoll_wait(l->epfd, ev, 64, timeout);
		for (i = 0; i < n; i++)
		{
			void	   *p = ev[i].data.ptr;

			if (p == &mhd_tag)
				continue;
			if (p == &wake_tag)
			{
				uint64_t	v;

				(void) !read(l->wakefd, &v, sizeof(v));
				run_posted(l);
				if (atomic_load(&l->quiesce) == 1)
				{
					l->quiesced_fd = MHD_quiesce_daemon(l->d);
					atomic_store(&l->quiesce, 2);
				}
				continue;
			}
			((CfsWatch *) p)->fn((CfsWatch *) p, ev[i].events);
		}
		MHD_run(l->d);
		cfs_pipe_tick();
		if (atomic_load(&l->stop))
			break;
	}
	run_posted(l);
	MHD_run(l->d);
	flush_log(l);
	cfs_pipe_loop_end();
	return NULL;
}

/* the loops, one per daemon (each in external-polling mode); false if one could not start */
bool
cfs_loop_start(struct MHD_Daemon **d, int n)
{
	int			i;

	loops = calloc(n, sizeof(CfsLoop));
	if (loops == NULL)
		return false;
	for (i = 0; i < n; i++)
	{
		CfsLoop    *l = &loops[i];
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(d[i], MHD_DAEMON_INFO_EPOLL_FD);
		struct epoll_event ev = {.events = EPOLLIN};
		int			rc;

		l->d = d[i];
		l->epfd = epoll_create1(EPOLL_CLOEXEC);
		l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		pthread_mutex_init(&l->lock, NULL);
		nloops++;
		ev.data.ptr = &mhd_tag;
		if (info == NULL || l->epfd < 0 || l->wakefd < 0 ||
			epoll_ctl(l->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev) != 0)
		{
			fprintf(stderr, "cfeast-server: cannot set up the event loop\n");
			return false;
		}
		ev.data.ptr = &wake_tag;
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0)
			return false;
		rc = pthread_create(&l->thread, NULL, loop_main, l);
		if (rc != 0)
		{
			fprintf(stderr, "cfeast-server: cannot start the event loop: error %d\n", rc);
			return false;
		}
		l->running = true;
	}
	return true;
}

/*
 * Stop taking connections (each loop quiesces its daemon itself); the
 * listening socket, to be closed, or MHD_INVALID_SOCKET.
 */
int
cfs_loop_quiesce(void)
{
	MHD_socket	fd = MHD_INVALID_SOCKET;
	int			i;

	for (i = 0; i < nloops; i++)
	{
		CfsLoop    *l = &loops[i];

		if (!l->running)
			continue;
		atomic_store(&l->quiesce, 1);
		wake(l);
		while (atomic_load(&l->quiesce) != 2)
		{
			struct timespec ts = {0, 1000000L};

			nanosleep(&ts, NULL);
		}
		if (fd == MHD_INVALID_SOCKET)
			fd = l->quiesced_fd;
	}
	return fd;
}

/* end the loops (the daemons may be stopped after) */
void
cfs_loop_stop(void)
{
	int			i;

	for (i = 0; i < nloops; i++)
	{
		CfsLoop    *l = &loops[i];

		if (l->running)
		{
			atomic_store(&l->stop, true);
			wake(l);
			pthread_join(l->thread, NULL);
			l->running = false;
		}
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wakefd >= 0)
			close(l->wakefd);
		l->epfd = l->wakefd = -1;
	}
	free(loops);
	loops = NULL;
	nloops = 0;
}
