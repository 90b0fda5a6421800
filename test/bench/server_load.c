/*-------------------------------------------------------------------------
 * server_load.c
 *	  A small closed-loop HTTP load driver for cfeast-server (loopback only).
 *
 *	  server_load PORT PATH BODY_FILE CONNECTIONS SECONDS KEYS
 *
 * CONNECTIONS threads each keep one HTTP/1.1 connection to 127.0.0.1:PORT
 * and POST the body again and again for SECONDS; every "@ID@" in the body
 * becomes a random key in 1..KEYS.  A request fails unless it is answered
 * 200.  Prints requests, failures, requests/s and latency percentiles.
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int	port;
static const char *path;
static char *body;
static int	seconds;
static int	keys;
static double t_end;

typedef struct Worker
{
	pthread_t	thread;
	unsigned int seed;
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

/* read one response; its status, or -1 if the connection broke */
static int
read_response(int fd, char *buf, size_t cap)
{
	size_t		got = 0;
	char	   *hend = NULL;
	long		clen = 0;
	int			status = -1;

	while (hend == NULL)
	{
		ssize_t		r = read(fd, buf + got, cap - got - 1);

		if (r <= 0)
			return -1;
		got += r;
		buf[got] = '\0';
		hend = strstr(buf, "\r\n\r\n");
	}
	sscanf(buf, "HTTP/1.%*d %d", &status);
	{
		char	   *cl = strcasestr(buf, "\r\nContent-Length:");

		if (cl && cl < hend)
			clen = strtol(cl + 17, NULL, 10);
	}
	{
		size_t		have = got - (hend + 4 - buf);

		while ((long) have < clen)
		{
			ssize_t		r = read(fd, buf, cap - 1);

			if (r <= 0)
				return -1;
			have += r;
		}
	}
	return status;
}

static void *
work(void *arg)
{
	Worker	   *w = arg;
	int			fd = connect_server();
	char	   *req = malloc(70000);
	char	   *resp = malloc(1 << 20);

	while (now_s() < t_end)
	{
		size_t		len = build_request(w, req, 70000);
		double		t0 = now_s();
		int			status;

		if (write(fd, req, len) != (ssize_t) len)
			status = -1;
		else
			status = read_response(fd, resp, 1 << 20);
		if (w->n == w->cap)
		{
			w->cap = w->cap ? w->cap * 2 : 65536;
			w->lat_us = realloc(w->lat_us, w->cap * sizeof(uint32_t));
		}
		w->lat_us[w->n++] = (uint32_t) ((now_s() - t0) * 1e6);
		if (status != 200)
		{
			w->failures++;
			w->last_status = status;
			if (status < 0)
			{
				close(fd);
				fd = connect_server();
			}
		}
	}
	close(fd);
	free(req);
	free(resp);
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
				i;
	Worker	   *ws;
	size_t		total = 0,
				k = 0;
	long		failures = 0;
	uint32_t   *all;
	double		t0;

	if (argc != 7)
	{
		fprintf(stderr, "usage: server_load PORT PATH BODY_FILE CONNECTIONS SECONDS KEYS\n");
		return 2;
	}
	port = atoi(argv[1]);
	path = argv[2];
	nconn = atoi(argv[4]);
	seconds = atoi(argv[5]);
	keys = atoi(argv[6]);
	f = fopen(argv[3], "rb");
	if (f == NULL || nconn < 1 || seconds < 1 || keys < 1)
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

	ws = calloc(nconn, sizeof(Worker));
	t0 = now_s();
	t_end = t0 + seconds;
	for (i = 0; i < nconn; i++)
	{
		ws[i].seed = 1234 + i;
		pthread_create(&ws[i].thread, NULL, work, &ws[i]);
	}
	for (i = 0; i < nconn; i++)
	{
		pthread_join(ws[i].thread, NULL);
		total += ws[i].n;
		failures += ws[i].failures;
		if (ws[i].failures)
			fprintf(stderr, "server_load: connection %d: %ld failed, last status %d\n",
					i, ws[i].failures, ws[i].last_status);
	}
	all = malloc((total ? total : 1) * sizeof(uint32_t));
	for (i = 0; i < nconn; i++)
	{
		memcpy(all + k, ws[i].lat_us, ws[i].n * sizeof(uint32_t));
		k += ws[i].n;
		free(ws[i].lat_us);
	}
	qsort(all, total, sizeof(uint32_t), cmp_u32);
#define PCT(p) (total ? all[(size_t) ((total - 1) * (p))] / 1000.0 : 0.0)
	printf("requests=%zu failed=%ld rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
		   total, failures, total / (now_s() - t0), PCT(0.50), PCT(0.90), PCT(0.99), PCT(1.0));
	free(all);
	free(ws);
	free(body);
	return failures ? 1 : 0;
}
