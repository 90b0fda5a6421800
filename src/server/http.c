/*-------------------------------------------------------------------------
 * http.c
 *	  The HTTP side on libmicrohttpd: --threads event loops (loop.c), each
 *	  with a daemon of its own on the shared listening socket, move the
 *	  bytes of every connection.  A complete push, read or write runs from
 *	  its loop when a pooled connection is free (pipeline.c: sent without
 *	  waiting, answered when its result arrives); every other request, and
 *	  those that find no free connection, go to the workers (work.c), which
 *	  may block on the database, and come back through the loop.  Request
 *	  bodies are gathered up to the size limits, requests are routed, each
 *	  gets an access-log line, and the server drains on shutdown.
 *
 * Limits against clients that hold resources:
 *  - a whole request (headers and body) must arrive within
 *    request_timeout_ms of the connection opening or of the previous
 *    response on it.  libmicrohttpd's own timeout only counts idle time (a
 *    byte every few seconds resets it), so a reaper thread watches every
 *    connection still receiving and shuts down the socket of one past its
 *    deadline; libmicrohttpd then sees the end of the stream and closes
 *    the connection.  The list is changed only under a lock that the
 *    connection-closed callback also takes, and libmicrohttpd calls that
 *    callback before it closes the socket, so the reaper never touches a
 *    descriptor that was closed (and perhaps reused).
 *  - connections: at most max_connections in all (shared out among the
 *    loops), max_per_ip from one address (libmicrohttpd refuses the rest at
 *    accept; with several loops, our accept policy counts across them).
 *  - buffered bodies: the bytes allocated for bodies of all requests at
 *    once stay under max_inflight.  A request whose Content-Length does not
 *    fit in what is left is answered 503 with Retry-After before its body
 *    is read; one that outgrows it while arriving (chunked, or several
 *    growing at once) has its buffer freed at once, the rest read and
 *    dropped, and is answered 503 with Retry-After.  A body's buffer is
 *    freed as soon as its handler is done.
 *  - GET /health runs on its own worker with its own database connection,
 *    so neither slow clients (they hold no thread) nor a busy pool delay it.
 *    GET /metrics runs there too.
 *
 * Every request, whatever answered it, is counted for GET /metrics when it
 * completes (metrics.c), under its path when that is a known route and
 * "other" when not, so clients cannot create label values.
 *-------------------------------------------------------------------------
 */
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* one client connection (libmicrohttpd's socket context), for the deadline */
typedef struct Conn
{
	struct Conn *prev;
	struct Conn *next;
	MHD_socket	fd;
	struct timespec since;		/* the current request's deadline counts from here */
	bool		receiving;		/* the request is not complete yet: the deadline applies */
	bool		expired;		/* the reaper shut it down */
	struct Peer *peer;			/* several loops: its address's count */
} Conn;

/*
 * With several loops (each its own libmicrohttpd daemon on the shared
 * listening socket), the connections from one address are counted here
 * for --max-connections-per-ip, across the loops: the accept policy counts
 * a connection in (or refuses it), and its end counts it out.  (A
 * connection that fails for lack of memory between the two stays counted.)
 * One loop leaves it to libmicrohttpd.
 */
typedef struct Peer
{
	struct Peer *next;
	int			count;
	socklen_t	len;
	unsigned char addr[16];
} Peer;

#define PEER_BUCKETS 1024
static Peer *peers[PEER_BUCKETS];
static int	ndaemons;
static struct MHD_Daemon **daemons;

/* one request: its body as it arrives, its reply, and what the access log needs */
typedef struct Request
{
	CfsJob		job;			/* first: the worker gets the request back from it */
	CfsWatch	watch;			/* a worker's: posted to the loop when done */
	CfsLoop    *loop;			/* the loop of its connection */
	CfsPipeReq	pipe;			/* when the loop runs it (pipeline.c) */
	struct MHD_Connection *conn;
	struct timespec start;
	char		method[16];
	char	   *url;
	char	   *query;			/* the registry API's query arguments, as JSON */
	char		client[INET6_ADDRSTRLEN];
	char	   *body;
	size_t		len;
	size_t		cap;			/* allocated for the body, counted in 'inflight' */
	size_t		declared;		/* Content-Length, if any */
	bool		too_large;		/* over max_body: 413 */
	bool		over_cap;		/* no room under max_inflight: 503 */
	bool		retry_after;	/* the answer is 503 for load: say when to come back */
	int			route;
	int			ep;				/* the path's route whatever the method, CFS_N_ROUTES - 1 if none */
	bool		ready;			/* a worker put the reply in 'reply' */
	CfsReply	reply;
	int			status;
	size_t		sent;
	char		sqlstate[6];
} Request;

static const CfsConfig *config;
static atomic_int in_flight;
static atomic_bool shutting_down;
static atomic_size_t inflight_bytes;

static struct
{
	pthread_mutex_t lock;
	pthread_cond_t wake;
	Conn	   *head;
	bool		stop;
	bool		running;
	pthread_t	thread;
} conns = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, false, false};

