/*-------------------------------------------------------------------------
 * cfeast_server.c
 *	  cfeast-server: Feast's feature-server HTTP API over the cfeast SQL
 *	  functions.
 *
 *	  cfeast-server [--dsn CONNINFO] [--read-dsn CONNINFO] [--read-pool N]
 *	                [--listen HOST:PORT] [--pool N]
 *	                [--max-body BYTES] [--drain-timeout S] [--threads N]
 *	                [--request-timeout S] [--max-inflight-bytes BYTES]
 *	                [--max-connections N] [--max-connections-per-ip N]
 *
 * Each setting also comes from the environment (CFEAST_DSN, CFEAST_READ_DSN,
 * CFEAST_READ_POOL, CFEAST_LISTEN,
 * CFEAST_POOL, CFEAST_MAX_BODY, CFEAST_DRAIN_TIMEOUT, CFEAST_THREADS,
 * CFEAST_REQUEST_TIMEOUT, CFEAST_MAX_INFLIGHT_BYTES, CFEAST_MAX_CONNECTIONS,
 * CFEAST_MAX_CONNECTIONS_PER_IP); a flag wins over the environment.  The
 * access log (one line per request) goes to stdout, everything else to
 * stderr.  SIGTERM or SIGINT: stop accepting, let the requests in flight
 * finish (their queries are cancelled after --drain-timeout), close the
 * pool, exit 0.
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* sched_getaffinity */
#include "server.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#define CFS_VERSION "0.1"

static void
usage(FILE *out)
{
	fprintf(out,
			"cfeast-server " CFS_VERSION ": Feast's feature-server HTTP API over cfeast\n"
			"\n"
			"usage: cfeast-server [--dsn CONNINFO] [--read-dsn CONNINFO] [--read-pool N]\n"
			"                     [--listen HOST:PORT] [--pool N] [--max-body BYTES]\n"
			"                     [--drain-timeout SECONDS] [--threads N] [--request-timeout SECONDS]\n"
			"                     [--max-inflight-bytes BYTES] [--max-connections N]\n"
			"                     [--max-connections-per-ip N] [--push-batch N] [--ui DIR]\n"
			"\n"
			"  --ui DIR           also serve the built web UI in DIR (CFEAST_UI; `make ui`);\n"
			"                     the registry API it reads is always under /api/v1\n"
			"  --dsn CONNINFO     libpq connection string or URI (CFEAST_DSN; default: libpq's\n"
			"                     PG* environment); writes go here, and reads too without --read-dsn\n"
			"  --read-dsn CONNINFO  reads (/get-online-features) go to this database instead,\n"
			"                     e.g. a hot standby, or several hosts with\n"
			"                     target_session_attrs=prefer-standby (CFEAST_READ_DSN)\n"
			"  --read-pool N      connections and workers for --read-dsn (CFEAST_READ_POOL;\n"
			"                     default: --pool's)\n"
			"  --listen HOST:PORT address to serve on (CFEAST_LISTEN; default 127.0.0.1:6566;\n"
			"                     port 0 picks a free port, printed at start)\n"
			"  --pool N           database connections, and threads that run requests on them\n"
			"                     when the HTTP threads do not (CFEAST_POOL; default 4); /health\n"
			"                     has one more of its own\n"
			"  --max-body BYTES   largest request body, suffix k/M/G allowed (CFEAST_MAX_BODY;\n"
			"                     default 16M); larger ones get 413\n"
			"  --drain-timeout S  on SIGTERM, how long requests in flight may finish before\n"
			"                     their queries are cancelled (CFEAST_DRAIN_TIMEOUT; default 10)\n"
			"  --threads N        HTTP threads, each an event loop on epoll that also runs\n"
			"                     pushes and reads on free pooled connections without waiting\n"
			"                     on them (CFEAST_THREADS; default: one per two CPUs, at least 1)\n"
			"  --request-timeout S  a whole request (headers and body) must arrive within S\n"
			"                     seconds of the connection opening or the previous response,\n"
			"                     else the connection is closed (CFEAST_REQUEST_TIMEOUT; default 10)\n"
			"  --max-inflight-bytes BYTES  request bodies buffered at once, all clients together;\n"
			"                     past it 503 with Retry-After (CFEAST_MAX_INFLIGHT_BYTES;\n"
			"                     default 128M, or twice --max-body if that is more; it must be\n"
			"                     more than --max-body)\n"
			"  --max-connections N  open connections, all clients (CFEAST_MAX_CONNECTIONS;\n"
			"                     default 4096)\n"
			"  --max-connections-per-ip N  open connections from one address, 0 for no cap\n"
			"                     (CFEAST_MAX_CONNECTIONS_PER_IP; default 128)\n"
			"  --push-batch N     /push requests that arrive while a push statement is in flight\n"
			"                     go together, up to N in one statement (one push, each its\n"
			"                     own count and errors); 1: each alone (CFEAST_PUSH_BATCH;\n"
			"                     default 64; needs cfeast 0.6, not a router)\n"
			"\n"
			"endpoints: GET /health, GET /metrics, POST /push, /get-online-features,\n"
			"           /write-to-online-store, /materialize, /materialize-incremental\n");
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

/*
 * One event loop per two CPUs: a loop shares the machine with the database's
 * backends (and, on loopback, with its clients), and each loop's pushes
 * coalesce apart from the other loops', so more loops than that cost
 * wake-ups and statements.  On 2 cores, one loop beat two in every run of
 * test/bench/server.sh: HTTP pushes from 16 clients 1.26x-1.33x of the same
 * pushes over SQL against 0.87x-0.95x, from 4 clients 0.53x-0.66x against
 * 0.39x-0.42x, and reads no slower.
 */
static int
default_threads(void)
{
	cpu_set_t	set;
	long		n;

	/* the CPUs this process may run on (a container's or taskset's), as nproc counts them */
	n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
	return n >= 4 ? (int) (n / 2 > 256 ? 256 : n / 2) : 1;
}

/* an integer setting in [lo, hi], def when unset; false when invalid */
static bool
parse_int(const char *s, int def, int lo, int hi, int *out)
{
	char	   *end;
	long		v;

	if (s == NULL)
	{
		*out = def;
		return true;
	}
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || v < lo || v > hi)
		return false;
	*out = (int) v;
	return true;
}

