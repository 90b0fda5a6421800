/*-------------------------------------------------------------------------
 * server_load.c
 *	  A small closed-loop HTTP load driver for cfeast-server (loopback only).
 *
 *	  server_load PORT PATH BODY_FILE CONNECTIONS SECONDS KEYS [THREADS]
 *
 * CONNECTIONS HTTP/1.1 connections to 127.0.0.1:PORT each POST the body
 * again and again for SECONDS, one request at a time; every "@ID@" in the
 * body becomes a random key in 1..KEYS.  THREADS threads (default 2, as
 * server.sh runs pgbench -j 2) share the connections, each waiting on its
 * own with epoll, as pgbench's threads do with their connections, so that
 * both sides of server.sh pay the same for their clients.  A request
 * fails unless it is answered 200.  Prints requests, failures, requests/s,
 * latency percentiles and its own CPU time per request.
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int	port;
static const char *path;
static char *body;
static int	seconds;
static int	keys;
static double t_end;

#define REQ_CAP 70000
#define RESP_CAP (1 << 20)

/* one connection: the request in flight and the response as it arrives */
typedef struct Conn
{
	int			fd;
	char	   *req;
	char	   *resp;
	size_t		got;
	double		t0;
} Conn;

typedef struct Worker
{
	pthread_t	thread;
	unsigned int seed;
	Conn	   *conns;
	int			nconn;
	uint32_t   *lat_us;			/* one per request */
	size_t		n;
	size_t		cap;
	long		failures;
	int			last_status;
} Worker;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
connect_server(void)
{
	struct sockaddr_in sa = {0};
	int			fd = socket(AF_INET, SOCK_STREAM, 0);
	int			one = 1;

	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
	{
		perror("connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* the request with each @ID@ replaced by a random key */
static size_t
build_request(Worker *w, char *out, size_t cap)
{
	char		b[65536];
	size_t		bl = 0;
	const char *p = body;
	int			id = (int) (rand_r(&w->seed) % (unsigned) keys) + 1;
	int			hl;

	while (*p && bl < sizeof(b) - 16)
	{
		if (strncmp(p, "@ID@", 4) == 0)
		{
			bl += snprintf(b + bl, sizeof(b) - bl, "%d", id);
			p += 4;
		}
		else
			b[bl++] = *p++;
	}
	hl = snprintf(out, cap, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
				  "Content-Length: %zu\r\n\r\n", path, bl);
	memcpy(out + hl, b, bl);
	return hl + bl;
}

/* send the connection's next request; false if the connection broke */
static bool
send_request(Worker *w, Conn *c)
{
	size_t		len = build_request(w, c->req, REQ_CAP);

	c->got = 0;
	c->t0 = now_s();
	return write(c->fd, c->req, len) == (ssize_t) len;
}

/*
 * Read what arrived of the response: 0 not complete yet, its status when it
 * is, -1 if the connection broke.
 */
static int
read_response(Conn *c)
{
	ssize_t		r = read(c->fd, c->resp + c->got, RESP_CAP - c->got - 1);
	char	   *hend;
	long		clen = 0;
	int			status = -1;

	if (r <= 0)
		return -1;
	c->got += r;
	c->resp[c->got] = '\0';
	hend = strstr(c->resp, "\r\n\r\n");
	if (hend == NULL)
		return c->got < RESP_CAP - 1 ? 0 : -1;
	{
		char	   *cl = strcasestr(c->resp, "\r\nContent-Length:");

		if (cl && cl < hend)
			clen = strtol(cl + 17, NULL, 10);
	}
	if ((long) (c->got - (hend + 4 - c->resp)) < clen)
		return c->got < RESP_CAP - 1 ? 0 : -1;
	sscanf(c->resp, "HTTP/1.%*d %d", &status);
	return status;
}

static void
record(Worker *w, Conn *c, int status)
{
	if (w->n == w->cap)
	{
		w->cap = w->cap ? w->cap * 2 : 65536;
		w->lat_us = realloc(w->lat_us, w->cap * sizeof(uint32_t));
	}
	w->lat_us[w->n++] = (uint32_t) ((now_s() - c->t0) * 1e6);
	if (status != 200)
	{
		w->failures++;
		w->last_status = status;
	}
}

static void
watch(int ep, int op, Conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	epoll_ctl(ep, op, c->fd, &ev);
}

static void *
work(void *arg)
{
	Worker	   *w = arg;
	int			ep = epoll_create1(0);
	int			i,
				active = 0;
	struct epoll_event ev[64];

	for (i = 0; i < w->nconn; i++)
	{
		Conn	   *c = &w->conns[i];

		c->fd = connect_server();
		c->req = malloc(REQ_CAP);
		c->resp = malloc(RESP_CAP);
		watch(ep, EPOLL_CTL_ADD, c);
		if (!send_request(w, c))
		{
			record(w, c, -1);
			continue;
		}
		active++;
	}
	while (active > 0)
	{
		int			n = epoll_wait(ep, ev, 64, 1000);

		for (i = 0; i < n; i++)
		{
			Conn	   *c = ev[i].data.ptr;
			int			status = read_response(c);

			if (status == 0)
				continue;
			record(w, c, status);
			if (status < 0)
			{
				/* a broken connection: a new one */
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = connect_server();
				watch(ep, EPOLL_CTL_ADD, c);
			}
			if (now_s() >= t_end || !send_request(w, c))
			{
				active--;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			}
		}
	}
	for (i = 0; i < w->nconn; i++)
	{
		close(w->conns[i].fd);
		free(w->conns[i].req);
		free(w->conns[i].resp);
	}
	close(ep);
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *) a,
				y = *(const uint32_t *) b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	long		size;
	int			nconn,
				nthreads = 2,
				i;
	Worker	   *ws;
	size_t		total = 0,
				k = 0;
	long		failures = 0;
	uint32_t   *all;
	double		t0;

	if (argc != 7 && argc != 8)
	{
		fprintf(stderr, "usage: server_load PORT PATH BODY_FILE CONNECTIONS SECONDS KEYS [THREADS]\n");
		return 2;
	}
	port = atoi(argv[1]);
	path = argv[2];
	nconn = atoi(argv[4]);
	seconds = atoi(argv[5]);
	keys = atoi(argv[6]);
	if (argc == 8)
		nthreads = atoi(argv[7]);
	if (nthreads > nconn)
		nthreads = nconn;
	f = fopen(argv[3], "rb");
	if (f == NULL || nconn < 1 || seconds < 1 || keys < 1 || nthreads < 1)
	{
		fprintf(stderr, "server_load: bad arguments\n");
		return 2;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	body = calloc(1, size + 1);
	if (fread(body, 1, size, f) != (size_t) size)
		return 1;
	fclose(f);

	ws = calloc(nthreads, sizeof(Worker));
	t0 = now_s();
	t_end = t0 + seconds;
	for (i = 0; i < nthreads; i++)
	{
		/* the connections dealt out as evenly as they go */
		ws[i].nconn = nconn / nthreads + (i < nconn % nthreads);
		ws[i].conns = calloc(ws[i].nconn, sizeof(Conn));
		ws[i].seed = 1234 + i;
		pthread_create(&ws[i].thread, NULL, work, &ws[i]);
	}
	for (i = 0; i < nthreads; i++)
	{
		pthread_join(ws[i].thread, NULL);
		total += ws[i].n;
		failures += ws[i].failures;
		if (ws[i].failures)
			fprintf(stderr, "server_load: thread %d: %ld failed, last status %d\n",
					i, ws[i].failures, ws[i].last_status);
	}
	all = malloc((total ? total : 1) * sizeof(uint32_t));
	for (i = 0; i < nthreads; i++)
	{
		memcpy(all + k, ws[i].lat_us, ws[i].n * sizeof(uint32_t));
		k += ws[i].n;
		free(ws[i].lat_us);
		free(ws[i].conns);
	}
	qsort(all, total, sizeof(uint32_t), cmp_u32);
#define PCT(p) (total ? all[(size_t) ((total - 1) * (p))] / 1000.0 : 0.0)
	{
		struct rusage ru;
		double		cpu;

		getrusage(RUSAGE_SELF, &ru);
		cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
		printf("requests=%zu failed=%ld rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f "
			   "client_cpu_us=%.1f\n",
			   total, failures, total / (now_s() - t0), PCT(0.50), PCT(0.90), PCT(0.99), PCT(1.0),
			   total ? cpu * 1e6 / total : 0.0);
	}
	free(all);
	free(ws);
	free(body);
	return failures ? 1 : 0;
}