static long
ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_nsec - a->tv_nsec) / 1000000L;
}

/* ---------------------------------------------------------------- buffered bytes */

/* count n more bytes as buffered, if that stays under the cap */
static bool
inflight_take(size_t n)
{
	size_t		cur = atomic_load(&inflight_bytes);

	do
	{
		if (n > config->max_inflight || cur > config->max_inflight - n)
			return false;
	} while (!atomic_compare_exchange_weak(&inflight_bytes, &cur, cur + n));
	return true;
}

static bool
inflight_fits(size_t n)
{
	size_t		cur = atomic_load(&inflight_bytes);

	return n <= config->max_inflight && cur <= config->max_inflight - n;
}

static void
body_free(Request *req)
{
	free(req->body);
	req->body = NULL;
	atomic_fetch_sub(&inflight_bytes, req->cap);
	req->cap = 0;
}

/* ---------------------------------------------------------------- connections and their deadline */

/* the address bytes of a peer (4 or 16), or 0 */
static socklen_t
peer_key(const struct sockaddr *sa, unsigned char *key)
{
	if (sa && sa->sa_family == AF_INET)
	{
		memcpy(key, &((const struct sockaddr_in *) sa)->sin_addr, 4);
		return 4;
	}
	if (sa && sa->sa_family == AF_INET6)
	{
		memcpy(key, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
		return 16;
	}
	return 0;
}

/* under conns.lock: the entry of an address, made if missing (NULL: no memory) */
static Peer **
peer_find(const unsigned char *key, socklen_t len)
{
	unsigned	h = 2166136261u;
	socklen_t	i;
	Peer	  **pp;

	for (i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
	for (pp = &peers[h % PEER_BUCKETS]; *pp; pp = &(*pp)->next)
		if ((*pp)->len == len && memcmp((*pp)->addr, key, len) == 0)
			return pp;
	return pp;
}

/* several loops: count a new connection in, or refuse it (over --max-connections-per-ip) */
static enum MHD_Result
accept_policy(void *cls, const struct sockaddr *sa, socklen_t salen)
{
	unsigned char key[16];
	socklen_t	len = peer_key(sa, key);
	Peer	  **pp;
	bool		ok = true;

	(void) cls;
	(void) salen;
	if (len == 0)
		return MHD_YES;
	pthread_mutex_lock(&conns.lock);
	pp = peer_find(key, len);
	if (*pp == NULL && (*pp = calloc(1, sizeof(Peer))) != NULL)
	{
		(*pp)->len = len;
		memcpy((*pp)->addr, key, len);
	}
	if (*pp && (unsigned) (*pp)->count >= config->max_per_ip)
		ok = false;
	else if (*pp)
		(*pp)->count++;
	pthread_mutex_unlock(&conns.lock);
	return ok ? MHD_YES : MHD_NO;
}

/* under conns.lock: a connection counted by accept_policy has ended */
static void
peer_done(Peer *peer)
{
	Peer	  **pp = peer_find(peer->addr, peer->len);

	if (*pp && --(*pp)->count <= 0)
	{
		Peer	   *gone = *pp;

		*pp = gone->next;
		free(gone);
	}
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	Conn	   *c;

	(void) cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		c = calloc(1, sizeof(Conn));
		*socket_context = c;
		if (c == NULL)
			return;
		c->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
		clock_gettime(CLOCK_MONOTONIC, &c->since);
		c->receiving = true;
		pthread_mutex_lock(&conns.lock);
		if (ndaemons > 1 && config->max_per_ip > 0)
		{
			const union MHD_ConnectionInfo *ai =
				MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
			unsigned char key[16];
			socklen_t	len = peer_key(ai ? ai->client_addr : NULL, key);

			if (len > 0)
				c->peer = *peer_find(key, len);
		}
		c->next = conns.head;
		if (conns.head)
			conns.head->prev = c;
		conns.head = c;
		pthread_mutex_unlock(&conns.lock);
	}
	else
	{
		/* called before libmicrohttpd closes the socket */
		c = *socket_context;
		if (c == NULL)
			return;
		pthread_mutex_lock(&conns.lock);
		if (c->peer)
			peer_done(c->peer);
		if (c->prev)
			c->prev->next = c->next;
		else
			conns.head = c->next;
		if (c->next)
			c->next->prev = c->prev;
		pthread_mutex_unlock(&conns.lock);
		free(c);
		*socket_context = NULL;
	}
}

/* the request on conn is complete (false), or a new one may begin (true) */
static void
set_receiving(struct MHD_Connection *conn, bool receiving)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	Conn	   *c = ci ? ci->socket_context : NULL;

	if (c == NULL)
		return;
	pthread_mutex_lock(&conns.lock);
	c->receiving = receiving;
	if (receiving)
		clock_gettime(CLOCK_MONOTONIC, &c->since);
	pthread_mutex_unlock(&conns.lock);
}

