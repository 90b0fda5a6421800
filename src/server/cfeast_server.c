/*-------------------------------------------------------------------------
 * cfeast_server.c
 *	  cfeast-server: Feast's feature-server HTTP API over the cfeast SQL
 *	  functions.
 *
 *	  cfeast-server --dsn CONNINFO --listen HOST:PORT [--pool N] [--max-body BYTES]
 *
 * Each setting also comes from the environment (CFEAST_DSN, CFEAST_LISTEN,
 * CFEAST_POOL, CFEAST_MAX_BODY, CFEAST_DRAIN_TIMEOUT); a flag wins over the environment.  The
 * access log (one line per request) goes to stdout, everything else to
 * stderr.  SIGTERM or SIGINT: stop accepting, let the requests in flight
 * finish (their queries are cancelled after --drain-timeout), close the
 * pool, exit 0.
 *-------------------------------------------------------------------------
 */
#include "server.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFS_VERSION "0.1"

static void
usage(FILE *out)
{
	fprintf(out,
			"cfeast-server " CFS_VERSION ": Feast's feature-server HTTP API over cfeast\n"
			"\n"
			"usage: cfeast-server [--dsn CONNINFO] [--listen HOST:PORT] [--pool N] [--max-body BYTES]\n"
			"                     [--drain-timeout SECONDS]\n"
			"\n"
			"  --dsn CONNINFO     libpq connection string or URI (CFEAST_DSN; default: libpq's\n"
			"                     PG* environment)\n"
			"  --listen HOST:PORT address to serve on (CFEAST_LISTEN; default 127.0.0.1:6566;\n"
			"                     port 0 picks a free port, printed at start)\n"
			"  --pool N           database connections (CFEAST_POOL; default 4)\n"
			"  --max-body BYTES   largest request body, suffix k/M/G allowed (CFEAST_MAX_BODY;\n"
			"                     default 16M); larger ones get 413\n"
			"  --drain-timeout S  on SIGTERM, how long requests in flight may finish before\n"
			"                     their queries are cancelled (CFEAST_DRAIN_TIMEOUT; default 10)\n"
			"\n"
			"endpoints: GET /health, POST /push, /get-online-features, /write-to-online-store,\n"
			"           /materialize, /materialize-incremental\n");
}

/* a byte count with an optional k/M/G suffix; 0 when invalid */
static size_t
parse_bytes(const char *s)
{
	char	   *end;
	unsigned long long n = strtoull(s, &end, 10);

	if (end == s || *s == '-')
		return 0;
	switch (*end)
	{
		case 'k':
		case 'K':
			n <<= 10;
			end++;
			break;
		case 'm':
		case 'M':
			n <<= 20;
			end++;
			break;
		case 'g':
		case 'G':
			n <<= 30;
			end++;
			break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	return *end == '\0' ? (size_t) n : 0;
}

static bool
parse_config(int argc, char **argv, CfsConfig *cfg)
{
	static const struct option opts[] = {
		{"dsn", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"pool", required_argument, NULL, 'p'},
		{"max-body", required_argument, NULL, 'm'},
		{"drain-timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	const char *pool = getenv("CFEAST_POOL");
	const char *max_body = getenv("CFEAST_MAX_BODY");
	const char *drain = getenv("CFEAST_DRAIN_TIMEOUT");
	int			c;

	cfg->dsn = getenv("CFEAST_DSN") ? getenv("CFEAST_DSN") : "";
	cfg->listen = getenv("CFEAST_LISTEN") ? getenv("CFEAST_LISTEN") : "127.0.0.1:6566";
	cfg->pool_wait_ms = 10000;
	while ((c = getopt_long(argc, argv, "d:l:p:m:t:hV", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				cfg->dsn = optarg;
				break;
			case 'l':
				cfg->listen = optarg;
				break;
			case 'p':
				pool = optarg;
				break;
			case 'm':
				max_body = optarg;
				break;
			case 't':
				drain = optarg;
				break;
			case 'h':
				usage(stdout);
				exit(0);
			case 'V':
				puts("cfeast-server " CFS_VERSION);
				exit(0);
			default:
				usage(stderr);
				return false;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "cfeast-server: unexpected argument \"%s\"\n", argv[optind]);
		return false;
	}
	cfg->pool_size = pool ? atoi(pool) : 4;
	if (cfg->pool_size < 1 || cfg->pool_size > 1000)
	{
		fprintf(stderr, "cfeast-server: --pool must be between 1 and 1000, got \"%s\"\n", pool);
		return false;
	}
	cfg->max_body = max_body ? parse_bytes(max_body) : (size_t) 16 << 20;
	if (cfg->max_body == 0)
	{
		fprintf(stderr, "cfeast-server: --max-body must be a positive byte count, got \"%s\"\n",
				max_body);
		return false;
	}
	cfg->drain_ms = drain ? atoi(drain) * 1000 : 10000;
	if (cfg->drain_ms < 0 || (drain && cfg->drain_ms == 0 && strcmp(drain, "0") != 0))
	{
		fprintf(stderr, "cfeast-server: --drain-timeout must be a number of seconds, got \"%s\"\n",
				drain);
		return false;
	}
	return true;
}

int
main(int argc, char **argv)
{
	CfsConfig	cfg = {0};
	sigset_t	stop;
	struct MHD_Daemon *d;
	char		bound[128];
	int			sig;

	if (!parse_config(argc, argv, &cfg))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	json_object_seed(0);		/* jansson's hash seed, once, before any thread */
	signal(SIGPIPE, SIG_IGN);

	/* block the stop signals in every thread; main waits for them below */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	if (!cfs_pool_init(&cfg))
		return 1;
	d = cfs_http_start(&cfg, bound, sizeof(bound));
	if (d == NULL)
	{
		cfs_pool_close();
		return 1;
	}
	fprintf(stderr, "cfeast-server: listening on http://%s (pool %d, max body %zu bytes)\n",
			bound, cfg.pool_size, cfg.max_body);

	sigwait(&stop, &sig);
	fprintf(stderr, "cfeast-server: %s received, finishing requests in flight\n",
			sig == SIGTERM ? "SIGTERM" : "SIGINT");
	cfs_http_stop(d, cfg.drain_ms);
	cfs_pool_close();
	fprintf(stderr, "cfeast-server: stopped\n");
	return 0;
}
