/*-------------------------------------------------------------------------
 * http.c
 *	  The HTTP side on libmicrohttpd: one thread per connection (handlers
 *	  block on the database), request bodies gathered up to the size limit,
 *	  routing, responses, an access-log line per request, and the drain on
 *	  shutdown.
 *-------------------------------------------------------------------------
 */
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* one request: its body as it arrives, and what the access log needs */
typedef struct Request
{
	struct timespec start;
	char		method[16];
	char	   *url;
	char		client[INET6_ADDRSTRLEN];
	char	   *body;
	size_t		len;
	size_t		cap;
	size_t		declared;		/* Content-Length, if any */
	bool		too_large;
	int			status;
	size_t		sent;
	char		sqlstate[6];
} Request;

static const CfsConfig *config;
static atomic_int in_flight;
static atomic_bool shutting_down;

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

static Request *
request_new(struct MHD_Connection *conn, const char *url, const char *method)
{
	Request    *req = calloc(1, sizeof(Request));

	if (req == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	snprintf(req->method, sizeof(req->method), "%s", method);
	req->url = strdup(url);
	log_safe(req->url);
	log_safe(req->method);
	client_address(conn, req->client, sizeof(req->client));
	atomic_fetch_add(&in_flight, 1);
	return req;
}

/* append a chunk of the body; past the limit the rest is only counted */
static void
request_append(Request *req, const char *data, size_t n)
{
	if (req->too_large || req->len + n > config->max_body)
	{
		req->too_large = true;
		req->len += n;
		return;
	}
	if (req->len + n + 1 > req->cap)
	{
		size_t		cap = req->cap ? req->cap : 8192;
		char	   *nb;

		while (cap < req->len + n + 1)
			cap *= 2;
		nb = realloc(req->body, cap);
		if (nb == NULL)
		{
			req->too_large = true;
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
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (reply->rows)
		MHD_add_response_header(resp, "X-Cfeast-Rows", reply->rows);
	if (reply->status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
								strcmp(req->url, "/health") == 0 ? "GET" : "POST");
	if (atomic_load(&shutting_down) || req->too_large)
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

/* route a complete request to its endpoint */
static void
dispatch(Request *req, CfsReply *reply)
{
	static const struct
	{
		const char *path;
		bool		post;
	}			routes[] = {
		{"/health", false}, {"/push", true}, {"/get-online-features", true},
		{"/write-to-online-store", true}, {"/materialize", true},
		{"/materialize-incremental", true}, {NULL, false}
	};
	const char *body = req->body ? req->body : "";
	int			i;

	for (i = 0; routes[i].path; i++)
		if (strcmp(req->url, routes[i].path) == 0)
			break;
	if (routes[i].path == NULL)
	{
		cfs_reply_detail(reply, 404, "Not Found");
		return;
	}
	if (strcmp(req->method, routes[i].post ? "POST" : "GET") != 0)
	{
		cfs_reply_detail(reply, 405, "Method Not Allowed");
		return;
	}
	if (atomic_load(&shutting_down))
	{
		cfs_reply_detail(reply, 503, "the server is shutting down");
		return;
	}
	switch (i)
	{
		case 0:
			cfs_handle_health(reply);
			break;
		case 1:
			cfs_handle_push(body, req->len, reply);
			break;
		case 2:
			cfs_handle_read(body, req->len, reply);
			break;
		case 3:
			cfs_handle_write(body, req->len, reply);
			break;
		default:
			cfs_handle_materialize(body, req->len, i == 5, reply);
			break;
	}
}

static enum MHD_Result
reply_too_large(struct MHD_Connection *conn, Request *req, size_t size)
{
	CfsReply	reply = {0};

	cfs_reply_detail(&reply, 413, "request body of %zu bytes is over the limit of %zu bytes",
					 size, config->max_body);
	return send_reply(conn, req, &reply);
}

/*
 * libmicrohttpd calls this first with the headers, then with each piece of
 * the body, then once more with nothing: then the request is handled.
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
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		request_append(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->status != 0)
		return MHD_YES;			/* already answered (413) */
	if (req->too_large)
		return reply_too_large(conn, req, req->len);
	dispatch(req, &reply);
	return send_reply(conn, req, &reply);
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
	(void) conn;
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
	free(req->body);
	free(req->url);
	free(req);
	*con_cls = NULL;
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

struct MHD_Daemon *
cfs_http_start(const CfsConfig *cfg, char *bound, size_t boundlen)
{
	struct addrinfo *ai = resolve_listen(cfg->listen);
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	char		addr[INET6_ADDRSTRLEN] = "?";
	bool		v6;

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
	/* the port is in the address too; MHD only names it in its own messages */
	d = MHD_start_daemon(flags, ntohs(((struct sockaddr_in *) ai->ai_addr)->sin_port), NULL, NULL,
						 on_request, NULL,
						 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
						 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
						 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 60,
						 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 1000,
						 MHD_OPTION_END);
	freeaddrinfo(ai);
	if (d == NULL)
	{
		fprintf(stderr, "cfeast-server: cannot listen on %s\n", cfg->listen);
		return NULL;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(bound, boundlen, v6 ? "[%s]:%u" : "%s:%u", addr, info ? (unsigned) info->port : 0u);
	return d;
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

/*
 * Stop taking connections, let the requests in flight finish (up to
 * drain_ms; then their queries are cancelled), then close everything.
 */
void
cfs_http_stop(struct MHD_Daemon *d, int drain_ms)
{
	MHD_socket	fd;

	atomic_store(&shutting_down, true);
	fd = MHD_quiesce_daemon(d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	if (!wait_in_flight(drain_ms))
	{
		/* cancelled queries end at once; give their error replies time to go out */
		fprintf(stderr, "cfeast-server: %d requests still running after %d ms, cancelled %d queries\n",
				atomic_load(&in_flight), drain_ms, cfs_pool_cancel_busy());
		(void) wait_in_flight(2000);
	}
	MHD_stop_daemon(d);
}