/* every 100 ms: shut down the connections whose request is past its deadline */
static void *
reaper_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&conns.lock);
	while (!conns.stop)
	{
		struct timespec now,
					wake;
		Conn	   *c;
		int			n = 0;

		clock_gettime(CLOCK_MONOTONIC, &now);
		for (c = conns.head; c; c = c->next)
		{
			if (c->receiving && !c->expired && c->fd != MHD_INVALID_SOCKET &&
				ms_between(&c->since, &now) >= config->request_timeout_ms)
			{
				(void) shutdown(c->fd, SHUT_RDWR);
				c->expired = true;
				n++;
			}
		}
		if (n > 0)
			fprintf(stderr, "cfeast-server: closed %d connection%s that did not send a whole request "
					"within %d ms\n", n, n == 1 ? "" : "s", config->request_timeout_ms);
		clock_gettime(CLOCK_REALTIME, &wake);
		wake.tv_nsec += 100 * 1000000L;
		if (wake.tv_nsec >= 1000000000L)
		{
			wake.tv_sec++;
			wake.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&conns.wake, &conns.lock, &wake);
	}
	pthread_mutex_unlock(&conns.lock);
	return NULL;
}

/* libmicrohttpd's own messages, at most 10 a second (a flood of clients must not flood the log) */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static time_t window;
	static int	shown;
	static long suppressed;
	time_t		now = time(NULL);

	(void) cls;
	pthread_mutex_lock(&lock);
	if (now != window)
	{
		if (suppressed > 0)
			fprintf(stderr, "cfeast-server: libmicrohttpd: %ld more messages not shown\n", suppressed);
		window = now;
		shown = 0;
		suppressed = 0;
	}
	if (shown++ < 10)
	{
		fputs("cfeast-server: libmicrohttpd: ", stderr);
		vfprintf(stderr, fmt, ap);
	}
	else
		suppressed++;
	pthread_mutex_unlock(&lock);
}

/* ---------------------------------------------------------------- requests */

/* the client's address as text */
static void
client_address(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, len, "-");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, len);
}

/* for the access log: no control characters or quotes from the client */
static void
log_safe(char *s)
{
	for (; s && *s; s++)
		if ((unsigned char) *s < 0x20 || *s == 0x7f || *s == '"' || *s == '\\')
			*s = '?';
}