static bool
parse_config(int argc, char **argv, CfsConfig *cfg)
{
	static const struct option opts[] = {
		{"dsn", required_argument, NULL, 'd'},
		{"read-dsn", required_argument, NULL, 'R'},
		{"read-pool", required_argument, NULL, 'P'},
		{"listen", required_argument, NULL, 'l'},
		{"pool", required_argument, NULL, 'p'},
		{"max-body", required_argument, NULL, 'm'},
		{"drain-timeout", required_argument, NULL, 't'},
		{"threads", required_argument, NULL, 'T'},
		{"request-timeout", required_argument, NULL, 'r'},
		{"max-inflight-bytes", required_argument, NULL, 'i'},
		{"max-connections", required_argument, NULL, 'c'},
		{"max-connections-per-ip", required_argument, NULL, 'I'},
		{"ui", required_argument, NULL, 'u'},
		{"push-batch", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	const char *pool = getenv("CFEAST_POOL");
	const char *read_pool = getenv("CFEAST_READ_POOL");
	const char *max_body = getenv("CFEAST_MAX_BODY");
	const char *drain = getenv("CFEAST_DRAIN_TIMEOUT");
	const char *threads = getenv("CFEAST_THREADS");
	const char *request_timeout = getenv("CFEAST_REQUEST_TIMEOUT");
	const char *max_inflight = getenv("CFEAST_MAX_INFLIGHT_BYTES");
	const char *max_conn = getenv("CFEAST_MAX_CONNECTIONS");
	const char *max_per_ip = getenv("CFEAST_MAX_CONNECTIONS_PER_IP");
	const char *push_batch = getenv("CFEAST_PUSH_BATCH");
	int			c,
				n;

	cfg->dsn = getenv("CFEAST_DSN") ? getenv("CFEAST_DSN") : "";
	cfg->read_dsn = getenv("CFEAST_READ_DSN");
	cfg->listen = getenv("CFEAST_LISTEN") ? getenv("CFEAST_LISTEN") : "127.0.0.1:6566";
	cfg->pool_wait_ms = 10000;
	cfg->ui_dir = getenv("CFEAST_UI");
	while ((c = getopt_long(argc, argv, "d:R:P:l:p:m:t:T:r:i:c:I:u:B:hV", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				cfg->dsn = optarg;
				break;
			case 'R':
				cfg->read_dsn = optarg;
				break;
			case 'P':
				read_pool = optarg;
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
			case 'T':
				threads = optarg;
				break;
			case 'r':
				request_timeout = optarg;
				break;
			case 'i':
				max_inflight = optarg;
				break;
			case 'c':
				max_conn = optarg;
				break;
			case 'I':
				max_per_ip = optarg;
				break;
			case 'u':
				cfg->ui_dir = optarg;
				break;
			case 'B':
				push_batch = optarg;
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
	if (cfg->read_dsn && cfg->read_dsn[0] == '\0')
		cfg->read_dsn = NULL;	/* an empty CFEAST_READ_DSN: no read pool */
	if (!parse_int(read_pool, cfg->pool_size, 1, 1000, &cfg->read_pool_size))
	{
		fprintf(stderr, "cfeast-server: --read-pool must be between 1 and 1000, got \"%s\"\n",
				read_pool);
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
	if (!parse_int(push_batch, 64, 1, 10000, &cfg->push_batch))
	{
		fprintf(stderr, "cfeast-server: --push-batch must be between 1 and 10000, got \"%s\"\n",
				push_batch);
		return false;
	}
	if (!parse_int(threads, default_threads(), 1, 256, &cfg->threads))
	{
		fprintf(stderr, "cfeast-server: --threads must be between 1 and 256, got \"%s\"\n", threads);
		return false;
	}
	if (!parse_int(max_conn, 4096, 1, 1000000, &n))
	{
		fprintf(stderr, "cfeast-server: --max-connections must be between 1 and 1000000, got \"%s\"\n",
				max_conn);
		return false;
	}
	cfg->max_connections = (unsigned) n;
	if (!parse_int(max_per_ip, 128, 0, 1000000, &n))
	{
		fprintf(stderr, "cfeast-server: --max-connections-per-ip must be between 0 and 1000000, "
				"got \"%s\"\n", max_per_ip);
		return false;
	}
	cfg->max_per_ip = (unsigned) n;
	if (request_timeout)
	{
		char	   *end;
		double		sec = strtod(request_timeout, &end);

		if (end == request_timeout || *end != '\0' || !(sec > 0 && sec <= 86400))
		{
			fprintf(stderr, "cfeast-server: --request-timeout must be a positive number of seconds, "
					"got \"%s\"\n", request_timeout);
			return false;
		}
		cfg->request_timeout_ms = (int) (sec * 1000 + 0.5);
		if (cfg->request_timeout_ms < 1)
			cfg->request_timeout_ms = 1;
	}
	else
		cfg->request_timeout_ms = 10000;
	cfg->max_inflight = max_inflight ? parse_bytes(max_inflight) :
		((size_t) 128 << 20) / 2 > cfg->max_body ? (size_t) 128 << 20 : cfg->max_body * 2;
	if (cfg->max_inflight == 0)
	{
		fprintf(stderr, "cfeast-server: --max-inflight-bytes must be a positive byte count, got \"%s\"\n",
				max_inflight);
		return false;
	}
	if (cfg->max_inflight < cfg->max_body + 1)
	{
		fprintf(stderr, "cfeast-server: --max-inflight-bytes (%zu) must be more than --max-body (%zu)\n",
				cfg->max_inflight, cfg->max_body);
		return false;
	}
	return true;
}

/*
 * Open files: one per connection, and some for the pool, epoll and the
 * threads.  Raise the soft limit as far as the hard one allows; if even
 * that is short, take fewer connections and say so.
 */
static void
fit_open_files(CfsConfig *cfg)
{
	struct rlimit rl;
	rlim_t		need = (rlim_t) cfg->max_connections + cfg->pool_size +
		(cfg->read_dsn ? cfg->read_pool_size + 1 : 0) + 4 * cfg->threads + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < need)
	{
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
		(void) getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need)
	{
		unsigned	fit = rl.rlim_cur > need - cfg->max_connections + 16 ?
			(unsigned) (rl.rlim_cur - (need - cfg->max_connections)) : 16;

		fprintf(stderr, "cfeast-server: warning: open files limited to %llu: --max-connections "
				"lowered from %u to %u\n", (unsigned long long) rl.rlim_cur, cfg->max_connections, fit);
		cfg->max_connections = fit;
	}
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
	fit_open_files(&cfg);
	/* bodies (large blocks) go back to the system when freed, so memory follows what is buffered */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	setvbuf(stdout, NULL, _IOFBF, 64 * 1024);	/* the access log: loop.c flushes it */
	json_object_seed(0);		/* jansson's hash seed, once, before any thread */
	signal(SIGPIPE, SIG_IGN);

	/* block the stop signals in every thread; main waits for them below */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	cfs_metrics_init();
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
	if (cfg.read_dsn)
		fprintf(stderr, "cfeast-server: reads on --read-dsn (read pool %d)\n", cfg.read_pool_size);
	fprintf(stderr, "cfeast-server: limits: %d HTTP threads, request timeout %d ms, max inflight "
			"%zu bytes, max connections %u, per address %u%s, push batch %d\n",
			cfg.threads, cfg.request_timeout_ms, cfg.max_inflight, cfg.max_connections,
			cfg.max_per_ip, cfg.max_per_ip ? "" : " (no cap)", cfg.push_batch);

	sigwait(&stop, &sig);
	fprintf(stderr, "cfeast-server: %s received, finishing requests in flight\n",
			sig == SIGTERM ? "SIGTERM" : "SIGINT");
	if (cfs_http_stop(d, cfg.drain_ms))
		cfs_pool_close();
	fprintf(stderr, "cfeast-server: stopped\n");
	return 0;
}