static const struct
{
	const char *path;
	bool		post;
}			routes[] = {
	{"/health", false}, {"/push", true}, {"/get-online-features", true},
	{"/write-to-online-store", true}, {"/materialize", true},
	{"/materialize-incremental", true}, {"/metrics", false},
	{CFS_UI_API, false},		/* and below it, and /projects-list.json: cfs_ui_api_path */
	{NULL, false}
};

_Static_assert(sizeof(routes) / sizeof(routes[0]) == CFS_N_ROUTES,
			   "CFS_N_ROUTES: the routes and \"other\"");

/* the endpoint label of a route (metrics.c) */
const char *
cfs_route_path(int route)
{
	return route >= 0 && route < CFS_N_ROUTES - 1 ? routes[route].path : "other";
}

static int
route_of_path(const char *url)
{
	int			i;

	for (i = 0; routes[i].path; i++)
		if (strcmp(url, routes[i].path) == 0)
			break;
	if (routes[i].path == NULL && cfs_ui_api_path(url))
		return CFS_ROUTE_REGISTRY;
	return i;
}

int
cfs_http_in_flight(void)
{
	return atomic_load(&in_flight);
}

static Request *
request_new(struct MHD_Connection *conn, const char *url, const char *method)
{
	Request    *req = calloc(1, sizeof(Request));

	if (req == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	snprintf(req->method, sizeof(req->method), "%s", method);
	req->url = strdup(url);
	req->ep = route_of_path(url);
	log_safe(req->url);
	log_safe(req->method);
	client_address(conn, req->client, sizeof(req->client));
	req->conn = conn;
	req->loop = cfs_loop_current();
	atomic_fetch_add(&in_flight, 1);
	return req;
}

/*
 * Append a chunk of the body.  The buffer grows by doubling (to the
 * Content-Length at most), each growth counted against max_inflight first.
 * Past max_body, or with no room left under max_inflight, the buffer is
 * freed and the rest only counted.
 */
static void
request_append(Request *req, const char *data, size_t n)
{
	size_t		need;

	if (!req->too_large && !req->over_cap && req->len + n > config->max_body)
	{
		req->too_large = true;
		body_free(req);
	}
	if (req->too_large || req->over_cap)
	{
		req->len += n;
		return;
	}
	need = req->len + n + 1;
	if (need > req->cap)
	{
		size_t		cap = req->cap ? req->cap : 8192;
		char	   *nb = NULL;

		while (cap < need)
			cap *= 2;
		if (req->declared >= need - 1 && cap > req->declared + 1)
			cap = req->declared + 1;
		if (cap > config->max_body + 1)
			cap = config->max_body + 1;
		if (inflight_take(cap - req->cap))
		{
			nb = realloc(req->body, cap);
			if (nb == NULL)
				atomic_fetch_sub(&inflight_bytes, cap - req->cap);
		}
		if (nb == NULL)
		{
			req->over_cap = true;
			body_free(req);
			req->len += n;
			return;
		}
		req->body = nb;
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, n);
	req->len += n;
	req->body[req->len] = '\0';
}

static void
clear_result(void *res)
{
	PQclear((PGresult *) res);
}

/* hand the reply to libmicrohttpd; frees what the reply owned */
static enum MHD_Result
send_reply(struct MHD_Connection *conn, Request *req, CfsReply *reply)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (reply->body_in_result)
		resp = MHD_create_response_from_buffer_with_free_callback_cls(
			reply->len, PQgetvalue(reply->result, 0, 0), clear_result, reply->result);
	else if (reply->body)
		resp = MHD_create_response_from_buffer(reply->len, reply->body, MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	if (reply->len > 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
								reply->content_type ? reply->content_type : "application/json");
	if (reply->rows)
		MHD_add_response_header(resp, "X-Cfeast-Rows", reply->rows);
	if (reply->status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
								req->ep < CFS_N_ROUTES - 1 && !routes[req->ep].post ? "GET" : "POST");
	if (reply->status == 503 && (req->retry_after || reply->retry_after))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (atomic_load(&shutting_down) || req->too_large || req->over_cap)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (reply->result && !reply->body_in_result)
		PQclear(reply->result);
	req->status = reply->status;
	req->sent = reply->len;
	memcpy(req->sqlstate, reply->sqlstate, sizeof(req->sqlstate));
	ret = MHD_queue_response(conn, reply->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * The route of a request, or -1 with the reply set: 404, 405, or with --ui
 * a static file of the web UI (ui.c), answered without a worker.
 */
static int
route_of(Request *req, CfsReply *reply)
{
	int			i = req->ep;

	if (routes[i].path == NULL)
	{
		if (strcmp(req->method, "GET") != 0 || !cfs_ui_static(config->ui_dir, req->url, reply))
			cfs_reply_detail(reply, 404, "Not Found");
		return -1;
	}
	if (strcmp(req->method, routes[i].post ? "POST" : "GET") != 0)
	{
		cfs_reply_detail(reply, 405, "Method Not Allowed");
		return -1;
	}
	if (i == CFS_ROUTE_REGISTRY)
		req->query = cfs_ui_query_json(req->conn);
	return i;
}

/* on the loop: a worker is done with the request */
static void
resume_posted(CfsWatch *w, unsigned int events)
{
	Request    *req = (Request *) ((char *) w - offsetof(Request, watch));

	(void) events;
	MHD_resume_connection(req->conn);
}

/* a worker runs the request's handler, then gives the connection back */
static void
run_request(CfsJob *job, bool expired)
{
	Request    *req = (Request *) job;
	const char *body = req->body ? req->body : "";

	if (expired)
	{
		CfsError	err = {0};

		cfs_error_set(&err, 503, "53300", "all %d database connections stayed busy for %d ms",
					  config->pool_size, config->pool_wait_ms);
		cfs_reply_error(&req->reply, CFS_EP_PUSH, &err);
		req->retry_after = true;
	}
	else if (atomic_load(&shutting_down))
		cfs_reply_detail(&req->reply, 503, "the server is shutting down");
	else
	{
		switch (req->route)
		{
			case 0:
				cfs_handle_health(&req->reply);
				break;
			case 1:
				cfs_handle_call(CFS_EP_PUSH, body, req->len, &req->reply);
				break;
			case 2:
				cfs_handle_call(CFS_EP_READ, body, req->len, &req->reply);
				break;
			case 3:
				cfs_handle_call(CFS_EP_WRITE, body, req->len, &req->reply);
				break;
			case CFS_ROUTE_REGISTRY:
				cfs_handle_registry(cfs_ui_api_path(req->url), req->query, &req->reply);
				break;
			case CFS_ROUTE_METRICS:
				cfs_handle_metrics(&req->reply);
				break;
			default:
				cfs_handle_materialize(body, req->len, req->route == 5, &req->reply);
				break;
		}
	}
	body_free(req);
	req->ready = true;
	/* from here the loop owns req again (and may free it) */
	req->watch.fn = resume_posted;
	cfs_loop_post(req->loop, &req->watch);
}

/*
 * ---------------------------------------------------------------- on the event loop
 *
 * POST /push, /get-online-features and /write-to-online-store run on the
 * event loop's thread when a connection is ready for them (pipeline.c):
 * the body is checked, the statement sent, and the reply queued when its
 * result comes, with no worker in between.  Bodies over DIRECT_MAX_BODY go
 * to a worker (checking them would hold up the loop).
 */
#define DIRECT_MAX_BODY (64 * 1024)

static void
pipe_done(CfsPipeReq *p, bool requeue)
{
	Request    *req = (Request *) ((char *) p - offsetof(Request, pipe));

	if (requeue)
	{
		/* its statement was stale: a worker prepares it again and runs the request */
		req->job.counted = true;
		if (cfs_work_submit(&req->job, cfs_pool_of(req->route == CFS_ROUTE_READ ? CFS_STMT_READ :
															  CFS_STMT_PUSH)))
			return;
		cfs_reply_detail(&req->reply, 503, "the server is shutting down");
	}
	body_free(req);
	req->ready = true;
	MHD_resume_connection(req->conn);
}

/* run the request from the loop if it can be; false: it goes to a worker */
static bool
run_direct(Request *req)
{
	if (req->len > DIRECT_MAX_BODY)
		return false;
	req->pipe.reply = &req->reply;
	req->pipe.done = pipe_done;
	return cfs_pipe_run(&req->pipe, req->route == 1 ? CFS_EP_PUSH :
						req->route == CFS_ROUTE_READ ? CFS_EP_READ : CFS_EP_WRITE,
						req->body ? req->body : "", req->len);
}

static enum MHD_Result
reply_too_large(struct MHD_Connection *conn, Request *req, size_t size)
{
	CfsReply	reply = {0};

	cfs_reply_detail(&reply, 413, "request body of %zu bytes is over the limit of %zu bytes",
					 size, config->max_body);
	return send_reply(conn, req, &reply);
}

static enum MHD_Result
reply_over_cap(struct MHD_Connection *conn, Request *req)
{
	CfsReply	reply = {0};

	cfs_reply_detail(&reply, 503, "the server is buffering too many request bodies; retry later");
	req->retry_after = true;
	return send_reply(conn, req, &reply);
}

/*
 * libmicrohttpd calls this first with the headers, then with each piece of
 * the body, then once more with nothing: then the request is routed and,
 * unless answered here (404, 405, 413, 503), suspended and handed to a
 * worker.  When the worker resumes the connection, this is called once
 * more with nothing, and the worker's reply is sent.
 */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
		   const char *version, const char *upload_data, size_t *upload_data_size,
		   void **con_cls)
{
	Request    *req = *con_cls;
	CfsReply	reply = {0};

	(void) cls;
	(void) version;
	if (req == NULL)
	{
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
													 MHD_HTTP_HEADER_CONTENT_LENGTH);

		req = request_new(conn, url, method);
		if (req == NULL)
			return MHD_NO;
		*con_cls = req;
		if (cl)
			req->declared = strtoull(cl, NULL, 10);
		if (req->declared > config->max_body)
		{
			/* refuse before reading it; the connection is closed after */
			req->too_large = true;
			return reply_too_large(conn, req, req->declared);
		}
		if (req->declared > 0 && !inflight_fits(req->declared + 1))
		{
			req->over_cap = true;
			return reply_over_cap(conn, req);
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		request_append(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->ready)
		return send_reply(conn, req, &req->reply);
	if (req->status != 0)
		return MHD_YES;			/* already answered (413, 503 before the body) */
	set_receiving(conn, false);
	if (req->too_large)
		return reply_too_large(conn, req, req->len);
	if (req->over_cap)
		return reply_over_cap(conn, req);
	req->route = route_of(req, &reply);
	if (req->route < 0)
		return send_reply(conn, req, &reply);
	if (atomic_load(&shutting_down))
	{
		cfs_reply_detail(&reply, 503, "the server is shutting down");
		return send_reply(conn, req, &reply);
	}
	req->job.run = run_request;
	MHD_suspend_connection(conn);
	if ((req->route == 1 || req->route == 2 || req->route == 3) && run_direct(req))
		return MHD_YES;
	if (!cfs_work_submit(&req->job,
						 req->route == CFS_ROUTE_HEALTH || req->route == CFS_ROUTE_METRICS ?
						 CFS_QUEUE_HEALTH :
						 req->route == CFS_ROUTE_READ ? cfs_pool_of(CFS_STMT_READ) :
						 req->route == CFS_ROUTE_REGISTRY ? cfs_pool_of(CFS_STMT_REGISTRY) : CFS_POOL_WRITE))
	{
		/* the workers stopped meanwhile */
		cfs_reply_detail(&req->reply, 503, "the server is shutting down");
		req->ready = true;
		MHD_resume_connection(conn);	/* on the loop's thread */
	}
	return MHD_YES;
}

/* the access log: time client "METHOD path" status bytes-in bytes-out duration [sqlstate] */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	Request    *req = *con_cls;
	struct timespec now,
				wall;
	struct tm	tm;
	char		ts[32];
	double		ms;

	(void) cls;
	if (req == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_gettime(CLOCK_REALTIME, &wall);
	gmtime_r(&wall.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	ms = (now.tv_sec - req->start.tv_sec) * 1e3 + (now.tv_nsec - req->start.tv_nsec) / 1e6;
	fprintf(stdout, "%s.%03ldZ %s \"%s %s\" %d %zu %zu %.3fms%s%s%s\n",
			ts, wall.tv_nsec / 1000000L, req->client, req->method, req->url ? req->url : "-",
			req->status, req->len, req->sent, ms,
			req->sqlstate[0] ? " sqlstate=" : "", req->sqlstate,
			toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
	cfs_loop_logged();
	if (req->status != 0)
		cfs_metrics_request(req->ep, req->status, &req->start, &now);
	else
		cfs_metrics_aborted();	/* the client left before any response */
	body_free(req);
	free(req->url);
	free(req->query);
	free(req);
	*con_cls = NULL;
	set_receiving(conn, true);	/* the next request on this connection starts its clock */
	atomic_fetch_sub(&in_flight, 1);
}

/* split HOST:PORT (or [V6]:PORT) and resolve it */
static struct addrinfo *
resolve_listen(const char *listen)
{
	char		host[256];
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t		hlen;
	struct addrinfo hints = {0},
			   *ai = NULL;
	int			rc;

	if (colon == NULL || colon[1] == '\0')
	{
		fprintf(stderr, "cfeast-server: --listen must be HOST:PORT, got \"%s\"\n", listen);
		return NULL;
	}
	hlen = colon - listen;
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
	{
		h++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		hlen = sizeof(host) - 1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(hlen ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0)
	{
		fprintf(stderr, "cfeast-server: cannot resolve --listen \"%s\": %s\n", listen, gai_strerror(rc));
		return NULL;
	}
	return ai;
}

/* the daemons that started (after their loops ended: libmicrohttpd's threads are gone) */
static void
stop_daemons(void)
{
	int			i;

	for (i = 0; daemons && i < ndaemons; i++)
		if (daemons[i])
			MHD_stop_daemon(daemons[i]);
	free(daemons);
	daemons = NULL;
}

struct MHD_Daemon *
cfs_http_start(const CfsConfig *cfg, char *bound, size_t boundlen)
{
	struct addrinfo *ai = resolve_listen(cfg->listen);
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	char		addr[INET6_ADDRSTRLEN] = "?";
	bool		v6;
	int			rc,
				i;
	MHD_socket	listen_fd = MHD_INVALID_SOCKET;
	unsigned	port = 0;

	if (ai == NULL)
		return NULL;
	config = cfg;
	v6 = ai->ai_family == AF_INET6;
	if (v6)
	{
		flags |= MHD_USE_IPv6;
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr, addr, sizeof(addr));
	}
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *) ai->ai_addr)->sin_addr, addr, sizeof(addr));
	{
		int			workers[CFS_N_POOLS] = {cfg->pool_size, cfg->read_dsn ? cfg->read_pool_size : 0};

		if (!cfs_work_start(workers, cfg->pool_wait_ms))
		{
			freeaddrinfo(ai);
			return NULL;
		}
	}
	/*
	 * --threads loops, each with a libmicrohttpd daemon of its own in
	 * external-polling mode: the first binds, the others take connections
	 * from its listening socket.  --max-connections is shared out among
	 * them, as libmicrohttpd does among the threads of its own pool.  The
	 * port is in the address too; MHD only names it in its own messages.
	 * The idle timeout (60 s) still covers a client that stops reading its
	 * response; while a request arrives, the reaper's deadline is shorter.
	 */
	ndaemons = cfg->threads < (int) cfg->max_connections ? cfg->threads : (int) cfg->max_connections;
	daemons = calloc(ndaemons, sizeof(*daemons));
	for (i = 0; daemons && i < ndaemons; i++)
	{
		struct MHD_OptionItem where[] = {
			{i == 0 ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_LISTEN_SOCKET, listen_fd, i == 0 ? ai->ai_addr : NULL},
			{MHD_OPTION_END, 0, NULL}
		};

		daemons[i] = MHD_start_daemon(flags, ntohs(((struct sockaddr_in *) ai->ai_addr)->sin_port),
									  ndaemons > 1 && cfg->max_per_ip > 0 ? accept_policy : NULL, NULL,
									  on_request, NULL,
									  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first: every message */
									  MHD_OPTION_ARRAY, where,
									  MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
									  MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
									  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 60,
									  MHD_OPTION_CONNECTION_LIMIT,
									  cfg->max_connections / ndaemons + (i < (int) (cfg->max_connections % ndaemons)),
									  MHD_OPTION_PER_IP_CONNECTION_LIMIT, ndaemons == 1 ? cfg->max_per_ip : 0,
									  MHD_OPTION_END);
		if (daemons[i] == NULL)
			break;
		if (i == 0)
		{
			info = MHD_get_daemon_info(daemons[0], MHD_DAEMON_INFO_LISTEN_FD);
			listen_fd = info ? info->listen_fd : MHD_INVALID_SOCKET;
			info = MHD_get_daemon_info(daemons[0], MHD_DAEMON_INFO_BIND_PORT);
			port = info ? info->port : 0;
		}
	}
	freeaddrinfo(ai);
	if (daemons == NULL || i < ndaemons)
	{
		fprintf(stderr, "cfeast-server: cannot listen on %s\n", cfg->listen);
		stop_daemons();
		(void) cfs_work_stop(1000);
		return NULL;
	}
	cfs_pipe_init((int[CFS_N_POOLS]) {cfg->pool_size, cfg->read_dsn ? cfg->read_pool_size : 0}, cfg->push_batch,
				  cfg->pool_wait_ms);
	if (!cfs_loop_start(daemons, ndaemons))
	{
		cfs_loop_stop();
		stop_daemons();
		(void) cfs_work_stop(1000);
		return NULL;
	}
	rc = pthread_create(&conns.thread, NULL, reaper_main, NULL);
	if (rc != 0)
	{
		fprintf(stderr, "cfeast-server: cannot start the deadline thread: error %d\n", rc);
		cfs_loop_stop();
		stop_daemons();
		(void) cfs_work_stop(1000);
		return NULL;
	}
	conns.running = true;
	snprintf(bound, boundlen, v6 ? "[%s]:%u" : "%s:%u", addr, port);
	return daemons[0];
}

/* wait up to ms for the requests in flight to finish; true if they did */
static bool
wait_in_flight(int ms)
{
	int			waited = 0;

	while (atomic_load(&in_flight) > 0 && waited < ms)
	{
		struct timespec ts = {0, 10 * 1000000L};

		nanosleep(&ts, NULL);
		waited += 10;
	}
	return atomic_load(&in_flight) == 0;
}

static void
stop_reaper(void)
{
	if (!conns.running)
		return;
	pthread_mutex_lock(&conns.lock);
	conns.stop = true;
	pthread_cond_signal(&conns.wake);
	pthread_mutex_unlock(&conns.lock);
	pthread_join(conns.thread, NULL);
	conns.running = false;
}

/*
 * Stop taking connections, let the requests in flight finish (up to
 * drain_ms; then their queries are cancelled), then close everything.
 * False if a worker is still inside a database call (the pool must stay).
 */
bool
cfs_http_stop(struct MHD_Daemon *d, int drain_ms)
{
	MHD_socket	fd;

	(void) d;					/* the first of the daemons: they all stop */
	atomic_store(&shutting_down, true);
	fd = cfs_loop_quiesce();
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	if (!wait_in_flight(drain_ms))
	{
		/* cancelled queries end at once; give their error replies time to go out */
		fprintf(stderr, "cfeast-server: %d requests still running after %d ms, cancelled %d queries\n",
				atomic_load(&in_flight), drain_ms, cfs_pool_cancel_busy());
		(void) wait_in_flight(2000);
	}
	/* every queued request resumes its connection: libmicrohttpd cannot stop with one suspended */
	if (!cfs_work_stop(5000))
	{
		fprintf(stderr, "cfeast-server: a database call did not end; exiting without closing connections\n");
		stop_reaper();
		return false;
	}
	/* the replies of the jobs the workers finished meanwhile go out before the loops end */
	(void) wait_in_flight(1000);
	cfs_loop_stop();
	stop_daemons();
	fflush(stdout);				/* the access log's last lines */
	stop_reaper();
	return true;
}
